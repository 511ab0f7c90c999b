"""What one chunk writes: a list of (path, bytes), its completion marker, and its statistics.

No filesystem, no Dask. :func:`chunk_files`, read top to bottom, follows the table of
directories in output-format.md §1. The caller writes ``files`` (in any order, concurrently)
and then, last, ``marker``: the chunk JSON whose presence means the chunk is complete. The
rules around it (how a partition's records form chunks, what is refused before anything is
written, probe values, the empty document of a video without clips) are here too.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import layout
from .clip_index import clip_index_bytes, metas_jsonl_bytes
from .documents import (
    EXTRACT_METADATA_ERROR,
    ChunkStats,
    chunk_document,
    chunk_stats,
    clip_meta,
    dumps,
)
from .embeddings import embedding_pickle, embeddings_parquet
from .probe import ProbeError, probe_clip_bytes
from .records import ClipRecord, RecordError, VideoRecord
from .settings import WriterSettings

log = logging.getLogger(__name__)

ChunkKey = tuple[str, int]  # (video, clip_chunk_index)


def group_chunks(records: list[ClipRecord]) -> dict[ChunkKey, list[ClipRecord]]:
    """Records grouped by (video, chunk), chunks in order of first appearance."""
    chunks: dict[ChunkKey, list[ClipRecord]] = defaultdict(list)
    for record in records:
        chunks[(record.video, record.clip_chunk_index)].append(record)
    return dict(chunks)


def chunk_rels(chunks: dict[ChunkKey, list[ClipRecord]], input_path: str) -> dict[ChunkKey, str]:
    """``<rel>`` of every chunk, after the checks that need a whole partition: a clip uuid
    appears once, every video lies inside ``input_path`` and gives names every filesystem
    accepts, and a chunk's embeddings have one length. Raises RecordError."""
    seen: dict[str, ChunkKey] = {}
    for key, clips in chunks.items():
        for clip in clips:
            if clip.span_uuid in seen:
                first = seen[clip.span_uuid]
                raise RecordError(
                    f"clip record {clip.span_uuid}: duplicate clip uuid (in chunk {first[1]} of "
                    f"{first[0]!r} and in chunk {key[1]} of {key[0]!r})"
                )
            seen[clip.span_uuid] = key
    rels = {}
    for (video, index), clips in chunks.items():
        try:
            rels[(video, index)] = layout.relative_video_path(video, input_path)
        except layout.LayoutError as exc:
            raise RecordError(f"chunk {index} of video {video!r}: {exc}") from None
        _check_embedding_lengths(video, index, clips)
    return rels


def _check_embedding_lengths(video: str, index: int, clips: list[ClipRecord]) -> None:
    """One chunk's embeddings share one length: a reader stacks them (its Parquet file)."""
    lengths = {}
    for clip in clips:
        if clip.embedding is not None:
            lengths.setdefault(clip.embedding.shape[1], clip.span_uuid)
    if len(lengths) > 1:
        (a, first), (b, second) = sorted(lengths.items())[:2]
        raise RecordError(f"chunk {index} of video {video!r}: embeddings of different lengths, {a} (clip {first}) "
                          f"and {b} (clip {second})")


def check_video_records(records: dict[str, VideoRecord], input_path: str) -> None:
    """Refuse video records whose videos would not give output names (outside input_path,
    ``..``, names no filesystem takes); a record with an error writes no files."""
    for video, record in records.items():
        if not record.error:
            try:
                layout.relative_video_path(video, input_path)
            except layout.LayoutError as exc:
                raise RecordError(f"video record {video!r}: {exc}") from None


def probe_clips(clips: list[ClipRecord]) -> dict[str, dict[str, Any] | None]:
    """Probe values per clip uuid: the record's own, else probed from the bytes in-process.

    A clip whose bytes cannot be probed gets ``extract_metadata`` in its errors (the
    reference crashes the chunk instead)."""
    probes: dict[str, dict[str, Any] | None] = {}
    for clip in clips:
        values = clip.probe_values() if clip.has_bytes else None
        if clip.has_bytes and values is None:
            try:
                values = probe_clip_bytes(clip.buffer).__dict__
            except ProbeError as exc:
                clip.errors.setdefault(EXTRACT_METADATA_ERROR, str(exc))
                log.error("clip %s from %s: cannot probe clip bytes: %s", clip.span_uuid, clip.source_video, exc)
        probes[clip.span_uuid] = values
    return probes


