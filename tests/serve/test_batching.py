"""Server-side batching: concurrent requests share model calls, a full queue answers 503 with
Retry-After, nothing is lost or answered twice, and closing finishes queued work."""

import asyncio
import threading
import time

import numpy as np
import pytest

from tfcmgen.serve.batching import BatchingParameters, BatchScheduler
from tfcmgen.serve.errors import ServingError


class RecordingModel:
    """A batched call that echoes each row's id and records the batch sizes; slow on purpose so
    that requests pile up while it runs."""

    def __init__(self, seconds=0.05):
        self.seconds = seconds
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, call, arrays):
        (ids,) = arrays
        with self.lock:
            self.batches.append(len(ids))
        time.sleep(self.seconds)
        return ids * 10


async def _submit_many(scheduler, requests):
    scheduler.start()
    try:
        return await asyncio.gather(
            *(scheduler.submit("generate", (np.array(ids),), len(ids)) for ids in requests),
            return_exceptions=True,
        )
    finally:
        await scheduler.close()


def test_concurrent_requests_are_merged_and_each_gets_its_own_rows():
    model = RecordingModel()
    scheduler = BatchScheduler(model, BatchingParameters(max_batch_size=8,
                                                         batch_timeout_micros=20_000))
    requests = [[2 * i, 2 * i + 1] for i in range(16)]  # 16 requests of 2 rows
    results = asyncio.run(_submit_many(scheduler, requests))
    for ids, result in zip(requests, results):
        np.testing.assert_array_equal(result, np.array(ids) * 10)  # no loss, no mix-up
    assert sum(model.batches) == 32  # every row computed exactly once
    assert max(model.batches) == 8 and len(model.batches) == 4


def test_without_batching_each_request_is_one_call():
    model = RecordingModel(seconds=0.0)
    scheduler = BatchScheduler(model, BatchingParameters(enabled=False))
    results = asyncio.run(_submit_many(scheduler, [[1], [2, 3], [4]]))
    assert [r.tolist() for r in results] == [[10], [20, 30], [40]]
    assert model.batches == [1, 2, 1]


def test_full_queue_answers_503_with_retry_after():
    model = RecordingModel(seconds=0.2)
    scheduler = BatchScheduler(model, BatchingParameters(
        max_batch_size=2, max_enqueued_batches=2, batch_timeout_micros=0))
    results = asyncio.run(_submit_many(scheduler, [[i] for i in range(12)]))
    refused = [r for r in results if isinstance(r, ServingError)]
    served = [r for r in results if not isinstance(r, Exception)]
    assert refused and served
    assert all(r.status == 503 and r.headers["Retry-After"] == "1" for r in refused)
    assert "queue" in refused[0].message
    assert sum(model.batches) == len(served)  # refused requests were never computed


def test_close_finishes_queued_work_and_then_refuses():
    model = RecordingModel(seconds=0.05)
    scheduler = BatchScheduler(model, BatchingParameters(max_batch_size=1))

    async def scenario():
        scheduler.start()
        pending = [asyncio.ensure_future(scheduler.submit("generate", (np.array([i]),), 1))
                   for i in range(4)]
        await asyncio.sleep(0.01)
        await scheduler.close()  # returns only after the queued requests ran
        done = [task.result().tolist() for task in pending]
        with pytest.raises(ServingError) as refused:
            await scheduler.submit("generate", (np.array([9]),), 1)
        return done, refused.value.status

    done, status = asyncio.run(scenario())
    assert done == [[0], [10], [20], [30]] and status == 503


def test_batching_parameters_are_checked():
    with pytest.raises(ValueError, match="max_batch_size must be an int >= 1"):
        BatchingParameters(max_batch_size=0)
    with pytest.raises(ValueError, match="batch_timeout_micros"):
        BatchingParameters(batch_timeout_micros=-1)


def test_concurrent_http_requests_share_model_calls(apps):
    """Through the app: 12 concurrent requests, fewer model calls, every answer its own."""
    import httpx

    serving = apps["text2image", "onnx"]

    async def scenario():
        transport = httpx.ASGITransport(app=serving.app)
        async with serving.app.router.lifespan_context(serving.app):
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                bodies = [{"inputs": {"captions": ["a red circle"], "seed": seed}}
                          for seed in range(12)]
                return await asyncio.gather(*(client.post("/v1/models/tiny:predict", json=b)
                                              for b in bodies))

    before = _batch_count(serving)
    responses = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in responses)
    images = [np.array(r.json()["outputs"], np.uint8) for r in responses]
    expected = [serving.backend.generate(serving.backend.tokenize(["a red circle"]),
                                         serving.backend.noise(1, seed)) for seed in range(12)]
    for got, want in zip(images, expected):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert len({image.tobytes() for image in images}) == 12
    assert _batch_count(serving) - before < 12


def _batch_count(serving):
    """Model calls so far, all calls together."""
    return sum(sample.value for metric in serving.metrics.batch_size.collect()
               for sample in metric.samples if sample.name.endswith("_count"))
