"""The payment service's routes: one flask-smorest blueprint module per resource."""
from payment_app.blueprints import internal, payments, webhooks

BLUEPRINTS = (payments.blp, internal.blp, webhooks.blp)
