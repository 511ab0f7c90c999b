"""The ``clipwriter`` Dask config namespace: defaults from YAML, files, environment, flags.

Everything is resolved on the client into plain dataclasses (:class:`JobConfig`), which the
job passes into the partition functions: workers started by dask-jobqueue never see the
client's ``dask.config``. The option names are the fields of the settings classes
(options.py); the YAML files beside the code hold their defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.config
import yaml

from .options import option, option_fields, option_kind
from .settings import JOB_LEVEL_FIELDS, SettingsError, WriterSettings

DEFAULTS_FILE = Path(__file__).with_name("clipwriter.yaml")
NAMESPACE = "clipwriter"


def register_defaults(path: str | os.PathLike) -> None:
    """Register a YAML file of defaults (idempotent; values already set keep priority)."""
    with open(path) as fh:
        dask.config.update_defaults(yaml.safe_load(fh))


register_defaults(DEFAULTS_FILE)


def apply_config_files(paths: list[str | os.PathLike]) -> None:
    """Merge YAML files over the current config, then re-apply the environment over them."""
    for path in paths:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, Mapping) or NAMESPACE not in data:
            raise SettingsError(f"config file {path} has no top-level '{NAMESPACE}:' section")
        dask.config.update(dask.config.config, data, priority="new")
    dask.config.update(dask.config.config, dask.config.collect_env(), priority="new")


def canonical(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config keys as Python names: YAML and environment keys may use '-' for '_'."""
    return {str(k).replace("-", "_"): v for k, v in (mapping or {}).items()}


def section(name: str) -> dict[str, Any]:
    return canonical(dask.config.get(f"{NAMESPACE}.{name}", default={}) or {})


def settings_fields(cls) -> dict:
    """The options of a settings class: what config keys and flags can set."""
    return option_fields(cls, exclude=JOB_LEVEL_FIELDS if cls is WriterSettings else ())


def build_settings(cls, values: Mapping[str, Any], **extra: Any):
    """``cls(**values)`` with unknown keys refused by name (a typo must not pass silently)."""
    known = settings_fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(
            f"unknown {cls.__name__} option(s) {unknown}; known: {', '.join(sorted(known))}"
        )
    # YAML and flags give lists where the dataclasses keep tuples.
    coerced = {k: tuple(v) if isinstance(v, list) and option_kind(known[k]) is list else v for k, v in values.items()}
    return cls(**coerced, **extra)


def _absolute_if_local(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


@dataclass(frozen=True)
class JobSettings:
    """How the batch job submits its work (not what it writes)."""

    wave_chunks: int | None = option(
        None, "submit the chunks in waves of this many, one graph each (default: all in one)", minimum=1)


@dataclass
class JobConfig:
    """Everything a job run needs, resolved on the client. The paths and storage options
    live in ``writer`` (the one copy); sources are read with the same storage options."""

    writer: WriterSettings
    stages: Any
    job: JobSettings = field(default_factory=JobSettings)
    cluster_kind: str = "local"
    cluster_options: dict[str, Any] = field(default_factory=dict)


def resolve_job_config(stage_settings_cls=None, overrides: Mapping[str, Any] | None = None) -> JobConfig:
    """Read the ``clipwriter`` namespace (after files/env/flags are applied) into dataclasses.

    ``overrides`` holds flag values: ``input_path``, ``output_path``, ``cluster``, and
    ``writer.<field>`` / ``stages.<field>`` / ``job.<field>`` keys. Without
    ``stage_settings_cls`` (the ``write`` command) ``stages`` is None.
    """
    overrides = dict(overrides or {})
    top = canonical(dask.config.get(NAMESPACE))
    input_path = overrides.pop("input_path", None) or top.get("input_path")
    output_path = overrides.pop("output_path", None) or top.get("output_path")
    if not input_path:
        raise SettingsError("no input path: pass --input or set clipwriter.input-path")
    if not output_path:
        raise SettingsError("no output path: pass --output or set clipwriter.output-path")
    values = {group: section(group) for group in ("writer", "stages", "job")}
    for key, value in overrides.items():
        group, _, name = key.partition(".")
        target = values.get(group)
        if target is not None and value is not None:
            target[name] = value
    writer = build_settings(
        WriterSettings, values["writer"],
        # Local paths are made absolute here, on the client: workers (SLURM jobs above all)
        # may run in another directory.
        input_path=_absolute_if_local(str(input_path)), output_path=_absolute_if_local(str(output_path)),
        storage_options=dict(top.get("storage_options") or {}),
    )
    stages = build_settings(stage_settings_cls, values["stages"]) if stage_settings_cls else None
    kind = overrides.get("cluster") or section("cluster").get("kind") or "local"
    return JobConfig(writer=writer, stages=stages, job=build_settings(JobSettings, values["job"]), cluster_kind=kind,
                     cluster_options=section(f"cluster.{kind}"))


__all__ = [
    "JobConfig",
    "JobSettings",
    "apply_config_files",
    "build_settings",
    "canonical",
    "register_defaults",
    "resolve_job_config",
    "settings_fields",
]
