"""The MP4 header reader gives exactly PyAV's probe values, or declines.

Every clip here is real: encoded with PyAV (libx264 and others), muxed by FFmpeg's MP4 muxer.
For each, the header reader's values are compared with PyAV's (the demuxer and decoder) and
must be equal wherever the reader answers; where it must answer (the clips datasets are
made of) a None would be a failure too. Damaged headers must never give values PyAV would
not give.
"""

from __future__ import annotations

import io
import random
import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from dask_clipwriter.mp4_header import read_clip_header
from dask_clipwriter.probe import ProbeError, probe_clip_bytes, probe_clip_bytes_with_pyav
from dask_clipwriter.video.bitexact import reproducible_encoder_options


def encode(tmp_path, *, width=96, height=64, rate=Fraction(30), frames=12, codec="libx264", options=None,
           fmt="mp4", container_options=None, audio=False, pix_fmt="yuv420p", first_pts=0, time_base=None) -> bytes:
    """A clip as FFmpeg's muxer writes it (to a file: faststart needs to rewrite it)."""
    path = tmp_path / f"clip-{random.getrandbits(40):x}.{'mkv' if fmt == 'matroska' else fmt}"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height + 32, width + 32, 3), dtype=np.uint8)
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            video.time_base = time_base
        video.options = reproducible_encoder_options(codec, options or {})
        sound = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[i % 32:i % 32 + height, :width]),
                                               format="rgb24")
            frame.pts = first_pts + i if time_base is None else None
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = int(48000 * frames / float(rate))
            tone = np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000).astype(np.float32)[None, :]
            chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            chunk.sample_rate = 48000
            out.mux(sound.encode(chunk))
            out.mux(sound.encode())
    return path.read_bytes()


def values(probe) -> dict:
    return {key: getattr(probe, key) for key in ("width", "height", "framerate", "num_frames", "video_codec")}


READ = [
    *[dict(rate=rate, frames=frames) for rate in (Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001),
                                                  Fraction(30), Fraction(60000, 1001), Fraction(60))
      for frames in (1, 7, 31)],
    dict(width=98, height=66),  # cropped in the SPS (right and bottom)
    dict(width=176, height=144),
    dict(width=1280, height=720, frames=3),
    dict(options={"bf": "0"}),
    dict(options={"x264-params": "bframes=3:b-pyramid=normal"}, frames=20),
    dict(options={"profile": "baseline"}),
    dict(options={"profile": "high444"}, pix_fmt="yuv444p"),
    dict(options={"profile": "high422"}, pix_fmt="yuv422p"),
    dict(container_options={"movflags": "+faststart"}),
    dict(container_options={"use_editlist": "0"}),
    dict(first_pts=5),  # an empty edit before the media
    dict(time_base=Fraction(1, 90000), frames=20),
    dict(audio=True, frames=30),
    dict(audio=True, container_options={"movflags": "+faststart"}, frames=30),
]


@pytest.mark.parametrize("case", READ, ids=[str(i) for i in range(len(READ))])
def test_header_values_are_pyavs(tmp_path, case):
    data = encode(tmp_path, **case)
    header = read_clip_header(data)
    assert header is not None, "a clip as FFmpeg writes it must be read from its header"
    assert values(header) == values(probe_clip_bytes_with_pyav(data))
    assert values(probe_clip_bytes(data)) == values(header)


def edit_list_cut(tmp_path) -> bytes:
    """Packets copied from a keyframe before the cut, timestamps moved so the first ones are
    negative: the muxer writes an edit that starts inside the media and ends before it."""
    source = encode(tmp_path, frames=90, options={"g": "30"})
    path = tmp_path / "cut.mp4"
    with av.open(io.BytesIO(source)) as inp, av.open(str(path), "w") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        cut, keep = int(1.1 / stream.time_base), int(0.95 / stream.time_base)
        for packet in inp.demux(stream):
            if packet.pts is None or packet.pts < keep:
                continue
            packet.pts, packet.dts, packet.stream = packet.pts - cut, packet.dts - cut, copy
            out.mux(packet)
    return path.read_bytes()


