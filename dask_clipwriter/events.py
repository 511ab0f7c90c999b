"""Progress from the writer partitions while the one graph runs.

Each writer partition reports its stats rows as it finishes: on a distributed worker as an
event on :data:`TOPIC` (the scheduler forwards it to the clients that subscribed), in a
process without workers (Dask's local schedulers) straight to the listeners registered
here. The client never has to hold the writers' results to see progress, so the graph
is computed in one go and the reduction starts on rows that are still on the workers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import pandas as pd

from .stats_rows import rows_frame

TOPIC = "dask_clipwriter-chunks"

_listeners: dict[str, Any] = {}
_listeners_lock = threading.Lock()


class ProgressHook(Protocol):
    """Told about each writer partition as it finishes (its stats rows), then closed."""

    def update(self, rows: pd.DataFrame) -> None: ...

    def close(self) -> None: ...


def report(run: str | None, rows: pd.DataFrame) -> None:
    """Called by a writer partition when it is done (``run`` None: nobody listens)."""
    if run is None:
        return
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    if worker is not None:
        worker.log_event(TOPIC, {"run": run, "rows": rows.to_dict(orient="records")})
        return
    with _listeners_lock:
        listener = _listeners.get(run)
    if listener is not None:
        listener.update(rows)


class _Serialised:
    """The hook, called by one thread at a time (partitions finish on many)."""

    def __init__(self, hook: ProgressHook):
        self.hook, self.lock = hook, threading.Lock()

    def update(self, rows: pd.DataFrame) -> None:
        with self.lock:
            self.hook.update(rows)


@contextlib.contextmanager
def listening(run: str, hook: ProgressHook, client=None) -> Iterator[None]:
    """While inside, ``hook`` is told of every partition of ``run`` that finishes, on the
    workers of ``client`` or in this process."""
    serialised = _Serialised(hook)
    with _listeners_lock:
        _listeners[run] = serialised

    def on_event(event) -> None:
        _, message = event
        if message.get("run") == run:
            serialised.update(rows_frame(message["rows"]))

    if client is not None:
        client.subscribe_topic(TOPIC, on_event)
    try:
        yield
    finally:
        if client is not None:
            client.unsubscribe_topic(TOPIC)
        with _listeners_lock:
            _listeners.pop(run, None)
