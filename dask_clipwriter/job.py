"""The batch job's Dask plumbing: raw videos -> clip records -> written dataset.

    list (client) ─▶ probe (workers, one task per video) ─▶ plan (client, from the probe)
        ─▶ one partition per chunk (dd.from_map: decode, transcode, motion, previews, plug-ins)
        ─▶ ClipWriter.write (the writer's one graph), computed once with a progress line

The stage logic lives in :mod:`dask_clipwriter.video` and probing in :mod:`dask_clipwriter.probe`;
this module only decides where each step runs.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict
from typing import Any, TextIO

import pandas as pd

from . import layout
from .build import clip_records_from_map
from .clip_writer import ClipWriter
from .closing import closing_lines
from .config import JobConfig
from .events import ClipCounter, report_clip
from .progress import ChunkProgress
from .records import clip_records_meta, video_records_frame
from .summary import add_run_figures, summary_time
from .writer import make_sink

log = logging.getLogger(__name__)


def probe_source(video: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    """A video record for one source video (runs on a worker). Never raises: an unreadable,
    empty or truncated video becomes a record with ``error`` and no clips."""
    import fsspec

    from .probe import probe_video_file

    try:
        with fsspec.open(video, "rb", **storage_options) as fh:
            probe = probe_video_file(fh, check_tail=True)
        return {"video": video, **asdict(probe), "error": None}
    except Exception as exc:  # any failure to read is a per-video error, not a run failure
        return {"video": video, "error": f"{type(exc).__name__}: {exc}"}


def plan_videos(probes: list[dict[str, Any]], stages) -> tuple[list, pd.DataFrame]:
    """Chunk plans of every readable video, and the video records (client side, no I/O)."""
    from .video.chunk import plan_video

    plans, rows = [], []
    for probe in probes:
        row = dict(probe)  # the probe's keys are the video record's columns
        if not probe["error"]:
            chunks = plan_video(probe["video"], probe, stages)
            plans.extend((chunk, probe) for chunk in chunks)
            row.update(num_clip_chunks=len(chunks), num_total_clips=chunks[0].num_total_clips if chunks else 0)
        rows.append(row)
    return plans, video_records_frame(rows)


def _complete(marker: str, plan, output_path: str, storage_options: dict[str, Any]) -> bool:
    """Whether the chunk's marker is there, whole, and lists exactly the planned clips: the
    same test the writer makes (a marker it would not trust must not spare the decoding)."""
    from .documents import read_chunk_document
    from .sink import FileSink

    data = FileSink(output_path, storage_options=storage_options).read_if_exists(marker)
    try:
        stats = None if data is None else read_chunk_document(data, plan.video, plan.chunk_index)
    except ValueError:
        return False
    return stats is not None and set(stats.clips + stats.filtered_clips) == {span.uuid for span in plan.spans}


def chunk_records(item, resume_marker: str | None, *, stages, storage_options: dict[str, Any],
                  output_path: str, progress_run: str | None = None) -> pd.DataFrame:
    """One partition: the clip records of one chunk (runs on a worker). Each clip encoded is
    reported on the job's ``progress_run`` (events.py)."""
    plan, probe = item
    if resume_marker is not None and _complete(resume_marker, plan, output_path, storage_options):
        # Already complete: the writer reads this chunk's marker and skips it, so only the
        # keys are needed; nothing is decoded again.
        return pd.DataFrame([
            {"video": plan.video, "clip_chunk_index": plan.chunk_index, "span_uuid": span.uuid,
             "span_start": span.start, "span_end": span.end}
            for span in plan.spans
        ])
    from .video.chunk import SourceVideoError, process_chunk

    try:
        return process_chunk(plan, probe, stages, storage_options=storage_options,
                             on_clip=lambda nbytes: report_clip(progress_run, nbytes))
    except SourceVideoError as exc:
        # The source went away (or broke) after it was probed: the chunk is not written, so
        # its video stays incomplete in summary.json and a re-run with --resume completes it.
        log.error("chunk %d of %s not written: %s", plan.chunk_index, plan.video, exc)
        return clip_records_meta()


