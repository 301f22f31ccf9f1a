"""Alerts: companies re-scored within seconds of a decisive event, alerts through a persisted
outbox, claims and response times (docs/alerts.md)."""
