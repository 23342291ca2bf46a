"""The operator's catalog: plans, price versions, features, and the audit of every change."""