def empty_video_marker(output_path: str, video: str, rel: str) -> tuple[str, bytes]:
    """A video without clips still gets its chunk 0 document, with zero counts (§3)."""
    return layout.chunk_json_path(output_path, rel, 0), dumps(chunk_document(ChunkStats(video=video, clip_chunk_index=0)))


@dataclass
class ChunkFiles:
    video: str
    clip_chunk_index: int
    files: list[tuple[str, bytes]]
    marker: tuple[str, bytes]
    stats: ChunkStats
    #: Counted problems that are not errors of a clip: missing embeddings, previews, bytes.
    missing: Counter = field(default_factory=Counter)


def chunk_files(
    video: str,
    chunk_index: int,
    rel: str,
    clips: list[ClipRecord],
    *,
    settings: WriterSettings,
    source: VideoRecord | None,
    probes: dict[str, dict[str, Any] | None],
) -> ChunkFiles:
    """Every file of one chunk. ``probes`` maps clip uuid to its probe values (or None)."""
    out = settings.output_path
    write_clip_files = not settings.dry_run
    pickle_dir, parquet_dir = settings.embedding_dirs
    files: list[tuple[str, bytes]] = []
    missing: Counter = Counter()
    parquet_ids: list[str] = []
    parquet_vectors = []
    meta_docs: list[tuple[dict[str, Any], bool]] = []  # for the optional outputs

    for clip in clips:
        filtered = not clip.passed
        mp4_path = layout.clip_path(out, clip.span_uuid, filtered=filtered)

        # clips/ and filtered_clips/
        if clip.has_bytes:
            if settings.upload_clips and write_clip_files:
                files.append((mp4_path, clip.buffer))
        else:
            missing["clips_without_bytes"] += 1
            log.warning("clip %s from %s has no bytes; no mp4 written", clip.span_uuid, clip.source_video)

        if not filtered:
            # previews/
            for window in clip.windows:
                if window.webp:
                    if write_clip_files:
                        path = layout.preview_path(out, clip.span_uuid, window.start_frame, window.end_frame)
                        files.append((path, window.webp))
                elif settings.generate_previews:
                    missing["windows_without_webp"] += 1
                    log.error(
                        "clip %s window [%d, %d] from %s has no webp preview",
                        clip.span_uuid, window.start_frame, window.end_frame, clip.source_video,
                    )
            # ce1_embd/ (and the rows of ce1_embd_parquet/)
            if clip.embedding is not None:
                if write_clip_files:
                    files.append((layout.embedding_pickle_path(out, pickle_dir, clip.span_uuid),
                                  embedding_pickle(clip.embedding)))
                parquet_ids.append(clip.span_uuid)
                parquet_vectors.append(clip.embedding)
            elif settings.generate_embeddings:
                missing["clips_without_embedding"] += 1
                log.error("clip %s from %s has no %s embedding", clip.span_uuid, clip.source_video,
                          settings.embedding_algorithm)

        # metas/v0/
        if write_clip_files:
            doc = clip_meta(
                clip,
                clip_location=mp4_path,
                source=source,
                probe=probes.get(clip.span_uuid),
                caption_models=settings.caption_models,
                enhanced_caption_models=settings.enhanced_caption_models,
            )
            files.append((layout.meta_path(out, clip.span_uuid), dumps(doc)))
            meta_docs.append((doc, filtered))

    # ce1_embd_parquet/: one file per chunk with at least one embedding.
    if parquet_ids and write_clip_files:
        chunk_id = layout.chunk_uuid(video, chunk_index)
        files.append((layout.embedding_parquet_path(out, parquet_dir, chunk_id),
                      embeddings_parquet(parquet_ids, parquet_vectors)))

    # [ours, optional] metas_jsonl/v0/ and clip_index/: one file each per chunk.
    if meta_docs and settings.metas_jsonl and any(not f for _, f in meta_docs):
        files.append((layout.metas_jsonl_path(out, video, chunk_index), metas_jsonl_bytes(meta_docs)))
    if meta_docs and settings.clip_index:
        files.append((layout.clip_index_path(out, layout.chunk_uuid(video, chunk_index)),
                      clip_index_bytes(video, chunk_index, meta_docs)))

    # processed_clip_chunks/: written last by the caller, also in dry_run.
    stats = chunk_stats(
        video, chunk_index, clips,
        caption_models=settings.caption_models,
        enhanced_caption_models=settings.enhanced_caption_models,
    )
    marker = (layout.chunk_json_path(out, rel, chunk_index), dumps(chunk_document(stats)))
    return ChunkFiles(video, chunk_index, files, marker, stats, missing)
