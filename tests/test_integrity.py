"""A dataset that never lies: run identity, trusted markers, confinement, leftovers."""

from __future__ import annotations

import logging
import os

import pytest
from clip_helpers import chunk_frame, read_json, records_collection, tree

from dask_clipwriter.manifest import SettingsChangedError
from dask_clipwriter.verify import verify

V = "/in/a.mp4"


def two_chunks():
    return records_collection(chunk_frame(V, 0), chunk_frame(V, 1))


def test_the_manifest_records_what_decides_the_files(writer_factory):
    writer_factory(caption_models=["qwen", "llava"]).write(two_chunks(), producer={"clip_len_s": 10.0})
    manifest = read_json(writer_factory.out / ".clipwriter/manifest.json")
    assert manifest["settings"] == {"input_path": "/in", "upload_clips": True, "dry_run": False,
                                    "embedding_algorithm": "cosmos-embed1-224p", "caption_models": ["qwen", "llava"],
                                    "enhanced_caption_models": []}
    assert manifest["producer"] == {"clip_len_s": 10.0} and manifest["written_by"].startswith("dask_clipwriter ")


def test_a_run_with_other_settings_is_refused_naming_them(writer_factory):
    writer_factory().write(two_chunks(), producer={"clip_len_s": 10.0, "encoder_crf": None})
    before = tree(writer_factory.out)
    with pytest.raises(SettingsChangedError, match=r"other settings: upload_clips True \(now False\), "
                                                   r"clip_len_s 10.0 \(now 4.0\); write to another output_path"):
        writer_factory(upload_clips=False).write(two_chunks(), producer={"clip_len_s": 4.0, "encoder_crf": None})
    assert tree(writer_factory.out) == before


def test_overwrite_with_other_settings_replaces_the_dataset(writer_factory, tmp_path):
    writer_factory().write(records_collection(chunk_frame(V, 0, n=3)), producer={"clip_len_s": 10.0})
    (writer_factory.out / "notes.txt").write_text("the user's own file")
    changed = records_collection(chunk_frame("/in/b.mp4", 0))
    writer_factory(existing="overwrite").write(changed, producer={"clip_len_s": 4.0})
    clean = writer_factory(output_path=str(tmp_path / "clean"))
    clean.write(records_collection(chunk_frame("/in/b.mp4", 0)), producer={"clip_len_s": 4.0})
    replaced = {k: v.replace(str(writer_factory.out).encode(), b"ROOT") for k, v in tree(writer_factory.out).items()}
    assert replaced == {k: v.replace(str(tmp_path / "clean").encode(), b"ROOT")
                        for k, v in tree(tmp_path / "clean").items()} | {"notes.txt": b"the user's own file"}


def test_a_real_run_after_a_dry_run_ends_as_a_clean_real_run(writer_factory, tmp_path):
    writer_factory(dry_run=True).write(two_chunks())
    summary = writer_factory(resume=True).write(two_chunks())  # resume: dry-run markers must not count
    assert summary["run"]["chunks_resumed"] == 0 and summary["totals"]["chunks"] == 2
    writer_factory(output_path=str(tmp_path / "clean")).write(two_chunks())
    strip = lambda root: {k: v.replace(str(root).encode(), b"ROOT") for k, v in tree(root).items()}  # noqa: E731
    assert strip(writer_factory.out) == strip(tmp_path / "clean")
    assert verify(str(writer_factory.out)) == []


def test_a_dry_run_into_a_real_dataset_is_refused(writer_factory):
    writer_factory().write(two_chunks())
    with pytest.raises(SettingsChangedError, match=r"dry_run False \(now True\)"):
        writer_factory(dry_run=True).write(two_chunks())


@pytest.mark.parametrize("damage", [b"", b'{"video": "/in/a.mp4"', b"[]", b'{"video": 1}'])
def test_a_damaged_marker_is_named_and_its_chunk_redone(writer_factory, caplog, damage):
    writer_factory().write(two_chunks())
    marker = writer_factory.out / "processed_clip_chunks/a.mp4_1.json"
    good = marker.read_bytes()
    marker.write_bytes(damage)
    (writer_factory.out / "metas/v0" / f"{chunk_frame(V, 1).span_uuid[0]}.json").unlink()
    with caplog.at_level(logging.WARNING, logger="dask_clipwriter"):
        summary = writer_factory(resume=True).write(two_chunks())
    assert any(f"chunk marker {marker} is damaged" in r.getMessage() for r in caplog.records)
    assert summary["run"]["chunks_resumed"] == 1 and marker.read_bytes() == good
    assert verify(str(writer_factory.out)) == []


def test_resuming_keeps_the_datasets_error_counts(writer_factory):
    clips = lambda: records_collection(chunk_frame(V, 0, errors={"transcode": "short"}), chunk_frame(V, 1))  # noqa: E731
    first = writer_factory().write(clips())
    again = writer_factory(resume=True).write(clips())
    assert again["run"]["chunks_resumed"] == 2 and again["run"]["errors"] == {}
    assert again["totals"]["errors"] == first["totals"]["errors"] == {"transcode": 2}
    assert again["totals"]["bytes"] == first["totals"]["bytes"]


def test_a_marker_of_another_chunk_does_not_count(writer_factory):
    writer_factory().write(two_chunks())
    out = writer_factory.out
    (out / "processed_clip_chunks/a.mp4_1.json").write_bytes((out / "processed_clip_chunks/a.mp4_0.json").read_bytes())
    summary = writer_factory(resume=True).write(two_chunks())
    assert summary["run"]["chunks_resumed"] == 1
    assert read_json(out / "processed_clip_chunks/a.mp4_1.json")["clip_chunk_index"] == 1


def test_a_directory_where_a_file_belongs_is_an_error_naming_it(writer_factory):
    meta = writer_factory.out / "metas/v0" / f"{chunk_frame(V, 0).span_uuid[0]}.json"
    meta.mkdir(parents=True)
    with pytest.raises(Exception, match=f"a directory is where the file {meta} belongs"):
        writer_factory().write(two_chunks())
    assert not (writer_factory.out / "processed_clip_chunks/a.mp4_0.json").exists()


def test_nothing_is_written_through_a_symlink_out_of_output_path(writer_factory, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    writer_factory.out.mkdir()
    os.symlink(outside, writer_factory.out / "clips")
    with pytest.raises(Exception, match="leads out of output_path .* through a symbolic link"):
        writer_factory().write(two_chunks())
    assert list(outside.iterdir()) == []


def test_temporary_files_of_stopped_writers_are_cleared_by_the_next_run(writer_factory):
    writer_factory().write(two_chunks())
    leftovers = writer_factory.out / ".clipwriter/tmp"
    leftovers.mkdir(exist_ok=True)
    (leftovers / "0123abcd").write_bytes(b"half a clip")
    assert [p.message for p in verify(str(writer_factory.out))] == ["temporary file left by a writer that was stopped"]
    writer_factory(resume=True).write(two_chunks())
    assert list(leftovers.iterdir()) == [] and verify(str(writer_factory.out)) == []