def test_an_edit_list_that_cuts_the_media_short(tmp_path):
    data = edit_list_cut(tmp_path)
    at = data.find(b"elst")
    duration, media_time = struct.unpack(">Ii", data[at + 12:at + 20])
    assert media_time > 0 and duration < 2000  # the edit starts inside and ends early
    header = read_clip_header(data)
    assert header is not None and values(header) == values(probe_clip_bytes_with_pyav(data))
    assert header.duration == pytest.approx(duration / 1000)


def test_a_sample_too_large_to_index_is_left_to_pyav(tmp_path):
    """FFmpeg stops indexing a track at a sample over 0x3FFFFFFF bytes, before it applies the
    edit list: the duration is then the media's, not the edit's."""
    data = bytearray(edit_list_cut(tmp_path))
    at = data.find(b"stsz")
    data[at + 16:at + 20] = struct.pack(">I", 0x40000000)  # the first sample's size
    assert read_clip_header(bytes(data)) is None
    assert values(probe_clip_bytes(bytes(data))) == values(probe_clip_bytes_with_pyav(bytes(data)))


@pytest.mark.parametrize("case", [
    dict(codec="libx265"), dict(codec="libvpx-vp9", frames=6), dict(codec="mpeg4"), dict(fmt="matroska"),
    dict(fmt="mov"), dict(container_options={"movflags": "frag_keyframe+empty_moov"}),
], ids=["hevc", "vp9", "mpeg4", "matroska", "quicktime-tags", "fragmented"])
def test_other_files_are_left_to_pyav(tmp_path, case):
    data = encode(tmp_path, **case)
    assert read_clip_header(data) is None
    assert values(probe_clip_bytes(data)) == values(probe_clip_bytes_with_pyav(data))


def test_a_clip_cut_short_is_left_to_pyav(tmp_path):
    data = encode(tmp_path, container_options={"movflags": "+faststart"}, frames=30)
    assert read_clip_header(data) is not None
    cut = data[: len(data) - 200]  # the header is whole, the last samples are not
    assert read_clip_header(cut) is None
    assert values(probe_clip_bytes(cut)) == values(probe_clip_bytes_with_pyav(cut))


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, b"ftyp", b"\x00\x00\x00\x08ftyp\x00\x00\x00\x08moov"])
def test_garbage_is_declined(data):
    assert read_clip_header(data) is None


def test_damaged_headers_never_give_values_pyav_would_not(tmp_path):
    """Bytes of the header changed at random (1 to 4 at a time, seeded): where the reader
    still answers, PyAV opens the clip and gives the same values. Found, and fixed, this
    way: tag text that is not UTF-8, a data reference to another file, sample-to-chunk
    entries FFmpeg corrects, an AAC configuration it refuses, samples too large to index."""
    data = encode(tmp_path, audio=True, frames=30, container_options={"movflags": "+faststart"})
    moov = data.find(b"moov") - 4
    (size,) = struct.unpack(">I", data[moov:moov + 4])
    rng = random.Random(20261201)
    answered = 0
    for _ in range(400):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 2, 4))):
            at = rng.randrange(moov, moov + size)
            damaged[at] = rng.choice((rng.randrange(256), damaged[at] ^ 1 << rng.randrange(8), 0, 255))
        header = read_clip_header(bytes(damaged))
        if header is None:
            continue
        answered += 1
        try:
            expected = values(probe_clip_bytes_with_pyav(bytes(damaged)))
        except ProbeError as exc:
            pytest.fail(f"the header reader gave values for a clip PyAV cannot open ({exc})")
        assert values(header) == expected
    assert answered > 100  # most single changes (sizes of samples, unused fields) keep the clip readable
