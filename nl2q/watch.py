"""Progress out of, and cancellation into, a compile that runs on another thread.

A caller (the web server) attaches a :class:`Watch` to one compile; the pipeline reports its
stages through :func:`emit` and the decoders call :func:`checkpoint` once per token or chunk,
so work whose client went away stops within a token instead of running to the end. Context
variables keep each request's watch to its own thread.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import Nl2qError


class Cancelled(Nl2qError):
    """The caller withdrew the request; nothing was returned."""


@dataclass
class Watch:
    emit: Callable[[dict[str, Any]], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


_current: ContextVar[Watch | None] = ContextVar("nl2q_watch", default=None)


@contextmanager
def watching(watch: Watch | None) -> Iterator[None]:
    token = _current.set(watch)
    try:
        yield
    finally:
        _current.reset(token)


def emit(event: str, **fields: Any) -> None:
    """Report a stage (``decode``, ``check``, ``dry_run``, ``repair``, ``round``) to the caller, if one listens."""
    watch = _current.get()
    if watch is not None and watch.emit is not None:
        watch.emit({"event": event, **fields})


def checkpoint() -> None:
    """Raise :class:`Cancelled` if the caller withdrew the request."""
    watch = _current.get()
    if watch is not None and watch.cancel.is_set():
        raise Cancelled("the request was cancelled")