class _KeptOpen:
    """A progress hook that the writes of single waves do not close."""

    def __init__(self, hook):
        self.hook = hook

    def update(self, rows, partitions: int = 1) -> None:
        self.hook.update(rows, partitions)

    def close(self) -> None:
        pass


def write_in_waves(cfg: JobConfig, plans: list, video_records: pd.DataFrame, progress: ChunkProgress,
                   skipped: list[dict[str, str]] = (), progress_run: str | None = None) -> dict[str, Any]:
    """Write the planned chunks, ``cfg.job.wave_chunks`` at a time (all at once by default).

    Each wave is one write into the dataset, so a wave's graph stays small however many
    chunks the job has, and a job stopped between waves resumes with ``--resume``. The
    dataset index adds the waves up: the last summary describes the whole dataset; its
    ``run`` figures are those of all waves. ``skipped`` (sources that were not listed, and
    why) is noted in summary.json."""
    writer = cfg.writer
    size = cfg.job.wave_chunks or max(len(plans), 1)
    waves = [plans[start:start + size] for start in range(0, len(plans), size)] or [[]]
    videos_with_chunks = {plan.video for plan, _ in plans}
    started, run, summary = time.time(), None, {}
    try:
        for number, wave in enumerate(waves):
            in_wave = {plan.video for plan, _ in wave}
            # Videos without chunks (unreadable, too short) are written with the first wave.
            keep = video_records["video"].isin(in_wave) | (
                number == 0 and ~video_records["video"].isin(videos_with_chunks))
            markers = [
                layout.chunk_json_path(writer.output_path, layout.relative_video_path(plan.video, writer.input_path),
                                       plan.chunk_index) if writer.resume else None
                for plan, _ in wave
            ]
            clips = clip_records_from_map(
                chunk_records, wave, markers, stages=cfg.stages, storage_options=writer.storage_options,
                output_path=writer.output_path, progress_run=progress_run, meta=clip_records_meta(),
                label="clip-chunk",
            ) if wave else None
            # One chunk per partition by construction: no partitioning check needed.
            summary = ClipWriter.from_settings(writer).write(
                clips, video_records[keep], progress=_KeptOpen(progress), check_records=False,
                producer=cfg.stages.content_settings())
            run = add_run_figures(run, summary["run"])
    finally:
        progress.close()
    if len(waves) > 1:
        finished = time.time()
        # A video whose chunks span waves is in several waves' figures: count the job's own.
        run.update(videos=len(video_records), videos_failed=int(video_records["error"].notna().sum()),
                   waves=len(waves))
        summary = {**summary, "started_at": summary_time(started), "finished_at": summary_time(finished),
                   "elapsed_s": round(finished - started, 3), "run": run}
    if skipped:
        summary = {**summary, "skipped_sources": list(skipped)}
    if len(waves) > 1 or skipped:
        sink = make_sink(writer)
        sink.put(layout.summary_path(writer.output_path), json.dumps(summary, indent=4).encode(), existing="overwrite")
    return summary


def check_plugins(stages, client=None) -> None:
    """The stages' plug-ins, before any chunk runs: importable, callable, with the right
    arguments here (nothing is loaded); then loaded on every worker of ``client``, where
    they run (a plug-in installed here but not there would fail every clip)."""
    from .video.plugins import PLUGIN_ARGUMENTS, PluginError, check_plugin, load_plugin

    named = {setting: getattr(stages, setting) for setting in PLUGIN_ARGUMENTS if getattr(stages, setting)}
    for setting, path in named.items():
        try:
            check_plugin(path, PLUGIN_ARGUMENTS[setting])
        except PluginError as exc:
            raise PluginError(f"--{setting.replace('_', '-')}: {exc}") from None
    if client is None or not named:
        return

    def load_all(paths):
        problems = []
        for setting, path in paths.items():
            try:
                load_plugin(path)
            except PluginError as exc:
                problems.append(f"--{setting.replace('_', '-')}: {exc}")
        return problems

    for worker, problems in client.run(load_all, named).items():
        if problems:
            raise PluginError(f"on worker {worker}: {problems[0]}")


