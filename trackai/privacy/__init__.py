"""LGPD (issue 23, docs/privacy.md): data-subject requests (find, export, erase), tenant privacy settings,
test orders, retention of quarantined bodies, and the request-deadline alarm."""
