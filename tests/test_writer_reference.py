"""The spec's worked example, written end to end and compared byte for byte."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import reference as ref

from dask_clipwriter import ClipWriter, clip_records_from_map

SHARED_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
DOCS_SPEC = Path(__file__).resolve().parents[1] / "docs" / "spec"


@pytest.fixture
def written(tmp_path):
    out = tmp_path / "data" / "out"
    writer = ClipWriter(**{**ref.SETTINGS, "output_path": str(out)})
    clips = clip_records_from_map(lambda _: ref.clip_records(), [0])
    summary = writer.write(clips, ref.video_records())
    return out, summary


def _expected(name: str, out: Path) -> bytes:
    # The example was written to /data/out; only that prefix differs here.
    return ref.expected(name).replace(b"/data/out", str(out).encode())


@pytest.mark.skipif(not SHARED_EXAMPLES.is_dir(), reason="the project's shared/spec is not beside the repo")
def test_copied_examples_and_documents_match_the_spec():
    for path in SHARED_EXAMPLES.glob("*.json"):
        assert (ref.DATA / path.name).read_bytes() == path.read_bytes(), path.name
    for path in SHARED_EXAMPLES.parent.glob("*.md"):
        assert (DOCS_SPEC / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize(
    ("written_path", "example"),
    [
        ("metas/v0/f1237051-6157-5579-b000-4227c106af28.json", "metas_v0_passed_clip.json"),
        ("metas/v0/c912d893-bcc8-5ff7-8278-1833f8284bdc.json", "metas_v0_filtered_clip.json"),
        ("processed_clip_chunks/video_00000.mp4_0.json", "processed_clip_chunks_video_00000.mp4_0.json"),
        ("processed_videos/video_00000.mp4.json", "processed_videos_video_00000.mp4.json"),
    ],
)
def test_json_documents_are_byte_identical(written, written_path, example):
    out, _ = written
    assert (out / written_path).read_bytes() == _expected(example, out)


def test_every_file_of_the_chunk(written):
    out, _ = written
    records = ref.clip_records()
    passed = records[records["filtered_by"].isna()]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {"summary.json", ".clipwriter/manifest.json", ".clipwriter/index/b1/chunks-00000.parquet",
                ".clipwriter/index/b1/videos-00000.parquet", "processed_videos/video_00000.mp4.json",
                "processed_clip_chunks/video_00000.mp4_0.json",
                "ce1_embd_parquet/dfce6fb4-b1bd-5561-9ce4-1e5f7a945f78.parquet",
                "filtered_clips/c912d893-bcc8-5ff7-8278-1833f8284bdc.mp4",
                "metas/v0/c912d893-bcc8-5ff7-8278-1833f8284bdc.json"}
    for _, rec in passed.iterrows():
        u = rec["span_uuid"]
        expected |= {f"clips/{u}.mp4", f"metas/v0/{u}.json", f"ce1_embd/{u}.pickle"}
        expected |= {f"previews/{u}/{w['start_frame']}_{w['end_frame']}.webp" for w in rec["windows"]}
    assert files == expected
    for _, rec in records.iterrows():
        folder = "clips" if pd.isna(rec["filtered_by"]) else "filtered_clips"
        assert (out / folder / f"{rec['span_uuid']}.mp4").read_bytes() == rec["buffer"]
        for w in rec["windows"] if pd.isna(rec["filtered_by"]) else []:
            assert (out / "previews" / rec["span_uuid"] / f"{w['start_frame']}_{w['end_frame']}.webp").read_bytes() == w["webp"]


def test_pickles_are_float16_row_vectors(written):
    out, _ = written
    for _, rec in ref.clip_records().iterrows():
        if rec["embedding"] is None:
            assert not (out / "ce1_embd" / f"{rec['span_uuid']}.pickle").exists()
            continue
        data = (out / "ce1_embd" / f"{rec['span_uuid']}.pickle").read_bytes()
        assert data == pickle.dumps(rec["embedding"].astype(np.float16).reshape(1, -1))
        array = pickle.loads(data)
        assert array.dtype == np.float16 and array.shape == (1, 256)


def test_parquet_embeddings(written):
    out, _ = written
    path = out / "ce1_embd_parquet" / "dfce6fb4-b1bd-5561-9ce4-1e5f7a945f78.parquet"
    table = pq.read_table(path)
    assert str(table.schema.field("id").type) == "large_string"
    assert str(table.schema.field("embedding").type) == "list<element: double>"
    assert b"pandas" in table.schema.metadata
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "SNAPPY"
    records = ref.clip_records()
    passed = records[records["filtered_by"].isna()]
    assert table["id"].to_pylist() == passed["span_uuid"].tolist()
    for vec, emb in zip(table["embedding"].to_pylist(), passed["embedding"], strict=True):
        assert vec == emb.astype(np.float16).astype(np.float64).reshape(-1).tolist()
    # Same bytes as pandas writes them: schema, metadata and values.

    again = io.BytesIO()
    pd.DataFrame({"id": table["id"].to_pylist(), "embedding": table["embedding"].to_pylist()}).to_parquet(
        again, index=False)
    assert pq.read_table(io.BytesIO(again.getvalue())).schema == table.schema
    assert pq.read_table(io.BytesIO(again.getvalue())).schema.metadata == table.schema.metadata


def test_summary_adds_the_chunk_up(written):
    out, summary = written
    assert json.loads((out / "summary.json").read_text()) == summary
    chunk = json.loads((out / "processed_clip_chunks/video_00000.mp4_0.json").read_text())
    totals = summary["totals"]
    for key in ("num_clips_passed", "num_clips_transcoded", "num_clips_with_embeddings",
                "num_clips_with_caption", "num_clips_with_webp", "num_clips_filtered_by_motion"):
        assert totals[key] == chunk[key]
    assert totals["total_clip_duration"] == chunk["total_clip_duration"]
    run = summary["run"]
    assert run["files_written"] == {"ce1_embd": 4, "ce1_embd_parquet": 1, "clips": 4, "filtered_clips": 1,
                                    "metas": 5, "previews": 6, "processed_clip_chunks": 1, "processed_videos": 1}
    assert run["bytes_written"]["clips"] == totals["bytes"]["clips"] == 4 * 204800
    # The video record says 2 chunks; only chunk 0 was written, so the video is incomplete.
    [video] = summary["videos"]
    assert video["complete"] is False and video["missing_chunks"] == [1]
    assert "storage_options" not in summary["settings"]
    assert summary["settings"]["caption_models"] == ["qwen"]
