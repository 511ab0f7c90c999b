"""export_webdataset and `dask-clipwriter export`: shards that webdataset's own loader reads,
every clip checked, the same shards on a re-run, S3, a cluster, and bad input refused with
nothing written."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import webdataset as wds
from clip_helpers import chunk_frame, encode_h264, records_collection
from test_reader import reference_dataset

from dask_clipwriter import ClipWriter
from dask_clipwriter.dataset_rows import DatasetError
from dask_clipwriter.export import ExportError, export_webdataset
from dask_clipwriter.reader import read_clip_dataset
from dask_clipwriter.shards import ShardSizeError

VIDEOS = ["/in/cam/a.mp4", "/in/b.mp4"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("export") / "ds"
    frames = []
    for v, video in enumerate(VIDEOS):
        for chunk in range(2):
            frame = chunk_frame(video, chunk, 3, buffer=encode_h264(frames=10 + 5 * chunk + v),
                                width=None, height=None, framerate=None, num_frames=None, video_codec=None)
            frame["windows"] = [[{"start_frame": 0, "end_frame": 9, "caption": {"qwen": f"c{chunk}{i}"},
                                  "enhanced_caption": {"qwen_lm": f"long c{chunk}{i}"}},
                                 {"start_frame": 10, "end_frame": 19, "caption": {"qwen": "later"}}]
                                for i in range(3)]
            frame.loc[2, "filtered_by"] = "motion"
            frames.append(frame)
    ClipWriter(str(root), "/in", caption_models=["qwen"], enhanced_caption_models=["qwen_lm"]).write(
        records_collection(*frames))
    return root


def loaded(dest, index):
    """Every sample webdataset's own loader gives for the shards of ``index``."""
    urls = f"{dest}/{index['shards_pattern']}"
    return {s["__key__"]: s for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False)}


def test_webdataset_reads_every_passed_clip(dataset, tmp_path):
    dest = tmp_path / "shards"
    index = export_webdataset(str(dataset), str(dest), shard_size="25KB")
    rows = read_clip_dataset(str(dataset), with_bytes=True).compute()
    passed = rows[~rows["filtered"]]
    samples = loaded(dest, index)
    assert sorted(samples) == sorted(passed["span_uuid"])
    for row in passed.itertuples():
        sample = samples[row.span_uuid]
        assert sample["mp4"] == row.buffer == (dataset / "clips" / f"{row.span_uuid}.mp4").read_bytes()
        assert sample["json"] == (dataset / row.meta_location).read_bytes()
        assert sample["qwen.txt"].decode() == row.windows[0]["caption"]["qwen"]  # the first window's
        assert sample["qwen_lm.enhanced.txt"].decode() == row.windows[0]["enhanced_caption"]["qwen_lm"]
        array = np.load(io.BytesIO(sample["npy"]))
        assert array.dtype == np.float16 and array.shape == (1, 8)
        assert np.array_equal(array.reshape(-1).astype(np.float32), row.embedding)
    # The index: each clip where the loader found it, counts, sizes and hashes of the files.
    assert index["samples"] == len(passed) and len(index["shards"]) > 1 and index["skipped"] == {}
    table = pd.read_parquet(dest / "index.parquet")
    assert {u: s for u, s in zip(table["span_uuid"], table["shard"], strict=True)} == \
        {k: s["__url__"].rsplit("/", 1)[-1] for k, s in samples.items()}
    for shard in index["shards"]:
        data = (dest / shard["name"]).read_bytes()
        assert len(data) == shard["bytes"] <= 25_000 or shard["samples"] == 1
        assert shard["samples"] == (table["shard"] == shard["name"]).sum()
        import hashlib
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
    assert json.loads((dest / "index.json").read_text()) == index
    # webdataset's default decoders give the members as a trainer takes them.
    decoded = next(iter(wds.WebDataset(f"{dest}/{index['shards_pattern']}", shardshuffle=False).decode()))
    assert isinstance(decoded["json"], dict) and decoded["json"]["span_uuid"] == decoded["__key__"]
    assert isinstance(decoded["qwen.txt"], str) and decoded["npy"].shape == (1, 8)
    assert sorted(p.name for p in dest.iterdir()) == sorted(["index.json", "index.parquet",
                                                            *(s["name"] for s in index["shards"])])


def test_a_rerun_gives_the_same_shards_and_drops_stale_ones(dataset, tmp_path):
    dest = tmp_path / "shards"
    first = export_webdataset(str(dataset), str(dest), shard_size="25KB")
    before = {s["name"]: (dest / s["name"]).read_bytes() for s in first["shards"]}
    again = export_webdataset(str(dataset), str(dest), shard_size="25KB")
    assert again == first and {n: (dest / n).read_bytes() for n in before} == before
    fewer = export_webdataset(str(dataset), str(dest), shard_size="1GB")
    assert [s["name"] for s in fewer["shards"]] == ["shard-000000.tar"]
    assert sorted(p.name for p in dest.glob("*.tar")) == ["shard-000000.tar"]


