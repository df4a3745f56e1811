"""The configuration of `tfcmgen serve`: what to serve, where, batching and request limits."""

from __future__ import annotations

import dataclasses

from tfcmgen.serve.batching import BatchingParameters

SERVE_BACKENDS = ("savedmodel", "onnx")


@dataclasses.dataclass(frozen=True)
class ServeLimits:
    """What one request may ask for; anything more is a 4xx with TF Serving's error shape.

    Args:
        max_body_bytes: int. Request body size. Defaults to 8 MiB.
        max_images: int. Images (captions, token rows or source images) per request.
            Defaults to 64.
        max_images_per_caption: int. Times one caption may repeat in a request (the web page's
            "images per caption"). Defaults to 16.
        max_caption_chars: int. Characters per caption. Defaults to 1000.
        max_upload_pixels: int. Pixels (width * height) of an uploaded source image, checked from
            the file header before decoding (decompression bombs). Defaults to 16,000,000.
        request_timeout_s: float. Longest time a request waits for its images; then 504.
            Defaults to 30.
    """

    max_body_bytes: int = 8 * 1024 * 1024
    max_images: int = 64
    max_images_per_caption: int = 16
    max_caption_chars: int = 1000
    max_upload_pixels: int = 16_000_000
    request_timeout_s: float = 30.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(
                    f"{field.name} must be a positive number; received {field.name}={value!r}"
                )


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """`tfcmgen serve` flags.

    Args:
        model: str. An export (either layout) or a run folder; see `model_source`.
        model_name: str or None. The name in `/v1/models/NAME`; defaults to the folder's name.
        backend: str. "savedmodel" (TensorFlow) or "onnx" (onnxruntime, no TensorFlow).
            Defaults to "savedmodel".
        host: str. Address to bind. Defaults to "127.0.0.1" (this machine only).
        port: int. Defaults to 8501 (TF Serving's REST port).
        batching: BatchingParameters.
        limits: ServeLimits.
        threads: int or None. onnxruntime intra-op threads (None: one per core).
    """

    model: str
    model_name: str | None = None
    backend: str = "savedmodel"
    host: str = "127.0.0.1"
    port: int = 8501
    batching: BatchingParameters = dataclasses.field(default_factory=BatchingParameters)
    limits: ServeLimits = dataclasses.field(default_factory=ServeLimits)
    threads: int | None = None

    def __post_init__(self):
        if self.backend not in SERVE_BACKENDS:
            raise ValueError(
                f"backend must be one of {', '.join(SERVE_BACKENDS)}; received "
                f"backend={self.backend!r}"
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not (
            0 <= self.port <= 65535
        ):
            raise ValueError(f"port must be an int from 0 to 65535; received port={self.port!r}")
        if self.model_name is not None and (
            not self.model_name or "/" in self.model_name or ":" in self.model_name
        ):
            raise ValueError(
                "model_name must be non-empty without '/' or ':' (it is a URL path part); "
                f"received model_name={self.model_name!r}"
            )
