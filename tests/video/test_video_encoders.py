"""The encoder a clip is made with: its options, the check at start, VP9 clips."""

from __future__ import annotations

import io

import av
import pytest

from dask_clipwriter.probe import probe_clip_bytes, probe_video_file
from dask_clipwriter.settings import SettingsError
from dask_clipwriter.video import encoders, samples
from dask_clipwriter.video.chunk import StageSettings, plan_video, process_chunk
from dask_clipwriter.video.plan import plan_spans
from dask_clipwriter.video.transcode import EncodeSettings, transcode_spans


def test_options_are_only_what_is_set():
    assert encoders.encoder_options("libx264", None, None, ()) == {}
    assert encoders.encoder_options("libx264", "veryfast", 30, ("x264-params=keyint=60:bframes=2", "tune=film")) == {
        "preset": "veryfast", "crf": "30", "x264-params": "keyint=60:bframes=2", "tune": "film"}
    # libvpx's CRF means constant quality only with a bit rate of 0; one given explicitly wins
    assert encoders.encoder_options("libvpx-vp9", None, 40, ()) == {"crf": "40", "b": "0"}
    assert encoders.encoder_options("libvpx-vp9", None, 40, ("b=1M", "cpu-used=4")) == {
        "crf": "40", "b": "1M", "cpu-used": "4"}


@pytest.mark.parametrize(("encoder", "preset", "crf", "items", "problem"), [
    ("libx264", None, 52, (), "encoder-crf must be within 0..51 for libx264, got 52"),
    ("libvpx-vp9", None, 63, (), None),
    ("libvpx-vp9", "slow", None, (), "encoder-preset is an x264 option; libvpx-vp9 has none"),
    ("libopenh264", None, 20, (), "encoder-crf: libopenh264 has no CRF"),
    ("libx264", None, None, ("keyint",), "encoder-options takes key=value items, got 'keyint'"),
    ("libx264", None, None, ("g=10", "g=20"), "encoder-options sets 'g' twice"),
    ("libx264", None, None, ("threads=4",), "encoder-options cannot set 'threads'; use encoder-threads"),
    ("libx264", None, None, ("crf=20",), "encoder-options cannot set 'crf'; use encoder-crf"),
    ("h264_nvenc", None, None, (), "encoder must be one of"),
    # x264's own parameters that decide reproducible bytes, or that we set: refused inside
    # x264-params and x264opts too, whatever spelling x264 itself would take
    ("libx264", None, None, ("x264-params=keyint=60:threads=4",),
     "encoder-options cannot set 'threads' in x264-params: the thread count is encoder-threads"),
    ("libx264", None, None, ("x264opts=lookahead-threads=2",), "cannot set 'lookahead-threads' in x264opts"),
    ("libx264", None, None, ("x264-params=sliced_threads=1",), "cannot set 'sliced_threads' in x264-params"),
    ("libx264", None, None, ("x264opts=no-sliced-threads",), "cannot set 'no-sliced-threads' in x264opts"),
    ("libx264", None, None, ("x264-params=sync-lookahead=8",), "cannot set 'sync-lookahead' in x264-params"),
    ("libx264", None, None, ("x264opts=bframes=2:non-deterministic",), "cannot set 'non-deterministic' in x264opts: "
                                                                        "it lets x264's threads"),
    ("libx264", None, None, ("x264-params=asm=SSSE3",), "cannot set 'asm' in x264-params: clipwriter pins x264's "
                                                         "instruction set itself"),
    ("libx264", None, None, ("x264opts=noasm",), "cannot set 'noasm' in x264opts"),
    ("libx264", None, None, ("x264-params=keyint=60:bframes=2:no-8x8dct", "x264opts=ref=4:b-pyramid=none"), None),
])
def test_option_problems(encoder, preset, crf, items, problem):
    found = encoders.option_problems(encoder, preset, crf, items)
    assert (found == []) if problem is None else any(problem in p for p in found), found


