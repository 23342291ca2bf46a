"""Tables owned by the payment service (added with the payments work)."""
