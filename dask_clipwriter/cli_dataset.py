"""The ``dask-clipwriter`` subcommands that work on a written dataset: ``verify``, ``report``,
``export`` (training shards) and ``backfill`` (the optional outputs, afterwards)."""

from __future__ import annotations

import argparse
import os
import sys

from .cli_common import (
    EPILOG,
    LIST_HELP,
    add_common_flags,
    add_settings_flags,
    configured_storage_options,
    local_or_configured_cluster,
    settings_overrides,
    split_list,
)
from .clusters import connected
from .config import apply_config_files
from .dataset_rows import DatasetError


def add_dataset_commands(sub) -> None:
    """The subcommands that work on a written dataset: verify, report, export, backfill."""
    check = sub.add_parser("verify", help="check a dataset against its own metadata and the spec",
                           description="Check a written dataset (local or URL): every problem is printed with its "
                                       "path; the exit code is 1 when there is any.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    check.add_argument("--config", action="append", default=[], metavar="FILE",
                       help="YAML file with a 'clipwriter:' section (its storage-options are used)")
    check.add_argument("--log-level", default=None)
    check.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    backfill = sub.add_parser("backfill", help="build a dataset's optional outputs afterwards (clip index, JSONL metas)",
                              description="Write clip_index/ (--clip-index) and/or metas_jsonl/v0/ (--metas-jsonl) "
                                          "for every chunk of a written dataset, as the writer would have.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    backfill.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    backfill.add_argument("--clip-index", action="store_true", help="write clip_index/<chunk uuid>.parquet")
    backfill.add_argument("--metas-jsonl", action="store_true", help="write metas_jsonl/v0/<video uuid>_<chunk>.jsonl")
    add_common_flags(backfill)
    _add_report_parser(sub)
    _add_export_parser(sub)



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
    add_settings_flags(report, "how much of the dataset is read (clipwriter.report)", {"report": ReportSettings})
    report.add_argument("--log-level", default=None)
    report.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")



def _add_export_parser(sub) -> None:
    export = sub.add_parser("export", help="write a dataset's clips as training shards (WebDataset tar files)",
                            description="Write the clips of a dataset (passed ones unless --include-filtered) as "
                                        "WebDataset shards under --to, in parallel, with a shard index "
                                        "(index.json, index.parquet). An export with no clip to write (all "
                                        "filtered) is refused with exit code 2, --to left as it was.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("dataset", help="the dataset's output_path (local path or URL)")
    export.add_argument("--to", dest="dest", required=True, help="folder or URL for the shards")
    export.add_argument("--format", choices=["webdataset"], default="webdataset", help="shard format")
    export.add_argument("--shard-size", default="1GB",
                        help="largest shard, e.g. 1GB, 512MiB (default: 1GB; a clip larger than that gets a shard "
                             "of its own, and a warning names it)")
    export.add_argument("--include-filtered", action="store_true", help="also export the filtered clips")
    export.add_argument("--caption-models", default=None, metavar="A,B", type=split_list,
                        help="models whose captions become .txt members (default: every model found; a model "
                             f"the dataset has no captions of is refused); {LIST_HELP}")
    add_common_flags(export)



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
    options = configured_storage_options()
    dataset = args.dataset if "://" in args.dataset else os.path.abspath(args.dataset)
    target = args.report_file
    if target and "://" not in target:
        target = os.path.abspath(target)
    settings = report_settings({key.split(".", 1)[1]: value for key, value in settings_overrides(args).items()})
    print(f"report: {write_report(dataset, options, target, settings)}", file=args.logs.stream, flush=True)
    return 0



def cmd_export(args: argparse.Namespace) -> int:
    from .export import check_export, export_webdataset

    apply_config_files(args.config)
    options = configured_storage_options()
    # Wrong paths and sizes are refused before a cluster starts.
    _, dest, _ = check_export(args.dataset, args.dest, options, args.shard_size, args.caption_models)
    cluster, client = local_or_configured_cluster(args)
    with connected(cluster, client):
        index = export_webdataset(args.dataset, args.dest, storage_options=options, dest_storage_options=options,
                                  shard_size=args.shard_size, include_filtered=args.include_filtered,
                                  caption_models=args.caption_models)
    shards = len(index["shards"])
    print(f"wrote {index['samples']} samples in {shards} shard{'s' if shards != 1 else ''} "
          f"({index['bytes'] / 1e6:.1f} MB): "
          f"{dest}/{index['shards_pattern']}; index: {dest}/index.json", file=args.logs.stream)
    return 0



def cmd_backfill(args: argparse.Namespace) -> int:
    from .backfill import backfill
    from .reader import dataset_info

    apply_config_files(args.config)
    if not (args.clip_index or args.metas_jsonl):
        raise DatasetError("nothing to build: pass --clip-index, --metas-jsonl or both")
    options = configured_storage_options()
    info = dataset_info(args.dataset, options)  # not a dataset: refused before a cluster starts
    cluster, client = local_or_configured_cluster(args)
    with connected(cluster, client):
        written = backfill(info.root, options, clip_index=args.clip_index, metas_jsonl=args.metas_jsonl)
    print(f"{info.root}: {written} files written", file=args.logs.stream)
    return 0



COMMANDS = {"verify": cmd_verify, "report": cmd_report, "export": cmd_export, "backfill": cmd_backfill}
