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

from .options import check_values, option, option_fields, option_kind
from .settings import JOB_LEVEL_FIELDS, SettingsError, WriterSettings

DEFAULTS_FILE = Path(__file__).with_name("clipwriter.yaml")
NAMESPACE = "clipwriter"


def register_defaults(path: str | os.PathLike) -> None:
    """Register a YAML file of defaults (idempotent; values already set keep priority)."""
    with open(path) as fh:
        dask.config.update_defaults(yaml.safe_load(fh))


register_defaults(DEFAULTS_FILE)


def apply_config_files(paths: list[str | os.PathLike]) -> None:
    """Merge YAML files over the current config, then re-apply the environment over them.
    Each file, and the environment, is checked first: a mistake is one SettingsError that
    names the file, the key, what was given and what is expected."""
    for path in paths:
        try:
            with open(path) as fh:
                data = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise SettingsError(f"config file {path}: cannot read it ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise SettingsError(f"config file {path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, Mapping) or NAMESPACE not in data:
            raise SettingsError(f"config file {path} has no top-level '{NAMESPACE}:' section")
        check_namespace(data[NAMESPACE], f"config file {path}")
        dask.config.update(dask.config.config, data, priority="new")
    environment = dask.config.collect_env()
    if NAMESPACE in environment:
        check_namespace(environment[NAMESPACE], "the environment (DASK_CLIPWRITER__...)")
    dask.config.update(dask.config.config, environment, priority="new")


def _closest(name: str, known) -> str:
    import difflib

    match = difflib.get_close_matches(name.replace("_", "-"), [k.replace("_", "-") for k in known], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _keys(mapping: Any, where: str, source: str, known) -> dict[str, Any]:
    """``mapping`` with canonical keys, refusing a non-mapping and keys not in ``known``."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise SettingsError(f"{source}: {where} must be a mapping of keys, got {type(mapping).__name__} {mapping!r:.60}")
    values = canonical(mapping)
    for key in values:
        if key not in known:
            raise SettingsError(f"{source}: unknown key {where}.{key.replace('_', '-')}{_closest(key, known)}; "
                                f"known: {', '.join(sorted(k.replace('_', '-') for k in known))}")
    return values


def _option_value(f, value: Any, where: str, source: str) -> None:
    """A config value of the option ``f``'s type (None where the option may be None)."""
    kind = option_kind(f)
    if value is None:
        if f.default is None:
            return
        raise SettingsError(f"{source}: {where} must be set (it has no 'none'), got null")
    expected = {bool: "true or false", int: "an integer", float: "a number", list: "a list", str: "a string"}[kind]
    good = {bool: isinstance(value, bool), int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, int | float) and not isinstance(value, bool),
            list: isinstance(value, list | tuple), str: isinstance(value, str)}[kind]
    if not good:
        raise SettingsError(f"{source}: {where} must be {expected}, got {value!r:.60}")


TOP_KEYS = ("input_path", "output_path", "storage_options", "writer", "stages", "job", "report", "cluster")


def check_namespace(section: Any, source: str) -> None:
    """The ``clipwriter`` section of one config source: known keys, values of the right type."""
    from .clusters import cluster_option_names
    from .report_read import ReportSettings
    from .video.stage_settings import StageSettings

    top = _keys(section, NAMESPACE, source, TOP_KEYS)
    for name in ("input_path", "output_path"):
        if top.get(name) is not None and not isinstance(top[name], str):
            raise SettingsError(f"{source}: {NAMESPACE}.{name.replace('_', '-')} must be a path or URL, "
                                f"got {top[name]!r:.60}")
    _keys(top.get("storage_options"), f"{NAMESPACE}.storage-options", source, _AnyKey())
    for group, cls in (("writer", WriterSettings), ("stages", StageSettings), ("job", JobSettings),
                       ("report", ReportSettings)):
        known = settings_fields(cls)
        for key, value in _keys(top.get(group), f"{NAMESPACE}.{group}", source, known).items():
            _option_value(known[key], value, f"{NAMESPACE}.{group}.{key.replace('_', '-')}", source)
    cluster = _keys(top.get("cluster"), f"{NAMESPACE}.cluster", source, ("kind", "local", "slurm"))
    if cluster.get("kind") not in (None, "local", "slurm"):
        raise SettingsError(f"{source}: {NAMESPACE}.cluster.kind must be local or slurm, got {cluster['kind']!r}")
    for kind in ("local", "slurm"):
        _keys(cluster.get(kind), f"{NAMESPACE}.cluster.{kind}", source, cluster_option_names(kind))


class _AnyKey:
    """Every key is known (storage options belong to the filesystem in use)."""

    def __contains__(self, key: object) -> bool:
        return True


def canonical(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config keys as Python names: YAML and environment keys may use '-' for '_'."""
    return {str(k).replace("-", "_"): v for k, v in (mapping or {}).items()}


def section(name: str) -> dict[str, Any]:
    return canonical(dask.config.get(f"{NAMESPACE}.{name}", default={}) or {})


def settings_fields(cls) -> dict:
    """The options of a settings class: what config keys and flags can set."""
    return option_fields(cls, exclude=JOB_LEVEL_FIELDS if cls is WriterSettings else ())


def build_settings(cls, values: Mapping[str, Any], group: str | None = None, **extra: Any):
    """``cls(**values)`` with unknown keys refused by name (a typo must not pass silently).
    With ``group`` (writer, stages, job), an out-of-range value is named by its flag and its
    config key, where it may have come from."""
    known = settings_fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(
            f"unknown {cls.__name__} option(s) {unknown}; known: {', '.join(sorted(known))}"
        )
    if group is not None:
        def label(name: str) -> str:
            key = name.replace("_", "-")
            return f"--{key} (clipwriter.{group}.{key})"

        problems = check_values(cls, dict(values), label)
        if problems:
            raise SettingsError("; ".join(problems))
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
    report: bool = option(True, "write report.html (plots of the dataset) into the output at the end of the run")


@dataclass
class JobConfig:
    """Everything a job run needs, resolved on the client. The paths and storage options
    live in ``writer`` (the one copy); sources are read with the same storage options."""

    writer: WriterSettings
    stages: Any
    job: JobSettings = field(default_factory=JobSettings)
    cluster_kind: str = "local"
    cluster_options: dict[str, Any] = field(default_factory=dict)
    #: how much of the dataset report.html reads (clipwriter.report)
    report: Any = None


def resolve_job_config(stage_settings_cls=None, overrides: Mapping[str, Any] | None = None, *,
                       absolute_input: bool = True) -> JobConfig:
    """Read the ``clipwriter`` namespace (after files/env/flags are applied) into dataclasses.

    ``overrides`` holds flag values: ``input_path``, ``output_path``, ``cluster``, and
    ``writer.<field>`` / ``stages.<field>`` / ``job.<field>`` keys. Without
    ``stage_settings_cls`` (the ``write`` command) ``stages`` is None. ``absolute_input``
    False keeps input_path as given: it must be the prefix of stored records' video paths
    exactly as they were written, relative or not.
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
        WriterSettings, values["writer"], "writer",
        # Local paths are made absolute here, on the client: workers (SLURM jobs above all)
        # may run in another directory.
        input_path=_absolute_if_local(str(input_path)) if absolute_input else str(input_path),
        output_path=_absolute_if_local(str(output_path)),
        storage_options=dict(top.get("storage_options") or {}),
    )
    stages = build_settings(stage_settings_cls, values["stages"], "stages") if stage_settings_cls else None
    kind = overrides.get("cluster") or section("cluster").get("kind") or "local"
    job = build_settings(JobSettings, values["job"], "job")
    return JobConfig(writer=writer, stages=stages, job=job, cluster_kind=kind,
                     cluster_options=_cluster_options(kind, overrides), report=report_settings())


def _cluster_options(kind: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The ``clipwriter.cluster.<kind>`` section with the cluster flags (``slurm.<option>``
    overrides) over it; a SLURM flag for another kind of cluster is refused, not ignored."""
    flags = {key.split(".", 1)[1]: value for key, value in overrides.items()
             if key.startswith("slurm.") and value is not None}
    if flags and kind != "slurm":
        named = ", ".join("--" + name.replace("_", "-") for name in sorted(flags))
        raise SettingsError(f"{named}: options of SLURM clusters, and this run's cluster is {kind!r} "
                            "(add --cluster slurm)")
    return {**section(f"cluster.{kind}"), **flags}


def report_settings(overrides: Mapping[str, Any] | None = None):
    """``clipwriter.report`` with ``overrides`` (flags) over it, checked."""
    from .report_read import ReportSettings

    return build_settings(ReportSettings, {**section("report"), **dict(overrides or {})}, "report")


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
