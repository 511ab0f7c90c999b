"""The JSON documents of the dataset, built as plain dicts and serialised exactly as the spec.

* :func:`clip_meta`: ``metas/v0/<uuid>.json`` (output-format.md §2)
* :func:`chunk_stats` / :func:`chunk_document`: ``processed_clip_chunks/<rel>_<i>.json`` (§3)
* :func:`video_document`: ``processed_videos/<rel>.json`` (§3)

No I/O here: the caller decides where the bytes go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .probe import PROBE_KEYS
from .records import ClipRecord, VideoRecord

EXTRACT_METADATA_ERROR = "extract_metadata"


def dumps(document: Any) -> bytes:
    """``json.dumps(obj, indent=4)``: 4 spaces, ASCII escapes, float repr, no trailing newline."""
    return json.dumps(document, indent=4).encode("ascii")


def clip_meta(
    clip: ClipRecord,
    *,
    clip_location: str,
    source: VideoRecord | None,
    probe: dict[str, Any] | None,
    caption_models: tuple[str, ...],
    enhanced_caption_models: tuple[str, ...],
) -> dict[str, Any]:
    """The per-clip metadata document; ``probe`` holds keys 8-12 when the bytes were probed."""
    doc: dict[str, Any] = {
        "span_uuid": clip.span_uuid,
        "source_video": clip.source_video,
        "duration_span": [clip.span_start, clip.span_end],
        "width_source": _first(clip.width_source, source and source.width),
        "height_source": _first(clip.height_source, source and source.height),
        "framerate_source": _first(clip.framerate_source, source and source.framerate),
        "clip_location": clip_location,
    }
    if clip.has_bytes:
        if probe is not None:
            doc.update((key, probe[key]) for key in PROBE_KEYS)
        doc["num_bytes"] = len(clip.buffer)
    if clip.motion_score_global_mean is not None:
        doc["motion_score"] = {
            "global_mean": clip.motion_score_global_mean,
            "per_patch_min_256": clip.motion_score_per_patch_min_256,
        }
    if clip.aesthetic_score is not None:
        doc["aesthetic_score"] = clip.aesthetic_score
    if clip.errors:
        doc["errors"] = list(clip.errors)
    windows = []
    for window in clip.windows:
        entry: dict[str, Any] = {"start_frame": window.start_frame, "end_frame": window.end_frame}
        for model in caption_models:
            if model in window.caption:
                entry[f"{model}_caption"] = window.caption[model]
        for model in enhanced_caption_models:
            if model in window.enhanced_caption:
                entry[f"{model}_enhanced_caption"] = window.enhanced_caption[model]
        windows.append(entry)
    doc["windows"] = windows
    doc["valid"] = bool(clip.has_bytes and clip.windows)
    return doc


def _first(*values):
    for value in values:
        if value is not None:
            return value
    return None


@dataclass
class ChunkStats:
    """The counters of one chunk, in the key order of ``processed_clip_chunks`` JSON."""

    video: str
    clip_chunk_index: int
    num_clips_filtered_by_motion: int = 0
    num_clips_filtered_by_aesthetic: int = 0
    num_clips_passed: int = 0
    num_clips_transcoded: int = 0
    num_clips_with_embeddings: int = 0
    num_clips_with_caption: int = 0
    num_clips_with_webp: int = 0
    total_clip_duration: float = 0.0
    max_clip_duration: float = 0.0
    clips: list[str] = field(default_factory=list)
    filtered_clips: list[str] = field(default_factory=list)
    all_windows: dict[str, dict[str, str]] = field(default_factory=dict)
    all_windows_enhanced_caption: dict[str, dict[str, str]] = field(default_factory=dict)


COUNTER_KEYS = (
    "num_clips_filtered_by_motion",
    "num_clips_filtered_by_aesthetic",
    "num_clips_passed",
    "num_clips_transcoded",
    "num_clips_with_embeddings",
    "num_clips_with_caption",
    "num_clips_with_webp",
)


def _first_caption(captions: dict[str, str], models: tuple[str, ...]) -> str | None:
    for model in models:
        if model in captions:
            return captions[model]
    return None


def chunk_stats(
    video: str,
    chunk_index: int,
    clips: list[ClipRecord],
    *,
    caption_models: tuple[str, ...],
    enhanced_caption_models: tuple[str, ...],
) -> ChunkStats:
    """Statistics of one chunk. ``clips`` in record order; passed and filtered are split here."""
    stats = ChunkStats(video=video, clip_chunk_index=chunk_index)
    passed = [c for c in clips if c.passed]
    filtered = [c for c in clips if not c.passed]
    # Durations are added passed-then-filtered, left to right, like the reference: with
    # floats the order changes the last digit.
    for clip in passed + filtered:
        stats.total_clip_duration += clip.duration
        stats.max_clip_duration = max(stats.max_clip_duration, clip.duration)
        stats.num_clips_transcoded += clip.has_bytes
        stats.num_clips_with_caption += any(
            _first_caption(w.caption, caption_models) is not None for w in clip.windows
        )
    for clip in filtered:
        stats.num_clips_filtered_by_motion += clip.filtered_by == "motion"
        stats.num_clips_filtered_by_aesthetic += clip.filtered_by == "aesthetic"
        stats.filtered_clips.append(clip.span_uuid)
    for clip in passed:
        stats.num_clips_passed += 1
        stats.num_clips_with_embeddings += clip.embedding is not None
        stats.num_clips_with_webp += any(w.webp for w in clip.windows)
        stats.clips.append(clip.span_uuid)
        captions: dict[str, str] = {}
        enhanced: dict[str, str] = {}
        for window in clip.windows:
            key = f"{window.start_frame}_{window.end_frame}"
            text = _first_caption(window.caption, caption_models)
            if text is not None:
                captions[key] = text
            text = _first_caption(window.enhanced_caption, enhanced_caption_models)
            if text is not None:
                enhanced[key] = text
        stats.all_windows[clip.span_uuid] = captions
        stats.all_windows_enhanced_caption[clip.span_uuid] = enhanced
    return stats


def chunk_document(stats: ChunkStats) -> dict[str, Any]:
    return dict(stats.__dict__)


def read_chunk_document(data: bytes, video: str | None = None, chunk_index: int | None = None) -> ChunkStats:
    """A chunk marker read back (resume): the same counters the run would have produced.

    Raises ValueError saying what is wrong with a document that is not a whole chunk
    document (of ``video``'s chunk ``chunk_index``, when given)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    names = list(ChunkStats.__dataclass_fields__)
    if not isinstance(doc, dict) or list(doc) != names:
        raise ValueError("not a chunk document (its keys differ)")
    if video is not None and (doc["video"], doc["clip_chunk_index"]) != (video, chunk_index):
        raise ValueError(f"it is the document of chunk {doc['clip_chunk_index']} of {doc['video']!r}")
    return ChunkStats(**doc)


def video_document(
    video: str, record: VideoRecord | None, *, num_total_clips: int, num_clip_chunks: int
) -> dict[str, Any]:
    """``processed_videos`` document; clip/chunk counts from the video record when it has them."""
    r = record or VideoRecord(video=video)
    return {
        "video": video,
        "height": r.height,
        "width": r.width,
        "framerate": r.framerate,
        "num_frames": r.num_frames,
        "duration": r.duration,
        "video_codec": r.video_codec,
        "pixel_format": r.pixel_format,
        "audio_format": r.audio_codec,
        "num_total_clips": r.num_total_clips if r.num_total_clips is not None else num_total_clips,
        "num_clip_chunks": r.num_clip_chunks if r.num_clip_chunks is not None else num_clip_chunks,
    }
