"""Our own options of SLURM clusters; the other keys of ``clipwriter.cluster.slurm`` are
dask-jobqueue's ``SLURMCluster`` keywords, passed through.

Each option is a field with its default, help line and range (options.py); its default is
also in ``slurm.yaml`` beside this file (a test keeps the two equal), and ``dask-clipwriter
run`` has a flag for each but ``n_workers`` (``--n-workers`` is common to all clusters) and
``dashboard_address``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..options import check_options, option, option_fields
from ..settings import SettingsError


def _seconds(name: str, value: str | None) -> float | None:
    """A duration as distributed reads one ("90s", "230m", "1 hour", a number of seconds)."""
    if value is None or str(value).strip().lower() in ("never", "none", "null"):
        return None
    from dask.utils import parse_timedelta

    try:
        seconds = parse_timedelta(value, default="seconds")
    except (KeyError, ValueError, TypeError):
        raise SettingsError(f"{name} must be a duration such as '90s' or '230m', got {value!r}") from None
    return float(seconds)


@dataclass(frozen=True)
class SlurmSettings:
    n_workers: int = option(1, "workers to start (not jobs: each job runs `processes` of them)", minimum=0)
    adaptive_minimum: int | None = option(None, "with --adaptive-maximum: scale with the load down to this many "
                                                "workers (default: 0)", minimum=0)
    adaptive_maximum: int | None = option(None, "scale with the load, up to this many workers; idle jobs are "
                                                "cancelled (default: none, a fixed --n-workers)", minimum=1)
    lifetime: str | None = option(None, "each worker retires after this long (e.g. 230m; keep it below the "
                                        "walltime): its tasks move to other workers and a new job replaces it "
                                        "(default: none, never)")
    lifetime_stagger: str | None = option(None, "spread the workers' retirements over +/- this (e.g. 5m), so they "
                                                "do not all leave at once (default: 0)")
    pending_timeout: str | None = option("10m", "end the run when a worker job has been pending this long and no "
                                                "worker has joined (never: wait for as long as it takes)")
    check_request: bool = option(True, "before submitting, check the worker job against its partition (sinfo, "
                                       "sbatch --test-only)")
    dashboard_address: str = option(":0", "the scheduler's dashboard (':0' picks a free port)")

    def __post_init__(self) -> None:
        problems = check_options(self)
        if problems:
            raise SettingsError("SLURM cluster: " + "; ".join(problems))
        for name in ("lifetime", "lifetime_stagger", "pending_timeout"):
            _seconds(name.replace("_", "-"), getattr(self, name))
        if self.adaptive_minimum is not None and self.adaptive_maximum is not None \
                and self.adaptive_minimum > self.adaptive_maximum:
            raise SettingsError(f"adaptive-minimum ({self.adaptive_minimum}) is above adaptive-maximum "
                                f"({self.adaptive_maximum})")

    @classmethod
    def take(cls, options: dict[str, Any]) -> SlurmSettings:
        """Ours out of ``options`` (removed from it; None keeps the default), the rest left to
        dask-jobqueue."""
        ours = {f.name: options.pop(f.name) for f in fields(cls) if f.name in options}
        return cls(**{k: v for k, v in ours.items() if v is not None or k in _NULLABLE})

    @property
    def pending_timeout_s(self) -> float | None:
        return _seconds("pending-timeout", self.pending_timeout)

    def worker_args(self) -> list[str]:
        """The dask worker's own flags for the lifetime (distributed's ``--lifetime`` ...)."""
        args = []
        if self.lifetime is not None:
            args += ["--lifetime", str(self.lifetime)]
            if self.lifetime_stagger is not None:
                args += ["--lifetime-stagger", str(self.lifetime_stagger)]
        return args

    def adaptive_range(self) -> tuple[int, int] | None:
        """(minimum, maximum) workers to adapt between, or None for a fixed scale. Workers
        with a lifetime are kept up by adapting between n_workers and n_workers: a fixed
        scale would not replace the ones that retire."""
        if self.adaptive_maximum is not None:
            return int(self.adaptive_minimum or 0), int(self.adaptive_maximum)
        if self.lifetime is not None and self.n_workers:
            return self.n_workers, self.n_workers
        return None

    def submits(self) -> bool:
        return bool(self.n_workers or self.adaptive_maximum)


#: Options whose null means something (wait forever), not "the default".
_NULLABLE = ("pending_timeout",)


def flag_fields() -> dict:
    """The options that get a flag of their own on ``dask-clipwriter run``."""
    return option_fields(SlurmSettings, exclude=("n_workers", "dashboard_address"))


__all__ = ["SlurmSettings", "flag_fields"]
