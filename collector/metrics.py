"""Prometheus metrics, one registry per app so tests can run several apps in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.accepted = Counter(
            "intent_events_accepted", "Events accepted (202)", ["site"], registry=r
        )
        self.dropped = Counter(
            "intent_events_dropped", "Events dropped, by reason", ["reason"], registry=r
        )
        self.rejected = Counter(
            "intent_requests_rejected", "Requests refused, by status", ["status"], registry=r
        )
        self.api_requests = Counter(
            "intent_api_requests", "/api/v1 answers, by status", ["status"], registry=r
        )
        self.webhook_attempts = Counter(
            "intent_webhook_attempts",
            "Webhook delivery attempts, by outcome",
            ["outcome"],
            registry=r,
        )
        self.connections_closed = Counter(
            "intent_connections_closed",
            "Connections the server closed for a limit, by reason",
            ["reason"],
            registry=r,
        )
        self.alert_sends = Counter(
            "intent_alert_sends",
            "Alert sends by channel (email, slack) and outcome (sent, error)",
            ["channel", "outcome"],
            registry=r,
        )
        self.rescore_seconds = Histogram(
            "intent_rescore_seconds",
            "Seconds per pass re-scoring marked companies (writer flush included)",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.internal_errors = Counter(
            "intent_internal_errors", "Unexpected errors caught", registry=r
        )
        self.spool_bytes = Gauge("intent_spool_bytes", "Bytes waiting in the spool", registry=r)
        self.rows_written = Counter("intent_writer_rows", "Rows written to ClickHouse", registry=r)
        self.insert_errors = Counter(
            "intent_writer_insert_errors", "Failed ClickHouse inserts", registry=r
        )
        self.quarantined = Counter(
            "intent_spool_quarantined_segments",
            "Spool segments ClickHouse rejected as bad data",
            registry=r,
        )
        self.spool_fsyncs = Gauge(
            "intent_spool_fsyncs", "fsyncs of the spool (group commits)", registry=r
        )
        self.writer_healthy = Gauge(
            "intent_writer_healthy", "1 when the last writer pass succeeded", registry=r
        )
        self.batch_rows = Histogram(
            "intent_writer_batch_rows",
            "Rows per ClickHouse insert",
            registry=r,
            buckets=(1, 10, 100, 1000, 5000, 10000, 50000),
        )
        self.batch_seconds = Histogram(
            "intent_writer_batch_seconds", "Seconds per ClickHouse insert", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
        )  # fmt: skip