def test_stage_settings_refuse_bad_encoder_settings():
    with pytest.raises(SettingsError, match="encoder-preset is an x264 option"):
        StageSettings(encoder="libvpx-vp9", encoder_preset="slow")
    with pytest.raises(SettingsError) as refused:
        StageSettings(encoder_options=("x264-params=keyint=60:asm=AVX2",))
    message = str(refused.value)
    assert "\n" not in message and message == (
        "invalid stage settings: encoder-options cannot set 'asm' in x264-params: clipwriter pins x264's "
        "instruction set itself (AVX2 on AVX-512 CPUs), which is what keeps the bytes the same on every CPU")
    assert StageSettings(encoder="libvpx-vp9", encoder_crf=50).encoder_option_values() == {"crf": "50", "b": "0"}


def test_the_bundled_ffmpeg_has_x264_and_vp9_but_not_openh264():
    # PyAV 18's wheels: libx264 and libvpx yes, openh264 no (the project's stack, README)
    assert encoders.bundled_encoders() == ["libx264", "libvpx-vp9"]


def test_the_check_at_start_names_what_is_wrong():
    encoders.check_encoder("libx264", {"preset": "veryfast", "x264-params": "keyint=60"})
    encoders.check_encoder("libvpx-vp9", {"cpu-used": "4", "crf": "30", "b": "0"})
    with pytest.raises(SettingsError, match=r"encoder 'libopenh264' is not in the bundled FFmpeg \(PyAV\); "
                                            r"it has libx264, libvpx-vp9"):
        encoders.check_encoder("libopenh264", {})
    with pytest.raises(SettingsError, match=r"encoder libx264 does not know the option\(s\) bogus"):
        encoders.check_encoder("libx264", {"bogus": "1"})
    with pytest.raises(SettingsError, match="encoder libx264 does not open with preset=nonsense"):
        encoders.check_encoder("libx264", {"preset": "nonsense"})
    # a pinned key is named as such, not as an encoder that does not open
    with pytest.raises(SettingsError, match=r"^encoder-options cannot set 'threads' in x264opts: the thread count"):
        encoders.check_encoder("libx264", {"x264opts": "threads=8"})


@pytest.fixture(scope="module")
def vp9_records(tmp_path_factory):
    path = str(samples.write_sample_video(tmp_path_factory.mktemp("vp9") / "shapes.mp4", "shapes", 2.0, audio="aac"))
    probe = probe_video_file(path)
    settings = StageSettings(encoder="libvpx-vp9", encoder_options=("cpu-used=8", "deadline=realtime"))
    (plan,) = plan_video(path, probe, settings)
    return process_chunk(plan, probe, settings)


def test_vp9_clips_are_mp4_with_their_audio_and_video_codec_vp9(vp9_records):
    row = vp9_records.iloc[0]
    data = row["buffer"]
    assert data[4:8] == b"ftyp" and 0 < data.find(b"moov") < data.find(b"mdat")  # MP4, faststart
    assert row["video_codec"] == "vp9" == probe_clip_bytes(data).video_codec and row["num_frames"] == 60
    with av.open(io.BytesIO(data)) as container:
        assert [s.codec_context.codec.canonical_name for s in container.streams] == ["vp9", "aac"]


def test_vp9_clips_are_scored_on_the_references_h264_clip(vp9_records, tmp_path):
    # FFmpeg exports no motion vectors from VP9: scored on the VP9 clip itself, every clip
    # would be "no_motion_frames" and filtered. The reference's libx264 clip is scored instead.
    row = vp9_records.iloc[0]
    assert row["errors"] == {} and row["filtered_by"] is None
    path = str(tmp_path / "shapes.mp4")
    samples.write_sample_video(path, "shapes", 2.0, audio="aac")
    probe = probe_video_file(path)
    (plan,) = plan_video(path, probe, StageSettings())
    x264 = process_chunk(plan, probe, StageSettings()).iloc[0]
    assert (row["motion_score_global_mean"], row["motion_score_per_patch_min_256"]) == (
        x264["motion_score_global_mean"], x264["motion_score_per_patch_min_256"])


def test_free_options_reach_the_encoder(pan_video, pan_probe):
    spans = plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate)[:1]
    options = encoders.encoder_options("libx264", "ultrafast", None, ("x264-params=keyint=30:scenecut=0",))
    (clip,) = transcode_spans(pan_video, spans, EncodeSettings(encoder_options=options))
    with av.open(io.BytesIO(clip.data)) as container:
        keys = [i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame]
    assert keys == list(range(0, 300, 30))  # a key frame every 30 frames, as asked
