"""The closing lines of a run (closing.py): failed and incomplete videos named, the first ten
and a count; filter reasons and clip errors counted."""

from __future__ import annotations

from dask_clipwriter.closing import closing_lines, failed_videos, filter_reasons


def test_failed_videos_the_first_ten_and_how_many():
    entries = [{"video": f"/in/bad{i:02d}.mp4", "complete": False, "error": f"ProbeError: broken {i}"}
               for i in range(14)]
    entries.insert(3, {"video": "/in/fine.mp4", "complete": True})
    [line] = failed_videos({"videos": entries, "totals": {"videos_failed": 14}})
    assert line.startswith("failed videos (14): /in/bad00.mp4 (ProbeError: broken 0); /in/bad01.mp4")
    assert "/in/bad09.mp4 (ProbeError: broken 9); and 4 more (summary.json lists them)" in line
    assert "bad10" not in line and "fine" not in line


def test_more_failures_than_summary_json_lists_are_counted():
    entries = [{"video": "/in/a.mp4", "complete": False, "error": "E: " + "x" * 500}]
    [line] = failed_videos({"videos": entries, "totals": {"videos_failed": 20_000}})
    assert line.startswith("failed videos (20000): /in/a.mp4 (E: xxx") and "...); and 19999 more" in line
    assert len(line) < 250  # a long error is cut on the terminal


def test_incomplete_videos_say_which_chunks_are_missing():
    entries = [{"video": "/in/a.mp4", "complete": False, "missing_chunks": [0, 1]},
               {"video": "/in/b.mp4", "complete": True, "missing_chunks": []}]
    assert failed_videos({"videos": entries, "totals": {"videos_failed": 0}}) == [
        "incomplete videos (1; run again with --resume): /in/a.mp4 (chunks 0, 1 missing)"]


def test_filter_reasons_and_clip_errors():
    run = {"num_clips_filtered": 9, "num_clips_filtered_by_motion": 5, "num_clips_filtered_by_aesthetic": 3,
           "errors": {"transcode": 1, "caption": 4, "aesthetic": 0}}
    assert filter_reasons(run) == "filtered clips: 5 by motion, 3 by aesthetic, 1 for other reasons"
    assert closing_lines({"run": run, "videos": [], "totals": {}}) == [
        "filtered clips: 5 by motion, 3 by aesthetic, 1 for other reasons",
        "clips with errors, by kind: caption 4, transcode 1",
    ]
    assert closing_lines({"run": {}, "videos": []}) == ["filtered clips: 0 by motion, 0 by aesthetic"]
    run["filtered"] = {"aesthetic": 3, "too_small_to_score": 1, "small_motion": 4, "split": 1}
    assert filter_reasons(run) == ("filtered clips: 5 by motion, 3 by aesthetic, 1 for other reasons (small motion 4, "
                                   "too small to score (< 256 px) 1, aesthetic score 3, split 1)")
