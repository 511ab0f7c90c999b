"""The writer's optional outputs: metas_jsonl/v0/ and clip_index/, written by the writer when
asked, built afterwards by backfill with the same bytes, off by default."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import dask.dataframe as dd
import pyarrow.parquet as pq
import pytest
from clip_helpers import chunk_frame, records_collection, tree
from test_reader import reference_dataset

from dask_clipwriter.backfill import backfill, read_clip_index
from dask_clipwriter.clip_index import CLIP_INDEX_COLUMNS, clip_index_bytes, metas_jsonl_bytes
from dask_clipwriter.dataset_rows import DatasetError
from dask_clipwriter.reader import read_clip_dataset

V = "/in/cam/a.mp4"


def records():
    frames = [chunk_frame(V, 0, 2), chunk_frame(V, 1, 3, aesthetic_score=4.5)]
    frames[1].loc[1, "filtered_by"] = "motion"
    return records_collection(*frames)


def test_off_by_default_and_written_when_asked(writer_factory):
    plain = writer_factory(output_path=str(writer_factory.out / "plain"))
    plain.write(records())
    both = writer_factory(output_path=str(writer_factory.out / "both"), metas_jsonl=True, clip_index=True)
    summary = both.write(records())
    a, b = tree(writer_factory.out / "plain"), tree(writer_factory.out / "both")
    assert not [n for n in a if n.startswith(("metas_jsonl", "clip_index"))]
    extra = sorted(set(b) - set(a))
    video_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, V))
    assert [n for n in extra if n.startswith("metas_jsonl/")] == [f"metas_jsonl/v0/{video_uuid}_0.jsonl",
                                                                  f"metas_jsonl/v0/{video_uuid}_1.jsonl"]
    assert len([n for n in extra if n.startswith("clip_index/")]) == 2 and len(extra) == 4
    assert summary["run"]["files_written"]["clip_index"] == 2
    # Every other file is what the default writes (only the output root differs).
    root_a, root_b = str(writer_factory.out / "plain").encode(), str(writer_factory.out / "both").encode()
    assert {n: d.replace(root_b, root_a) for n, d in b.items() if n in a} == a

    out = writer_factory.out / "both"
    lines = (out / f"metas_jsonl/v0/{video_uuid}_1.jsonl").read_bytes().splitlines()
    metas = [json.loads((out / f"metas/v0/{u}.json").read_bytes()) for u in json.loads(
        (out / "processed_clip_chunks/cam/a.mp4_1.json").read_bytes())["clips"]]
    assert [json.loads(line) for line in lines] == metas  # passed clips only, in record order


def test_clip_index_rows_are_the_metas_scalars(writer_factory):
    writer_factory(clip_index=True).write(records())
    out = writer_factory.out
    index = read_clip_index(str(out)).compute().sort_values(["clip_chunk_index", "span_uuid"])
    rows = read_clip_dataset(str(out)).compute().sort_values(["clip_chunk_index", "span_uuid"])
    assert list(index.columns) == list(CLIP_INDEX_COLUMNS) and len(index) == 5
    for name in ("span_uuid", "span_start", "motion_score_global_mean", "filtered", "width", "num_bytes"):
        assert index[name].tolist() == rows[name].tolist(), name
    assert index["aesthetic_score"].isna().tolist() == rows["aesthetic_score"].isna().tolist()
    assert index["num_windows"].tolist() == [len(w) for w in rows["windows"]]
    # Queryable without opening a JSON file: a filter pushed into the Parquet reader.
    low = dd.read_parquet(str(out / "clip_index"), filters=[("filtered", "==", True)]).compute()
    assert low["span_uuid"].tolist() == rows[rows["filtered"]]["span_uuid"].tolist()


def test_backfill_writes_the_bytes_the_writer_would_have(writer_factory):
    out = writer_factory.out
    writer_factory(metas_jsonl=True, clip_index=True).write(records())
    at_write = {n: d for n, d in tree(out).items() if n.startswith(("clip_index", "metas_jsonl"))}
    for folder in ("clip_index", "metas_jsonl"):
        shutil.rmtree(out / folder)
    assert backfill(str(out), clip_index=True, metas_jsonl=True) == 4
    assert backfill(str(out), clip_index=True, metas_jsonl=True) == 0  # already there: left alone
    made = {n: d for n, d in tree(out).items() if n.startswith(("clip_index", "metas_jsonl"))}
    assert len(made) == 4 and made == at_write


def test_backfill_on_the_reference_dataset(tmp_path):
    root = reference_dataset(tmp_path / "ref")
    backfill(str(root), clip_index=True)
    [part] = (root / "clip_index").iterdir()
    assert part.name == "dfce6fb4-b1bd-5561-9ce4-1e5f7a945f78.parquet"  # the chunk's uuid, as its embeddings
    table = pq.read_table(part)
    assert table["filtered"].to_pylist() == [False] * 4 + [True]
    assert table["clip_location"].to_pylist()[0] == "/data/out/clips/f1237051-6157-5579-b000-4227c106af28.mp4"


def test_pure_parts():
    doc = {"span_uuid": "u", "duration_span": [1.0, 2.5], "windows": [{}], "valid": True}
    data = clip_index_bytes("/v.mp4", 3, [(doc, False)])
    [row] = pq.read_table(__import__("io").BytesIO(data)).to_pylist()
    assert (row["span_start"], row["span_end"], row["num_windows"], row["width"]) == (1.0, 2.5, 1, None)
    assert clip_index_bytes("/v.mp4", 3, [(doc, False)]) == data
    assert metas_jsonl_bytes([(doc, False), ({"x": 1}, True)]) == json.dumps(doc).encode() + b"\n"


def test_the_command_and_its_errors(writer_factory, tmp_path):
    writer_factory().write(records())
    base = [sys.executable, "-m", "dask_clipwriter.cli", "backfill"]
    proc = subprocess.run([*base, str(writer_factory.out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nothing to build: pass --clip-index, --metas-jsonl or both" in proc.stderr
    proc = subprocess.run([*base, str(tmp_path), "--clip-index"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"{tmp_path} is not a clip dataset" in proc.stderr
    with pytest.raises(DatasetError, match="has no clip_index/"):
        read_clip_index(str(writer_factory.out))


@pytest.mark.cluster
def test_the_command_builds_them_on_a_cluster(writer_factory):
    writer_factory().write(records())
    proc = subprocess.run([sys.executable, "-m", "dask_clipwriter.cli", "backfill", str(writer_factory.out),
                           "--clip-index", "--metas-jsonl", "--n-workers", "1"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{writer_factory.out}: 4 files written" in proc.stderr
    assert len(list((writer_factory.out / "clip_index").iterdir())) == 2
