"""One chunk of one video, from source file to clip records: the worker's whole job.

``process_chunk`` decodes the chunk's stretch of the source once (transcode.py), then takes
each clip through the stages in the reference's order: motion score and filter, aesthetic
score and filter, embedding, caption windows, captions, previews. Only clips that are still
passed go on to the next stage (a filtered clip keeps its bytes and scores, and has no
embedding, windows or previews, as in the reference). The result is one pandas frame of clip
records with exactly the columns and dtypes of ``records.clip_records_meta()``.

Errors: a source that cannot be opened raises :class:`SourceVideoError` (the job turns it into
a video-level error). Anything that goes wrong for one clip is written into that clip's
``errors`` map and the chunk goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..probe import PROBE_KEYS, ProbeError, VideoProbe, probe_clip_bytes
from ..records import clip_records_frame
from . import plugins
from .frames import decode_frames, sample_indices
from .motion import score_clip_motion, unscored
from .plan import ChunkPlan, plan_chunks, plan_spans, planned_duration
from .previews import make_window_previews
from .stage_settings import StageSettings
from .transcode import EncodedClip, EncodeSettings, SourceVideoError, transcode_spans
from .windows import caption_windows

__all__ = ["SourceVideoError", "StageSettings", "plan_video", "process_chunk"]


def plan_video(video: str, probe: VideoProbe | Mapping[str, Any], settings: StageSettings = StageSettings()) -> list[ChunkPlan]:
    """All chunk plans of one probed video (empty for a video too short to have a clip)."""
    values = _source_values(probe)
    spans = plan_spans(
        video, values["num_frames"], values["framerate"],
        settings.clip_len_s, settings.clip_stride_s, settings.min_clip_length_s,
    )
    return plan_chunks(spans, settings.num_clips_per_chunk,
                       video_end=planned_duration(values["num_frames"], values["framerate"]))


def process_chunk(
    plan: ChunkPlan,
    video_probe_values: VideoProbe | Mapping[str, Any],
    stage_settings: StageSettings = StageSettings(),
    *,
    storage_options: Mapping[str, Any] | None = None,
    on_clip: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Clip records of one chunk, in span order (see the module docstring). ``on_clip`` is
    told the size of each clip as soon as it is encoded (the job's progress)."""
    source = _source_values(video_probe_values)
    encode = EncodeSettings(
        target_height=stage_settings.target_height,
        encoder=stage_settings.encoder,
        encoder_options=stage_settings.encoder_option_values(),
        encoder_threads=stage_settings.encoder_threads,
        audio=stage_settings.audio,
        motion_stream=stage_settings.motion_filter != "disable",
    )
    with _open_source(plan.video, storage_options) as handle:
        encoded = transcode_spans(handle, plan.spans, encode, video_end=plan.video_end,
                                  on_clip=None if on_clip is None else lambda clip: on_clip(len(clip.data or b"")))
    rows = []
    for clip in encoded:
        record = _ClipWork(plan, clip, source)
        _run_stages(record, stage_settings)
        rows.append(record.row())
    return clip_records_frame(rows)


# --------------------------------------------------------------------------------------
# Source


def _source_values(probe: VideoProbe | Mapping[str, Any]) -> dict[str, Any]:
    get = probe.get if isinstance(probe, Mapping) else lambda name: getattr(probe, name, None)
    values = {name: get(name) for name in ("width", "height", "framerate", "num_frames")}
    if values["framerate"] is None or values["num_frames"] is None:
        raise ValueError(f"video probe values need framerate and num_frames, got {values}")
    return values


@contextlib.contextmanager
def _open_source(video: str, storage_options: Mapping[str, Any] | None) -> Iterator[Any]:
    """A local path as is (FFmpeg reads it fastest), anything else as an fsspec file."""
    import fsspec

    protocol = fsspec.utils.get_protocol(video)
    if protocol in ("file", "local"):
        _, path = fsspec.core.url_to_fs(video)
        yield path
        return
    try:
        opened = fsspec.open(video, "rb", **dict(storage_options or {}))
        handle = opened.open()
    except Exception as exc:  # noqa: BLE001 - fsspec backends raise their own types
        raise SourceVideoError(f"cannot open source video {video!r}: {type(exc).__name__}: {exc}") from exc
    try:
        yield handle
    finally:
        handle.close()


# --------------------------------------------------------------------------------------
# One clip through the stages


@dataclass
class _ClipWork:
    plan: ChunkPlan
    clip: EncodedClip
    source: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    filtered_by: str | None = None
    probe: dict[str, Any] = field(default_factory=dict)
    motion: tuple[float | None, float | None] = (None, None)
    aesthetic_score: float | None = None
    embedding: np.ndarray | None = None
    windows: list[dict[str, Any]] | None = None

    @property
    def data(self) -> bytes | None:
        return self.clip.data

    @property
    def goes_on(self) -> bool:
        """Still passed and has bytes: the later stages have something to work on."""
        return self.filtered_by is None and bool(self.clip.data)

    def row(self) -> dict[str, Any]:
        span = self.clip.span
        return {
            "video": self.plan.video,
            "clip_chunk_index": self.plan.chunk_index,
            "span_uuid": span.uuid,
            "span_start": span.start,
            "span_end": span.end,
            "filtered_by": self.filtered_by,
            "source_video": self.plan.video,
            "buffer": self.clip.data,
            **{name: self.probe.get(name) for name in PROBE_KEYS},
            "motion_score_global_mean": self.motion[0],
            "motion_score_per_patch_min_256": self.motion[1],
            "aesthetic_score": self.aesthetic_score,
            "embedding": self.embedding,
            "windows": self.windows,
            "errors": dict(self.errors),
            "width_source": self.source["width"],
            "height_source": self.source["height"],
            "framerate_source": self.source["framerate"],
        }


