"""Why each filtered clip was filtered: the reasons and how the terminal says them."""

from __future__ import annotations

import pytest

from dask_clipwriter.filter_reasons import describe_filtered, filter_reason


@pytest.mark.parametrize(("filtered_by", "errors", "reason"), [
    (None, {}, None),
    ("motion", {}, "small_motion"),
    ("motion", {"motion_decode": "resolution_too_small"}, "too_small_to_score"),
    ("motion", {"motion_decode": "no_motion_frames"}, "no_motion_vectors"),
    ("motion", {"motion_decode": "decode_failed"}, "motion_undecodable"),
    ("motion", {"motion_decode": "something new"}, "motion_undecodable"),
    ("motion", {"transcode": "no frames decoded", "buffer": "empty"}, "no_clip_bytes"),
    ("aesthetic", {}, "aesthetic"),
    ("nsfw", {"motion_decode": "resolution_too_small"}, "nsfw"),  # another filter is its own reason
])
def test_the_reason_of_a_clip(filtered_by, errors, reason):
    assert filter_reason(filtered_by, errors) == reason


def test_the_terminal_names_motions_reasons_first_then_the_others():
    counts = {"aesthetic": 1, "nsfw": 4, "too_small_to_score": 2, "small_motion": 3, "no_clip_bytes": 0}
    assert describe_filtered(counts) == "small motion 3, too small to score (< 256 px) 2, aesthetic score 1, nsfw 4"
    assert describe_filtered({}) == ""
