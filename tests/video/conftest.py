"""Real sample videos for the video-stage tests, made once per session with PyAV."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # example_plugins, loaded by import path

from dask_clipwriter.probe import probe_video_file  # noqa: E402
from dask_clipwriter.video import samples  # noqa: E402


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    """pan_12s (clips [0,10] and [10,12]), shapes_4s, static_4s and a 160x120 tiny_3s."""
    root = tmp_path_factory.mktemp("videos")
    samples.make_sample_videos(
        root, {"pan_12s.mp4": ("pan", 12.0), "shapes_4s.mp4": ("shapes", 4.0), "static_4s.mp4": ("static", 4.0)}
    )
    samples.write_sample_video(root / "tiny_3s.mp4", "pan", 3.0, width=160, height=120)
    return root


@pytest.fixture(scope="session")
def pan_video(video_dir) -> str:
    return str(video_dir / "pan_12s.mp4")


@pytest.fixture(scope="session")
def pan_probe(pan_video):
    return probe_video_file(pan_video)
