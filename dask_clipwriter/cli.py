"""The ``dask-clipwriter`` command: ``run`` the job, ``demo`` it, ``write`` stored records."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .config import JobSettings, apply_config_files, resolve_job_config, settings_fields
from .manifest import ManifestError
from .options import option_help, option_kind
from .records import RecordError
from .reduction import IndexPartError
from .settings import SettingsError, WriterSettings
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


def _add_settings_flags(parser: argparse.ArgumentParser, title: str, groups: dict[str, type]) -> None:
    """One flag per option, with the option's own help line; a name shared by writer and
    stages would set both."""
    owners: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    for group, cls in groups.items():
        for name, f in settings_fields(cls).items():
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
        value = dask.config.get(f"clipwriter.{group}.{name}", default=None)
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
    parser.add_argument("--log-level", default="WARNING", help="Python log level for dask_clipwriter")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")


def build_parser() -> argparse.ArgumentParser:
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

    demo = sub.add_parser("demo", help="generate sample videos and run the job on a LocalCluster",
                          description="The embedded default: sample videos (moving and static), the job "
                                      "on a LocalCluster, a dataset in a local folder.")
    demo.add_argument("--output", dest="demo_dir", default="demo-output",
                      help="folder for the sample videos and the dataset (default: ./demo-output)")
    demo.add_argument("--log-level", default="WARNING", help="Python log level for dask_clipwriter (default: WARNING)")
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
    check.add_argument("--log-level", default="WARNING")
    check.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    return parser


def _start_cluster(kind: str, options: dict[str, Any], n_workers: int | None = None):
    """(cluster, client) for ``kind`` with the resolved options; prints the dashboard link."""
    from distributed import Client

    from .clusters import make_cluster

    if n_workers is not None:
        options = {**options, "n_workers": n_workers}
    cluster = make_cluster(kind, **options)
    client = Client(cluster)
    print(f"dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
    return cluster, client


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
    cluster, client = _start_cluster(cfg.cluster_kind, cfg.cluster_options, args.n_workers)
    with cluster, client:
        summary = run_job(cfg, client)
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
    cluster, client = _start_cluster("local", {"n_workers": 2}, args.n_workers)
    with cluster, client:
        run_job(cfg, client)
    print(f"dataset: {out}", file=sys.stderr, flush=True)
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
    cluster, client = _start_cluster(cfg.cluster_kind, cfg.cluster_options, args.n_workers)
    with cluster, client:
        summary = ClipWriter.from_settings(cfg.writer).write(clips, videos, progress=True)
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


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a mistake argparse has already reported
        return int(exc.code or 0)
    # distributed reads its log level when imported, in this process and in every worker
    # process it spawns (they inherit the environment): keep its INFO chatter off the terminal.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import distributed  # noqa: F401  (configures its loggers on import; quieten them after)

    logging.getLogger("distributed").setLevel(logging.WARNING)
    commands = {"run": cmd_run, "demo": cmd_demo, "write": cmd_write, "verify": cmd_verify}
    try:
        return commands[args.command](args)
    except (SettingsError, RecordError, PluginError, FileNotFoundError) as exc:
        # The user's mistake (a flag, a config key, a record, a path): one line, exit code 2.
        return _failed(args, exc, 2)
    except (ChunkWriteError, SinkError, ManifestError, IndexPartError) as exc:
        # The store or the dataset failed: one line naming what and where, exit code 1.
        return _failed(args, exc, 1)
    except KeyboardInterrupt:
        return 130


def _failed(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(exc)
    print(f"dask-clipwriter: error: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

