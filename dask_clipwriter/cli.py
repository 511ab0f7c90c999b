"""The ``dask-clipwriter`` command: ``run`` the job, ``demo`` it, ``write`` stored records,
``verify`` and ``report`` a dataset."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .clusters import connected
from .clusters.slurm_settings import SlurmSettings, flag_fields
from .config import JobSettings, apply_config_files, resolve_job_config, settings_fields
from .dataset_rows import DatasetError
from .export import ExportError
from .logs import CommandLogging, parse_level
from .manifest import ManifestError
from .options import option_help, option_kind
from .records import RecordError
from .reduction import IndexPartError
from .settings import SettingsError, WriterSettings
from .shards import ShardSizeError
from .sink import SinkError
from .video.plugins import PluginError
from .writer import ChunkWriteError

log = logging.getLogger("dask_clipwriter")

EPILOG = """\
configuration: defaults live in the 'clipwriter' Dask config namespace
(dask_clipwriter/clipwriter.yaml, also at conf/clipwriter.yaml). Files given with --config
override them, DASK_CLIPWRITER__... environment variables override files, flags override all.
"""


def _stage_settings_cls():
    from .video.stage_settings import StageSettings

    return StageSettings


#: Where a group of flags sits in the clipwriter config namespace (default: under its own name).
CONFIG_PATHS = {"slurm": "cluster.slurm"}


def _add_settings_flags(parser: argparse.ArgumentParser, title: str, groups: dict[str, type],
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
        if "default:" not in text:  # a help line that says its default in words keeps it
            text += f" (default: {_config_default(owners[name], name)})"
        if kind is bool:
            section.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif kind is list:
            section.add_argument(flag, dest=dest, default=None, metavar="A,B",
                                 type=lambda value: [t for t in value.split(",") if t], help=text)
        elif f.metadata.get("choices"):
            section.add_argument(flag, dest=dest, default=None, choices=f.metadata["choices"], help=text)
        else:
            section.add_argument(flag, dest=dest, default=None, type=kind, metavar=kind.__name__.upper(),
                                 help=text)


def _config_default(groups: list[str], name: str) -> str:
    """The value in force from the clipwriter config, as --help shows it."""
    import dask.config

    def shown(group):
        value = dask.config.get(f"clipwriter.{CONFIG_PATHS.get(group, group)}.{name}", default=None)
        return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)

    values = {group: shown(group) for group in groups}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{group} {value}" for group, value in values.items())


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if dest.startswith("set:") and value is not None:
            for key in dest[4:].split(","):
                out[key] = value
    return out


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line: ``dask-clipwriter: error: ...`` and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"dask-clipwriter: error: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="YAML file with a 'clipwriter:' section (repeatable; later files win)")
    parser.add_argument("--cluster", choices=["local", "slurm"], default=None,
                        help="where the workers run (default: clipwriter.cluster.kind, 'local')")
    parser.add_argument("--n-workers", type=int, default=None, help="number of workers (local or SLURM jobs)")
    _logging_flags(parser)
    parser.add_argument("--performance-report", metavar="FILE", default=None,
                        help="save Dask's performance report of the run (task stream, profiles, bandwidth) as HTML")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")


def _logging_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default=None,
                        help="log level of dask_clipwriter on the terminal, workers' records included "
                             "(default: WARNING; INFO with --verbose)")
    parser.add_argument("--log-file", metavar="FILE", default=None,
                        help="also write the full log to FILE: our records and the workers' at INFO, "
                             "distributed's, and the lines the run prints")


def build_parser() -> argparse.ArgumentParser:
    from .clusters import slurm  # noqa: F401  (registers clipwriter.cluster.slurm's defaults, shown by --help)

    parser = _Parser(
        prog="dask-clipwriter",
        description="Write NeMo-Curator-compatible video clip datasets with Dask.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="the batch job: videos under --input to a dataset under --output",
                         description="List, probe, split, transcode, score and write a folder of videos.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--input", dest="input_path", help="folder or URL of source videos")
    run.add_argument("--output", dest="output_path", help="dataset root (local path or URL)")
    _common(run)
    _add_settings_flags(run, "writer, stage and job options",
                        {"writer": WriterSettings, "stages": _stage_settings_cls(), "job": JobSettings})
    _add_settings_flags(run, "SLURM options (with --cluster slurm; more in clipwriter.cluster.slurm)",
                        {"slurm": SlurmSettings}, fields_of=lambda cls: flag_fields())

    demo = sub.add_parser("demo", help="generate sample videos and run the job on a LocalCluster",
                          description="The embedded default: sample videos (moving and static), the job "
                                      "on a LocalCluster, a dataset in a local folder.")
    demo.add_argument("--output", dest="demo_dir", default="demo-output",
                      help="folder for the sample videos and the dataset (default: ./demo-output)")
    _logging_flags(demo)
    demo.add_argument("--n-workers", type=int, default=None, help="number of local workers (default: 2)")
    demo.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")

    write = sub.add_parser("write", help="write clip records stored as a Parquet dataset",
                           description="Write clip records (and optional video records) stored as Parquet.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    write.add_argument("records", help="Parquet dataset (file, folder or URL) of clip records")
    write.add_argument("--videos", help="Parquet file of video records")
    write.add_argument("--input", dest="input_path", help="the input_path prefix of the records' videos")
    write.add_argument("--output", dest="output_path", help="dataset root (local path or URL)")
    _common(write)
    _add_settings_flags(write, "writer options", {"writer": WriterSettings})
    check = sub.add_parser("verify", help="check a dataset against its own metadata and the spec",
                           description="Check a written dataset (local or URL): every problem is printed with its "
                                       "path; the exit code is 1 when there is any.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    check.add_argument("--config", action="append", default=[], metavar="FILE",
                       help="YAML file with a 'clipwriter:' section (its storage-options are used)")
    check.add_argument("--log-level", default=None)
    check.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    _add_report_parser(sub)
    _add_export_parser(sub)
    backfill = sub.add_parser("backfill", help="build a dataset's optional outputs afterwards (clip index, JSONL metas)",
                              description="Write clip_index/ (--clip-index) and/or metas_jsonl/v0/ (--metas-jsonl) "
                                          "for every chunk of a written dataset, as the writer would have.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    backfill.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    backfill.add_argument("--clip-index", action="store_true", help="write clip_index/<chunk uuid>.parquet")
    backfill.add_argument("--metas-jsonl", action="store_true", help="write metas_jsonl/v0/<video uuid>_<chunk>.jsonl")
    _common(backfill)
    return parser


def _add_report_parser(sub) -> None:
    from .report_read import ReportSettings

    report = sub.add_parser("report", help="write report.html: plots of a dataset's clips, outcomes and previews",
                            description="A self-contained HTML page of plots (bokeh) about a written dataset, local or "
                                        "URL. It reads summary.json and a bounded sample of the dataset (see the "
                                        "--max-* options), never a listing.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    report.add_argument("-o", "--output", dest="report_file", default=None, metavar="FILE",
                        help="where to write the page, a local path or URL (default: DATASET/report.html)")
    report.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="YAML file with a 'clipwriter:' section (its storage-options are used)")
    _add_settings_flags(report, "how much of the dataset is read (clipwriter.report)", {"report": ReportSettings})
    report.add_argument("--log-level", default=None)
    report.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")


def _add_export_parser(sub) -> None:
    export = sub.add_parser("export", help="write a dataset's clips as training shards (WebDataset tar files)",
                            description="Write the clips of a dataset (passed ones unless --include-filtered) as "
                                        "WebDataset shards under --to, in parallel, with a shard index "
                                        "(index.json, index.parquet).",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    export.add_argument("--to", dest="dest", required=True, help="folder or URL for the shards")
    export.add_argument("--format", choices=["webdataset"], default="webdataset", help="shard format")
    export.add_argument("--shard-size", default="1GB",
                        help="largest shard, e.g. 1GB, 512MiB (default: 1GB; a larger clip gets a shard alone)")
    export.add_argument("--include-filtered", action="store_true", help="also export the filtered clips")
    export.add_argument("--caption-models", default=None, metavar="A,B",
                        type=lambda value: [t for t in value.split(",") if t],
                        help="models whose captions become .txt members (default: every model found)")
    _common(export)


def _start_cluster(kind: str, options: dict[str, Any], n_workers: int | None = None,
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


def _run_on(kind: str, cluster, options: dict[str, Any], args: argparse.Namespace, work):
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


def cmd_run(args: argparse.Namespace) -> int:
    from .job import run_job

    apply_config_files(args.config)
    overrides = _overrides(args) | {"input_path": args.input_path, "output_path": args.output_path,
                                    "cluster": args.cluster}
    cfg = resolve_job_config(_stage_settings_cls(), overrides)
    from .clip_writer import ClipWriter
    from .job import check_job_paths, check_plugins

    # Wrong paths, plug-ins, encoders and a run that would mix two datasets are refused before a
    # cluster starts (the plug-ins are loaded on the workers too, once they are up).
    check_job_paths(cfg.writer)
    check_plugins(cfg.stages)
    cfg.stages.check_encoder()
    ClipWriter.from_settings(cfg.writer).check_dataset(producer=cfg.stages.content_settings())
    if cfg.writer.verbose:
        args.logs.show_info()
    cluster, client = _start_cluster(cfg.cluster_kind, cfg.cluster_options, args.n_workers, args.logs)
    with connected(cluster, client):
        summary = _run_on(cfg.cluster_kind, cluster, cfg.cluster_options, args,
                          lambda: run_job(cfg, client, stream=args.logs.stream))
    return 0 if not summary["run"]["videos_failed"] else 3


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import JobConfig, build_settings
    from .job import run_job
    from .video.samples import make_sample_videos

    root = Path(args.demo_dir).resolve()
    videos_dir, out = root / "videos", root / "dataset"
    paths = make_sample_videos(videos_dir, audio="aac")  # with a tone track, so the clips show their audio
    print(f"generated {len(paths)} sample videos in {videos_dir}", file=sys.stderr, flush=True)
    stages = build_settings(_stage_settings_cls(), {})
    writer = WriterSettings(output_path=str(out), input_path=str(videos_dir), generate_previews=True)
    cfg = JobConfig(writer=writer, stages=stages)
    cluster, client = _start_cluster("local", {"n_workers": 2}, args.n_workers, args.logs)
    with connected(cluster, client):
        run_job(cfg, client, stream=args.logs.stream)
    print(f"dataset: {out}", file=args.logs.stream, flush=True)
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    import dask.dataframe as dd
    import pandas as pd

    from .clip_writer import ClipWriter
    from .layout import summary_path

    apply_config_files(args.config)
    overrides = _overrides(args) | {"input_path": args.input_path, "output_path": args.output_path,
                                    "cluster": args.cluster}
    # The records' video paths are stored as they were written: input_path is their prefix as given.
    cfg = resolve_job_config(None, overrides, absolute_input=False)
    options = cfg.writer.storage_options
    # pyarrow dtypes keep bytes and nested columns intact (no string conversion).
    clips = dd.read_parquet(args.records, dtype_backend="pyarrow", storage_options=options)
    videos = pd.read_parquet(args.videos, storage_options=options) if args.videos else None
    if cfg.writer.verbose:
        args.logs.show_info()
    cluster, client = _start_cluster(cfg.cluster_kind, cfg.cluster_options, args.n_workers, args.logs)
    with connected(cluster, client):
        summary = _run_on(cfg.cluster_kind, cluster, cfg.cluster_options, args,
                          lambda: ClipWriter.from_settings(cfg.writer).write(clips, videos, progress=True))
    run = summary["run"]
    print(f"wrote {run['chunks']} chunks, {run['num_clips_passed']} clips passed, "
          f"{run['num_clips_filtered']} filtered; summary: {summary_path(cfg.writer.output_path)}",
          file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import dask.config

    from .config import canonical
    from .verify import verify

    apply_config_files(args.config)
    options = canonical(dask.config.get("clipwriter", default={})).get("storage_options") or {}
    dataset = args.dataset if "://" in args.dataset else os.path.abspath(args.dataset)
    problems = verify(dataset, storage_options=options)
    for problem in problems:
        print(problem)
    print(f"{dataset}: {len(problems)} problem(s)" if problems else f"{dataset}: no problems", file=sys.stderr)
    return 1 if problems else 0


def cmd_report(args: argparse.Namespace) -> int:
    from .config import report_settings
    from .report import write_report

    apply_config_files(args.config)
    options = _configured_storage_options()
    dataset = args.dataset if "://" in args.dataset else os.path.abspath(args.dataset)
    target = args.report_file
    if target and "://" not in target:
        target = os.path.abspath(target)
    settings = report_settings({key.split(".", 1)[1]: value for key, value in _overrides(args).items()})
    print(f"report: {write_report(dataset, options, target, settings)}", file=args.logs.stream, flush=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import check_export, export_webdataset

    apply_config_files(args.config)
    options = _configured_storage_options()
    # Wrong paths and sizes are refused before a cluster starts.
    _, dest, _ = check_export(args.dataset, args.dest, options, args.shard_size)
    cluster, client = _local_or_configured_cluster(args)
    with connected(cluster, client):
        index = export_webdataset(args.dataset, args.dest, storage_options=options, dest_storage_options=options,
                                  shard_size=args.shard_size, include_filtered=args.include_filtered,
                                  caption_models=args.caption_models)
    shards = len(index["shards"])
    print(f"wrote {index['samples']} samples in {shards} shard{'s' if shards != 1 else ''} "
          f"({index['bytes'] / 1e6:.1f} MB): "
          f"{dest}/{index['shards_pattern']}; index: {dest}/index.json", file=args.logs.stream)
    return 0


def _local_or_configured_cluster(args: argparse.Namespace):
    from .config import section

    kind = args.cluster or section("cluster").get("kind") or "local"
    return _start_cluster(kind, section(f"cluster.{kind}"), args.n_workers, args.logs)


def _configured_storage_options() -> dict[str, Any]:
    import dask.config

    from .config import canonical

    return canonical(dask.config.get("clipwriter", default={})).get("storage_options") or {}


def cmd_backfill(args: argparse.Namespace) -> int:
    from .backfill import backfill
    from .reader import dataset_info

    apply_config_files(args.config)
    if not (args.clip_index or args.metas_jsonl):
        raise DatasetError("nothing to build: pass --clip-index, --metas-jsonl or both")
    options = _configured_storage_options()
    info = dataset_info(args.dataset, options)  # not a dataset: refused before a cluster starts
    cluster, client = _local_or_configured_cluster(args)
    with connected(cluster, client):
        written = backfill(info.root, options, clip_index=args.clip_index, metas_jsonl=args.metas_jsonl)
    print(f"{info.root}: {written} files written", file=args.logs.stream)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a mistake argparse has already reported
        return int(exc.code or 0)
    # distributed reads its log level when imported, in this process and in every worker
    # process it spawns (they inherit the environment): keep its INFO chatter off the terminal.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    import distributed  # noqa: F401  (configures its loggers on import; ours are set up after)

    from .clusters.slurm_watch import WorkerJobsPending
    from .report_read import ReportError

    try:
        args.logs = CommandLogging(parse_level(args.log_level), getattr(args, "log_file", None))
    except (SettingsError, OSError) as exc:
        return _failed(args, exc, 2)
    commands = {"run": cmd_run, "demo": cmd_demo, "write": cmd_write, "verify": cmd_verify, "report": cmd_report,
                "export": cmd_export, "backfill": cmd_backfill}
    try:
        return commands[args.command](args)
    except (SettingsError, RecordError, PluginError, FileNotFoundError, ReportError, DatasetError, ExportError,
            ShardSizeError) as exc:
        # The user's mistake (a flag, a config key, a record, a path, a SLURM request the
        # partition cannot meet): one line, exit code 2.
        return _failed(args, exc, 2)
    except (ChunkWriteError, SinkError, ManifestError, IndexPartError) as exc:
        # The store or the dataset failed: one line naming what and where, exit code 1.
        return _failed(args, exc, 1)
    except WorkerJobsPending as exc:
        # SLURM never started the worker jobs (the line says why); they were cancelled.
        return _failed(args, exc, 4)
    except KeyboardInterrupt:
        return 130
    finally:
        args.logs.close()


def _failed(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(exc)
    stream = getattr(getattr(args, "logs", None), "stream", sys.stderr)
    print(f"dask-clipwriter: error: {exc}", file=stream, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

