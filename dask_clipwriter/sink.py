"""Putting (path, bytes) into a filesystem through fsspec. Knows nothing about clips.

* atomic: a local file is written to a temporary file under ``.clipwriter/tmp/`` (same
  filesystem) and renamed into place; an object store gets one PUT (an object appears whole
  or not at all; uploads up to 5 GiB never become multipart uploads that a killed writer
  could leave open);
* policy: ``skip`` keeps a file that already exists (the reference's re-run behaviour),
  ``overwrite`` replaces it, ``update`` replaces it only when its bytes differ;
* confined: every path must lie below the sink's root (``output_path``), and locally no
  write goes through a symbolic link that leads out of it; a directory where a file belongs
  is an error naming the path;
* retried: every call to the store (exists, read, list, put, remove) goes through one retry
  policy with backoff; permanent errors (permission, read-only, not a directory) fail at
  once; a failure is reported with its path and cause;
* counted: each batch returns the files and bytes it wrote and the files it skipped, per
  top-level dataset directory (the sink keeps no running totals).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .layout import BOOKKEEPING_DIR, directory_of

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors that retrying cannot mend: by type, and OSErrors by errno (a read-only
#: filesystem, a full disk or quota do not mend in the seconds a retry waits).
PERMANENT_ERRORS = (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
PERMANENT_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                    errno.EINVAL}
#: Local temporary files, renamed into place when complete (one folder, so that a re-run
#: finds every leftover of a killed writer at once).
TEMPORARY_DIR = f"{BOOKKEEPING_DIR}/tmp"
#: Below this size an upload to S3 is one PUT (its limit is 5 GiB).
SINGLE_PUT_BYTES = 5 * 2**30
#: A local file at least this large is worth a thread: its write() copies into the page cache
#: (and waits on writeback) with the GIL released, so several overlap (1 MB clips: 2.2x).
LARGE_LOCAL_FILE = 256 * 2**10


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def shared_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``threads`` writer threads, made once: a worker runs thousands
    of partitions, and starting threads for each cost more than writing a small chunk's files."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clipwriter-put")
        return pool


def _forget_pools_in_child() -> None:
    # A forked child holds the parent's pools but none of their threads: work handed to
    # them would never run (the child hung). It makes its own, with a lock nobody holds.
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_in_child)


#: Filesystems whose calls go over a network: a file's open and rename take a round trip,
#: so a chunk's files are written by several threads at once, as for object stores.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs", "fuse.glusterfs",
    "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "9p", "afs", "panfs", "wekafs",
})


def is_network_filesystem(path: str, mounts_file: str = "/proc/mounts") -> bool:
    """Whether ``path`` lies on a network filesystem, by the type of its longest mount point."""
    try:
        with open(mounts_file) as fh:
            mounts = [line.split()[1:3] for line in fh if len(line.split()) >= 3]
    except OSError:
        return False  # not Linux: write inline, as for a local disk
    real = os.path.realpath(path)
    best, kind = "", ""
    for point, fstype in mounts:
        point = point.replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fstype
    return kind in NETWORK_FILESYSTEMS


class SinkError(OSError):
    """A call to the store that failed (after its retries); the message names the path and the cause."""


@dataclass
class SinkCounts:
    files_written: Counter = field(default_factory=Counter)
    bytes_written: Counter = field(default_factory=Counter)
    files_skipped: Counter = field(default_factory=Counter)

    def add(self, other: SinkCounts) -> SinkCounts:
        self.files_written.update(other.files_written)
        self.bytes_written.update(other.bytes_written)
        self.files_skipped.update(other.files_skipped)
        return self

    def record(self, directory: str, written: bool, nbytes: int) -> None:
        if written:
            self.files_written[directory] += 1
            self.bytes_written[directory] += nbytes
        else:
            self.files_skipped[directory] += 1


class FileSink:
    """Writes files below ``root`` (a local path or any fsspec URL)."""

    def __init__(
        self,
        root: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        existing: str = "skip",
        max_workers: int = 6,
        retries: int = 3,
        retry_wait_s: float = 0.2,
        verbose: bool = False,
    ):
        self.root = root.rstrip("/")
        self.fs, self._root_fs_path = fsspec.url_to_fs(self.root, **dict(storage_options or {}))
        self.local = isinstance(self.fs, LocalFileSystem)
        self.existing = existing
        self.max_workers = max_workers
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self.verbose = verbose
        self.threaded = not self.local or is_network_filesystem(self._root_fs_path)
        self._checked_dirs: set[str] = set()  # local folders known to exist and to lie inside root

    # -- reading -------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        """Whether a file is at ``path``; a directory there is an error naming it."""
        fs_path = self._fs_path(path)
        return self._retried(path, "look for", lambda: self._is_file(fs_path, path))

    def read(self, path: str) -> bytes:
        fs_path = self._fs_path(path)
        return self._retried(path, "read", lambda: self.fs.cat_file(fs_path))

    def read_if_exists(self, path: str) -> bytes | None:
        try:
            return self.read(path)
        except FileNotFoundError:
            return None

    def names_starting(self, prefix: str) -> list[str]:
        """Names of the files in ``prefix``'s folder that start with its last part: one
        listing (an object store lists by key prefix, not the whole folder)."""
        folder, _, start = self._fs_path(prefix).rpartition("/")

        def names() -> list[str]:
            if self.local:
                return os.listdir(folder)
            try:
                found = self.fs.find(folder, prefix=start)
            except TypeError:  # a backend whose find takes no prefix: list the folder
                found = self.fs.ls(folder, detail=False)
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in found]

        try:
            return sorted(n for n in self._retried(prefix, "list", names) if n.startswith(start))
        except FileNotFoundError:
            return []

    # -- writing -------------------------------------------------------------------------

    def remove(self, path: str) -> None:
        fs_path = self._fs_path(path)

        def remove() -> None:
            try:
                self.fs.rm_file(fs_path)
            except FileNotFoundError:
                pass

        self._retried(path, "remove", remove)

    def remove_tree(self, path: str) -> None:
        """Remove a file or a folder with everything below it (nothing there: nothing done)."""
        fs_path = self._fs_path(path)

        def remove() -> None:
            try:
                self.fs.rm(fs_path, recursive=True)
            except FileNotFoundError:
                pass

        self._retried(path, "remove", remove)

    def put(self, path: str, data: bytes, *, existing: str | None = None) -> bool:
        """Write one file; returns False when it was skipped because it exists.

        ``existing``: ``skip`` keeps any existing file, ``overwrite`` replaces it, ``update``
        keeps it only when it already holds exactly ``data`` (documents that describe the
        dataset and must follow it); None is the sink's policy."""
        fs_path = self._fs_path(path)
        policy = existing or self.existing
        if policy != "overwrite" and self.exists(path) and (policy == "skip" or self.read(path) == data):
            if self.verbose:
                log.info("skipped existing %s", path)
            return False
        self._retried(path, "write", lambda: self._put_atomic(fs_path, path, data))
        if self.verbose:
            log.info("wrote %s (%d bytes)", path, len(data))
        return True

    def put_many(self, items: Iterable[tuple[str, bytes]], *, existing: str | None = None) -> SinkCounts:
        """Write a batch concurrently (``max_workers`` at once); returns the batch's counts.
        Raises the first failure."""
        items = list(items)
        if len(items) <= 1 or not self.worth_threads(items):
            written = [self.put(path, data, existing=existing) for path, data in items]
        else:
            futures = [shared_pool(self.max_workers).submit(self.put, path, data, existing=existing)
                       for path, data in items]
            try:
                written = [future.result() for future in futures]
            finally:
                # After a failure, the writes not yet started are dropped (the chunk has
                # failed) and the ones running are waited for, so none outlives the call.
                for future in futures:
                    future.cancel()
                for future in futures:
                    if not future.cancelled():
                        future.exception()
        counts = SinkCounts()
        for (path, data), was_written in zip(items, written, strict=True):
            counts.record(directory_of(self.root, path), was_written, len(data))
        return counts

    def worth_threads(self, items: Iterable[tuple[str, bytes]]) -> bool:
        """Whether these files are best written by the writer threads at once.

        Small files on a local disk are written in the calling thread: a write to the page
        cache takes tens of microseconds, and handing it to threads made a chunk of small
        files twice as slow (GIL hand-offs; measured). Large local files, and stores with
        round trips (object stores, network filesystems), get the threads."""
        if self.max_workers == 1:
            return False
        return self.threaded or sum(len(data) >= LARGE_LOCAL_FILE for _, data in items) > 1

    def clear_temporary(self) -> int:
        """Remove what killed writers left in the temporary folder; returns how many files.
        Call it before a run, never during one (it is the run's own folder too)."""
        if not self.local:
            return 0  # objects appear whole or not at all: nothing is left behind
        folder = os.path.join(self._root_fs_path, TEMPORARY_DIR)
        leftovers = os.listdir(folder) if os.path.isdir(folder) else []
        for name in leftovers:
            os.unlink(os.path.join(folder, name))
        return len(leftovers)

    # -- internals -----------------------------------------------------------------------

    def _fs_path(self, path: str) -> str:
        # Never write outside output_path, whatever a caller computed.
        if not path.startswith(self.root + "/") or "/../" in path + "/":
            raise SinkError(f"refusing to write {path!r}: not below output_path {self.root!r}")
        return self.fs._strip_protocol(path)

    def _is_file(self, fs_path: str, path: str) -> bool:
        try:
            kind = self.fs.info(fs_path).get("type")
        except FileNotFoundError:
            return False
        if kind == "directory":
            raise IsADirectoryError(errno.EISDIR, f"a directory is where the file {path} belongs")
        return True

    def _retried(self, path: str, what: str, action: Callable[[], T]) -> T:
        """``action`` under the retry policy; failures become SinkError naming the path,
        except that FileNotFoundError passes through where absence is an answer (reads,
        lists), not a failure (writes: a missing bucket)."""
        attempt = 0
        while True:
            try:
                return action()
            except FileNotFoundError as exc:
                if what == "write":
                    raise SinkError(f"cannot {what} {path}: {exc}") from exc
                raise
            except (SinkError, TypeError, AttributeError, KeyError):
                raise  # our own failure, or a bug: retrying would only hide it
            except PERMANENT_ERRORS as exc:
                raise SinkError(f"cannot {what} {path}: {exc}") from exc
            except OSError as exc:
                if exc.errno not in PERMANENT_ERRNOS:
                    attempt = self._wait_or_fail(path, what, exc, attempt)
                    continue
                raise SinkError(f"cannot {what} {path}: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - stores raise many types for a passing fault
                attempt = self._wait_or_fail(path, what, exc, attempt)

    def _wait_or_fail(self, path: str, what: str, exc: Exception, attempt: int) -> int:
        attempt += 1
        if attempt > self.retries:
            raise SinkError(f"cannot {what} {path} after {attempt} attempts: {type(exc).__name__}: {exc}") from exc
        log.warning("%s %s failed (%s); retry %d of %d", what, path, exc, attempt, self.retries)
        time.sleep(min(self.retry_wait_s * 2 ** (attempt - 1), 10.0))
        return attempt

    def _put_atomic(self, fs_path: str, path: str, data: bytes) -> None:
        if not self.local:
            if len(data) < SINGLE_PUT_BYTES and getattr(self.fs, "protocol", None) and "s3" in self.fs.protocol:
                # One PUT: the object appears whole or not at all, and no multipart upload is
                # left open if this process is killed mid-way.
                self.fs.pipe_file(fs_path, data, chunksize=SINGLE_PUT_BYTES // 2)
            else:
                self.fs.pipe_file(fs_path, data)
            return
        try:
            self._replace_local(fs_path, path, data)
        except FileNotFoundError:
            # A folder this sink had made was removed since (a cached sink outlives a run
            # that replaced a folder): make the folders again, once.
            self._checked_dirs.clear()
            self._replace_local(fs_path, path, data)

    def _replace_local(self, fs_path: str, path: str, data: bytes) -> None:
        """Write to a temporary file, then rename it into place: a reader never sees half a file."""
        directory = os.path.dirname(fs_path)
        self._check_local_dir(directory, path)
        tmp = self._temporary_file()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, fs_path)
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if isinstance(exc, OSError) and exc.errno == errno.EXDEV:
                raise SinkError(f"cannot write {path}: its folder is on another filesystem than output_path, and a "
                                "file cannot be renamed into place across filesystems (mount output_path whole)") from exc
            if isinstance(exc, IsADirectoryError) or (isinstance(exc, OSError) and os.path.isdir(fs_path)):
                raise IsADirectoryError(errno.EISDIR, f"a directory is where the file {path} belongs") from exc
            raise

    def _temporary_file(self) -> str:
        folder = os.path.join(self._root_fs_path, TEMPORARY_DIR)
        if folder not in self._checked_dirs:
            os.makedirs(folder, exist_ok=True)
            self._checked_dirs.add(folder)
        return os.path.join(folder, uuid.uuid4().hex)

    def _check_local_dir(self, directory: str, path: str) -> None:
        """Make ``directory`` and check that it lies inside root once symbolic links are
        followed: a linked folder must not take the dataset's files elsewhere."""
        if directory in self._checked_dirs:
            return
        os.makedirs(directory, exist_ok=True)
        root = os.path.realpath(self._root_fs_path)
        real = os.path.realpath(directory)
        if real != root and not real.startswith(root + os.sep):
            raise SinkError(f"refusing to write {path}: its folder leads out of output_path "
                            f"{self.root!r} (to {real}) through a symbolic link")
        self._checked_dirs.add(directory)
