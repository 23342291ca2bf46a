"""The operator's back office: customers, invoice actions and revenue reports (issue #15).

One function per operator action, called alike by the admin API (blueprints/admin_*.py), the
CLI (backoffice/cli.py) and the admin UI; each audits through catalog.audit.record.
"""
