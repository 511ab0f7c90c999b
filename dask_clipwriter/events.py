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

from .stats_rows import frame_of_values

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


def report(run: str | None, rows: list[tuple]) -> None:
    """Called by a writer partition when it is done, with its stats rows as tuples in column
    order (``run`` None: nobody listens)."""
    _send(run, rows)


def report_clip(run: str | None, nbytes: int) -> None:
    """Called by a chunk task of the job for each clip it has encoded (``run``: the job's
    own, see :class:`ClipCounter`): progress moves during a chunk, not only between them."""
    _send(run, nbytes)


def report_end(run: str | None) -> None:
    """Called by the run's last task: its listeners close (a write computed later, by the
    caller's own ``dask.compute``, has nobody else to tell them)."""
    _send(run, END)


#: The message that ends a run's events.
END = "end"


def _send(run: str | None, message) -> None:
    if run is None:
        return
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    if worker is not None:
        # Plain tuples in column order: the smallest message to pass on to the client.
        worker.log_event(topic(run), message)
        return
    with _listeners_lock:
        listener = _listeners.get(run)
    if listener is not None:
        listener.receive(message)


#: How often events from the workers are handed on, at most (seconds).
BATCH_INTERVAL_S = 0.25


class Listener:
    """Hands a run's events to its hook, one call at a time, until the run ends or
    :meth:`close` is called. Events from a distributed client's workers arrive on the
    client's event loop, which with a LocalCluster or a jobqueue cluster is the scheduler's
    too: they are only queued there, and a thread of the listener's own hands them on in
    batches, so that building frames never holds up the scheduler.

    The hook is a :class:`ProgressHook` told of stats rows (the writer's partitions), or,
    with ``deliver``, anything: ``deliver(hook, messages)`` is given each batch."""

    def __init__(self, run: str, hook, client=None, deliver=None):
        self.run, self.hook, self.client = run, hook, client
        self.deliver = deliver or _deliver_rows
        self.lock = threading.Lock()
        self.closing, self.closed = False, False
        self.finished = threading.Event()
        self.arrived: queue.SimpleQueue = queue.SimpleQueue()
        self.done = threading.Event()
        with _listeners_lock:
            _listeners[run] = self
        self.feeder = None
        if client is not None:
            self.feeder = threading.Thread(target=self._feed, name="clipwriter-progress", daemon=True)
            self.feeder.start()
            client.subscribe_topic(topic(run), self._on_event)

    def receive(self, message) -> None:
        """A message in this process (Dask's local schedulers)."""
        if message == END:
            self.close()
        else:
            self._update([message])

    def close(self) -> None:
        """Hand on what arrived, then close the hook; returns once it is closed (whoever
        called first: the run's end, or the caller leaving :func:`listening`)."""
        with self.lock:
            first, self.closing = not self.closing, True
        if not first:
            self.finished.wait()
            return
        try:
            if self.client is not None:
                try:
                    self.client.unsubscribe_topic(topic(self.run))
                except Exception:  # noqa: BLE001 - the client may be closing already
                    pass
                self.done.set()
                if self.feeder is not threading.current_thread():
                    self.feeder.join()  # it hands on what is queued before it ends
            with _listeners_lock:
                _listeners.pop(self.run, None)
            with self.lock:
                self.closed = True
            close = getattr(self.hook, "close", None)
            if close is not None:
                close()
        finally:
            self.finished.set()

    def _on_event(self, event) -> None:
        self.arrived.put(event[1])

    def _feed(self) -> None:
        while True:
            finished = self.done.wait(BATCH_INTERVAL_S)
            batch, ended = [], False
            while not self.arrived.empty():
                message = self.arrived.get()
                if message == END:
                    ended = True
                else:
                    batch.append(message)
            if batch:
                self._update(batch)
            if ended:
                threading.Thread(target=self.close, daemon=True).start()  # close joins this thread
                return
            if finished:
                return

    def _update(self, messages: list) -> None:
        with self.lock:
            if not self.closed:
                self.deliver(self.hook, messages)


def _deliver_rows(hook: ProgressHook, messages: list[list[tuple]]) -> None:
    """Writer partitions' messages (each a list of stats rows) to a ProgressHook."""
    hook.update(frame_of_values([row for rows in messages for row in rows]), len(messages))


class ClipCounter:
    """The job's clips as its chunk tasks encode them (:func:`report_clip`), told to
    ``on_clips(clips, nbytes)`` in batches, while inside ``with``."""

    def __init__(self, on_clips, client=None):
        import uuid

        self.run = uuid.uuid4().hex
        self.on_clips, self.client = on_clips, client

    def __enter__(self) -> str:
        self.listener = Listener(self.run, self.on_clips, self.client,
                                 deliver=lambda on_clips, sizes: on_clips(len(sizes), sum(sizes)))
        return self.run

    def __exit__(self, *exc) -> None:
        self.listener.close()


@contextlib.contextmanager
def listening(run: str, hook: ProgressHook, client=None) -> Iterator[None]:
    """While inside, ``hook`` is told of every partition of ``run`` that finishes, on the
    workers of ``client`` or in this process; closed on leaving."""
    listener = Listener(run, hook, client)
    try:
        yield
    finally:
        listener.close()
