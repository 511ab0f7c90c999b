"""verify: a written dataset checked against its own metadata, each problem with its path."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from clip_helpers import chunk_frame, records_collection

from dask_clipwriter import verify

V = "/in/a.mp4"


@pytest.fixture
def dataset(writer_factory):
    frames = [chunk_frame(V, 0, n=3), chunk_frame(V, 1, n=2), chunk_frame("/in/b.mp4", 0, n=1, filtered_by="motion")]
    writer_factory().write(records_collection(*frames))
    return writer_factory.out, frames


def problems_of(out) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in verify(str(out))]


def test_a_clean_dataset_has_no_problems(dataset):
    out, _ = dataset
    assert problems_of(out) == []


def test_each_kind_of_damage_is_named_with_its_path(dataset):
    out, frames = dataset
    a0, a1 = frames[0].span_uuid, frames[1].span_uuid
    (out / f"clips/{a0[0]}.mp4").write_bytes(b"short")                           # size differs from num_bytes
    (out / f"clips/{a0[1]}.mp4").unlink()                                        # uploaded clip missing
    meta = json.loads((out / f"metas/v0/{a0[2]}.json").read_bytes())
    (out / f"metas/v0/{a0[2]}.json").write_text(json.dumps({"valid": True, **meta}, indent=4))  # key order
    (out / "metas/v0/00000000-0000-0000-0000-000000000000.json").write_text(
        json.dumps({**meta, "span_uuid": "00000000-0000-0000-0000-000000000000"}, indent=4))     # an orphan meta
    (out / f"ce1_embd/{a1[0]}.pickle").write_bytes(pickle.dumps(np.zeros((1, 8), np.float16)))  # != Parquet row
    (out / f"previews/{a1[1]}/1_2.webp").write_bytes(b"RIFF")                    # not a window
    (out / "processed_clip_chunks/b.mp4_0.json").write_bytes(b"{")              # damaged chunk JSON
    (out / ".clipwriter/tmp").mkdir(exist_ok=True)
    (out / ".clipwriter/tmp/leftover").write_bytes(b"x")                        # debris
    found = problems_of(out)
    expected = [
        (f"clips/{a0[0]}.mp4", "has 5 bytes, its meta says"),
        (f"clips/{a0[1]}.mp4", "missing (its meta says"),
        (f"metas/v0/{a0[2]}.json", "keys differ from the spec's"),
        ("metas/v0/00000000-0000-0000-0000-000000000000.json", "belongs to no chunk JSON"),
        (f"ce1_embd/{a1[0]}.pickle", "differs from its row in ce1_embd_parquet/"),
        (f"previews/{a1[1]}/1_2.webp", "is not a window of a passed clip's meta"),
        ("processed_clip_chunks/b.mp4_0.json", "damaged chunk JSON"),
        (".clipwriter/tmp/leftover", "temporary file left by a writer"),
    ]
    for path, start in expected:
        assert any(p == path and m.startswith(start) for p, m in found), (path, found)
    # b.mp4's only chunk JSON is there but damaged (named above), so its video is not named
    # as missing a chunk; summary.json counts a chunk that the readable chunk JSONs lack.
    assert not [m for p, m in found if p == "processed_videos/b.mp4.json"]
    assert ("summary.json", "totals say chunks 3, the chunk JSONs 2") in found


def test_a_missing_chunk_of_a_video(dataset):
    out, _ = dataset
    (out / "processed_clip_chunks/a.mp4_1.json").unlink()
    found = problems_of(out)
    assert ("processed_videos/a.mp4.json", "chunks [1] of its 2 are missing") in found


def test_the_command_prints_problems_and_exits_non_zero(dataset):
    out, frames = dataset
    cmd = [sys.executable, "-m", "dask_clipwriter.cli", "verify", str(out)]
    clean = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and clean.stdout == "" and "no problems" in clean.stderr
    (out / f"clips/{frames[0].span_uuid[0]}.mp4").write_bytes(b"x")
    broken = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert broken.stdout.splitlines() == [f"clips/{frames[0].span_uuid[0]}.mp4: has 1 bytes, its meta says "
                                          f"{len(frames[0].buffer[0])}"]


@pytest.mark.s3
def test_a_dataset_on_s3(s3_bucket, tmp_path):
    from dask_clipwriter import ClipWriter

    name, options, fs = s3_bucket
    out = f"s3://{name}/dataset"
    ClipWriter(out, "/in", storage_options=options).write(records_collection(chunk_frame(V, 0)))
    assert verify(out, storage_options=options) == []
    fs.pipe_file(f"{name}/dataset/clips/{chunk_frame(V, 0).span_uuid[0]}.mp4", b"x")
    assert [p.path for p in verify(out, storage_options=options)] == [f"clips/{chunk_frame(V, 0).span_uuid[0]}.mp4"]
