"""The pure shard logic: sizes, the plan, sample members and the tar bytes."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from dask_clipwriter.shards import (
    ShardSizeError,
    caption_members,
    index_document,
    parse_size,
    plan_shards,
    sample_members,
    sample_size,
    shard_record,
    shard_size,
    tar_bytes,
)

META = {"span_uuid": "u", "duration_span": [0.0, 1.0],
        "windows": [{"start_frame": 0, "end_frame": 9, "qwen_caption": "first", "qwen_lm_enhanced_caption": "rich"},
                    {"start_frame": 10, "end_frame": 19, "qwen_caption": "second", "other_caption": "x"}]}


@pytest.mark.parametrize(("text", "size"), [("1GB", 10**9), ("512MiB", 2**29), ("2.5 GB", 2_500_000_000),
                                            ("100000", 100_000), (20480, 20480), ("20kb", 20_000)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1XB", "GB", "-1GB", "1 G B", "", "100"])
def test_parse_size_names_a_bad_value(text):
    with pytest.raises(ShardSizeError, match=f"shard size {text!r}"):
        parse_size(text)


def test_captions_first_window_per_model_with_and_without_model_lists():
    assert caption_members(META, None) == [("qwen.txt", "first"), ("other.txt", "x"), ("qwen_lm.enhanced.txt", "rich")]
    assert caption_members(META, ["qwen_lm", "qwen"]) == [("qwen.txt", "first"), ("qwen_lm.enhanced.txt", "rich")]
    assert caption_members(META, ["absent"]) == []


def test_members_order_and_planned_size_is_the_tar_size():
    embedding = np.arange(8, dtype=np.float32)
    samples = []
    for i in range(5):
        mp4 = bytes([i]) * (700 + 300 * i)
        planned = sample_members(f"k{i}", b"{}", META, embedding if i % 2 else None, mp4=len(mp4))
        written = sample_members(f"k{i}", b"{}", META, embedding if i % 2 else None, mp4=mp4)
        assert [name for name, _ in planned] == [name for name, _ in written]
        samples.append((sample_size(planned), written))
    assert [n for n, _ in samples[1][1]] == ["k1.mp4", "k1.json", "k1.qwen.txt", "k1.other.txt",
                                              "k1.qwen_lm.enhanced.txt", "k1.npy"]
    data = tar_bytes([m for _, members in samples for m in members])
    assert len(data) == shard_size([size for size, _ in samples])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o444)}
        assert np.load(io.BytesIO(tar.extractfile("k1.npy").read())).tolist() == [list(range(8))]
        assert np.load(io.BytesIO(tar.extractfile("k1.npy").read())).dtype == np.float16


def test_a_long_member_name_is_counted():
    members = [("k." + "m" * 150 + ".txt", b"text")]
    assert len(tar_bytes(members)) == shard_size([sample_size(members)])


def test_tar_bytes_are_the_same_every_time():
    members = [("a.mp4", b"x" * 1000), ("a.json", b"{}")]
    assert tar_bytes(members) == tar_bytes(list(members))


def test_plan_keeps_order_and_limit_and_puts_a_large_sample_alone():
    sizes = [4096, 4096, 4096, 50_000, 1024, 1024]
    plan = plan_shards(sizes, 20480)
    assert [list(r) for r in plan] == [[0, 1, 2], [3], [4, 5]]
    assert all(shard_size([sizes[i] for i in r]) <= 20480 for r in plan if len(r) > 1)
    assert plan_shards([], 20480) == []


def test_index_document():
    record = shard_record("shard-000000.tar", ["a", "b"], b"tar bytes")
    doc = index_document([record, shard_record("shard-000001.tar", ["c"], b"x")], dataset="/d",
                         shard_limit=10, skipped={"no clip bytes": 1})
    assert doc["shards_pattern"] == "shard-{000000..000001}.tar" and doc["samples"] == 3
    assert doc["shards"][0]["first"] == "a" and doc["shards"][0]["last"] == "b" and len(doc["shards"][0]["sha256"]) == 64
    assert json.loads(json.dumps(doc)) == doc
