"""Coupons, promotion codes, discounts on invoices and the customer credit balance (issue #16)."""
