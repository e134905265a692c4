"""Prometheus metrics of one `glue serve` process (GET /metrics).

Counters the parts increment as things happen; gauges read from the store when scraped
(jobs by status, queue depth) are filled by the /metrics route.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()
WEBHOOKS = Counter(
    "glue_webhooks_total",
    "Inbound webhook deliveries by outcome (accepted, duplicate, bad_signature, ...).",
    ["outcome"],
    registry=REGISTRY,
)
EVENTS_DELIVERED = Counter(
    "glue_events_delivered_total",
    "Outbound webhook delivery attempts by outcome (ok, failed).",
    ["outcome"],
    registry=REGISTRY,
)
JOBS_STARTED = Counter(
    "glue_jobs_started_total",
    "Jobs started, by what started them (api, trigger, schedule, ...).",
    ["started_by"],
    registry=REGISTRY,
)