def test_filtered_clips_on_request_and_a_selection(dataset, tmp_path):
    index = export_webdataset(str(dataset), str(tmp_path / "all"), include_filtered=True, caption_models=["qwen"])
    samples = loaded(tmp_path / "all", index)
    assert len(samples) == 12 and all("qwen_lm.enhanced.txt" not in s for s in samples.values())
    clips = read_clip_dataset(str(dataset))
    some = clips[clips["clip_chunk_index"] == 1]
    index = export_webdataset(str(dataset), str(tmp_path / "some"), clips=some)
    assert set(loaded(tmp_path / "some", index)) == set(some[~some["filtered"]]["span_uuid"].compute())


def test_on_a_cluster_from_and_to_s3(dataset, tmp_path, s3_bucket, cluster_client):
    name, options, fs = s3_bucket
    fs.put(str(dataset) + "/", f"{name}/ds", recursive=True)
    local = export_webdataset(str(dataset), str(tmp_path / "local"), shard_size="25KB")
    with cluster_client.as_current():
        remote = export_webdataset(f"s3://{name}/ds", f"s3://{name}/shards", storage_options=options,
                                   dest_storage_options=options, shard_size="25KB")
    assert [s["sha256"] for s in remote["shards"]] == [s["sha256"] for s in local["shards"]]
    assert fs.cat(f"{name}/shards/{remote['shards'][0]['name']}") == \
        (tmp_path / "local" / local["shards"][0]["name"]).read_bytes()
    assert json.loads(fs.cat(f"{name}/shards/index.json")) == remote


def test_bad_input_is_refused_before_any_shard(dataset, tmp_path):
    dest = tmp_path / "shards"
    with pytest.raises(ShardSizeError, match="shard size '1 gigabyte' is not a size"):
        export_webdataset(str(dataset), str(dest), shard_size="1 gigabyte")
    with pytest.raises(ExportError, match="is inside the dataset"):
        export_webdataset(str(dataset), str(dataset / "shards"))
    with pytest.raises(DatasetError, match="no such dataset"):
        export_webdataset(str(tmp_path / "none"), str(dest))
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(dataset), str(broken)], check=True)
    victim = sorted((broken / "clips").iterdir())[-1]
    victim.write_bytes(victim.read_bytes()[:-1])
    with pytest.raises(DatasetError, match=f"{victim}: has .* bytes, its meta says"):
        export_webdataset(str(broken), str(dest))
    victim.unlink()
    with pytest.raises(DatasetError, match=f"{victim}: missing clip file"):
        export_webdataset(str(broken), str(dest))
    assert not dest.exists()


def test_a_dataset_without_clip_files_is_refused(tmp_path):
    out = tmp_path / "ds"
    ClipWriter(str(out), "/in", upload_clips=False).write(records_collection(chunk_frame(VIDEOS[0])))
    with pytest.raises(ExportError, match="holds no clip files to export: it was written with upload_clips=False"):
        export_webdataset(str(out), str(tmp_path / "shards"))


