"""Accounts: the site's CRM companies (import, storage, owners, fit, matching) (docs/accounts.md)."""
