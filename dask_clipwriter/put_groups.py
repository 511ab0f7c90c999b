"""Groups of files put through a sink's writer threads without waiting for each group, the
last file of a group (a chunk's marker) put only once the rest of its group is in.

A task that writes many chunks used to wait for each chunk's files before it planned the
next: on an object store the threads idled while the task built the next chunk's documents
and during each chunk's last round of PUTs (measured on S3: 3.3-3.7 s for what an unordered
stream of the same PUTs did in 2.4-2.6 s). Here the groups overlap, and the task waits once,
at its end. What a marker means is kept: it is put after, and only after, every other file
of its group was written. After a failure nothing new starts: files still queued are
dropped (of earlier groups too, whose markers are then not put: a resume writes them again)
and no marker is put; the writes already running are waited for, and the first failure is
raised with its group's label. Knows nothing about clips.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .layout import directory_of
from .sink import FileSink, SinkCounts, shared_pool

Files = Sequence[tuple[str, bytes]]


class GroupWriteError(Exception):
    """A file of the group labelled ``label`` failed with ``error`` (the sink's)."""

    def __init__(self, label: Any, error: BaseException):
        super().__init__(f"{label}: {error}")
        self.label, self.error = label, error


@dataclass
class _Group:
    label: Any
    files: Files
    last: tuple[str, bytes]
    existing: str | None
    remaining: int
    counts: SinkCounts = field(default_factory=SinkCounts)
    settled: bool = False  # written whole, or given up after a failure
    written: bool = False  # its last file is in: every file of it is
    finished: float = 0.0


class PutGroups:
    """Put groups of files through ``sink``: :meth:`put_group` hands a group over and returns
    at once (first waiting, while ``max_queued`` files or more are queued or being written,
    for fewer); :meth:`wait` waits for every group."""

    def __init__(self, sink: FileSink, *, max_queued: int | None = None):
        self.sink = sink
        self.max_queued = max_queued or 8 * sink.max_workers
        self._groups: list[_Group] = []
        self._changed = threading.Condition()
        self._outstanding = 0  # files handed to threads and not yet done
        self._failure: GroupWriteError | None = None
        self._abandoned = False

    def put_group(self, label: Any, files: Files, last: tuple[str, bytes], *, existing: str | None = None) -> int:
        """Write ``files``, then ``last``; returns the group's number. ``label`` names the
        group in its failure. Raises the first failure as soon as it is known (here, or from
        :meth:`wait`)."""
        self.raise_failure()
        number = len(self._groups)
        group = _Group(label, list(files), last, existing, remaining=len(files))
        self._groups.append(group)
        if not self.sink.worth_threads([*group.files, last]):
            # Small files on a local disk: written here, as put_many would (threads cost more).
            try:
                for path, data in (*group.files, last):
                    self.raise_failure()  # another group's, in the threads: stop, no marker
                    self._record(group, path, data, self.sink.put(path, data, existing=existing))
            except GroupWriteError:
                self._settle(group)
                raise
            except Exception as exc:
                self._fail(number, exc)
                self._settle(group)
                self.raise_failure()
            self._settle(group, written=True)
            return number
        with self._changed:
            while self._outstanding >= self.max_queued and not self._stopped():
                self._changed.wait()
        self.raise_failure()
        files, group.files = group.files, ()  # held by the queue until each is written
        for path, data in files:
            self._submit(number, path, data, is_last=False)
        if not files:
            self._submit(number, *last, is_last=True)
        return number

    def written(self, number: int) -> bool:
        """Whether every file of group ``number``, its last one too, is in."""
        with self._changed:
            return self._groups[number].written

    def finished(self, number: int) -> float:
        """When group ``number`` was written (time.time())."""
        return self._groups[number].finished

    def counts(self, number: int) -> SinkCounts:
        """What group ``number`` wrote and skipped (final once it is :meth:`written`)."""
        return self._groups[number].counts

    def wait(self) -> None:
        """Wait for every group. Raises the first failure."""
        self._wait_idle()
        self.raise_failure()

    def abandon(self) -> None:
        """The caller is failing: start nothing new (queued files are dropped, no marker is
        put) and wait for the writes already running, so that none outlives the caller."""
        with self._changed:
            self._abandoned = True
        self._wait_idle()

    def _wait_idle(self) -> None:
        with self._changed:
            while self._outstanding:
                self._changed.wait()

    def raise_failure(self) -> None:
        """Raise the first failure, if there was one (GroupWriteError)."""
        if self._failure is not None:
            raise self._failure from self._failure.error

    # -- handing over (in the task's thread, and the last file in a writer thread) ---------

    def _submit(self, number: int, path: str, data: bytes, *, is_last: bool) -> None:
        with self._changed:
            self._outstanding += 1
        try:
            shared_pool(self.sink.max_workers).submit(self._put, number, path, data, is_last)
        except BaseException:
            # Not queued (an interpreter shutting down, no thread to be had): not outstanding.
            with self._changed:
                self._outstanding -= 1
                self._changed.notify_all()
            raise

    # -- in the writer threads -----------------------------------------------------------

    def _put(self, number: int, path: str, data: bytes, is_last: bool) -> None:
        group = self._groups[number]
        try:
            if self._stopped():
                self._settle(group)
                return
            written = self.sink.put(path, data, existing=group.existing)
            with self._changed:
                self._record(group, path, data, written)
                if not is_last:
                    group.remaining -= 1
                last_due = not is_last and group.remaining == 0
            if is_last:
                self._settle(group, written=True)
            elif last_due:
                if not self._stopped():
                    self._submit(number, *group.last, is_last=True)
                else:
                    self._settle(group)
        except BaseException as exc:  # noqa: BLE001 - any failure is the group's, raised by wait()
            self._fail(number, exc)
            self._settle(group)
        finally:
            with self._changed:
                self._outstanding -= 1
                self._changed.notify_all()

    def _record(self, group: _Group, path: str, data: bytes, written: bool) -> None:
        group.counts.record(directory_of(self.sink.root, path), written, len(data))

    def _settle(self, group: _Group, *, written: bool = False) -> None:
        with self._changed:
            if not group.settled:
                group.settled, group.written, group.finished = True, written, time.time()
                group.last = ("", b"")  # its bytes are let go as it is in, not when the task ends
            self._changed.notify_all()

    def _stopped(self) -> bool:
        return self._failure is not None or self._abandoned

    def _fail(self, number: int, exc: BaseException) -> None:
        with self._changed:
            if self._failure is None:
                self._failure = GroupWriteError(self._groups[number].label, exc)
            self._changed.notify_all()
