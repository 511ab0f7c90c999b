"""The ``clipwriter`` Dask config namespace: defaults from YAML, files, environment, flags.

Everything is resolved on the client into plain dataclasses (:class:`JobConfig`), which the
job passes into the partition functions: workers started by dask-jobqueue never see the
client's ``dask.config``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.config
import yaml

from .settings import SettingsError, WriterSettings

DEFAULTS_FILE = Path(__file__).with_name("clipwriter.yaml")
NAMESPACE = "clipwriter"

#: Writer fields that are not under ``clipwriter.writer`` (they are job-level).
JOB_LEVEL_WRITER_FIELDS = ("output_path", "input_path", "storage_options")


def load_defaults() -> None:
    """Register the package defaults (idempotent; values already set keep priority)."""
    with DEFAULTS_FILE.open() as fh:
        dask.config.update_defaults(yaml.safe_load(fh))


load_defaults()


def apply_config_files(paths: list[str | os.PathLike]) -> None:
    """Merge YAML files over the current config, then re-apply the environment over them."""
    for path in paths:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, Mapping) or NAMESPACE not in data:
            raise SettingsError(f"config file {path} has no top-level '{NAMESPACE}:' section")
        dask.config.update(dask.config.config, data, priority="new")
    dask.config.update(dask.config.config, dask.config.collect_env(), priority="new")


def _canonical(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k).replace("-", "_"): v for k, v in (mapping or {}).items()}


def section(name: str) -> dict[str, Any]:
    return _canonical(dask.config.get(f"{NAMESPACE}.{name}", default={}) or {})


def settings_fields(cls) -> dict[str, dataclasses.Field]:
    """Fields of a settings dataclass that can be set from config and flags."""
    skip = JOB_LEVEL_WRITER_FIELDS if cls is WriterSettings else ()
    return {f.name: f for f in dataclasses.fields(cls) if f.name not in skip and f.init}


def build_settings(cls, values: Mapping[str, Any], **extra: Any):
    """``cls(**values)`` with unknown keys refused by name (a typo must not pass silently)."""
    known = settings_fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(
            f"unknown {cls.__name__} option(s) {unknown}; known: {', '.join(sorted(known))}"
        )
    return cls(**{k: _coerce(known[k], v) for k, v in values.items()}, **extra)


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    # YAML and flags give lists where the dataclasses keep tuples.
    if isinstance(value, list) and field_kind(f) is list:
        return tuple(value)
    return value


def field_kind(f: dataclasses.Field) -> type:
    """bool, int, float, str or list: how a flag for this field parses its value."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if text.startswith("bool"):
        return bool
    if "tuple" in text or "list" in text or "Sequence" in text:
        return list
    if text.startswith("int"):
        return int
    if text.startswith("float"):
        return float
    return str


def _absolute_if_local(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


@dataclass
class JobConfig:
    input_path: str
    output_path: str
    writer: WriterSettings
    stages: Any
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    cluster_kind: str = "local"
    cluster_options: dict[str, Any] = field(default_factory=dict)


def resolve_job_config(stage_settings_cls=None, overrides: Mapping[str, Any] | None = None) -> JobConfig:
    """Read the ``clipwriter`` namespace (after files/env/flags are applied) into dataclasses.

    ``overrides`` holds flag values: ``input_path``, ``output_path``, ``cluster``, and
    ``writer.<field>`` / ``stages.<field>`` keys. Without ``stage_settings_cls`` (the
    ``write`` command) ``stages`` is None.
    """
    overrides = dict(overrides or {})
    top = _canonical(dask.config.get(NAMESPACE))
    input_path = overrides.pop("input_path", None) or top.get("input_path")
    output_path = overrides.pop("output_path", None) or top.get("output_path")
    if not input_path:
        raise SettingsError("no input path: pass --input or set clipwriter.input-path")
    if not output_path:
        raise SettingsError("no output path: pass --output or set clipwriter.output-path")
    # Local paths are made absolute here, on the client: workers (SLURM jobs above all) may
    # run in another directory.
    input_path, output_path = _absolute_if_local(str(input_path)), _absolute_if_local(str(output_path))
    storage_options = dict(top.get("storage_options") or {})
    writer_values = section("writer")
    stage_values = section("stages")
    for key, value in overrides.items():
        group, _, name = key.partition(".")
        target = {"writer": writer_values, "stages": stage_values}.get(group)
        if target is not None and value is not None:
            target[name] = value
    writer = build_settings(
        WriterSettings, writer_values,
        input_path=str(input_path), output_path=str(output_path), storage_options=storage_options,
    )
    stages = build_settings(stage_settings_cls, stage_values) if stage_settings_cls else None
    cluster = _canonical(dask.config.get(f"{NAMESPACE}.cluster", default={}))
    kind = overrides.get("cluster") or cluster.get("kind") or "local"
    options = _canonical(dask.config.get(f"{NAMESPACE}.cluster.{kind}", default={}) or {})
    return JobConfig(
        input_path=str(input_path),
        output_path=str(output_path),
        writer=writer,
        stages=stages,
        storage_options=storage_options,
        cluster_kind=kind,
        cluster_options=options,
    )


__all__ = [
    "JobConfig",
    "apply_config_files",
    "build_settings",
    "field_kind",
    "load_defaults",
    "resolve_job_config",
    "settings_fields",
]
