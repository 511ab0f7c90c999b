"""Progress from the writer partitions while the one graph runs.

Each writer partition reports its stats rows as it finishes: on a distributed worker as an
event on the write's own topic (the scheduler forwards it to the clients that subscribed), in a
process without workers (Dask's local schedulers) straight to the listeners registered
here. The client never has to hold the writers' results to see progress, so the graph
is computed in one go and the reduction starts on rows that are still on the workers.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import pandas as pd

from .stats_rows import STATS_COLUMNS, rows_frame

TOPIC = "dask_clipwriter-chunks"


def topic(run: str) -> str:
    """The event topic of one write: its own, so that two writes on one client (whose topic
    handlers are one per topic) never take each other's events."""
    return f"{TOPIC}-{run}"

_listeners: dict[str, Any] = {}
_listeners_lock = threading.Lock()


class ProgressHook(Protocol):
    """Told about writer partitions as they finish, then closed: ``rows`` are the stats rows
    of ``partitions`` partitions (several at once when many finish close together)."""

    def update(self, rows: pd.DataFrame, partitions: int = 1) -> None: ...

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
        # Plain tuples in column order: the smallest message to pass on to the client.
        worker.log_event(topic(run), list(rows.itertuples(index=False, name=None)))
        return
    with _listeners_lock:
        listener = _listeners.get(run)
    if listener is not None:
        listener.update(rows)


class _Serialised:
    """The hook, called by one thread at a time (partitions finish on many)."""

    def __init__(self, hook: ProgressHook):
        self.hook, self.lock = hook, threading.Lock()

    def update(self, rows: pd.DataFrame, partitions: int = 1) -> None:
        with self.lock:
            self.hook.update(rows, partitions)


#: How often events from the workers are handed on, at most (seconds).
BATCH_INTERVAL_S = 0.25


@contextlib.contextmanager
def listening(run: str, hook: ProgressHook, client=None) -> Iterator[None]:
    """While inside, ``hook`` is told of every partition of ``run`` that finishes, on the
    workers of ``client`` or in this process."""
    serialised = _Serialised(hook)
    with _listeners_lock:
        _listeners[run] = serialised
    if client is None:
        try:
            yield
        finally:
            with _listeners_lock:
                _listeners.pop(run, None)
        return
    # Events arrive on the client's event loop, which with a LocalCluster or a jobqueue
    # cluster is the scheduler's too: the handler only queues them, and a thread of its own
    # hands them on in batches, so that building frames never holds up the scheduler.
    arrived: queue.SimpleQueue = queue.SimpleQueue()
    done = threading.Event()

    def on_event(event) -> None:
        arrived.put(event[1])

    def feed() -> None:
        while True:
            finished = done.wait(BATCH_INTERVAL_S)
            batch = []
            while not arrived.empty():
                batch.append(arrived.get())
            if batch:
                rows = [row for rows in batch for row in rows]
                serialised.update(rows_frame([dict(zip(STATS_COLUMNS, row, strict=True)) for row in rows]), len(batch))
            if finished:
                return

    feeder = threading.Thread(target=feed, name="clipwriter-progress", daemon=True)
    feeder.start()
    client.subscribe_topic(topic(run), on_event)
    try:
        yield
    finally:
        client.unsubscribe_topic(topic(run))
        done.set()
        feeder.join()
        with _listeners_lock:
            _listeners.pop(run, None)
