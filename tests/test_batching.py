"""Persisted clip records are written several partitions per task, with the same result as
a partition per task: the same files, the same refusals, progress still by partition."""

from __future__ import annotations

import pytest
from clip_helpers import chunk_frame, records_collection, tree

from dask_clipwriter import ClipWriter, RecordError
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
