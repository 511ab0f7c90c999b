"""The same source and settings give the same clip and preview bytes on every run and CPU.

The pan video is 320x256: 20 macroblocks wide, the kind of width on which x264's AVX-512
macroblock tree read uninitialised memory (bitexact.py). Other CPUs are emulated for real:
x264 is limited to an older instruction level through its own ``asm`` parameter, and
FFmpeg's libavutil (scaling, conversion) is forced to its plain C paths.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import io
import os
import subprocess
import sys

import av
import pytest

from dask_clipwriter.video import bitexact, samples
from dask_clipwriter.video.bitexact import (
    X264_ASM_WITHOUT_AVX512,
    reproducible_encoder_options,
)
from dask_clipwriter.video.plan import plan_spans
from dask_clipwriter.video.previews import make_window_previews
from dask_clipwriter.video.transcode import EncodeSettings, transcode_spans
from dask_clipwriter.video.windows import caption_windows


def digests(clips) -> list[str]:
    assert all(c.data for c in clips), [c.error for c in clips]
    return [hashlib.sha256(c.data).hexdigest() for c in clips]


@pytest.fixture(scope="module")
def pan_spans(pan_video, pan_probe):
    return plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate)


def test_a_clip_encodes_to_the_same_bytes_every_time(pan_video, pan_spans):
    runs = {tuple(digests(transcode_spans(pan_video, pan_spans))) for _ in range(4)}
    assert len(runs) == 1


@pytest.mark.parametrize("level", ["SSSE3", "AVX", "AVX2"])
def test_the_bytes_are_those_of_cpus_without_avx512(pan_video, pan_spans, level, monkeypatch):
    ours = digests(transcode_spans(pan_video, pan_spans))
    # An older CPU: x264 pinned to its level the way we pin it on AVX-512 CPUs (a user's own
    # asm is refused)
    monkeypatch.setattr(bitexact, "cpu_has_avx512", lambda: True)
    monkeypatch.setattr(bitexact, "X264_ASM_WITHOUT_AVX512", level)
    assert reproducible_encoder_options("libx264", {}) == {"x264-params": f"asm={level}"}
    assert digests(transcode_spans(pan_video, pan_spans)) == ours


def audio_codec(data: bytes) -> str | None:
    with av.open(io.BytesIO(data)) as container:
        return container.streams.audio[0].codec_context.codec.canonical_name if container.streams.audio else None


def _bundled_avutil():
    """PyAV's own libavutil (the one its scaler uses), or None where the wheel has another layout."""
    found = glob.glob(os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs", "libavutil*"))
    return ctypes.CDLL(found[0]) if found else None


def test_scaled_clips_and_previews_do_not_depend_on_the_cpus_simd(pan_video, pan_spans):
    avutil = _bundled_avutil()
    if avutil is None:
        pytest.skip("PyAV's bundled libavutil was not found beside the package (not a manylinux wheel)")
    scaled = EncodeSettings(target_height=180)
    windows = caption_windows(300, 256, 128)

    def made() -> tuple[list[str], list[bytes]]:
        clips = transcode_spans(pan_video, pan_spans[:1], scaled)
        return digests(clips), make_window_previews(clips[0].data, windows, 30.0)

    detected = made()
    avutil.av_force_cpu_flags(0)  # no SIMD at all: what the plain C code gives
    try:
        plain_c = made()
    finally:
        avutil.av_force_cpu_flags(-1)  # back to detection
    assert plain_c == detected


def test_encoder_options_pin_x264_only_on_avx512_cpus():
    pinned = f"asm={X264_ASM_WITHOUT_AVX512}"
    assert reproducible_encoder_options("libx264", {"crf": "20"}, avx512=True) == {"crf": "20", "x264-params": pinned}
    assert reproducible_encoder_options("libx264", {"crf": "20"}, avx512=False) == {"crf": "20"}
    assert reproducible_encoder_options("libvpx-vp9", {}, avx512=True) == {}
    # The user's own x264 parameters are kept; their own asm is refused, on every CPU: it is
    # our pin (a CPU without AVX-512 would otherwise be free to give other bytes)
    assert reproducible_encoder_options("libx264", {"x264-params": "keyint=60"}, avx512=True) == {
        "x264-params": f"keyint=60:{pinned}"}
    for avx512 in (True, False):
        for options in ({"x264-params": "asm=SSSE3"}, {"x264opts": "keyint=60:asm=AVX2"}, {"x264-params": "noasm"}):
            with pytest.raises(ValueError, match=r"cannot set '(no)?asm' in x264(-params|opts): clipwriter pins"):
                reproducible_encoder_options("libx264", options, avx512=avx512)


def test_aac_audio_does_not_depend_on_the_cpus_simd(tmp_path):
    """FFmpeg's AAC encoder picks AVX/AVX2 versions of its DSP at open, which round otherwise
    than its SSE and C code; opened at the SSE4.2 level it gives the plain C code's bytes."""
    avutil = _bundled_avutil()
    if avutil is None:
        pytest.skip("PyAV's bundled libavutil was not found beside the package (not a manylinux wheel)")

    def made(name: str) -> bytes:
        path = samples.write_sample_video(tmp_path / name, "static", 1.0, width=64, height=48, audio="aac")
        with av.open(str(path)) as container:  # the audio packets only: this is about AAC
            return b"".join(bytes(packet) for packet in container.demux(audio=0))

    detected = {made(f"run{i}.mp4") for i in range(3)}
    avutil.av_force_cpu_flags(0)
    try:
        plain_c = made("plain.mp4")
    finally:
        avutil.av_force_cpu_flags(-1)
    assert detected == {plain_c}


def test_clips_with_re_encoded_audio_are_the_same_every_time_and_on_every_cpu(tmp_path):
    avutil = _bundled_avutil()
    if avutil is None:
        pytest.skip("PyAV's bundled libavutil was not found beside the package (not a manylinux wheel)")
    source = str(samples.write_sample_video(tmp_path / "pcm.mov", "pan", 2.0, width=64, height=48,
                                            audio="pcm_s16le", sample_rate=44100))
    spans = plan_spans(source, 60, 30.0, clip_len_s=1.0, clip_stride_s=1.0, min_clip_length_s=0.5)
    assert len(spans) == 2

    def made() -> tuple[str, ...]:
        clips = transcode_spans(source, spans)
        assert all(audio_codec(c.data) == "aac" for c in clips)  # re-encoded from the PCM
        return tuple(digests(clips))

    runs = {made() for _ in range(3)}
    avutil.av_force_cpu_flags(0)  # no SIMD: the plain C code's samples and bytes
    try:
        plain_c = made()
    finally:
        avutil.av_force_cpu_flags(-1)
    assert runs == {plain_c}


VP9_DIGEST_SCRIPT = """
import hashlib, sys
from dask_clipwriter.video.plan import plan_spans
from dask_clipwriter.video.transcode import EncodeSettings, transcode_spans
(clip,) = transcode_spans(sys.argv[1], plan_spans(sys.argv[1], 30, 30.0, min_clip_length_s=1), EncodeSettings(encoder="libvpx-vp9"))
print(hashlib.sha256(clip.data).hexdigest())
"""


def test_vp9_clips_are_the_same_every_time_and_without_libvpx_simd(tmp_path):
    """libvpx requires its SIMD functions to match its C code; checked by masking them all
    off (VPX_SIMD_CAPS_MASK, read once per process, hence the subprocess)."""
    source = str(samples.write_sample_video(tmp_path / "pan.mp4", "pan", 1.0, width=192, height=128, audio="aac"))
    spans = plan_spans(source, 30, 30.0, min_clip_length_s=1)
    assert len(spans) == 1
    vp9 = EncodeSettings(encoder="libvpx-vp9")
    runs = {tuple(digests(transcode_spans(source, spans, vp9))) for _ in range(2)}
    plain = subprocess.run([sys.executable, "-c", VP9_DIGEST_SCRIPT, source], capture_output=True, text=True,
                           env={**os.environ, "VPX_SIMD_CAPS_MASK": "0"}, check=True).stdout.split()
    assert runs == {tuple(plain)}
