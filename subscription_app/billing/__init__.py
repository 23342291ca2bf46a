"""The subscription service's billing logic: lifecycle, invoices, proration, events, renewals.

Blueprints stay thin and call these modules; jobs/billing.py runs the periodic parts.
"""
