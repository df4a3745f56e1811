"""Prometheus metrics of the server (prometheus_client, one registry per app).

- `tfcmgen_requests_total{endpoint, code}`: REST requests answered, by endpoint and HTTP status.
- `tfcmgen_request_latency_seconds{endpoint}`: histogram of the time to answer.
- `tfcmgen_batch_size{call}`: histogram of images per model call (batching merges requests).
- `tfcmgen_model_call_seconds{call}`: histogram of model call durations.
- `tfcmgen_queue_depth_images`, `tfcmgen_in_flight_images`: gauges read at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    """The server's metrics in their own `CollectorRegistry` (several apps in one process, as in
    the tests, do not collide)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tfcmgen_requests", "REST requests answered", ["endpoint", "code"],
            registry=self.registry)
        self.latency = Histogram(
            "tfcmgen_request_latency_seconds", "Time to answer a REST request", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram(
            "tfcmgen_batch_size", "Images per model call", ["call"], buckets=BATCH_BUCKETS,
            registry=self.registry)
        self.call_seconds = Histogram(
            "tfcmgen_model_call_seconds", "Duration of one model call", ["call"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge(
            "tfcmgen_queue_depth_images", "Images waiting for a model call",
            registry=self.registry)
        self.in_flight = Gauge(
            "tfcmgen_in_flight_images", "Images queued or being computed", registry=self.registry)

    def track_queue(self, queued, in_flight) -> None:
        """Reads the gauges from callables at scrape time."""
        self.queue_depth.set_function(queued)
        self.in_flight.set_function(in_flight)

    def request(self, endpoint: str, code: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def batch(self, call: str, images: int, seconds: float) -> None:
        self.batch_size.labels(call).observe(images)
        self.call_seconds.labels(call).observe(seconds)

    def exposition(self):
        """(body bytes, content type) of the Prometheus text format."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