def _run_stages(work: _ClipWork, settings: StageSettings) -> None:
    if work.clip.error:
        work.errors["transcode"] = work.clip.error
    if work.clip.audio_error:
        work.errors["audio"] = work.clip.audio_error
    if work.data:
        try:
            probe = probe_clip_bytes(work.data)
            work.probe = {name: getattr(probe, name) for name in PROBE_KEYS}
        except ProbeError as exc:
            work.errors["extract_metadata"] = str(exc)
    _motion_stage(work, settings)
    if work.goes_on and settings.aesthetic_scorer:
        _aesthetic_stage(work, settings)
    if work.goes_on and settings.embedder:
        _embedding_stage(work, settings)
    if work.goes_on:
        _window_stage(work, settings)


def _motion_stage(work: _ClipWork, settings: StageSettings) -> None:
    if settings.motion_filter == "disable":
        return
    if work.data:
        # The reference's clip (libx264, FFmpeg's defaults, the source's size) is what the
        # thresholds were made for: scored on that, the decision does not depend on the
        # output height or the encoder (transcode.py makes it when the clip is not it).
        stream = work.clip.motion_bytes
        score = score_clip_motion(
            stream, settings.motion_global_mean_threshold, settings.motion_per_patch_min_256_threshold
        ) if stream else unscored("decode_failed")
    else:
        work.errors["buffer"] = "empty"  # as the reference's motion decode stage records it
        score = unscored(None)
    if score.error:
        work.errors["motion_decode"] = score.error
    work.motion = (score.global_mean, score.per_patch_min_256)
    if score.is_small_motion and settings.motion_filter == "enable":
        work.filtered_by = "motion"


def _clip_framerate(work: _ClipWork) -> float:
    return work.probe.get("framerate") or float(work.source["framerate"])


def _sampled_frames(work: _ClipWork, sample_fps: float) -> list[np.ndarray]:
    picks = sample_indices(0, work.clip.num_frames - 1, _clip_framerate(work), sample_fps)
    frames = decode_frames(work.data, picks)
    return [frames[i] for i in picks if i in frames]


def _call_plugin(work: _ClipWork, error_key: str, import_path: str, call) -> Any:
    """Run one plug-in call; a failure is the clip's error, never the chunk's."""
    try:
        return call(plugins.load_plugin(import_path))
    except Exception as exc:  # noqa: BLE001 - a plug-in may raise anything
        work.errors[error_key] = f"{type(exc).__name__}: {exc}"
        return None


def _aesthetic_stage(work: _ClipWork, settings: StageSettings) -> None:
    path = settings.aesthetic_scorer
    frames = _sampled_frames(work, settings.aesthetic_fps)
    score = _call_plugin(work, "aesthetic", path, lambda scorer: plugins.checked_score(scorer(frames), path))
    work.aesthetic_score = score
    if score is not None and settings.aesthetic_threshold is not None and score < settings.aesthetic_threshold:
        work.filtered_by = "aesthetic"


def _embedding_stage(work: _ClipWork, settings: StageSettings) -> None:
    path = settings.embedder
    media = plugins.ClipMedia(
        data=work.data,
        frames=_sampled_frames(work, settings.embedding_fps),
        sample_fps=settings.embedding_fps,
        framerate=_clip_framerate(work),
    )
    work.embedding = _call_plugin(work, "embedding", path, lambda embed: plugins.checked_embedding(embed(media), path))


def _window_stage(work: _ClipWork, settings: StageSettings) -> None:
    found = caption_windows(work.clip.num_frames, settings.window_size, settings.remainder_threshold)
    work.windows = [
        {"start_frame": w.start_frame, "end_frame": w.end_frame, "caption": {}, "enhanced_caption": {}, "webp": None}
        for w in found
    ]
    if settings.captioner or settings.enhanced_captioner:
        rate = _clip_framerate(work)
        picks = [sample_indices(w.start_frame, w.end_frame, rate, settings.caption_fps) for w in found]
        decoded = decode_frames(work.data, {i for pick in picks for i in pick})  # once for all windows
        for pick, record in zip(picks, work.windows, strict=True):
            _caption_window(work, settings, [decoded[i] for i in pick if i in decoded], record)
    if settings.make_previews and found:
        try:
            webps = make_window_previews(
                work.data, found, _clip_framerate(work),
                fps=settings.preview_fps, height=settings.preview_height, quality=settings.preview_quality,
            )
        except Exception as exc:  # noqa: BLE001 - a preview failure is the clip's, not the chunk's
            work.errors["preview"] = f"{type(exc).__name__}: {exc}"
            return
        for record, webp in zip(work.windows, webps, strict=True):
            record["webp"] = webp


def _caption_window(work: _ClipWork, settings: StageSettings, frames: list[np.ndarray], record: dict[str, Any]) -> None:
    caption = None
    if settings.captioner:
        path = settings.captioner
        caption = _call_plugin(work, "caption", path, lambda captioner: plugins.checked_caption(captioner(frames), path))
        if caption is not None:
            record["caption"][settings.caption_model] = caption
    if settings.enhanced_captioner:
        path = settings.enhanced_captioner
        enhanced = _call_plugin(
            work, "enhanced_caption", path, lambda enhancer: plugins.checked_caption(enhancer(frames, caption), path)
        )
        if enhanced is not None:
            record["enhanced_caption"][settings.enhanced_caption_model] = enhanced
