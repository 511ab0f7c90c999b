"""What the ``dask-clipwriter`` subcommands share: settings flags made from the option
fields, the common flags, and starting the cluster a command runs on."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from .config import settings_fields
from .logs import CommandLogging
from .options import option_help, option_kind

EPILOG = """\
configuration: defaults live in the 'clipwriter' Dask config namespace
(dask_clipwriter/clipwriter.yaml, also at conf/clipwriter.yaml). Files given with --config
override them, DASK_CLIPWRITER__... environment variables override files, flags override all.
"""



#: Where a group of flags sits in the clipwriter config namespace (default: under its own name).
CONFIG_PATHS = {"slurm": "cluster.slurm"}
#: How a list flag's help says it is read.
LIST_HELP = r"comma-separated, \, for a comma inside an item"
_SEPARATOR = re.compile(r"(?<!\\),")



def split_list(value: str) -> list[str]:
    """A list flag's value: items separated by commas, ``\\,`` a comma inside an item
    (``x264opts=zones=0\\,29\\,q=40``); empty items are dropped, other backslashes kept."""
    return [item.replace("\\,", ",") for item in _SEPARATOR.split(value) if item]



def join_list(values) -> str:
    """The inverse of :func:`split_list`, for showing a list's default."""
    return ",".join(str(value).replace(",", "\\,") for value in values)



def stage_settings_cls():
    from .video.stage_settings import StageSettings

    return StageSettings



def add_settings_flags(parser: argparse.ArgumentParser, title: str, groups: dict[str, type],
                        fields_of=settings_fields) -> None:
    """One flag per option, with the option's own help line; a name shared by writer and
    stages would set both."""
    owners: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    for group, cls in groups.items():
        for name, f in fields_of(cls).items():
            owners.setdefault(name, []).append(group)
            fields.setdefault(name, f)
    section = parser.add_argument_group(title)
    for name, f in fields.items():
        flag = "--" + name.replace("_", "-")
        dest = "set:" + ",".join(f"{g}.{name}" for g in owners[name])
        kind = option_kind(f)
        text = option_help(f)
        if kind is list:
            text += f"; {LIST_HELP}"
        if "default:" not in text:  # a help line that says its default in words keeps it
            text += f" (default: {config_default(owners[name], name)})"
        if kind is bool:
            section.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif kind is list:
            section.add_argument(flag, dest=dest, default=None, metavar="A,B", type=split_list, help=text)
        elif f.metadata.get("choices"):
            section.add_argument(flag, dest=dest, default=None, choices=f.metadata["choices"], help=text)
        else:
            section.add_argument(flag, dest=dest, default=None, type=kind, metavar=kind.__name__.upper(),
                                 help=text)



def config_default(groups: list[str], name: str) -> str:
    """The value in force from the clipwriter config, as --help shows it."""
    import dask.config

    def shown(group):
        value = dask.config.get(f"clipwriter.{CONFIG_PATHS.get(group, group)}.{name}", default=None)
        return join_list(value) if isinstance(value, list | tuple) else str(value)

    values = {group: shown(group) for group in groups}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{group} {value}" for group, value in values.items())



def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if dest.startswith("set:") and value is not None:
            for key in dest[4:].split(","):
                out[key] = value
    return out



class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line: ``dask-clipwriter: error: ...`` and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"dask-clipwriter: error: {message} (see {self.prog} --help)\n")



def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="YAML file with a 'clipwriter:' section (repeatable; later files win)")
    parser.add_argument("--cluster", choices=["local", "slurm"], default=None,
                        help="where the workers run (default: clipwriter.cluster.kind, 'local')")
    parser.add_argument("--n-workers", type=int, default=None, help="number of workers (local or SLURM jobs)")
    add_logging_flags(parser)
    parser.add_argument("--performance-report", metavar="FILE", default=None,
                        help="save Dask's performance report of the run (task stream, profiles, bandwidth) as HTML")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")



def add_logging_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default=None,
                        help="log level of dask_clipwriter on the terminal, workers' records included "
                             "(default: WARNING; INFO with --verbose)")
    parser.add_argument("--log-file", metavar="FILE", default=None,
                        help="also write the full log to FILE: our records and the workers' at INFO, "
                             "distributed's, and the lines the run prints")



def start_cluster(kind: str, options: dict[str, Any], n_workers: int | None = None,
                   logs: CommandLogging | None = None):
    """(cluster, client) for ``kind`` with the resolved options; prints the dashboard link
    and has the workers' log records handed to this process's logging."""
    from distributed import Client

    from .clusters import make_cluster

    if n_workers is not None:
        options = {**options, "n_workers": n_workers}
    cluster = make_cluster(kind, **options)
    client = Client(cluster)
    if logs is not None:
        logs.forward_from_workers(client)
    print(f"dashboard: {client.dashboard_link}", file=logs.stream if logs else sys.stderr, flush=True)
    return cluster, client



def run_on(kind: str, cluster, options: dict[str, Any], args: argparse.Namespace, work):
    """``work()`` on the started cluster: inside Dask's performance report when asked for,
    and, on SLURM, while its worker jobs are watched (a job that cannot start ends the run)."""
    import contextlib

    logs: CommandLogging = args.logs
    report = contextlib.nullcontext()
    if getattr(args, "performance_report", None):
        from distributed import performance_report

        report = performance_report(filename=os.path.abspath(args.performance_report))
    with report:
        if kind == "slurm":
            from .clusters.slurm import watch_worker_jobs

            with watch_worker_jobs(cluster, stream=logs.stream, **options) as watch:
                result = watch.run(work)
        else:
            result = work()
    if getattr(args, "performance_report", None):
        print(f"performance report: {os.path.abspath(args.performance_report)}", file=logs.stream, flush=True)
    return result



def local_or_configured_cluster(args: argparse.Namespace):
    from .config import section

    kind = args.cluster or section("cluster").get("kind") or "local"
    return start_cluster(kind, section(f"cluster.{kind}"), args.n_workers, args.logs)



def configured_storage_options() -> dict[str, Any]:
    import dask.config

    from .config import canonical

    return canonical(dask.config.get("clipwriter", default={})).get("storage_options") or {}

