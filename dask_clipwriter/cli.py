"""The ``dask-clipwriter`` command: ``run`` the job, ``demo`` it, ``write`` stored records;
the subcommands on a written dataset (verify, report, export, backfill) are in
:mod:`.cli_dataset`, what they all share in :mod:`.cli_common`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ._version import __version__
from .cli_common import (
    EPILOG,
    Parser,
    add_common_flags,
    add_logging_flags,
    add_settings_flags,
    run_on,
    settings_overrides,
    stage_settings_cls,
    start_cluster,
)
from .cli_dataset import COMMANDS as DATASET_COMMANDS
from .cli_dataset import add_dataset_commands
from .clusters import connected
from .clusters.slurm_settings import SlurmSettings, flag_fields
from .config import JobSettings, apply_config_files, resolve_job_config
from .dataset_rows import DatasetError
from .export import ExportError
from .logs import CommandLogging, parse_level
from .manifest import ManifestError
from .records import RecordError
from .reduction import IndexPartError
from .settings import SettingsError, WriterSettings
from .shards import ShardSizeError
from .sink import SinkError
from .video.plugins import PluginError
from .writer import ChunkWriteError

log = logging.getLogger("dask_clipwriter")


def build_parser() -> argparse.ArgumentParser:
    from .clusters import slurm  # noqa: F401  (registers clipwriter.cluster.slurm's defaults, shown by --help)

    parser = Parser(
        prog="dask-clipwriter",
        description="Write NeMo-Curator-compatible video clip datasets with Dask.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser("run", help="the batch job: videos under --input to a dataset under --output",
                         description="List, probe, split, transcode, score and write a folder of videos.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--input", dest="input_path", help="folder or URL of source videos")
    run.add_argument("--output", dest="output_path", help="dataset root (local path or URL)")
    add_common_flags(run)
    add_settings_flags(run, "writer, stage and job options",
                        {"writer": WriterSettings, "stages": stage_settings_cls(), "job": JobSettings})
    add_settings_flags(run, "SLURM options (with --cluster slurm; more in clipwriter.cluster.slurm)",
                        {"slurm": SlurmSettings}, fields_of=lambda cls: flag_fields())

    demo = sub.add_parser("demo", help="generate sample videos and run the job on a LocalCluster",
                          description="The embedded default: sample videos (moving and static), the job "
                                      "on a LocalCluster, a dataset in a local folder.")
    demo.add_argument("--output", dest="demo_dir", default="demo-output",
                      help="folder for the sample videos and the dataset (default: ./demo-output)")
    add_logging_flags(demo)
    demo.add_argument("--n-workers", type=int, default=None, help="number of local workers (default: 2)")
    demo.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")

    write = sub.add_parser("write", help="write clip records stored as a Parquet dataset",
                           description="Write clip records (and optional video records) stored as Parquet.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    write.add_argument("records", help="Parquet dataset (file, folder or URL) of clip records")
    write.add_argument("--videos", help="Parquet file of video records")
    write.add_argument("--input", dest="input_path", help="the input_path prefix of the records' videos")
    write.add_argument("--output", dest="output_path", help="dataset root (local path or URL)")
    add_common_flags(write)
    add_settings_flags(write, "writer options", {"writer": WriterSettings})
    add_dataset_commands(sub)
    return parser



def cmd_run(args: argparse.Namespace) -> int:
    from .job import run_job

    apply_config_files(args.config)
    overrides = settings_overrides(args) | {"input_path": args.input_path, "output_path": args.output_path,
                                    "cluster": args.cluster}
    cfg = resolve_job_config(stage_settings_cls(), overrides)
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
    cluster, client = start_cluster(cfg.cluster_kind, cfg.cluster_options, args.n_workers, args.logs)
    with connected(cluster, client):
        summary = run_on(cfg.cluster_kind, cluster, cfg.cluster_options, args,
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
    stages = build_settings(stage_settings_cls(), {})
    writer = WriterSettings(output_path=str(out), input_path=str(videos_dir), generate_previews=True)
    cfg = JobConfig(writer=writer, stages=stages)
    cluster, client = start_cluster("local", {"n_workers": 2}, args.n_workers, args.logs)
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
    overrides = settings_overrides(args) | {"input_path": args.input_path, "output_path": args.output_path,
                                    "cluster": args.cluster}
    # The records' video paths are stored as they were written: input_path is their prefix as given.
    cfg = resolve_job_config(None, overrides, absolute_input=False)
    options = cfg.writer.storage_options
    # pyarrow dtypes keep bytes and nested columns intact (no string conversion).
    clips = dd.read_parquet(args.records, dtype_backend="pyarrow", storage_options=options)
    videos = pd.read_parquet(args.videos, storage_options=options) if args.videos else None
    if cfg.writer.verbose:
        args.logs.show_info()
    cluster, client = start_cluster(cfg.cluster_kind, cfg.cluster_options, args.n_workers, args.logs)
    with connected(cluster, client):
        summary = run_on(cfg.cluster_kind, cluster, cfg.cluster_options, args,
                          lambda: ClipWriter.from_settings(cfg.writer).write(clips, videos, progress=True))
    run = summary["run"]
    print(f"wrote {run['chunks']} chunks, {run['num_clips_passed']} clips passed, "
          f"{run['num_clips_filtered']} filtered; summary: {summary_path(cfg.writer.output_path)}",
          file=sys.stderr)
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
    commands = {"run": cmd_run, "demo": cmd_demo, "write": cmd_write, **DATASET_COMMANDS}
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
