"""Listing source videos through fsspec, keeping input_path exactly as written."""

from __future__ import annotations

import os

import fsspec
import pytest

from dask_clipwriter.video.listing import list_videos


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "in"
    for name in ["b.mp4", "a.MOV", "notes.txt", "sub/c.mkv", "sub/deeper/d.webm", "sub/e.avi", "sub/f.mp4.json"]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return root


def test_lists_videos_recursively_sorted_with_the_prefix_as_written(tree):
    found = list_videos(str(tree))
    assert found == [
        f"{tree}/a.MOV",
        f"{tree}/b.mp4",
        f"{tree}/sub/c.mkv",
        f"{tree}/sub/deeper/d.webm",
        f"{tree}/sub/e.avi",
    ]


def test_trailing_slash_and_relative_paths_keep_their_spelling(tree, monkeypatch):
    assert list_videos(f"{tree}/")[0] == f"{tree}/a.MOV"
    monkeypatch.chdir(tree.parent)
    assert list_videos("in", extensions=["mkv"]) == ["in/sub/c.mkv"]
    assert list_videos("./in", extensions=[".MKV"]) == ["./in/sub/c.mkv"]


def test_extensions_and_limit(tree):
    assert list_videos(tree, extensions=("mp4",)) == [f"{tree}/b.mp4"]
    assert list_videos(tree, limit=2) == [f"{tree}/a.MOV", f"{tree}/b.mp4"]
    assert list_videos(tree, limit=0) == []
    with pytest.raises(ValueError, match="extensions"):
        list_videos(tree, extensions=())


def test_a_single_file_and_a_missing_path(tree):
    assert list_videos(tree / "b.mp4") == [f"{tree}/b.mp4"]
    assert list_videos(tree / "notes.txt") == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_videos(tree / "nope")


def test_urls_keep_their_protocol(tree):
    assert list_videos(f"file://{tree}", extensions=["avi"]) == [f"file://{tree}/sub/e.avi"]
    fs = fsspec.filesystem("memory")
    fs.pipe({"/bucket/in/x.mp4": b"1", "/bucket/in/y/z.mov": b"2", "/bucket/in/y/readme.md": b"3"})
    try:
        assert list_videos("memory://bucket/in") == ["memory://bucket/in/x.mp4", "memory://bucket/in/y/z.mov"]
    finally:
        fs.rm("/bucket", recursive=True)


def test_listing_is_deterministic(tree):
    assert list_videos(tree) == list_videos(os.fspath(tree))
