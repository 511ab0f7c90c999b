"""Fixed-stride clip spans, clip uuids and chunks, planned from a video's probe alone.

The rules are those of docs/spec/clip-records.md ("Deterministic ids"), which follow NeMo
Curator's ``FixedStrideExtractorStage`` (spans and uuids) and the chunking of its
``ClipTranscodingStage`` (``grouping.split_by_chunk_size`` with the size function
``int(end - start)``). Nothing here decodes video: the number of chunks of a video is known
from its probe, so the job can make one Dask partition per chunk before any decoding.

The reference plans from ``num_frames / framerate``, num_frames being ``int(duration * fps)``
of the duration ffprobe prints (probe.py). That truncates: about a third of the videos at
23.976, 29.97, 30, 59.94 or 60 fps are planned one frame shorter than they are, so their
last span ends one frame before the last frame. Spans and uuids are kept exactly as the
reference makes them (they are the clips' identity); the frames the truncation leaves out
are given to the clips whose span ends at the planned end (``ChunkPlan.video_end``, see
transcode.py), so no frame of the source is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

#: Reference defaults (seconds, clips per chunk).
DEFAULT_CLIP_LEN_S = 10.0
DEFAULT_CLIP_STRIDE_S = 10.0
DEFAULT_MIN_CLIP_LENGTH_S = 2.0
DEFAULT_NUM_CLIPS_PER_CHUNK = 32
#: A chunk closes once the whole seconds of its clips reach ``num_clips_per_chunk * 8``.
CHUNK_SECONDS_PER_CLIP = 8


@dataclass(frozen=True)
class ClipSpan:
    """One clip of a source video: [start, end) in seconds and its deterministic uuid."""

    video: str
    start: float
    end: float
    uuid: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ChunkPlan:
    """The clips of one chunk of a video: the unit of work of one worker task.

    ``num_chunks`` is the video's chunk count (``num_clip_chunks`` of the video record);
    ``num_total_clips`` the video's clip count before filtering. ``decode_start`` and
    ``decode_end`` bound the source seconds the worker has to decode for this chunk.
    """

    video: str
    chunk_index: int
    spans: tuple[ClipSpan, ...]
    num_chunks: int
    num_total_clips: int
    #: The planned end of the video (:func:`planned_duration`): a span ending there also gets
    #: the frames after it, up to the end of the stream. None: no span is extended.
    video_end: float | None = None

    @property
    def decode_start(self) -> float:
        return min(span.start for span in self.spans)

    @property
    def decode_end(self) -> float:
        return max(span.end for span in self.spans)

    @property
    def chunk_uuid(self) -> str:
        """uuid5 of ``f"{video}_{chunk_index}"``, the name of the chunk's Parquet file."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.video}_{self.chunk_index}"))


def clip_uuid(video: str, start: float, end: float, framerate: float) -> str:
    """The clip uuid: ``uuid5(NAMESPACE_URL, f"{video}_{int(start*fps)}_{int(end*fps)}")``."""
    name = f"{video}_{int(start * framerate)}_{int(end * framerate)}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def planned_duration(num_frames: int, framerate: float) -> float:
    """The duration the reference plans with: from the probe's frame count, not the stream
    duration; a video without a frame rate has no clips (its duration is -1)."""
    return num_frames / framerate if framerate > 0 else -1.0


def plan_spans(
    video: str,
    num_frames: int,
    framerate: float,
    clip_len_s: float = DEFAULT_CLIP_LEN_S,
    clip_stride_s: float = DEFAULT_CLIP_STRIDE_S,
    min_clip_length_s: float = DEFAULT_MIN_CLIP_LENGTH_S,
) -> list[ClipSpan]:
    """Fixed-stride spans of a video of ``num_frames`` frames at ``framerate`` fps.

    ``video`` is the path or URL exactly as it will appear in the records: it is part of
    every uuid, so the same file under another spelling gets other ids.
    """
    if clip_stride_s <= 0:
        raise ValueError(f"clip_stride_s must be > 0, got {clip_stride_s}")
    if clip_len_s <= 0:
        raise ValueError(f"clip_len_s must be > 0, got {clip_len_s}")
    duration = planned_duration(num_frames, framerate)
    spans = []
    # Accumulate ``start += stride`` from 0.0 rather than computing ``i * stride``: that is
    # what the reference's loop does, and for strides that are not exact binary fractions
    # (0.1, 2.2, 3.3 ...) the two give different floats after a few steps, hence different
    # span_start values, different ``int(start * fps)`` and so different uuids.
    start = 0.0
    while start < duration:
        end = min(start + clip_len_s, duration)
        if end - start >= min_clip_length_s:
            spans.append(ClipSpan(video, start, end, clip_uuid(video, start, end, framerate)))
        start += clip_stride_s
    return spans


def chunk_spans(spans: Sequence[ClipSpan], num_clips_per_chunk: int = DEFAULT_NUM_CLIPS_PER_CHUNK) -> list[list[ClipSpan]]:
    """Group spans into chunks: add ``int(end - start)`` per clip and close the chunk as soon
    as the sum reaches ``num_clips_per_chunk * 8``; what is left is the last chunk.

    No spans give no chunks (the reference makes no chunk task for a clip-less video).
    """
    if num_clips_per_chunk <= 0:
        raise ValueError(f"num_clips_per_chunk must be > 0, got {num_clips_per_chunk}")
    limit = num_clips_per_chunk * CHUNK_SECONDS_PER_CLIP
    chunks: list[list[ClipSpan]] = []
    current: list[ClipSpan] = []
    seconds = 0
    for span in spans:
        current.append(span)
        seconds += int(span.end - span.start)
        if seconds >= limit:
            chunks.append(current)
            current, seconds = [], 0
    if current:
        chunks.append(current)
    return chunks


def plan_chunks(spans: Sequence[ClipSpan], num_clips_per_chunk: int = DEFAULT_NUM_CLIPS_PER_CHUNK, *,
                video_end: float | None = None) -> list[ChunkPlan]:
    """The chunk plans of one video's spans (all spans must belong to the same video);
    ``video_end`` is its :func:`planned_duration`."""
    videos = {span.video for span in spans}
    if len(videos) > 1:
        raise ValueError(f"plan_chunks takes the spans of one video, got {len(videos)}: {sorted(videos)[:3]}")
    groups = chunk_spans(spans, num_clips_per_chunk)
    return [
        ChunkPlan(
            video=group[0].video,
            chunk_index=index,
            spans=tuple(group),
            num_chunks=len(groups),
            num_total_clips=len(spans),
            video_end=video_end,
        )
        for index, group in enumerate(groups)
    ]
