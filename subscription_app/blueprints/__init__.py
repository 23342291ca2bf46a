"""The subscription service's routes: one flask-smorest blueprint module per resource."""
from subscription_app.blueprints import (admin, admin_api_keys, admin_audit, admin_catalog, admin_coupons,
                                        admin_customers, admin_invoices, admin_reports, admin_subscriptions,
                                        admin_users, admin_webhooks, auth, credit_notes, internal, invoices, plans,
                                        subscription_lifecycle, subscriptions, usage, usage_events, webhooks)

# In registration order (create_app registers them all).
BLUEPRINTS = (auth.blp, plans.blp, internal.blp, subscriptions.blp, subscription_lifecycle.blp, invoices.blp,
              credit_notes.blp, webhooks.blp, usage.blp, usage_events.blp, admin.blp, admin_users.blp,
              admin_subscriptions.blp, admin_catalog.blp, admin_audit.blp, admin_webhooks.blp, admin_customers.blp,
              admin_invoices.blp, admin_reports.blp, admin_coupons.blp, admin_api_keys.blp)
