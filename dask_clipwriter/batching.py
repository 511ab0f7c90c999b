"""Clip records already held in the cluster's memory (a persisted collection) are written
several partitions per task.

A Dask task costs the scheduler and the worker several milliseconds whatever it does
(measured here: about 10 ms of CPU per task in all, more than writing a chunk of four small
clips). Records computed by a function (``from_map``, ``read_parquet``) are written by the task
that makes each partition, so they add no task. A persisted collection adds one per
partition, plus the alias task Dask puts in front of each persisted partition. Here the
partitions' futures are grouped by the worker that holds them, a few megabytes' or at most
:data:`MAX_PARTITIONS_PER_TASK` partitions to a group (for the record check, which reads no
clip bytes, by count alone), and each group is one task on that worker: no partition moves,
and each keeps its own partition number, so a chunk split across partitions is still found.
Progress still counts partitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

#: At most this many partitions are written by one task.
MAX_PARTITIONS_PER_TASK = 32
#: And at most about this many bytes of records (a partition larger than this is alone).
BYTES_PER_TASK = 32 * 2**20


@dataclasses.dataclass(frozen=True)
class Batch:
    """Partitions written by one task: their numbers in the collection, and their futures."""

    numbers: tuple[int, ...]
    futures: tuple[Any, ...]


def held_partitions(clips) -> list | None:
    """The futures holding each partition of ``clips`` in order, when the collection is
    persisted records with nothing computed on top of them; None otherwise (nothing to
    gain: its partitions are made by tasks that write them too)."""
    try:
        from distributed import Future
        from distributed.client import futures_of
    except ImportError:
        return None
    if not futures_of(clips):
        return None
    from dask._task_spec import Alias

    collection = clips.optimize()
    graph = collection.__dask_graph__()
    held = []
    for key in collection.__dask_keys__():
        node = graph.get(key)
        if isinstance(node, Alias):
            node = graph.get(node.target)
        if not isinstance(node, Future):
            return None
        held.append(node)
    return held


def batches_of(clips, max_bytes: int | None = BYTES_PER_TASK) -> list[Batch] | None:
    """How to write ``clips`` several partitions per task, when that saves tasks: its held
    partitions grouped (:func:`plan_batches`); None to write a partition per task.
    ``max_bytes`` None: by count alone, for a task that reads the partitions where they are
    and makes nothing of their size (the record check)."""
    held = held_partitions(clips)
    if not held:
        return None
    # Asked of the client that holds them (with several clients in a process, the current
    # one may be another cluster's, whose scheduler does not know these keys).
    batches = plan_batches(held, held[0].client, max_bytes)
    return batches if len(batches) < len(held) else None


def plan_batches(futures: Sequence, client, max_bytes: int | None = BYTES_PER_TASK) -> list[Batch]:
    """Groups of partitions, each held by one worker: consecutive partitions of a worker,
    up to ``max_bytes`` (None: no limit) and :data:`MAX_PARTITIONS_PER_TASK` a group."""
    keys = [future.key for future in futures]
    where = client.who_has(futures)
    sizes = client.nbytes(keys, summary=False) if max_bytes is not None else {}
    by_worker: dict[str, list[int]] = {}
    for number, key in enumerate(keys):
        holders = sorted(where.get(key) or ["?"])
        by_worker.setdefault(holders[0], []).append(number)
    batches = []
    for numbers in by_worker.values():
        group: list[int] = []
        size = 0
        for number in numbers:
            nbytes = int(sizes.get(keys[number], 0))
            full = len(group) == MAX_PARTITIONS_PER_TASK or (max_bytes is not None and size + nbytes > max_bytes)
            if group and full:
                batches.append(Batch(tuple(group), tuple(futures[i] for i in group)))
                group, size = [], 0
            group.append(number)
            size += nbytes
        if group:
            batches.append(Batch(tuple(group), tuple(futures[i] for i in group)))
    return sorted(batches, key=lambda batch: batch.numbers[0])


def each_partition(function: Callable[..., pd.DataFrame], frames: Sequence[pd.DataFrame], numbers: Sequence[int],
                   *args: Any, **kwargs: Any) -> pd.DataFrame:
    """``function`` applied to each partition of a batch as the partition it was (its own
    ``partition_info``), the results concatenated: a per-partition function made a batch one
    (``functools.partial(each_partition, function)``)."""
    results = [function(frame, *args, partition_info={"number": number}, **kwargs)
               for frame, number in zip(frames, numbers, strict=True)]
    return pd.concat(results, ignore_index=True) if len(results) > 1 else results[0]


def batched_collection(batches: Sequence[Batch], function: Callable[..., pd.DataFrame], *args: Any,
                       meta: pd.DataFrame, name: str, **kwargs: Any):
    """One partition per batch: ``function(frames, numbers, *args, **kwargs)`` with the
    batch's partitions and their numbers in the collection (see :func:`each_partition`)."""
    import dask
    import dask.dataframe as dd

    # Keys of their own, named ``name``: two writes of the same records are two runs, never
    # one cached result (and the dashboard shows what the task is, not the function's name).
    token = dask.base.tokenize(object())
    parts = [dask.delayed(function)(list(batch.futures), list(batch.numbers), *args,
                                    dask_key_name=f"{name}-{token}-{number}", **kwargs)
             for number, batch in enumerate(batches)]
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=meta, verify_meta=False)
