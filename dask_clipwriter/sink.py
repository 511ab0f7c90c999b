"""Putting (path, bytes) into a filesystem through fsspec. Knows nothing about clips.

* atomic: a local file is written to a temporary name beside it and renamed into place; an
  object store gets one PUT (an object appears whole or not at all);
* policy: ``skip`` keeps a file that already exists (the reference's re-run behaviour),
  ``overwrite`` replaces it;
* confined: every path must lie below the sink's root (``output_path``);
* retried: a failed put is retried with backoff, then reported with its path and cause;
* counted: each batch returns the files and bytes it wrote and the files it skipped, per
  top-level dataset directory (the sink keeps no running totals).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .layout import directory_of

log = logging.getLogger(__name__)


class SinkError(OSError):
    """A write that failed after its retries; the message names the path and the cause."""


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
        self.fs, _ = fsspec.url_to_fs(self.root, **dict(storage_options or {}))
        self.local = isinstance(self.fs, LocalFileSystem)
        self.existing = existing
        self.max_workers = max_workers
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self.verbose = verbose
        self._made_dirs: set[str] = set()  # local directories known to exist (saves a mkdir per file)

    # -- public API --------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return self.fs.exists(self._fs_path(path))

    def read(self, path: str) -> bytes:
        return self.fs.cat_file(self._fs_path(path))

    def read_if_exists(self, path: str) -> bytes | None:
        try:
            return self.read(path)
        except FileNotFoundError:
            return None

    def names_starting(self, prefix: str) -> list[str]:
        """Names of the files in ``prefix``'s folder that start with its last part: one
        listing (an object store lists by key prefix, not the whole folder)."""
        fs_prefix = self._fs_path(prefix)
        folder, _, start = fs_prefix.rpartition("/")
        try:
            if self.local:
                names = os.listdir(folder)
            else:
                try:
                    found = self.fs.find(folder, prefix=start)
                except TypeError:  # a backend whose find takes no prefix: list the folder
                    found = self.fs.ls(folder, detail=False)
                names = [p.rstrip("/").rsplit("/", 1)[-1] for p in found]
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.startswith(start))

    def remove(self, path: str) -> None:
        fs_path = self._fs_path(path)
        if self.fs.exists(fs_path):
            self.fs.rm_file(fs_path)

    def put(self, path: str, data: bytes, *, existing: str | None = None) -> bool:
        """Write one file; returns False when it was skipped because it exists.

        ``existing``: ``skip`` keeps any existing file, ``overwrite`` replaces it, ``update``
        keeps it only when it already holds exactly ``data`` (documents that describe the
        dataset and must follow it); None is the sink's policy."""
        fs_path = self._fs_path(path)
        policy = existing or self.existing
        if policy != "overwrite" and self.fs.exists(fs_path) and (policy == "skip" or self.read(path) == data):
            if self.verbose:
                log.info("skipped existing %s", path)
            return False
        self._with_retries(path, lambda: self._put_atomic(fs_path, data))
        if self.verbose:
            log.info("wrote %s (%d bytes)", path, len(data))
        return True

    def put_many(self, items: Iterable[tuple[str, bytes]], *, existing: str | None = None) -> SinkCounts:
        """Write a batch concurrently (``max_workers`` at once); returns the batch's counts.
        Raises the first failure."""
        items = list(items)
        if len(items) <= 1 or self.max_workers == 1:
            written = [self.put(path, data, existing=existing) for path, data in items]
        else:
            with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="clipwriter-put") as pool:
                futures = [pool.submit(self.put, path, data, existing=existing) for path, data in items]
                written = [future.result() for future in futures]
        counts = SinkCounts()
        for (path, data), was_written in zip(items, written, strict=True):
            counts.record(directory_of(self.root, path), was_written, len(data))
        return counts

    # -- internals ---------------------------------------------------------------------

    def _fs_path(self, path: str) -> str:
        # Never write outside output_path, whatever a caller computed.
        if not path.startswith(self.root + "/") or "/../" in path + "/":
            raise SinkError(f"refusing to write {path!r}: not below output_path {self.root!r}")
        return self.fs._strip_protocol(path)

    def _put_atomic(self, fs_path: str, data: bytes) -> None:
        if not self.local:
            self.fs.pipe_file(fs_path, data)  # one PUT: the object appears whole or not at all
            return
        directory = os.path.dirname(fs_path)
        if directory not in self._made_dirs:
            os.makedirs(directory, exist_ok=True)
            self._made_dirs.add(directory)
        tmp = os.path.join(directory, f".{os.path.basename(fs_path)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, fs_path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _with_retries(self, path: str, action) -> None:
        attempt = 0
        while True:
            try:
                action()
                return
            except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError, FileNotFoundError) as exc:
                # Permanent: retrying cannot help.
                raise SinkError(f"cannot write {path}: {exc}") from exc
            except Exception as exc:
                attempt += 1
                if attempt > self.retries:
                    raise SinkError(f"cannot write {path} after {attempt} attempts: {exc}") from exc
                log.warning("write of %s failed (%s); retry %d of %d", path, exc, attempt, self.retries)
                time.sleep(self.retry_wait_s * 2 ** (attempt - 1))
