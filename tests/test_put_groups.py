"""Groups of files streamed into the sink's threads: a group's last file (a chunk's marker)
only after the rest of its group, groups overlapping, a failure stopping new work."""

from __future__ import annotations

import threading
import time

import pytest

from dask_clipwriter.put_groups import GroupWriteError, PutGroups
from dask_clipwriter.sink import LARGE_LOCAL_FILE, FileSink, SinkError

# Local files this large get the writer threads (small ones are written inline).
BIG = b"x" * (LARGE_LOCAL_FILE + 1)


class TimedSink(FileSink):
    """A real sink that notes when each put started and ended, and can hold some puts."""

    def __init__(self, *args, hold: set[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.times: dict[str, tuple[float, float | None]] = {}
        self.lock = threading.Lock()
        self.hold, self.release = hold, threading.Event()

    def put(self, path, data, *, existing=None):
        with self.lock:
            self.times[path] = (time.monotonic(), None)
        if path in self.hold:
            assert self.release.wait(30)
        try:
            return super().put(path, data, existing=existing)
        finally:
            with self.lock:
                self.times[path] = (self.times[path][0], time.monotonic())


def group_files(root: str, number: int, files: int = 4):
    return ([(f"{root}/clips/{number}-{i}.mp4", BIG) for i in range(files)],
            (f"{root}/processed_clip_chunks/{number}.json", b'{"whole": true}'))


def test_each_last_file_is_put_after_every_other_file_of_its_group(sink_root):
    root, options = sink_root
    sink = TimedSink(root, storage_options=options, max_workers=4)
    groups = PutGroups(sink)
    made = [group_files(root, number) for number in range(6)]
    numbers = [groups.put_group(f"g{number}", files, last) for number, (files, last) in enumerate(made)]
    groups.wait()
    assert numbers == list(range(6))
    for number, (files, last) in enumerate(made):
        last_started = sink.times[last[0]][0]
        assert all(sink.times[path][1] <= last_started for path, _ in files), number
        assert sink.read(last[0]) == last[1] and all(sink.exists(path) for path, _ in files)
        counts = groups.counts(number)
        assert dict(counts.files_written) == {"clips": 4, "processed_clip_chunks": 1}
        assert counts.bytes_written["clips"] == 4 * len(BIG) and groups.written(number)
    # Put again under the skip policy: every file is counted as skipped, none rewritten.
    again = PutGroups(sink)
    for number, (files, last) in enumerate(made):
        again.put_group(number, files, last, existing="skip")
    again.wait()
    assert all(dict(again.counts(n).files_skipped) == {"clips": 4, "processed_clip_chunks": 1} for n in range(6))


def test_groups_overlap_the_caller_does_not_wait_for_each(tmp_path):
    root = str(tmp_path / "out")
    first_files, first_last = group_files(root, 0, files=2)
    sink = TimedSink(root, max_workers=4, hold={path for path, _ in first_files})
    groups = PutGroups(sink)
    groups.put_group("first", first_files, first_last)  # returns while its files are held
    groups.put_group("second", *group_files(root, 1, files=2))
    deadline = time.monotonic() + 20
    while not groups.written(1):  # the second group is written while the first waits
        assert time.monotonic() < deadline, "the second group waited for the first"
        time.sleep(0.01)
    assert not groups.written(0) and not sink.exists(first_last[0])
    sink.release.set()
    groups.wait()
    assert sink.exists(first_last[0])


def test_a_failure_is_raised_with_its_label_and_stops_new_work(tmp_path):
    root = str(tmp_path / "out")
    (tmp_path / "out/clips/1-2.mp4").mkdir(parents=True)  # a folder where group 1's file belongs
    sink = TimedSink(root, max_workers=2)
    groups = PutGroups(sink, max_queued=4)
    made = [group_files(root, number) for number in range(12)]
    begun = []
    with pytest.raises(GroupWriteError) as caught:
        for number, (files, last) in enumerate(made):
            begun.append(groups.put_group(("video", number), files, last, existing="overwrite"))
        groups.wait()
    assert caught.value.label == ("video", 1)
    # What a partition's progress waits for: never a failed group, and only whole ones.
    assert not groups.written(1)
    assert all(sink.exists(made[number][1][0]) for number in begun if groups.written(number))
    assert isinstance(caught.value.error, SinkError) and "clips/1-2.mp4" in str(caught.value.error)
    groups.abandon()
    assert all(end is not None for _, end in sink.times.values()), "a put outlived the failure"
    assert not sink.exists(made[1][1][0])
    # Nothing new started after the failure: the last groups were never begun, and every
    # marker that is there has its whole group beside it.
    assert not any(path.startswith(f"{root}/clips/11-") for path in sink.times)
    for files, last in made:
        if sink.exists(last[0]):
            assert all(sink.exists(path) for path, _ in files)


def test_abandon_waits_for_running_puts_and_puts_no_last_file(tmp_path):
    root = str(tmp_path / "out")
    files, last = group_files(root, 0, files=2)
    sink = TimedSink(root, max_workers=4, hold={path for path, _ in files})
    groups = PutGroups(sink)
    groups.put_group("held", files, last)
    deadline = time.monotonic() + 20
    while not all(path in sink.times for path, _ in files):  # both puts running (and held)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    abandoning = threading.Thread(target=groups.abandon, daemon=True)
    abandoning.start()
    abandoning.join(0.3)
    assert abandoning.is_alive(), "abandon returned while puts were running"
    sink.release.set()
    abandoning.join(20)
    assert not abandoning.is_alive()
    assert all(sink.exists(path) for path, _ in files) and not sink.exists(last[0])


def test_small_local_files_are_written_inline(tmp_path):
    root = str(tmp_path / "out")
    sink = TimedSink(root)
    groups = PutGroups(sink)
    groups.put_group("small", [(f"{root}/metas/v0/a.json", b"{}")], (f"{root}/processed_clip_chunks/a.json", b"{}"))
    assert groups.written(0) and sink.exists(f"{root}/processed_clip_chunks/a.json")  # before any wait
    with pytest.raises(GroupWriteError) as caught:
        groups.put_group("bad", [(f"{root}/../x.json", b"{}")], (f"{root}/processed_clip_chunks/b.json", b"{}"))
    assert caught.value.label == "bad" and not sink.exists(f"{root}/processed_clip_chunks/b.json")


def test_a_forked_child_writes_with_threads_of_its_own(tmp_path):
    # The parent's writer threads exist before the fork (multiprocessing's default on Linux
    # up to Python 3.13); the child must not hand its files to the parent's dead pool.
    import multiprocessing

    root = str(tmp_path / "out")
    parent = PutGroups(FileSink(root))
    parent.put_group("parent", *group_files(root, 0))
    parent.wait()
    child = multiprocessing.get_context("fork").Process(target=_write_group_in_child, args=(root,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung writing through the writer threads")
    assert child.exitcode == 0 and FileSink(root).exists(f"{root}/processed_clip_chunks/1.json")


def _write_group_in_child(root: str) -> None:
    groups = PutGroups(FileSink(root))
    groups.put_group("child", *group_files(root, 1))
    groups.wait()


def test_an_inline_group_stops_before_its_marker_when_another_group_fails(tmp_path):
    root = str(tmp_path / "out")
    (tmp_path / "out/clips/0-1.mp4").mkdir(parents=True)  # group 0's second file fails
    inline_started, failed = threading.Event(), threading.Event()

    class Sink(TimedSink):
        def put(self, path, data, *, existing=None):
            if path.endswith("/clips/0-1.mp4"):  # fails once the inline group is under way
                assert inline_started.wait(20)
                try:
                    return super().put(path, data, existing=existing)
                finally:
                    failed.set()
            if path.endswith("/small-0.json"):  # the inline group's first file, then the failure
                inline_started.set()
                assert failed.wait(20)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:  # until the failure is on record
                    try:
                        groups.raise_failure()
                    except GroupWriteError:
                        break
                    time.sleep(0.005)
            return super().put(path, data, existing=existing)

    sink = Sink(root, max_workers=2)
    groups = PutGroups(sink)
    groups.put_group("threads", *group_files(root, 0, files=2), existing="overwrite")
    small = [(f"{root}/metas/v0/small-{i}.json", b"{}") for i in range(2)]
    with pytest.raises(GroupWriteError) as caught:
        groups.put_group("inline", small, (f"{root}/processed_clip_chunks/inline.json", b"{}"))
    assert caught.value.label == "threads"
    groups.abandon()
    assert sink.exists(f"{root}/metas/v0/small-0.json")  # it was under way
    assert not sink.exists(f"{root}/processed_clip_chunks/inline.json") and not groups.written(1)


def test_a_file_that_cannot_be_queued_leaves_nothing_waiting(tmp_path):
    # A pool that takes no more work (as at interpreter shutdown): the hand-over fails, and
    # abandon/wait must not wait for a write that was never queued.
    from dask_clipwriter import sink as sink_module

    root = str(tmp_path / "out")
    threads = 7  # a pool of its own, shut down here and forgotten after
    sink_module.shared_pool(threads).shutdown()
    try:
        groups = PutGroups(FileSink(root, max_workers=threads))
        with pytest.raises(RuntimeError, match="shutdown"):
            groups.put_group("first", *group_files(root, 0))
        finished = threading.Thread(target=groups.abandon, daemon=True)
        finished.start()
        finished.join(10)
        assert not finished.is_alive(), "abandon waited for a write that was never queued"
        groups.wait()
    finally:
        sink_module._pools.pop(threads, None)
