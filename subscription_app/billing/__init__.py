"""The subscription service's billing logic: lifecycle, invoices, proration, events, renewals.

Blueprints stay thin and call these modules; billing/cycle.py is the periodic bill run.
"""
