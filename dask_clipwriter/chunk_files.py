"""What one chunk writes: a list of (path, bytes), its completion marker, and its statistics.

Pure: no filesystem, no Dask. Read top to bottom it follows the table of directories in
output-format.md §1. The caller writes ``files`` (in any order, concurrently) and then, last,
``marker``: the chunk JSON whose presence means the chunk is complete.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import layout
from .documents import ChunkStats, chunk_document, chunk_stats, clip_meta, dumps
from .embeddings import embedding_pickle, embeddings_parquet
from .records import ClipRecord, VideoRecord
from .settings import WriterSettings

log = logging.getLogger(__name__)


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

    # ce1_embd_parquet/: one file per chunk with at least one embedding.
    if parquet_ids and write_clip_files:
        chunk_id = layout.chunk_uuid(video, chunk_index)
        files.append((layout.embedding_parquet_path(out, parquet_dir, chunk_id),
                      embeddings_parquet(parquet_ids, parquet_vectors)))

    # processed_clip_chunks/: written last by the caller, also in dry_run.
    stats = chunk_stats(
        video, chunk_index, clips,
        caption_models=settings.caption_models,
        enhanced_caption_models=settings.enhanced_caption_models,
    )
    marker = (layout.chunk_json_path(out, rel, chunk_index), dumps(chunk_document(stats)))
    return ChunkFiles(video, chunk_index, files, marker, stats, missing)
