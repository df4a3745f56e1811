"""The ASGI application of `tfcmgen serve` (Starlette): TF Serving's REST API plus a web page.

Routes:

- `GET /v1/models/NAME[/versions/N|/labels/L]`: model status (`GetModelStatusResponse` JSON).
- `GET /v1/models/NAME[/versions/N]/metadata`: signature defs (`GetModelMetadataResponse` JSON).
- `POST /v1/models/NAME[/versions/N]:predict`: row (`instances`) or columnar (`inputs`) requests.
- `GET /`: the web page; `GET /tfcmgen/model` and `POST /tfcmgen/vocabulary`: what it shows.
- `GET /healthz`, `GET /metrics` (Prometheus text format).

Errors are TF Serving's `{"error": "..."}` with its status codes (400 bad request, 404 unknown
model or version, 503 full queue with Retry-After, 504 request timeout; 413 for a body over the
limit). Paths are matched with TF Serving's own patterns (case-insensitive, `/labels/` accepted).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import time

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tfcmgen.export.runtime_inputs import MAX_SEED
from tfcmgen.serve.batching import BatchScheduler
from tfcmgen.serve.errors import ServingError
from tfcmgen.serve.json_tensors import (
    EncodedImage,
    encode_images,
    parse_json,
    parse_predict_request,
)
from tfcmgen.serve.metrics import ServingMetrics
from tfcmgen.serve.serve_config import ServeLimits

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# TF Serving's path patterns (tensorflow_serving/model_servers/http_rest_api_util.cc).
PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)"
)
STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)


def _error(error: ServingError) -> Response:
    return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


class ServingApp:
    """One served model: the backend, its batch scheduler, limits and metrics, as a Starlette app.

    Args:
        backend: a `tfcmgen.serve.backends.Backend`.
        model_name: str. The NAME of `/v1/models/NAME`.
        version: int. The served version.
        batching: BatchingParameters.
        limits: ServeLimits.
    """

    def __init__(self, backend, model_name: str, version: int = 1, batching=None, limits=None):
        self.backend = backend
        self.model_name = model_name
        self.version = int(version)
        self.limits = limits or ServeLimits()
        self.metrics = ServingMetrics()
        self.scheduler = BatchScheduler(self._run_batch, batching, on_batch=self.metrics.batch)
        self.metrics.track_queue(lambda: self.scheduler.queued_images,
                                 lambda: self.scheduler.in_flight)
        self.stopping = False
        # Called once the server has stopped (removes a run's temporary export): uvicorn re-raises
        # SIGTERM after its graceful shutdown, so code after uvicorn.run() never runs then.
        self.on_shutdown = []
        self.app = Starlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.prometheus, methods=["GET"]),
                Route("/tfcmgen/model", self.model_info, methods=["GET"]),
                Route("/tfcmgen/vocabulary", self.vocabulary, methods=["POST"]),
                Route("/v1/{path:path}", self.rest_api, methods=["GET", "POST"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        self.stopping = False
        self.scheduler.start()
        try:
            yield
        finally:
            # uvicorn calls this after the requests in flight have finished (graceful shutdown);
            # whatever is still queued is computed before the workers stop.
            self.stopping = True
            await self.scheduler.close()
            for callback in self.on_shutdown:
                callback()

    def _run_batch(self, call, arrays):
        """One model call (in the scheduler's thread) for a merged batch."""
        if call == "generate_seeded":
            # Captions requests carry (seed, row) per image; their noise is drawn here for the
            # whole batch at once (one vectorised Philox pass, not one per request).
            token_ids, seed_rows = arrays
            noise = self.backend.noise_rows(seed_rows[:, 0], seed_rows[:, 1])
            return self.backend.generate(token_ids, noise)
        if call == "generate":
            return self.backend.generate(*arrays)
        return self.backend.edit(*arrays)

    # --- TF Serving REST API -------------------------------------------------------------------

    async def rest_api(self, request: Request) -> Response:
        started = time.perf_counter()
        path = request.url.path
        endpoint = "other"
        try:
            match = PREDICT_PATH.fullmatch(path) if request.method == "POST" else None
            status_match = STATUS_PATH.fullmatch(path) if request.method == "GET" else None
            if match:
                endpoint = "predict"
                name, version, label, method = match.groups()
                if method.lower() != "predict":
                    raise ServingError(
                        400, f"{method} is not served: tfcmgen models have no "
                        "classify or regress signature; use :predict"
                    )
                self._check_servable(name, version, label)
                response = await asyncio.wait_for(
                    self._predict(request), timeout=self.limits.request_timeout_s
                )
            elif status_match and status_match.group(1):
                name, version, label, metadata = status_match.groups()
                endpoint = "metadata" if metadata else "status"
                response = self._metadata(name, version, label) if metadata else self._status(
                    name, version, label)
            elif status_match:
                raise ServingError(400, "Missing model name in request.")
            else:
                raise ServingError(400, f"Malformed request: {request.method} {path}")
        except ServingError as error:
            response = _error(error)
        except asyncio.TimeoutError:
            response = _error(ServingError(
                504, f"Deadline exceeded: no answer within {self.limits.request_timeout_s:g} s"))
        self.metrics.request(endpoint, response.status_code, time.perf_counter() - started)
        return response

    def _check_servable(self, name, version, label) -> None:
        """404 unless NAME (and version) is what is served, with TF Serving's message."""
        if label is not None:
            raise ServingError(
                404, f"Servable not found for request: Specific({name}, label {label}); "
                "tfcmgen serve assigns no version labels"
            )
        if name != self.model_name:
            spec = f"Specific({name}, {version})" if version else f"Latest({name})"
            raise ServingError(404, f"Servable not found for request: {spec}")
        if version is not None and int(version) != self.version:
            raise ServingError(
                404, f"Servable not found for request: Specific({name}, {int(version)})"
            )

    def _status(self, name, version, label) -> Response:
        if name != self.model_name:
            raise ServingError(404, f"Could not find any versions of model {name}")
        if label is not None:
            raise ServingError(404, f"Unrecognized servable version label: {label}")
        if version is not None and int(version) != self.version:
            raise ServingError(404, f"Could not find version {int(version)} of model {name}")
        return JSONResponse({
            "model_version_status": [{
                "version": str(self.version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }]
        })

    def _metadata(self, name, version, label) -> Response:
        self._check_servable(name, version, label)
        return JSONResponse({
            "model_spec": {"name": self.model_name, "signature_name": "",
                           "version": str(self.version)},
            "metadata": {"signature_def": self.backend.signature_def_json()},
        })

    async def _read_body(self, request: Request) -> bytes:
        limit = self.limits.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ServingError(413, f"request body of {length} bytes exceeds the limit of "
                               f"{limit} bytes (max_body_bytes)")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ServingError(413, f"request body exceeds the limit of {limit} bytes "
                                   "(max_body_bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _predict(self, request: Request) -> Response:
        document = parse_json(await self._read_body(request))
        name, request_format, arrays = parse_predict_request(document, self.backend.signatures)
        signature = self.backend.signatures[name]
        if signature.prepare == "images":
            # Decoding and resizing uploads is CPU work: off the event loop, so others go on.
            call, call_arrays, count = await asyncio.get_running_loop().run_in_executor(
                None, self._prepare, signature, arrays
            )
        else:
            # Tokenizing a few captions takes well under a millisecond: a thread hop costs more.
            call, call_arrays, count = self._prepare(signature, arrays)
        images = await self.scheduler.submit(call, call_arrays, count)
        # About 0.4 ms per 64x64 image (json_tensors._uint8_json), so inline too.
        return Response(encode_images(images, request_format == "row"),
                        media_type="application/json")

    # --- request checks and conversion to the batched calls ------------------------------------

    def _batch_size(self, arrays, keys) -> int:
        sizes = {key: len(arrays[key]) for key in keys}
        if len(set(sizes.values())) > 1:
            described = " and ".join(f"{key} has {size}" for key, size in sizes.items())
            raise ServingError(400, f"inputs must have the same batch size; {described}")
        count = next(iter(sizes.values()))
        if count > self.limits.max_images:
            raise ServingError(
                400, f"a request may ask for at most {self.limits.max_images} images "
                f"(max_images); received {count}"
            )
        return count

    def _check_captions(self, captions) -> list:
        captions = [str(caption) for caption in captions]
        for index, caption in enumerate(captions):
            if len(caption) > self.limits.max_caption_chars:
                raise ServingError(
                    400, f"caption {index} has {len(caption)} characters; the limit is "
                    f"{self.limits.max_caption_chars} (max_caption_chars)"
                )
        if captions:
            caption, repeats = collections.Counter(captions).most_common(1)[0]
            if repeats > self.limits.max_images_per_caption:
                raise ServingError(
                    400, f"caption {caption[:60]!r} appears {repeats} times; at most "
                    f"{self.limits.max_images_per_caption} images per caption "
                    "(max_images_per_caption)"
                )
        return captions

    def _check_token_ids(self, ids) -> np.ndarray:
        size = self.backend.metadata.vocabulary_size
        if ids.size and (ids.min() < 0 or ids.max() >= size):
            raise ServingError(
                400, f"token_ids must be in [0, {size}); received ids from {ids.min()} to "
                f"{ids.max()}"
            )
        return ids.astype(np.int32)

    def _source_images(self, images) -> np.ndarray:
        """uint8 sources of any size (arrays or encoded files) -> float32 [B, S, S, 3]."""
        from tfcmgen.data.errors import ImageError
        from tfcmgen.data.image_ops import decode_image
        from tfcmgen.runtime.images import center_square

        size = self.backend.image_size
        prepared = []
        for index, image in enumerate(images):
            if isinstance(image, EncodedImage):
                try:
                    image = decode_image(image.data, f"images[{index}]",
                                         max_pixels=self.limits.max_upload_pixels)
                except ImageError as error:
                    raise ServingError(400, str(error)) from None
            else:
                image = np.asarray(image, np.uint8)
                pixels = image.shape[0] * image.shape[1]
                if pixels > self.limits.max_upload_pixels:
                    raise ServingError(
                        400, f"images[{index}] has {pixels} pixels; the limit is "
                        f"{self.limits.max_upload_pixels} (max_upload_pixels)"
                    )
                if min(image.shape[:2]) < 1:
                    raise ServingError(400, f"images[{index}] is empty: shape {image.shape}")
            prepared.append(center_square(image, size))
        return np.stack(prepared).astype(np.float32) / 127.5 - 1.0

    def _prepare(self, signature, arrays):
        """(batched call, its arrays, image count) for a parsed request."""
        backend = self.backend
        if signature.prepare == "captions":
            count = self._batch_size(arrays, ["captions"])
            captions = self._check_captions(arrays["captions"])
            seed = int(arrays["seed"])
            if not 0 <= seed <= MAX_SEED:
                raise ServingError(400, f"seed must be from 0 to 2**63 - 1; received {seed}")
            # Row i of this request's noise is row i of stateless_normal([count, D], [seed, 0]),
            # drawn for the merged batch in `_run_batch`.
            seed_rows = np.stack([np.full(count, seed, np.int64), np.arange(count)], axis=1)
            return "generate_seeded", (backend.tokenize(captions), seed_rows), count
        if signature.prepare == "images":
            count = self._batch_size(arrays, ["images", "captions"])
            captions = self._check_captions(arrays["captions"])
            sources = self._source_images(arrays["images"])
            return "edit", (sources, backend.tokenize(captions)), count
        if signature.call == "generate":
            count = self._batch_size(arrays, ["token_ids", "noise"])
            return "generate", (self._check_token_ids(arrays["token_ids"]),
                                arrays["noise"].astype(np.float32)), count
        count = self._batch_size(arrays, ["images", "token_ids"])
        images = arrays["images"]
        if isinstance(images, list) or images.size and (images.min() < -1 or images.max() > 1):
            raise ServingError(400, "edit_from_tokens takes float images in [-1, 1] "
                               "(uint8 / 127.5 - 1)")
        return "edit", (images.astype(np.float32),
                        self._check_token_ids(arrays["token_ids"])), count

    # --- web page, health, metrics -------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return FileResponse(os.path.join(STATIC, "index.html"), media_type="text/html")

    async def healthz(self, request: Request) -> Response:
        if self.stopping:
            return JSONResponse({"status": "stopping"}, status_code=503)
        return JSONResponse({"status": "ok", "model": self.model_name,
                             "version": str(self.version)})

    async def prometheus(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def model_info(self, request: Request) -> Response:
        metadata = self.backend.metadata
        return JSONResponse({
            "name": self.model_name,
            "version": str(self.version),
            "task": metadata.task,
            "image_size": metadata.image_size,
            "max_length": metadata.max_length,
            "vocabulary_size": metadata.vocabulary_size,
            "backend": self.backend.name,
            "signatures": sorted(self.backend.signatures),
            "limits": {
                "max_images": self.limits.max_images,
                "max_images_per_caption": self.limits.max_images_per_caption,
                "max_caption_chars": self.limits.max_caption_chars,
                "max_upload_pixels": self.limits.max_upload_pixels,
            },
        })

    async def vocabulary(self, request: Request) -> Response:
        """`{"captions": [...]}` -> each caption's words: known, read as a known word
        (word-vector neighbour or spelling), or unknown ([UNK], masked by the text encoder); and
        the share the model reads."""
        from tfcmgen.text.normalize import split_words

        try:
            document = parse_json(await self._read_body(request))
            captions = document.get("captions")
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                raise ServingError(400, 'expected {"captions": [str, ...]}')
            captions = self._check_captions(captions)
            if len(captions) > self.limits.max_images:
                raise ServingError(400, f"at most {self.limits.max_images} captions")
        except ServingError as error:
            return _error(error)
        max_length = self.backend.metadata.max_length
        result = []
        for caption in captions:
            entries = []
            for index, word in enumerate(split_words(caption)):
                how, target = self.backend.read_word(word)
                entries.append({"word": word, "known": how == "known", "how": how,
                                "read_as": target, "used": index < max_length})
            read = sum(entry["read_as"] is not None for entry in entries)
            result.append({"words": entries, "known": read, "total": len(entries),
                           "coverage": read / len(entries) if entries else 0.0})
        return JSONResponse({"captions": result})


def create_app(backend, model_name: str, version: int = 1, batching=None, limits=None):
    """The Starlette app serving `backend` (see `ServingApp`)."""
    return ServingApp(backend, model_name, version, batching, limits).app
