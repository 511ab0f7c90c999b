"""The pure reading rules: chunk names and order, filter reasons, captions per model, rows."""

from __future__ import annotations

import numpy as np
import pytest

from dask_clipwriter.dataset_rows import (
    ChunkContent,
    ChunkName,
    DatasetError,
    check_columns,
    chunk_name,
    chunk_rows,
    filtered_reasons,
    read_dtypes,
    rows_frame,
    sorted_chunks,
    split_caption_key,
    window_record,
)
from dask_clipwriter.documents import ChunkStats


def stats(passed=2, filtered=0, motion=0, aesthetic=0):
    return ChunkStats(video="/in/a_1.mp4", clip_chunk_index=3, clips=[f"p{i}" for i in range(passed)],
                      filtered_clips=[f"f{i}" for i in range(filtered)], num_clips_filtered_by_motion=motion,
                      num_clips_filtered_by_aesthetic=aesthetic)


def test_chunk_names_and_numeric_order():
    assert chunk_name("processed_clip_chunks/sub/a_1.mp4_12.json") == ChunkName("sub/a_1.mp4", 12)
    for other in ("processed_clip_chunks/a.mp4.json", "processed_clip_chunks/a.mp4_x.json", "metas/v0/a_1.json",
                  "processed_clip_chunks/_1.json", "processed_clip_chunks/a.mp4_1.json.tmp"):
        assert chunk_name(other) is None, other
    names = sorted_chunks(["processed_clip_chunks/b.mp4_0.json", "processed_clip_chunks/a.mp4_10.json",
                           "processed_clip_chunks/a.mp4_9.json", "processed_clip_chunks/notes.txt"])
    assert [n.path for n in names] == ["processed_clip_chunks/a.mp4_9.json", "processed_clip_chunks/a.mp4_10.json",
                                       "processed_clip_chunks/b.mp4_0.json"]


@pytest.mark.parametrize(("kw", "scores", "expected"), [
    ({"filtered": 2, "motion": 2}, None, ["motion", "motion"]),
    ({"filtered": 2, "aesthetic": 2}, None, ["aesthetic", "aesthetic"]),
    ({"filtered": 3, "motion": 1}, None, ["motion", "other", "other"]),
    # Both filters: the scored clip is the aesthetic filter's (motion filters first, unscored).
    ({"filtered": 3, "motion": 2, "aesthetic": 1}, [None, 4.0, None], ["motion", "aesthetic", "motion"]),
])
def test_filter_reasons_keep_the_counts(kw, scores, expected):
    reasons = filtered_reasons(stats(**kw), scores)
    assert reasons == expected
    assert reasons.count("motion") == kw.get("motion", 0) and reasons.count("aesthetic") == kw.get("aesthetic", 0)


def test_caption_keys_by_model_lists_then_by_suffix():
    assert split_caption_key("qwen_caption", (), ()) == ("qwen", False)
    assert split_caption_key("qwen_lm_enhanced_caption", (), ()) == ("qwen_lm", True)
    # A caption model whose name ends in "_enhanced": the dataset's model list decides.
    assert split_caption_key("x_enhanced_caption", ("x_enhanced",), ()) == ("x_enhanced", False)
    assert split_caption_key("start_frame", (), ()) is None and split_caption_key("_caption", (), ()) is None
    window = window_record({"start_frame": 0, "end_frame": 9, "qwen_caption": "a", "qwen_lm_enhanced_caption": "b"})
    assert window == {"start_frame": 0, "end_frame": 9, "caption": {"qwen": "a"},
                      "enhanced_caption": {"qwen_lm": "b"}, "webp": None}


def test_unknown_columns_are_named():
    assert check_columns(None, False)[:3] == ["video", "clip_chunk_index", "span_uuid"]
    assert check_columns("span_uuid", False) == ["span_uuid"]
    with pytest.raises(DatasetError, match="unknown column 'score'"):
        check_columns(["span_uuid", "score"], True)


def test_rows_passed_then_filtered_with_what_was_read():
    s = stats(passed=1, filtered=1, motion=1)
    meta = {"span_uuid": "p0", "duration_span": [0.0, 2.0], "width": 64, "errors": ["x"],
            "windows": [{"start_frame": 0, "end_frame": 9, "q_caption": "t"}], "valid": True}
    content = ChunkContent(ChunkName("a_1.mp4", 3), s, metas={"p0": meta, "f0": {**meta, "span_uuid": "f0"}},
                           embeddings={"p0": np.ones(4, np.float32)}, previews={("p0", 0, 9): b"webp"})
    rows = chunk_rows(content)
    assert [(r["span_uuid"], r["filtered"], r["filtered_by"]) for r in rows] == [("p0", False, None),
                                                                                 ("f0", True, "motion")]
    assert rows[0]["windows"][0]["webp"] == b"webp" and rows[1]["embedding"] is None
    frame = rows_frame(rows, ["span_uuid", "width", "embedding", "windows", "errors", "filtered"], read_dtypes(False))
    assert frame["width"].tolist() == [64.0, 64.0] and frame["embedding"].iloc[0].shape == (4,)
    assert frame["windows"].dtype == object and frame["errors"].tolist() == [["x"], ["x"]]
    assert frame["filtered"].dtype == bool
