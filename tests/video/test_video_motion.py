"""Motion scores: the math on hand-made vectors, then real clips through PyAV."""

from __future__ import annotations

import numpy as np
import pytest

from dask_clipwriter.probe import probe_video_file
from dask_clipwriter.video import motion, samples
from dask_clipwriter.video.bitexact import reproducible_encoder_options
from dask_clipwriter.video.chunk import StageSettings, plan_video, process_chunk
from dask_clipwriter.video.motion import (
    decode_motion_vectors,
    downsample_linear,
    flow_field,
    is_small_motion,
    max_sampled_frames,
    motion_scores,
    sample_step,
    score_clip_motion,
)
from dask_clipwriter.video.plan import plan_spans
from dask_clipwriter.video.transcode import transcode_spans

# The layout PyAV gives for AVMotionVector side data.
MV_DTYPE = np.dtype(
    [("source", "<i4"), ("w", "u1"), ("h", "u1"), ("src_x", "<i2"), ("src_y", "<i2"), ("dst_x", "<i2"),
     ("dst_y", "<i2"), ("flags", "<u8"), ("motion_x", "<i4"), ("motion_y", "<i4"), ("motion_scale", "<u2")]
)


def vectors(*rows) -> np.ndarray:
    """rows of (w, h, dst_x, dst_y, motion_x, motion_y, motion_scale)."""
    out = np.zeros(len(rows), MV_DTYPE)
    for i, (w, h, x, y, mx, my, scale) in enumerate(rows):
        out[i] = (-1, w, h, x, y, x, y, 0, mx, my, scale)
    return out


