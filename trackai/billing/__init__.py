"""Billing (issue 18, docs/billing.md): plans and subscriptions, the usage ledger and counter the dispatcher
keeps in the transaction that records a success, threshold notices, invoices and reconciliation.

Rules (periods, proration, rounding, the quota decision) live in ``trackai.core.billing``; this package is
the Postgres side. It never imports the dispatch engine (``trackai.dispatch.quota`` imports it).
"""