def check_job_paths(writer) -> None:
    """Refuse, before anything runs, an input that is a file and an output inside the input
    (or the same folder): the next run would list its own clips as source videos."""
    import fsspec

    from .settings import SettingsError

    source, output = writer.input_path.rstrip("/"), writer.output_path.rstrip("/")
    if output == source or output.startswith(source + "/"):
        raise SettingsError(f"output_path {writer.output_path!r} is inside input_path {writer.input_path!r} (or is it): "
                            "a later run would list its own clips as source videos; write the dataset elsewhere")
    fs, path = fsspec.url_to_fs(source, **writer.storage_options)
    if not fs.exists(path):
        raise SettingsError(f"input_path {writer.input_path!r} does not exist")
    if fs.isfile(path):
        raise SettingsError(f"input_path {writer.input_path!r} is a file: give the folder that holds the videos")


def run_job(cfg: JobConfig, client, *, stream: TextIO | None = None) -> dict[str, Any]:
    """Run the whole job on ``client``'s cluster; returns the writer's summary."""
    from .video.listing import list_videos

    stream = stream or sys.stderr
    started = time.monotonic()
    writer = cfg.writer
    check_job_paths(writer)
    check_plugins(cfg.stages, client)
    cfg.stages.check_encoder()
    skipped: list[tuple[str, str]] = []
    videos = list_videos(writer.input_path, extensions=cfg.stages.extensions, limit=cfg.stages.limit,
                         storage_options=writer.storage_options, skipped=skipped)
    print(f"found {len(videos)} videos under {writer.input_path}", file=stream, flush=True)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=stream, flush=True)
    probes = client.gather(client.map(probe_source, videos, storage_options=writer.storage_options))
    plans, video_records = plan_videos(probes, cfg.stages)
    failed = video_records["error"].notna().sum()
    print(f"planned {len(plans)} chunks, {int(video_records['num_total_clips'].fillna(0).sum())} clips"
          f"{f'; {failed} unreadable videos' if failed else ''}", file=stream, flush=True)

    progress = ChunkProgress(len(plans), stream=stream, clips_planned=sum(len(plan.spans) for plan, _ in plans))
    with ClipCounter(progress.encoded, client) as progress_run:
        summary = write_in_waves(cfg, plans, video_records, progress, progress_run=progress_run,
                                 skipped=[{"path": path, "reason": reason} for path, reason in skipped])
    totals, run = summary["totals"], summary["run"]
    resumed = f" ({run['chunks_resumed']} already complete, not redone)" if run["chunks_resumed"] else ""
    print(
        f"done in {time.monotonic() - started:.1f} s: {run['videos']} videos, {run['chunks']} chunks{resumed}, "
        f"{run['num_clips_passed']} clips passed, {run['num_clips_filtered']} filtered; "
        f"{sum(run['files_written'].values())} files / {sum(run['bytes_written'].values()) / 1e6:.1f} MB written, "
        f"{sum(run['files_skipped'].values())} existing files kept; {run['videos_failed']} videos failed; "
        f"the dataset now holds {totals['videos']} videos, {totals['chunks']} chunks",
        file=stream, flush=True,
    )
    for line in closing_lines(summary):
        print(line, file=stream, flush=True)
    print(f"summary: {layout.summary_path(writer.output_path)}", file=stream, flush=True)
    if cfg.job.report:
        from .report import write_report

        try:
            report = write_report(writer.output_path, writer.storage_options, settings=cfg.report)
        except Exception as exc:  # noqa: BLE001 - the dataset is written; a report that fails must not undo that
            log.warning("report.html not written: %s: %s (dask-clipwriter report %s makes it)", type(exc).__name__,
                        exc, writer.output_path)
        else:
            print(f"report: {report}", file=stream, flush=True)
    return summary
