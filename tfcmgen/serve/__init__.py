"""Serving: `tfcmgen serve` speaks TF Serving's REST API, batches requests, and has a web page.

A client written against `tfcmgen serve` works unchanged against TensorFlow Serving (same paths,
request and response JSON, error JSON and status codes); see `app` for the routes. Two backends:
`savedmodel` (TensorFlow) and `onnx` (onnxruntime; this package imports no TensorFlow on that
path). Concurrent requests are merged into one model call (`batching`).

Example:

>>> from tfcmgen.serve import ServeConfig, serve
>>> serve(ServeConfig(model="exports/shapes64", backend="onnx"))  # doctest: +SKIP

Needs the `serve` extra: `pip install -e ".[serve]"` (starlette, uvicorn, prometheus_client).
"""

from tfcmgen.serve.batching import BatchingParameters
from tfcmgen.serve.errors import ServingError
from tfcmgen.serve.serve_config import ServeConfig, ServeLimits


def serve(config):
    """Serves `config.model` until interrupted (see `tfcmgen.serve.server.serve`)."""
    from tfcmgen.serve.server import serve as run

    return run(config)


def build_app(config):
    """(ServingApp, ModelSource) for a ServeConfig; `.app` is the ASGI application."""
    from tfcmgen.serve.server import build_app as build

    return build(config)


__all__ = ["BatchingParameters", "ServeConfig", "ServeLimits", "ServingError", "build_app", "serve"]
