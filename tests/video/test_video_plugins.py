"""Loading model plug-ins by import path, and checking what they return."""

from __future__ import annotations

import example_plugins
import numpy as np
import pytest

from dask_clipwriter.video.plugins import (
    AestheticScorer,
    ClipMedia,
    Embedder,
    PluginError,
    checked_caption,
    checked_embedding,
    checked_score,
    load_plugin,
)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("example_plugins", "must look like 'package.module:callable'"),
        ("example_plugins:", "must look like"),
        (":colour_histogram_embedding", "must look like"),
        ("no_such_module_here:f", "cannot import module 'no_such_module_here'"),
        ("example_plugins:no_such_thing", "has no attribute 'no_such_thing'"),
        ("example_plugins:NOT_CALLABLE", "is a int, not a callable"),
        ("example_plugins:FailingConstructor", "constructing FailingConstructor\\(\\) failed: weights not found"),
    ],
)
def test_bad_import_paths_say_what_is_wrong(path, message):
    with pytest.raises(PluginError, match=message):
        load_plugin(path)


def test_not_a_string():
    with pytest.raises(PluginError, match="named by a string"):
        load_plugin(example_plugins.mean_brightness)


def test_functions_load_as_they_are_and_classes_once_per_process():
    assert load_plugin("example_plugins:mean_brightness") is example_plugins.mean_brightness
    assert load_plugin(" dask_clipwriter.video.windows:caption_windows ")(10) == [(0, 9)]
    before = example_plugins.CountingScorer.instances
    first = load_plugin("example_plugins:CountingScorer")
    second = load_plugin("example_plugins:CountingScorer")
    assert first is second and isinstance(first, example_plugins.CountingScorer)
    assert example_plugins.CountingScorer.instances - before <= 1
    assert first([np.zeros((2, 2, 3), np.uint8)] * 3) == 3.0


def test_the_example_embedder_is_a_deterministic_256_vector():
    embed = load_plugin("example_plugins:colour_histogram_embedding")
    assert isinstance(embed, Embedder) and isinstance(load_plugin("example_plugins:mean_brightness"), AestheticScorer)
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    media = ClipMedia(data=b"", frames=[red, red], sample_fps=2.0, framerate=30.0)
    vector = checked_embedding(embed(media), "example")
    assert vector.shape == (256,) and vector[7 << 5] == pytest.approx(1.0) and vector.sum() == pytest.approx(1.0)
    assert np.array_equal(embed(media), embed(media))


def test_return_values_are_checked():
    assert checked_score(3, "p") == 3.0
    for bad in ("3", True, float("nan"), None):
        with pytest.raises(PluginError, match="finite number"):
            checked_score(bad, "p")
    assert checked_embedding([[1, 2, 3]], "p").tolist() == [1.0, 2.0, 3.0]
    for bad, message in (([], "non-empty"), (np.zeros((2, 2)), "one non-empty vector"), (["a"], "numbers"),
                         ([1.0, np.inf], "NaN or infinity")):
        with pytest.raises(PluginError, match=message):
            checked_embedding(bad, "p")
    assert checked_caption("a dog", "p") == "a dog"
    with pytest.raises(PluginError, match="must return a str"):
        checked_caption(None, "p")