@pytest.mark.cluster
def test_the_command(dataset, tmp_path):
    dest = tmp_path / "shards"
    cmd = [sys.executable, "-m", "dask_clipwriter.cli", "export", str(dataset), "--format", "webdataset",
           "--shard-size", "25KB", "--to", str(dest), "--n-workers", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    index = json.loads((dest / "index.json").read_text())
    assert f"wrote 8 samples in {len(index['shards'])} shards (" in proc.stderr
    assert len(loaded(dest, index)) == 8
    for args, message in ((["--shard-size", "big"], "shard size 'big' is not a size"),
                          (["--format", "tfrecord"], "invalid choice: 'tfrecord'"),
                          (["--caption-models", "qwen,gpt"], "has no captions of the caption model(s) 'gpt': "
                                                             "its caption models are qwen, qwen_lm (enhanced)")):
        proc = subprocess.run([*cmd[:4], str(dataset), "--to", str(tmp_path / "no"), *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("dask-clipwriter: error: ") and message in proc.stderr
    assert not (tmp_path / "no").exists()


def test_an_unknown_caption_model_is_named_with_the_datasets_models(dataset, tmp_path):
    dest = tmp_path / "shards"
    with pytest.raises(ExportError, match=r"ds has no captions of the caption model\(s\) 'gpt': its caption models "
                                          r"are qwen, qwen_lm \(enhanced\)$"):
        export_webdataset(str(dataset), str(dest), caption_models=["qwen", "gpt"])
    assert not dest.exists()
    # A dataset of the reference's (no manifest): the models its metas hold.
    ref_root = reference_dataset(tmp_path / "ref")
    with pytest.raises(ExportError, match=r"'gpt', 'x': its caption models are qwen, qwen_lm \(enhanced\) "
                                          r"\(found in the metas of its first chunks\)"):
        export_webdataset(str(ref_root), str(dest), caption_models=["gpt", "qwen_lm", "x"])
    assert not dest.exists()
    index = export_webdataset(str(ref_root), str(dest), caption_models=["qwen_lm"])
    samples = loaded(dest, index)
    assert samples and all("qwen_lm.enhanced.txt" in s and "qwen.txt" not in s for s in samples.values())


def test_nothing_to_export_is_refused_and_the_destination_left_alone(dataset, tmp_path):
    dest = tmp_path / "shards"
    export_webdataset(str(dataset), str(dest), shard_size="25KB")  # an earlier export, kept as it is
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    all_filtered = tmp_path / "all-filtered"
    frame = chunk_frame(VIDEOS[0], 0, 2, buffer=encode_h264(frames=10), filtered_by="motion")
    ClipWriter(str(all_filtered), "/in", caption_models=["qwen"]).write(records_collection(frame))
    with pytest.raises(ExportError, match=f"^nothing to export from {all_filtered}: all 2 of its clips are "
                                          r"filtered \(--include-filtered, or include_filtered=True, exports them\)$"):
        export_webdataset(str(all_filtered), str(dest))
    clips = read_clip_dataset(str(dataset))
    with pytest.raises(ExportError, match="^nothing to export: the selection of clips holds no clips$"):
        export_webdataset(str(dataset), str(dest), clips=clips[clips["clip_chunk_index"] > 5])
    no_bytes = tmp_path / "no-bytes"
    ClipWriter(str(no_bytes), "/in").write(records_collection(chunk_frame(VIDEOS[0], 0, 2, buffer=None)))
    with pytest.raises(ExportError, match=f"^nothing to export from {no_bytes}: none of the 2 clips to export has "
                                          "clip bytes"):
        export_webdataset(str(no_bytes), str(dest))
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    # The filtered ones, asked for, are exported.
    index = export_webdataset(str(all_filtered), str(tmp_path / "filtered"), include_filtered=True)
    assert index["samples"] == 2


@pytest.mark.cluster
def test_the_command_refuses_nothing_to_export(tmp_path):
    src = tmp_path / "all-filtered"
    frame = chunk_frame(VIDEOS[0], 0, 3, buffer=encode_h264(frames=10), filtered_by="aesthetic")
    ClipWriter(str(src), "/in").write(records_collection(frame))
    cmd = [sys.executable, "-m", "dask_clipwriter.cli", "export", str(src), "--to", str(tmp_path / "shards"),
           "--n-workers", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    *before, last = proc.stderr.splitlines()
    assert last == f"dask-clipwriter: error: nothing to export from {src}: all 3 of its clips are filtered " \
                   "(--include-filtered, or include_filtered=True, exports them)"
    assert all(line.startswith("dashboard: ") for line in before), proc.stderr  # the cluster's link, no traceback
    assert not (tmp_path / "shards").exists()


@pytest.mark.cluster
def test_the_command_gives_a_clip_larger_than_the_shard_size_a_shard_of_its_own(tmp_path):
    src, dest = tmp_path / "ds", tmp_path / "shards"
    small, big = encode_h264(frames=10), encode_h264(width=320, height=240, frames=150)
    frame = chunk_frame(VIDEOS[0], 0, 4, buffer=small, width=None, height=None, framerate=None, num_frames=None,
                        video_codec=None)
    frame.at[1, "buffer"] = big
    ClipWriter(str(src), "/in", caption_models=["qwen"]).write(records_collection(frame))
    assert len(big) > 12_000 > 3 * len(small)
    cmd = [sys.executable, "-m", "dask_clipwriter.cli", "export", str(src), "--format", "webdataset",
           "--shard-size", "12KB", "--to", str(dest), "--n-workers", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    index = json.loads((dest / "index.json").read_text())
    big_uuid = frame.at[1, "span_uuid"]
    [alone] = [s for s in index["shards"] if s["first"] == big_uuid]
    # Its own shard, over the limit (index.json shows it); every other shard within it.
    assert alone["samples"] == 1 and alone["last"] == big_uuid and alone["bytes"] > index["shard_size_limit"] == 12_000
    assert all(s["bytes"] <= 12_000 for s in index["shards"] if s is not alone)
    assert len(index["shards"]) >= 3  # the small clips before and after it are in shards of their own
    samples = loaded(dest, index)
    assert sorted(samples) == sorted(frame["span_uuid"]) and samples[big_uuid]["mp4"] == big
    warning = [line for line in proc.stderr.splitlines() if "larger than the shard size" in line]
    assert len(warning) == 1 and "WARNING dask_clipwriter.export: 1 shard(s) larger than the shard size of 12000 " \
        f"bytes, each a single clip larger than that: {alone['name']} (clip {big_uuid}, {alone['bytes']} bytes)" \
        in warning[0], proc.stderr
