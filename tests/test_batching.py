"""Persisted clip records are written several partitions per task, with the same result as
a partition per task: the same files, the same refusals, progress still by partition."""

from __future__ import annotations

from collections import Counter

import pytest
from clip_helpers import chunk_frame, records_collection, tree

from dask_clipwriter import ChunkWriteError, ClipWriter, RecordError
from dask_clipwriter.batching import MAX_PARTITIONS_PER_TASK, batches_of, held_partitions, plan_batches

pytestmark = pytest.mark.cluster


def frames(n: int, per_video: int = 3):
    return [chunk_frame(f"/in/v{i // per_video}.mp4", chunk=i % per_video, n=2) for i in range(n)]


def persisted(client, parts, workers=None):
    from distributed import wait

    records = client.persist(records_collection(*parts), workers=workers)
    wait(records)
    return records


def test_persisted_partitions_are_grouped_by_worker(cluster_client):
    with cluster_client.as_current():
        records = persisted(cluster_client, frames(70))
        held = held_partitions(records)
        assert held is not None and len(held) == 70
        batches = plan_batches(held, cluster_client)
        where = cluster_client.who_has(held)
        assert sorted(n for b in batches for n in b.numbers) == list(range(70))
        for batch in batches:
            assert len(batch.numbers) <= MAX_PARTITIONS_PER_TASK
            assert len({tuple(where[f.key]) for f in batch.futures}) == 1  # one worker's partitions
        assert len(batches) < 70
        # A byte limit smaller than any partition: one partition a task; none (the record
        # check, which reads the partitions where they are): by count alone.
        assert len(plan_batches(held, cluster_client, max_bytes=1)) == 70
        by_count = plan_batches(held, cluster_client, max_bytes=None)
        assert len(by_count) == sum(-(-n // MAX_PARTITIONS_PER_TASK) for n in
                                    Counter(tuple(where[f.key]) for f in held).values())
        # Anything computed on top of the persisted records is written a partition per task.
        assert held_partitions(records.assign(extra=1)) is None
        assert held_partitions(records_collection(*frames(2))) is None


def test_same_tree_as_a_partition_per_task(tmp_path, cluster_client, capsys):
    parts = frames(40)
    with cluster_client.as_current():
        records = persisted(cluster_client, parts)
        assert batches_of(records) is not None
        batched = ClipWriter(output_path=str(tmp_path / "batch"), input_path="/in", caption_models=["qwen"]).write(
            records, progress=True)
        plain = ClipWriter(output_path=str(tmp_path / "plain"), input_path="/in", caption_models=["qwen"]).write(
            records_collection(*parts))
    assert tree(tmp_path / "batch") == {k: v.replace(b"/plain/", b"/batch/") for k, v in
                                          tree(tmp_path / "plain").items()}
    assert batched["totals"] == plain["totals"] and batched["run"]["chunks"] == 40
    assert capsys.readouterr().err.splitlines()[-1].startswith("partitions 40/40 | clips 80")


def test_a_chunk_split_across_partitions_of_one_batch_is_refused(tmp_path, cluster_client):
    split = chunk_frame("/in/a.mp4", chunk=0, n=4)
    parts = [split.iloc[:2], split.iloc[2:], *frames(6)]
    with cluster_client.as_current():
        # All on one worker: where the scheduler puts each partition is otherwise its choice
        # (under load the two halves landed on different workers, in different batches).
        one_worker = sorted(cluster_client.scheduler_info()["workers"])[:1]
        records = persisted(cluster_client, parts, workers=one_worker)
        batches = batches_of(records)
        assert any({0, 1} <= set(batch.numbers) for batch in batches)  # both halves in one task
        with pytest.raises(RecordError, match=r"chunk 0 of video '/in/a.mp4' is split across partitions \[0, 1\]"):
            ClipWriter(output_path=str(tmp_path / "out"), input_path="/in").write(records)
    assert not (tmp_path / "out").exists()


def test_a_bad_record_in_a_batch_writes_nothing(tmp_path, cluster_client):
    parts = frames(8)
    parts[5] = chunk_frame("/in/bad.mp4", n=2, span_start=-1.0)
    with cluster_client.as_current():
        records = persisted(cluster_client, parts)
        with pytest.raises(RecordError, match="span_start"):
            ClipWriter(output_path=str(tmp_path / "out"), input_path="/in").write(records)
    assert not (tmp_path / "out").exists()


def test_a_batch_on_s3_streams_its_chunks_and_writes_the_same_objects(s3_bucket, cluster_client, capsys):
    # On an object store every chunk's files go to the writer threads: a task's chunks are
    # in flight together (put_groups.py), and the result is the same as chunk by chunk.
    name, options, fs = s3_bucket
    parts = frames(24)
    with cluster_client.as_current():
        records = persisted(cluster_client, parts)
        assert batches_of(records) is not None
        batched = ClipWriter(output_path=f"s3://{name}/batch", input_path="/in", storage_options=options).write(
            records, progress=True)
        plain = ClipWriter(output_path=f"s3://{name}/plain", input_path="/in", storage_options=options).write(
            records_collection(*parts))

    def objects(prefix):
        return {key.split(f"/{prefix}/", 1)[1]: fs.cat_file(key).replace(f"/{prefix}/".encode(), b"/-/")
                for key in fs.find(f"{name}/{prefix}") if "/.clipwriter/" not in key and "summary.json" not in key}

    assert objects("batch") == objects("plain") and len(objects("batch")) > 24 * 4
    assert batched["totals"] == plain["totals"] and batched["run"]["chunks"] == 24
    assert capsys.readouterr().err.splitlines()[-1].startswith("partitions 24/24 | clips 48")


def test_a_store_failure_in_a_batch_names_the_chunk_and_leaves_only_whole_chunks(tmp_path, cluster_client):
    # Clips large enough for the writer threads on a local disk; a folder where one clip of
    # the batch's fourth chunk belongs (a permanent failure).
    big = b"\0\0\0\x18ftypisom" + b"x" * (300 * 2**10)
    parts = [chunk_frame(f"/in/v{i}.mp4", n=2, buffer=big) for i in range(8)]
    out = tmp_path / "out"
    blocked = parts[3].span_uuid[1]
    (out / "clips" / f"{blocked}.mp4").mkdir(parents=True)
    with cluster_client.as_current():
        one_worker = sorted(cluster_client.scheduler_info()["workers"])[:1]
        records = persisted(cluster_client, parts, workers=one_worker)
        assert len(batches_of(records)) == 1
        writer = ClipWriter(output_path=str(out), input_path="/in")
        with pytest.raises(ChunkWriteError, match=rf"chunk 0 of video '/in/v3.mp4': .*clips/{blocked}.mp4"):
            writer.write(records)
        markers = {p.name for p in (out / "processed_clip_chunks").glob("*.json")}
        assert "v3.mp4_0.json" not in markers
        for part in parts:  # a chunk's marker is there only with every clip of the chunk
            if f"{part.video[0].rsplit('/', 1)[1]}_0.json" in markers:
                assert all((out / "clips" / f"{uuid}.mp4").is_file() for uuid in part.span_uuid)
        (out / "clips" / f"{blocked}.mp4").rmdir()
        summary = ClipWriter(output_path=str(out), input_path="/in", resume=True).write(records)
    assert summary["run"]["chunks"] == 8 and (out / "processed_clip_chunks/v3.mp4_0.json").is_file()
    assert (out / "clips" / f"{blocked}.mp4").read_bytes() == big


@pytest.mark.filterwarnings("ignore:Sending large graph")  # the test's records travel in the graph
def test_the_record_check_batches_large_partitions_the_write_does_not(cluster_client):
    from distributed import get_task_stream

    from dask_clipwriter.batching import BYTES_PER_TASK
    from dask_clipwriter.record_check import check_records

    # Partitions over half the write's byte limit: a partition per write task, while the
    # check (which reads no clip bytes and moves nothing) takes each worker's in one task.
    parts = [chunk_frame(f"/in/v{i}.mp4", n=2) for i in range(4)]
    for number, part in enumerate(parts):  # bytes of their own (one object twice is counted once)
        part["buffer"] = [bytes([number, clip]) * (BYTES_PER_TASK // 8 + 1) for clip in range(2)]
    with cluster_client.as_current():
        records = persisted(cluster_client, parts)
        assert batches_of(records) is None
        with get_task_stream(cluster_client) as stream:
            assert check_records(records, "/in") == 4
    check_tasks = [task for task in stream.data if any(name in str(task["key"]) for name in
                                                       ("clipwriter-check", "_checked_keys"))]
    assert 1 <= len(check_tasks) <= len(cluster_client.scheduler_info()["workers"])
