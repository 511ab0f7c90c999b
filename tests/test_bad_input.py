"""Bad input: a clear error naming the column, record or path, and nothing half-written."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pytest
from clip_helpers import chunk_frame, read_json, records_collection, tree

from dask_clipwriter import ClipWriter, RecordError, SettingsError

V = "/in/a.mp4"


def assert_nothing_of_chunk(out, rel="a.mp4", chunk=0):
    assert not (out / "processed_clip_chunks" / f"{rel}_{chunk}.json").exists()
    assert not (out / "clips").exists() and not (out / "metas").exists()


def test_missing_required_column_fails_before_any_work(writer_factory):
    with dask.config.set({"dataframe.convert-string": False}):
        clips = dd.from_pandas(chunk_frame(V).drop(columns=["span_end", "video"]), npartitions=1)
    with pytest.raises(RecordError, match="lack required column.*'video', 'span_end'"):
        writer_factory().write(clips)
    assert not writer_factory.out.exists()


def test_missing_required_column_in_a_partition(writer_factory):
    # The helper declares every column; a partition that lacks one is caught on the worker.
    with pytest.raises(RecordError, match="lack required column.*'span_end'"):
        writer_factory().write(records_collection(chunk_frame(V).drop(columns=["span_end"])))
    assert not writer_factory.out.exists()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("span_start", "zero", r"column 'span_start' must be a number, got str"),
        ("clip_chunk_index", 1.5, r"column 'clip_chunk_index' must be an integer"),
        ("span_uuid", "not-a-uuid", r"column 'span_uuid' is not a UUID: 'not-a-uuid'"),
        ("video", 7, r"column 'video' must be a string"),
        ("buffer", "text not bytes", r"column 'buffer' holds text, not bytes: Dask's 'dataframe.convert-string'"),
        ("buffer", 12, r"column 'buffer' must be bytes, got int"),
        ("embedding", "[0.1, 0.2]", r"column 'embedding' holds text"),
        ("windows", "[{...}]", r"column 'windows' holds text"),
        ("windows", [{"start_frame": 10, "end_frame": 5}], r"column 'windows\[0\]' has start_frame 10 and end_frame 5"),
        ("windows", [{"end_frame": 5}], r"column 'windows\[0\].start_frame' is missing"),
        ("windows", [{"start_frame": 0, "end_frame": 5, "webp": "x"}], r"column 'windows\[0\].webp' holds text"),
        ("windows", [{"start_frame": 0, "end_frame": 5, "caption": {"qwen": 3}}], r"windows\[0\].caption' must map strings"),
        ("errors", 5, r"column 'errors' must be a map or a list of keys"),
        ("span_end", -1.0, r"column 'span_end' \(-1.0\) is before span_start"),
    ],
)
def test_bad_value_names_record_and_column(writer_factory, column, value, message):
    bad = chunk_frame(V)
    first = bad[column][0] if column in bad else None
    bad[column] = pd.Series([first, value], dtype=object)
    with pytest.raises(RecordError, match=message) as info:
        writer_factory().write(records_collection(bad))
    if column != "span_uuid":
        assert bad.span_uuid[1] in str(info.value)  # names the record
    assert_nothing_of_chunk(writer_factory.out)


def test_one_bad_record_stops_its_whole_partition_before_writing(writer_factory):
    good_chunk = chunk_frame(V, chunk=0)
    bad_chunk = chunk_frame(V, chunk=1)
    bad_chunk.loc[1, "span_start"] = float("inf")
    with pytest.raises(RecordError, match="must be finite"):
        writer_factory().write(records_collection(pd.concat([good_chunk, bad_chunk], ignore_index=True)))
    assert not writer_factory.out.exists()


def test_string_typed_nested_column_is_refused_with_the_fix(writer_factory):
    pdf = chunk_frame(V)
    with dask.config.set({"dataframe.convert-string": True}):
        clips = dd.from_pandas(pdf.drop(columns=["embedding", "windows", "buffer"]).assign(buffer="x"), npartitions=1)
    with pytest.raises(RecordError, match=r"column 'buffer' has a text dtype.*clip_records_from_map"):
        writer_factory().write(clips)


def test_video_outside_input_path(writer_factory):
    with pytest.raises(RecordError, match=r"video '/input2/a.mp4' is not inside input_path '/input'"):
        writer_factory(input_path="/input").write(records_collection(chunk_frame("/input2/a.mp4")))
    assert not writer_factory.out.exists()


def test_rel_that_climbs_out_is_refused(writer_factory):
    with pytest.raises(RecordError, match=r"relative path '\.\./etc/a.mp4', which leaves"):
        writer_factory().write(records_collection(chunk_frame("/in/../etc/a.mp4")))
    assert not writer_factory.out.exists()


def test_duplicate_uuid_in_a_partition(writer_factory):
    dup = chunk_frame(V, n=2)
    dup.loc[1, "span_uuid"] = dup.span_uuid[0].upper()  # same uuid, other spelling
    with pytest.raises(RecordError, match=f"clip record {dup.span_uuid[0]}: duplicate clip uuid"):
        writer_factory().write(records_collection(dup))
    assert not writer_factory.out.exists()


def test_duplicate_uuid_across_partitions(writer_factory):
    a, b = chunk_frame(V, chunk=0), chunk_frame(V, chunk=1)
    b.loc[0, "span_uuid"] = a.span_uuid[0].upper()  # same uuid, other spelling
    with pytest.raises(RecordError, match=f"clip uuid {a.span_uuid[0]} appears in chunk 0 of '{V}' and in chunk 1"):
        writer_factory().write(records_collection(a, b))
    assert not writer_factory.out.exists()  # refused before anything was written


def test_chunk_split_across_partitions(writer_factory):
    whole = chunk_frame(V, n=4)
    with pytest.raises(RecordError, match=rf"chunk 0 of video '{V}' is split across partitions \[0, 1\]"):
        writer_factory().write(records_collection(whole.iloc[:2], whole.iloc[2:]))
    assert not writer_factory.out.exists()


def test_two_video_paths_that_would_share_output_files(writer_factory):
    with pytest.raises(RecordError, match="video '/in//a.mp4': .*empty path component.* would be those of '/in/a.mp4'"):
        writer_factory().write(records_collection(chunk_frame(V), chunk_frame("/in//a.mp4", chunk=1)))
    assert not writer_factory.out.exists()


def test_with_the_check_off_the_reduction_still_guards_and_a_rerun_leaves_nothing_stale(writer_factory):
    whole = chunk_frame(V, n=4)
    with pytest.raises(RecordError, match=rf"chunk 0 of video '{V}' is split across partitions \[0, 1\]"):
        writer_factory().write(records_collection(whole.iloc[:2], whole.iloc[2:]), check_records=False)
    out = writer_factory.out
    # Neither half is marked complete, and no summary claims success.
    assert not (out / "processed_clip_chunks/a.mp4_0.json").exists() and not (out / "summary.json").exists()
    # The input fixed, a re-run (skip policy, resume) rewrites the chunk whole: the Parquet
    # file that one half wrote holds all four rows now, not two stale ones.
    writer_factory(resume=True).write(records_collection(whole))
    [parquet] = (out / "ce1_embd_parquet").iterdir()
    assert pd.read_parquet(parquet)["id"].tolist() == list(whole["span_uuid"])
    assert read_json(out / "processed_clip_chunks/a.mp4_0.json")["num_clips_passed"] == 4


def test_bad_video_record(writer_factory):
    videos = pd.DataFrame([{"video": V, "width": "wide"}])
    with pytest.raises(RecordError, match=rf"video record '{V}': column 'width' must be an integer"):
        writer_factory().write(records_collection(chunk_frame(V)), videos)
    assert not writer_factory.out.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embedding_algorithm": "cosmos-embed1"}, "embedding_algorithm 'cosmos-embed1' is not supported; choose one of cosmos-embed1-224p"),
        ({"caption_models": "qwen"}, r"caption_models must be a list of model names"),
        ({"enhanced_caption_models": ["a", "a"]}, "lists a model twice"),
        ({"max_workers": 0}, r"max_workers must be within 1\.\.256, got 0"),
        ({"max_workers": 10**9}, r"max_workers must be within 1\.\.256, got 1000000000"),
        ({"existing": "replace"}, r"existing must be one of \('skip', 'overwrite'\)"),
        ({"dry_run": "no"}, "dry_run must be true or false"),
        ({"output_path": ""}, "output_path must be a non-empty"),
        ({"input_path": "/"}, "input_path must be a non-empty"),
        ({"storage_options": ["key"]}, "storage_options must be a mapping"),
    ],
)
def test_invalid_settings_fail_at_construction(kwargs, message):
    with pytest.raises(SettingsError, match=message):
        ClipWriter(**{"output_path": "/out", "input_path": "/in", **kwargs})


def test_nothing_written_outside_output_path(writer_factory, tmp_path):
    writer_factory().write(records_collection(chunk_frame(V)))
    outside = {p for p in tmp_path.rglob("*") if writer_factory.out not in p.parents and p != writer_factory.out}
    assert outside == set()
    # 2 clips: mp4, meta, preview, pickle each (8), one Parquet, one chunk and one video JSON.
    assert (writer_factory.out / "summary.json").exists() and len(tree(writer_factory.out)) == 11


def test_partitioning_check_passes_good_partitions(writer_factory):
    summary = writer_factory().write(records_collection(chunk_frame(V, chunk=0), chunk_frame(V, chunk=1)))
    assert summary["totals"]["chunks"] == 2
