"""`tfcmgen serve`: load the model, build the app, run it on uvicorn until SIGINT/SIGTERM.

uvicorn's graceful shutdown stops accepting connections, lets the requests in flight finish
(up to the request timeout), and then the app's lifespan computes whatever is still queued.
"""

from __future__ import annotations

import logging

from tfcmgen.serve.app import ServingApp
from tfcmgen.serve.backends import BACKEND_FORMATS, load_backend
from tfcmgen.serve.model_source import find_model

logger = logging.getLogger("tfcmgen.serve")


def build_app(config) -> tuple:
    """(ServingApp, ModelSource) for a `ServeConfig`: finds the model, loads and warms it up.

    A run folder is exported into a temporary folder, removed when the app's lifespan ends."""
    source = find_model(config.model, BACKEND_FORMATS[config.backend], config.model_name)
    try:
        options = {"threads": config.threads} if config.backend == "onnx" else {}
        backend = load_backend(config.backend, source.folder, **options)
        backend.warm_up()
    except BaseException:
        source.cleanup()
        raise
    serving = ServingApp(backend, source.name, source.version, config.batching, config.limits)
    # A run's temporary export goes when the server stops (uvicorn re-raises SIGTERM after its
    # graceful shutdown, so a `finally` after uvicorn.run() would not run).
    serving.on_shutdown.append(source.cleanup)
    return serving, source


def serve(config) -> None:
    """Serves `config.model` on `config.host:config.port` until interrupted."""
    import uvicorn

    serving, source = build_app(config)
    url = f"http://{config.host}:{config.port}"
    print(f"serving {source.name} version {source.version} ({serving.backend.task}, "
          f"{config.backend}) from {source.folder}")
    print(f"  web page  {url}/")
    print(f"  REST      {url}/v1/models/{source.name}:predict")
    try:
        uvicorn.run(
            serving.app, host=config.host, port=config.port, log_level="warning",
            timeout_graceful_shutdown=int(config.limits.request_timeout_s) + 5,
        )
    finally:
        source.cleanup()
