"""Logging for the command line: the terminal, ``--log-file``, and the workers' records.

Why ``--verbose --log-level INFO`` used to print nothing: every INFO line of the writer is
logged on a worker, in another process (a SLURM job, a LocalCluster's spawned process), which
never saw the client's ``logging.basicConfig``: its ``dask_clipwriter`` logger was at Python's
default WARNING and had no handler, so the records were dropped where they were made. Now
the workers' ``dask_clipwriter`` logger is set to the level the client asks for (a worker
plugin, so workers that join later get it too) and its records are forwarded to the client
(``Client.forward_logging``), where the terminal and the log file handle them like their own.

The terminal shows ``dask_clipwriter`` at ``--log-level`` (INFO with ``--verbose``) and other
libraries' warnings; the log file gets everything at INFO or below: our records, the
workers', distributed's (workers joining and leaving), and the lines the run prints.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

from distributed.diagnostics.plugin import WorkerPlugin

LOGGER = "dask_clipwriter"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The log file's level: what a run did, without distributed's debug chatter.
FILE_LEVEL = logging.INFO


class _Threshold(logging.Filter):
    """Our records at ``level``, everyone else's at WARNING."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == LOGGER or record.name.startswith(LOGGER + ".")
        return record.levelno >= (self.level if ours else logging.WARNING)


class _LogFile:
    """The log file, written by the log handler and by :class:`Tee` under one lock."""

    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole command
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return self.file.write(text)

    def flush(self) -> None:
        with self.lock:
            self.file.flush()


class _FileHandler(logging.Handler):
    """Records into the log file. Not a StreamHandler on purpose: distributed's LocalCluster
    "silences" every StreamHandler of the ``distributed`` logger to WARNING when it starts,
    and this one must keep INFO."""

    def __init__(self, log_file: _LogFile, level: int):
        super().__init__(level)
        self.log_file = log_file

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log_file.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise into the code that logs
            self.handleError(record)


class Tee:
    """The terminal (stderr), with every line also written to the log file, time-stamped. A
    progress line redrawn in place on a terminal becomes one line per redraw in the file."""

    def __init__(self, terminal: TextIO, log_file: _LogFile):
        self.terminal, self.log_file = terminal, log_file
        self._partial = ""

    def write(self, text: str) -> int:
        self.terminal.write(text)
        lines = (self._partial + text).replace("\r", "\n").split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line:
                self.log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()
        self.log_file.flush()

    def isatty(self) -> bool:
        return getattr(self.terminal, "isatty", lambda: False)()


class CommandLogging:
    """The command's logging, set up once by :func:`configure`."""

    def __init__(self, level: int, log_file: str | None):
        self.terminal_filter = _Threshold(level)
        self.log_file = _LogFile(log_file) if log_file else None
        self.stream: TextIO = Tee(sys.stderr, self.log_file) if self.log_file else sys.stderr
        self.handlers: list[logging.Handler] = []
        terminal = logging.StreamHandler(sys.stderr)
        terminal.addFilter(self.terminal_filter)
        self.handlers.append(terminal)
        if self.log_file:
            self.handlers.append(_FileHandler(self.log_file, min(level, FILE_LEVEL)))
        formatter = logging.Formatter(FORMAT)
        root = logging.getLogger()
        # What close() puts back (a command run inside another program, or a test).
        self._saved = (root.level, logging.getLogger(LOGGER).level, logging.getLogger("distributed").level)
        for handler in self.handlers:
            handler.setFormatter(formatter)
            root.addHandler(handler)
        root.setLevel(logging.NOTSET)
        logging.getLogger(LOGGER).setLevel(self.level)
        # distributed logs through handlers of its own (set up on import) that do not reach
        # ours; its records go to the log file, its warnings to the terminal as before.
        dist = logging.getLogger("distributed")
        for handler in dist.handlers:
            handler.setLevel(max(handler.level, logging.WARNING))
        if self.log_file:
            dist.addHandler(self.handlers[-1])
            dist.setLevel(FILE_LEVEL)

    @property
    def level(self) -> int:
        """The lowest level any of our handlers shows for ``dask_clipwriter``."""
        levels = [self.terminal_filter.level] + [h.level for h in self.handlers[1:]]
        return min(levels)

    def show_info(self) -> None:
        """``--verbose``: INFO lines of ours on the terminal (the per-chunk lines among them)."""
        self.terminal_filter.level = min(self.terminal_filter.level, logging.INFO)
        logging.getLogger(LOGGER).setLevel(self.level)

    def forward_from_workers(self, client) -> None:
        """Have ``client``'s workers, present and future, log ``dask_clipwriter`` at our level
        and hand the records to this process."""
        client.register_plugin(WorkerLogLevel(LOGGER, self.level), name="clipwriter-log-level")
        client.forward_logging(LOGGER, level=self.level)

    def close(self) -> None:
        root, dist = logging.getLogger(), logging.getLogger("distributed")
        for handler in self.handlers:
            root.removeHandler(handler)
            dist.removeHandler(handler)
        root.setLevel(self._saved[0])
        logging.getLogger(LOGGER).setLevel(self._saved[1])
        dist.setLevel(self._saved[2])
        if self.log_file:
            self.log_file.file.close()


class WorkerLogLevel(WorkerPlugin):
    """A worker plugin: the level of one logger in the worker's process."""

    def __init__(self, logger: str, level: int):
        self.logger, self.level = logger, level

    def setup(self, worker) -> None:
        logging.getLogger(self.logger).setLevel(self.level)


def parse_level(name: str | None) -> int:
    """``--log-level`` as a number (default WARNING); a name logging does not know is refused."""
    from .settings import SettingsError

    if name is None:
        return logging.WARNING
    level = logging.getLevelName(str(name).upper())
    if not isinstance(level, int):
        raise SettingsError(f"--log-level must be one of DEBUG, INFO, WARNING, ERROR, got {name!r}")
    return level


__all__ = ["CommandLogging", "Tee", "WorkerLogLevel", "parse_level"]
