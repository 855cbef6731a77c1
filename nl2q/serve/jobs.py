"""A bounded queue in front of a fixed number of worker threads that share one model.

Everything here runs on the server's event loop except the work itself, which runs on the pool
and reports through its :class:`~nl2q.watch.Watch`. A full queue refuses at once with a Retry-After
estimate; a waiting job learns its place as the line moves; a job whose client went away is taken
out of the line, or, once running, cancelled at its next token (:func:`nl2q.watch.checkpoint`).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from ..watch import Cancelled, Watch


class Busy(Exception):
    """The line is full: ask again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)
class Job:
    work: Callable[[Watch], Any]
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    watch: Watch = field(default_factory=Watch)
    position: int = 0
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    started: float = 0.0

    def put(self, event: dict[str, Any] | None) -> None:
        self.events.put_nowait(event)


class JobQueue:
    def __init__(self, workers: int = 1, max_waiting: int = 8) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError("workers must be >= 1 and max_waiting >= 0")
        self.workers, self.max_waiting = workers, max_waiting
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="nl2q-worker")
        self.waiting: deque[Job] = deque()
        self.running: set[Job] = set()
        self.durations: deque[float] = deque(maxlen=32)
        self.counts = {"accepted": 0, "refused": 0, "cancelled": 0, "finished": 0}

    def submit(self, work: Callable[[Watch], Any]) -> Job:
        """Queue ``work(watch)``; raises :class:`Busy` when every worker is busy and the line is full."""
        if len(self.running) >= self.workers and len(self.waiting) >= self.max_waiting:
            self.counts["refused"] += 1
            raise Busy(self.retry_after())
        loop = asyncio.get_running_loop()
        job = Job(work)
        job.watch.emit = lambda event: loop.call_soon_threadsafe(job.put, event)
        self.waiting.append(job)
        self.counts["accepted"] += 1
        self._dispatch()
        return job

    async def stream(self, job: Job, idle: float = 1.0) -> AsyncIterator[dict[str, Any] | None]:
        """The job's events as they come; None every ``idle`` seconds of silence (a chance to notice a
        client that went away); ends after the job finished."""
        while True:
            try:
                event = await asyncio.wait_for(job.events.get(), idle)
            except asyncio.TimeoutError:
                yield None
                continue
            if event is None and job.done:
                return
            yield event

    def cancel(self, job: Job) -> None:
        """Withdraw a job: out of the line if waiting, else stopped at its next checkpoint. Idempotent."""
        if job.done:
            return
        job.watch.cancel.set()
        if job in self.waiting:
            self.waiting.remove(job)
            self.counts["cancelled"] += 1
            self._finish(job, None, Cancelled("the request was cancelled"))
            self._dispatch()

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the median job time times the jobs ahead, per worker."""
        typical = statistics.median(self.durations) if self.durations else 5.0
        ahead = len(self.waiting) + len(self.running)
        return max(1, min(120, math.ceil(typical * ahead / self.workers)))

    def stats(self) -> dict[str, Any]:
        return {"workers": self.workers, "max_waiting": self.max_waiting, "running": len(self.running),
                "waiting": len(self.waiting), **self.counts}

    def shutdown(self) -> None:
        for job in list(self.waiting) + list(self.running):
            self.cancel(job)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self) -> None:
        while len(self.running) < self.workers and self.waiting:
            self._start(self.waiting.popleft())
        for place, job in enumerate(self.waiting, 1):
            if job.position != place:
                job.position = place
                job.put({"event": "queued", "position": place})

    def _start(self, job: Job) -> None:
        self.running.add(job)
        job.started = time.monotonic()
        job.put({"event": "started"})
        future = asyncio.get_running_loop().run_in_executor(self.pool, job.work, job.watch)
        future.add_done_callback(lambda f: self._ran(job, f))

    def _ran(self, job: Job, future: asyncio.Future) -> None:
        self.running.discard(job)
        error = future.exception() if not future.cancelled() else Cancelled("the request was cancelled")
        if isinstance(error, Cancelled):
            self.counts["cancelled"] += 1
        else:
            self.durations.append(time.monotonic() - job.started)
            self.counts["finished"] += 1
        self._finish(job, None if error else future.result(), error)
        self._dispatch()

    @staticmethod
    def _finish(job: Job, result: Any, error: BaseException | None) -> None:
        job.result, job.error, job.done = result, error, True
        job.put(None)