@pytest.mark.parametrize(("height", "width"), [(720, 1280), (257, 333)])
def test_magnitude_equals_the_flow_fields_pixel_by_pixel(height, width):
    """motion_magnitude paints each vector's magnitude; the numbers must be exactly those of
    the per-pixel computation on the flow field (overlaps, edges, every block size)."""
    rng = np.random.default_rng(height)
    n = (height // 8) * (width // 8)
    many = np.zeros(n, MV_DTYPE)
    many["w"], many["h"] = rng.choice([4, 8, 16], n), rng.choice([4, 8, 16], n)
    many["dst_x"], many["dst_y"] = rng.integers(-8, width + 8, n), rng.integers(-8, height + 8, n)
    many["motion_x"], many["motion_y"] = rng.integers(-300, 300, n), rng.integers(-300, 300, n)
    many["motion_scale"] = rng.choice([1, 2, 4], n)
    flow = flow_field(many, height, width).astype(np.float64)
    expected = np.sqrt((flow ** 2).sum(axis=-1)) / (width + height)
    assert np.array_equal(motion.motion_magnitude(many, height, width), expected)


def test_a_vector_fills_its_block_with_minus_motion_over_scale():
    flow = flow_field(vectors((16, 16, 8, 8, 8, -4, 4)), 32, 32)
    assert np.array_equal(flow[:16, :16], np.broadcast_to([-2.0, 1.0], (16, 16, 2)))
    assert not flow[16:].any() and not flow[:, 16:].any()


def test_wide_and_tall_blocks_are_w_by_h():
    flow = flow_field(vectors((16, 8, 16, 16, 4, 0, 4), (8, 16, 4, 8, 0, 4, 4)), 32, 32)
    assert (flow[12:20, 8:24, 0] == -1).all() and (flow[:, :, 0] != 0).sum() == 8 * 16
    assert (flow[0:16, 0:8, 1] == -1).all() and (flow[:, :, 1] != 0).sum() == 16 * 8


def test_blocks_past_the_edge_are_clamped_onto_it():
    flow = flow_field(vectors((8, 8, 0, 0, 4, 0, 2)), 16, 16)  # covers -4..3: clamped to 0..3
    assert (flow[:4, :4, 0] == -2).all()
    assert (flow[:, :, 0] != 0).sum() == 16


def test_overlaps_follow_block_size_order_then_vector_order():
    # 8x8 blocks are written before 16x16 ones whatever their order in the list ...
    flow = flow_field(vectors((16, 16, 8, 8, 4, 0, 1), (8, 8, 8, 8, 8, 0, 1)), 16, 16)
    assert (flow[..., 0] == -4).all()
    # ... and within one size the later vector wins.
    flow = flow_field(vectors((16, 16, 8, 8, 4, 0, 1), (16, 16, 8, 8, 12, 0, 1)), 16, 16)
    assert (flow[..., 0] == -12).all()


def test_small_partitions_are_ignored():
    assert not flow_field(vectors((4, 4, 2, 2, 8, 8, 1), (8, 4, 4, 2, 8, 8, 1)), 16, 16).any()


def test_downsampling_samples_like_opencv_bilinear():
    image = np.arange(512 * 768, dtype=np.float64).reshape(512, 768)
    small = downsample_linear(image)
    assert small.shape == (2, 3)
    assert small[0, 0] == image[127:129, 127:129].mean()
    assert small[1, 2] == image[383:385, 639:641].mean()
    # 384 wide: round(1.5) == 2 columns, the second one clamped onto the last column
    edge = downsample_linear(image[:256, :384])
    assert edge.shape == (1, 2) and edge[0, 1] == image[127:129, 383].mean()
    with pytest.raises(ValueError, match="too small"):
        downsample_linear(image[:100, :300])


def test_uniform_motion_scores_exactly():
    grid = [(16, 16, x, y, 3, 4, 1) for y in range(8, 256, 16) for x in range(8, 256, 16)]
    score = motion_scores([vectors(*grid)] * 3, 256, 256)
    assert score.global_mean == pytest.approx(5 / 512)
    assert score.per_patch_min_256 == pytest.approx(5 / 512)
    assert not score.is_small_motion and score.error is None


def test_no_vectors_score_minus_one_and_count_as_small():
    score = motion_scores([], 256, 256)
    assert (score.global_mean, score.per_patch_min_256, score.is_small_motion, score.error) == (
        -1.0, -1.0, True, "no_motion_frames")


def test_thresholds():
    assert is_small_motion(0.00097, 1.0)
    assert not is_small_motion(0.00098, 0.000001)
    assert is_small_motion(1.0, 0.00000099)
    assert not is_small_motion(0.0005, 0.0005, global_mean_threshold=0.0001, per_patch_min_256_threshold=0.0001)


def test_sampling_follows_the_reference():
    assert [sample_step(r) for r in (30.0, 29.97, 25.0, 24.0, 1.0, None)] == [15, 15, 12, 12, 1, 15]
    # whole seconds of the container duration, half of it at 2 fps, at least 10
    assert [max_sampled_frames(d) for d in (10.0, 15.9, 25.0, 4.0, 0.5, None)] == [10, 15, 25, 10, 30, 30]


# --------------------------------------------------------------------------------------
# Real clips


@pytest.fixture(scope="module")
def clips(video_dir):
    out = {}
    for name in ("shapes_4s", "static_4s", "pan_12s"):
        path = str(video_dir / f"{name}.mp4")
        out[name] = transcode_spans(path, plan_spans(path, 120 if name != "pan_12s" else 360, 30.0)[:1])[0].data
    return out


def test_a_moving_clip_passes(clips):
    for name in ("shapes_4s", "pan_12s"):
        score = score_clip_motion(clips[name])
        assert score.error is None
        assert score.global_mean > 3 * motion.GLOBAL_MEAN_THRESHOLD
        assert score.per_patch_min_256 > 100 * motion.PER_PATCH_MIN_256_THRESHOLD
        assert not score.is_small_motion


def test_a_static_clip_is_small_motion(clips):
    score = score_clip_motion(clips["static_4s"])
    assert score.error is None and score.is_small_motion
    assert score.global_mean < motion.GLOBAL_MEAN_THRESHOLD


def test_a_10s_clip_samples_10_frames_every_15th(clips):
    sampled, height, width = decode_motion_vectors(clips["pan_12s"])
    assert (len(sampled), height, width) == (10, 256, 320)
    assert all(s.dtype.names[:3] == ("source", "w", "h") for s in sampled)


def test_a_tiny_clip_cannot_be_scored(video_dir):
    path = str(video_dir / "tiny_3s.mp4")
    data = transcode_spans(path, plan_spans(path, 90, 30.0))[0].data
    score = score_clip_motion(data)
    assert (score.global_mean, score.per_patch_min_256, score.is_small_motion, score.error) == (
        -1.0, -1.0, True, "resolution_too_small")


def test_garbage_and_single_frame_clips(tmp_path):
    assert score_clip_motion(b"\x00" * 1000).error == "decode_failed"
    one_frame = samples.write_sample_video(tmp_path / "one.mp4", "pan", 1 / 30).read_bytes()
    assert score_clip_motion(one_frame).error == "no_motion_frames"


def test_the_same_bytes_always_score_the_same(clips):
    # Frame-threaded decoding made exported motion vectors vary between runs.
    scores = {(s.global_mean, s.per_patch_min_256) for s in (score_clip_motion(clips["pan_12s"]) for _ in range(6))}
    assert len(scores) == 1


# --------------------------------------------------------------------------------------
# The decision does not depend on the output height


def write_slow_pan(path, width=640, height=512, frames=60, pixels_per_frame=1) -> str:
    """A camera panning 1 px a frame over a 640x512 picture: slow motion, near the threshold."""
    import av

    world = samples.texture(height, width + pixels_per_frame * frames + 1, 1)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = reproducible_encoder_options("libx264", {"preset": "veryfast", "crf": "28"})
        for i in range(frames):
            picture = np.ascontiguousarray(world[:, pixels_per_frame * i:pixels_per_frame * i + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def test_one_source_at_two_heights_gets_one_decision(tmp_path):
    path = write_slow_pan(tmp_path / "slow_pan.mp4")
    probe = probe_video_file(path)
    rows = {}
    for height in (None, 256):
        settings = StageSettings(clip_len_s=2.0, target_height=height)
        (plan,) = plan_video(path, probe, settings)
        rows[height] = process_chunk(plan, probe, settings).iloc[0]
    full, small = rows[None], rows[256]
    assert small["height"] == 256 and full["height"] == 512
    scores = ("motion_score_global_mean", "motion_score_per_patch_min_256", "filtered_by")
    assert [full[k] for k in scores] == [small[k] for k in scores]
    assert full["filtered_by"] is None  # 1 px a frame at 640x512 passes, as the reference decides
    # Scored on itself, the 256-high clip would be filtered: x264 codes this pan as no motion
    # there. That dependence on the output height is what the reference's clip removes.
    own = score_clip_motion(small["buffer"])
    assert own.is_small_motion and own.global_mean < full["motion_score_global_mean"] / 2


def test_a_tiny_clip_of_a_large_source_is_scored(tmp_path):
    """Below 256 px the reference cannot score a clip; at the source's size it can."""
    path = write_slow_pan(tmp_path / "pan.mp4", pixels_per_frame=4)
    probe = probe_video_file(path)
    settings = StageSettings(clip_len_s=2.0, target_height=120)
    (plan,) = plan_video(path, probe, settings)
    row = process_chunk(plan, probe, settings).iloc[0]
    assert row["height"] == 120 and row["errors"] == {} and row["filtered_by"] is None
    assert score_clip_motion(row["buffer"]).error == "resolution_too_small"
