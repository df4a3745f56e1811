"""The one error type of the server: an HTTP status and TF Serving's `{"error": message}` body."""

from __future__ import annotations

# TF Serving's HTTP status for each canonical error code it returns (util/net_http status mapping):
# INVALID_ARGUMENT and FAILED_PRECONDITION 400, NOT_FOUND 404, RESOURCE_EXHAUSTED 429 (we use 413
# for a body over the size limit, which TF Serving has no code for), UNAVAILABLE 503,
# DEADLINE_EXCEEDED 504, INTERNAL 500.


class ServingError(Exception):
    """An error answered as `{"error": message}` with HTTP `status`.

    Args:
        status: int. HTTP status code.
        message: str. The error message (TF Serving's wording where it has one).
        headers: dict or None. Extra response headers (e.g. Retry-After).
    """

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.headers = dict(headers or {})
