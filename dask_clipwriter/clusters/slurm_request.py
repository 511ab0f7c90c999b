"""What a SLURM worker job asks for, what a partition offers, and why one cannot meet the other.

Pure: the rendered job script and the text ``sinfo``/``squeue`` print come in, facts and
one-line messages go out (:mod:`.slurm_watch` runs the commands). The request is read from
the ``#SBATCH`` lines of the script dask-jobqueue will submit, so what is checked is exactly
what is asked, extra directives included.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field

#: The options of ``clipwriter.cluster.slurm`` that become each directive: named in messages,
#: so that a user knows what to change.
OPTION_OF = {name: f"option {option}" for name, option in (
    ("partition", "queue"), ("cpus", "cores"), ("memory", "memory"), ("time", "walltime"),
    ("nodes", "job-extra-directives"))}
#: Pending reasons that say the job can never start as asked (the partition's limits, not the
#: queue, stand in its way): a run waiting on one is ended at once.
UNMEETABLE_REASONS = frozenset({"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
                                "InvalidAccount", "InvalidQOS", "QOSMaxWallDurationPerJobLimit"})

_LONG = {"--partition": "partition", "--cpus-per-task": "cpus", "--mem": "memory", "--time": "time",
         "--nodes": "nodes", "--ntasks": "tasks"}
_SHORT = {"-p": "partition", "-c": "cpus", "-t": "time", "-N": "nodes", "-n": "tasks"}


@dataclass(frozen=True)
class JobRequest:
    """The resources one worker job asks for (None: not asked, SLURM's default applies)."""

    partition: str | None = None
    cpus: int | None = None  # per task (--cpus-per-task)
    tasks: int | None = None
    memory_mb: int | None = None  # per node (--mem); 0 is "all of the node's"
    time_minutes: float | None = None
    nodes: int | None = None
    directives: tuple[str, ...] = ()  # every #SBATCH line's options, as written

    def describe(self) -> str:
        """The request as its directives, e.g. ``-p debug --cpus-per-task=4 --mem=16G -t 04:00:00``."""
        return " ".join(d for d in self.directives if not d.startswith(("-J", "-o", "-e", "--job-name",
                                                                           "--output", "--error")))


@dataclass(frozen=True)
class Partition:
    """What ``sinfo`` says of one partition: the most its nodes offer."""

    name: str
    default: bool = False
    available: str = "up"
    nodes: int = 0
    cpus: int = 0  # on its largest node
    memory_mb: int = 0  # on its largest node
    time_minutes: float | None = None  # None: no limit
    states: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        limit = "no time limit" if self.time_minutes is None else f"time limit {format_minutes(self.time_minutes)}"
        return (f"partition {self.name}: {self.nodes} node(s), at most {self.cpus} CPUs and {self.memory_mb} MB "
                f"per node, {limit}, {self.available}")


def _options(script: str):
    """(flag, value) of every option on the script's ``#SBATCH`` lines."""
    for line in script.splitlines():
        if not line.startswith("#SBATCH"):
            continue
        tokens = shlex.split(line[len("#SBATCH"):], comments=False)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.startswith("--"):
                flag, has_value, value = token.partition("=")
                if not has_value and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                    value, i = tokens[i + 1], i + 1
                yield flag, value
            elif token.startswith("-") and len(token) >= 2:
                flag, value = token[:2], token[2:]
                if not value and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                    value, i = tokens[i + 1], i + 1
                yield flag, value
            i += 1


def parse_job_request(script: str) -> JobRequest:
    """The request of a rendered job script (its ``#SBATCH`` lines; later lines win, as in sbatch)."""
    values: dict[str, str] = {}
    directives = []
    for flag, value in _options(script):
        directives.append(f"{flag}={value}" if flag.startswith("--") and value else f"{flag} {value}".strip())
        name = _LONG.get(flag) or _SHORT.get(flag)
        if name:
            values[name] = value
    return JobRequest(
        partition=values.get("partition") or None,
        cpus=_int(values.get("cpus")),
        tasks=_int(values.get("tasks")),
        memory_mb=parse_memory_mb(values["memory"]) if "memory" in values else None,
        time_minutes=parse_minutes(values["time"]) if "time" in values else None,
        nodes=_int(values.get("nodes", "").split("-")[-1] or None),
        directives=tuple(directives),
    )


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def parse_memory_mb(text: str) -> int | None:
    """SLURM's memory size (``--mem``, ``sinfo %m``) in MB: a number with an optional K/M/G/T
    suffix (powers of 1024), megabytes without one."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(text), re.IGNORECASE)
    if not match:
        return None
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 ** 2}[match.group(2).upper()]
    return math.ceil(float(match.group(1)) * scale)


def parse_minutes(text: str) -> float | None:
    """SLURM's time (``-t``, ``sinfo %l``) in minutes; None for no limit. Formats: M, M:S,
    H:M:S, D-H, D-H:M, D-H:M:S."""
    text = str(text).strip()
    if text.lower() in ("infinite", "unlimited", "none", ""):
        return None
    days, _, rest = text.rpartition("-")
    parts = [float(p) for p in rest.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
        return int(days) * 1440 + hours * 60 + minutes + seconds / 60
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts[0] + parts[1] / 60
    return parts[0] * 60 + parts[1] + parts[2] / 60


def format_minutes(minutes: float) -> str:
    whole = int(round(minutes * 60))
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


#: The sinfo format :func:`parse_sinfo` reads: one line per node and partition.
SINFO_FORMAT = "%P|%c|%m|%l|%a|%t"


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from ``sinfo -h -N -o SINFO_FORMAT`` (the default partition's name ends in ``*``)."""
    rows: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        cells = line.strip().split("|")
        if len(cells) == 6:
            rows.setdefault(cells[0], []).append(cells)
    partitions = {}
    for raw, cells in rows.items():
        name = raw.rstrip("*")
        cpus = [int(c[1].rstrip("+")) for c in cells if c[1].rstrip("+").isdigit()]
        memory = [parse_memory_mb(c[2].rstrip("+")) or 0 for c in cells]
        partitions[name] = Partition(
            name=name, default=raw.endswith("*"), available=cells[0][4], nodes=len(cells),
            cpus=max(cpus, default=0), memory_mb=max(memory, default=0), time_minutes=parse_minutes(cells[0][3]),
            states=tuple(sorted({c[5] for c in cells})))
    return partitions


def target_partition(request: JobRequest, partitions: dict[str, Partition]) -> Partition | None:
    if request.partition:
        return partitions.get(request.partition)
    return next((p for p in partitions.values() if p.default), None)


def request_problems(request: JobRequest, partitions: dict[str, Partition]) -> list[str]:
    """Why the partition the job goes to cannot run it, one message each ([] when it can)."""
    partition = target_partition(request, partitions)
    if partition is None:
        known = ", ".join(sorted(partitions)) or "none"
        if request.partition:
            return [f"partition {request.partition!r} does not exist here (partitions: {known}; set "
                    f"{OPTION_OF['partition']})"]
        return [f"no default partition (partitions: {known}); set {OPTION_OF['partition']}"]
    problems = []
    if partition.available != "up":
        problems.append(f"partition {partition.name} is {partition.available}")
    cpus = (request.cpus or 1) * (request.tasks or 1)
    if cpus > partition.cpus:
        problems.append(f"it asks {cpus} CPUs per job ({OPTION_OF['cpus']}) and the nodes of partition "
                        f"{partition.name} have at most {partition.cpus}")
    if request.memory_mb and request.memory_mb > partition.memory_mb:
        problems.append(f"it asks {request.memory_mb} MB of memory per job ({OPTION_OF['memory']}) and the nodes "
                        f"of partition {partition.name} have at most {partition.memory_mb} MB")
    if request.time_minutes is not None and partition.time_minutes is not None \
            and request.time_minutes > partition.time_minutes:
        problems.append(f"it asks a walltime of {format_minutes(request.time_minutes)} ({OPTION_OF['time']}) and "
                        f"partition {partition.name} allows {format_minutes(partition.time_minutes)}")
    if request.nodes and request.nodes > partition.nodes:
        problems.append(f"it asks {request.nodes} nodes ({OPTION_OF['nodes']}) and partition {partition.name} "
                        f"has {partition.nodes}")
    return problems


def parse_squeue(text: str) -> dict[str, tuple[str, str]]:
    """{job id: (state, reason)} from ``squeue -h -o "%i|%T|%r"``."""
    jobs = {}
    for line in text.splitlines():
        cells = line.strip().split("|")
        if len(cells) == 3:
            jobs[cells[0]] = (cells[1], cells[2])
    return jobs


@dataclass(frozen=True)
class PendingVerdict:
    """What to do about the worker jobs after one look at the queue."""

    fail: str | None = None  # the one line to end the run with
    warn: str | None = None  # a line to print once, the run goes on


def judge_pending(states: dict[str, tuple[str, str]], pending_since: dict[str, float], now: float,
                  timeout_s: float | None, workers_up: int, request: str) -> PendingVerdict:
    """The verdict on our worker jobs: ``states`` from squeue, ``pending_since`` when each was
    first seen pending, ``workers_up`` how many workers have joined the scheduler.

    A job whose reason is one of :data:`UNMEETABLE_REASONS` ends the run at once. One pending
    longer than ``timeout_s`` ends it when no worker has joined (the run cannot progress); with
    workers up, it is reported and the run goes on with them (a busy queue, not a mistake)."""
    for job, (state, reason) in sorted(states.items()):
        if state != "PENDING":
            continue
        waited = now - pending_since.get(job, now)
        line = (f"SLURM worker job {job} pending for {waited:.0f} s, reason {reason}: it asks {request}")
        if reason in UNMEETABLE_REASONS:
            return PendingVerdict(fail=line + " - more than the partition allows")
        if timeout_s is not None and waited > timeout_s:
            if not workers_up:
                return PendingVerdict(fail=line + f"; no worker has joined after the pending timeout ({timeout_s:g} s)")
            return PendingVerdict(warn=line + f"; going on with the {workers_up} worker(s) up")
    return PendingVerdict()


__all__ = ["JobRequest", "Partition", "PendingVerdict", "judge_pending", "parse_job_request", "parse_sinfo",
           "parse_squeue", "request_problems"]
