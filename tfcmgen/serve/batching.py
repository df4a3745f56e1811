"""Server-side batching: concurrent requests merged into one model call, with a bounded queue.

The parameters are TF Serving's (`--enable_batching` with a batching parameters file):
`max_batch_size` (images per model call), `batch_timeout_micros` (how long the first request of a
batch waits for others), `max_enqueued_batches` (queue bound, in batches of `max_batch_size`
images) and `num_batch_threads` (model calls at once). A request that would overflow the queue is
refused at once with 503 and `Retry-After` (TF Serving answers UNAVAILABLE "The batch scheduling
queue ... is full"), so the queue, and memory, cannot grow without limit.

Requests are never split: a batch takes whole requests, in arrival order, while they fit in
`max_batch_size`; one request larger than that runs alone (the server's per-request image limit
bounds it). With `enabled=False` every request is its own model call (still at most
`num_batch_threads` at once), the baseline of `bench/serve_load.py`.

Example:

>>> scheduler = BatchScheduler(run=lambda call, parts: ..., max_batch_size=32)  # doctest: +SKIP
>>> images = await scheduler.submit("generate", (ids, noise), count=len(ids))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from tfcmgen.serve.errors import ServingError


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's batching parameters (see the module docstring).

    Args:
        enabled: bool. Merge concurrent requests. Defaults to True.
        max_batch_size: int. Images per model call. Defaults to 32.
        batch_timeout_micros: int. Longest wait of a batch's first request for more.
            Defaults to 0: a batch is what queued up while the previous model call ran, the
            starting point TF Serving's batching guide gives for CPUs (measured here: 0 and
            5000 gave the same images/s at 16 clients, 0 a lower p99).
        max_enqueued_batches: int. Queue bound in batches of max_batch_size images.
            Defaults to 16.
        num_batch_threads: int. Model calls running at once. Defaults to 1 (2-core CPU: one call
            already uses both cores).
    """

    enabled: bool = True
    max_batch_size: int = 32
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 16
    num_batch_threads: int = 1

    def __post_init__(self):
        for field in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be an int >= 1; received {field}={value!r}")
        value = self.batch_timeout_micros
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"batch_timeout_micros must be an int >= 0; received batch_timeout_micros={value!r}"
            )


@dataclasses.dataclass
class _Task:
    call: str
    arrays: tuple
    count: int
    future: asyncio.Future
    enqueued: float = dataclasses.field(default_factory=time.monotonic)


class BatchScheduler:
    """Merges submitted work into batched calls of `run(call, arrays)`.

    Args:
        run: callable `(call, arrays) -> np.ndarray`, the backend's batched call: `arrays` is a
            tuple of arrays concatenated along axis 0 over the merged requests; it returns one
            row per image, in order.
        parameters: BatchingParameters.
        on_batch: callable `(call, images, seconds)` or None, told of each model call (metrics).
    """

    def __init__(self, run: Callable, parameters: BatchingParameters | None = None,
                 on_batch: Callable | None = None):
        self.run = run
        self.parameters = parameters or BatchingParameters()
        self.on_batch = on_batch
        self._queue: list = []
        self._queued_images = 0
        self._in_flight = 0
        self._wakeup: asyncio.Event | None = None
        self._workers: list = []
        self._executor = None
        self._closing = False

    @property
    def capacity(self) -> int:
        """Images the queue holds at most."""
        return self.parameters.max_enqueued_batches * self.parameters.max_batch_size

    @property
    def queued_images(self) -> int:
        return self._queued_images

    @property
    def in_flight(self) -> int:
        """Images in the queue or in a running model call."""
        return self._queued_images + self._in_flight

    def start(self) -> None:
        """Starts the workers on the running event loop (again after `close`)."""
        self._closing = False
        self._executor = ThreadPoolExecutor(
            max_workers=self.parameters.num_batch_threads, thread_name_prefix="tfcmgen-batch"
        )
        self._wakeup = asyncio.Event()
        self._workers = [
            asyncio.get_running_loop().create_task(self._worker())
            for _ in range(self.parameters.num_batch_threads)
        ]

    async def submit(self, call: str, arrays: tuple, count: int) -> np.ndarray:
        """Queues `count` images of work; returns their images when the batch ran.

        Raises:
            ServingError: 503 with Retry-After when the queue is full or the server is stopping.
        """
        if self._closing:
            raise ServingError(503, "the server is shutting down", {"Retry-After": "1"})
        if self._wakeup is None:  # an ASGI server that skipped the lifespan startup
            self.start()
        if self._queued_images + count > self.capacity and self._queued_images > 0:
            raise ServingError(
                503, f"The batch scheduling queue to which this task was submitted is full "
                f"({self._queued_images} images queued, limit {self.capacity})",
                {"Retry-After": "1"},
            )
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Task(call, arrays, count, future))
        self._queued_images += count
        self._wakeup.set()
        return await future

    def _take_batch(self) -> list:
        """Whole tasks from the front of the queue, same call, up to max_batch_size images."""
        first = self._queue[0]
        if not self.parameters.enabled:
            batch = [first]
        else:
            batch, total = [], 0
            for task in self._queue:
                if task.call != first.call:
                    continue
                if batch and total + task.count > self.parameters.max_batch_size:
                    break
                batch.append(task)
                total += task.count
        for task in batch:
            self._queue.remove(task)
            self._queued_images -= task.count
        return batch

    async def _wait_for_batch(self) -> None:
        """Waits until the batch is full or its first task has waited batch_timeout_micros.

        The wait counts from when the first task was queued, as TF Serving's does: requests that
        queued up during the previous model call go at once, they have waited already. (Counting
        from when the worker gets free made every batch of 16 clients wait the full timeout:
        they never fill a batch of 32.)"""
        deadline = self._queue[0].enqueued + self.parameters.batch_timeout_micros / 1e6
        while self.parameters.enabled and self._queued_images < self.parameters.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._wait_for_batch()
            if not self._queue:
                continue
            batch = self._take_batch()
            # Requests whose client gave up (request timeout) are dropped, not computed.
            batch = [task for task in batch if not task.future.done()]
            if not batch:
                continue
            count = sum(task.count for task in batch)
            arrays = tuple(
                np.concatenate([task.arrays[index] for task in batch], axis=0)
                for index in range(len(batch[0].arrays))
            )
            self._in_flight += count
            started = time.perf_counter()
            try:
                images = await loop.run_in_executor(self._executor, self.run, batch[0].call, arrays)
            except Exception as error:  # the model failed: every request of the batch learns it
                for task in batch:
                    if not task.future.done():
                        task.future.set_exception(
                            ServingError(500, f"the model call failed: {error}")
                        )
                continue
            finally:
                self._in_flight -= count
            if self.on_batch is not None:
                self.on_batch(batch[0].call, count, time.perf_counter() - started)
            start = 0
            for task in batch:
                if not task.future.done():
                    task.future.set_result(images[start:start + task.count])
                start += task.count

    async def close(self) -> None:
        """Stops taking work, finishes what is queued and in flight, then stops the workers."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
