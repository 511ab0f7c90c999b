"""Which audio a clip gets: the rules, on a timeline of samples (pure; audio_track.py does the I/O).

A clip carries the source's first audio stream (the reference maps ``a:0?``) for exactly the
source time its video covers: from its first frame's time for as long as its video track
lasts. Consecutive clips of a fixed-stride plan therefore get consecutive audio, without a
gap or an overlap, and every clip starts in sync (its first sample is the one played with
its first frame).

**Stream copy** (the codecs of :data:`COPY_PREROLL`, which MP4 carries and every MP4 reader
decodes) moves whole packets, and a cut at ``t0`` rarely falls on a packet boundary. The
copied packets start at the packet that holds ``t0``, plus the packets before it that its
decoder needs to produce that packet's samples right (the pre-roll: AAC overlaps each frame
with the previous one, an MP3 frame may keep its data up to 511 bytes back). Their
timestamps are shifted so that ``t0`` is 0: the packets before it get negative times, which
the MP4 muxer turns into an edit list, and readers that honour edit lists (FFmpeg and PyAV,
decord, browsers, QuickTime) start playing at exactly the sample of ``t0``. The last packet
is given a shorter duration so the track is as long as the video; decoders that ignore
that (FFmpeg decodes whole packets) give up to one packet minus one sample more at the end:
at most 21.3 ms for AAC at 48 kHz, 24 ms for MP3 at 48 kHz. A reader that ignores edit
lists starts at the first copied packet: the pre-roll plus the part of the first kept packet
before ``t0`` early, for AAC up to 3071 samples (fewer than 3 frames: < 64 ms at 48 kHz).

**Re-encoding** (any other codec: PCM, Vorbis, Opus, MP2, ...) decodes the same packets and
keeps exactly the samples of ``[t0, t0 + duration)``, so it is sample-exact at both ends.
PCM would fit in MP4 too, but few readers read PCM from MP4; Opus is re-encoded because
its header's pre-skip is applied again by the decoder of a cut, which shifted and garbled
the first 80 ms of copied Opus in our measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

#: Codecs copied into a clip's MP4, and the pre-roll packets each needs before the packet
#: holding the first sample (measured here: decoding a cut then gives the same samples as
#: decoding the whole source, but for AC-3's own dither noise). AAC: 1 for the overlap of
#: AAC-LC, 1 more for HE-AAC's SBR; MP3: see :func:`preroll_packets`.
COPY_PREROLL: dict[str, int] = {"aac": 2, "mp3": 1, "ac3": 1, "eac3": 1, "flac": 0, "alac": 0}
#: The most bytes back an MP3 frame's data may start (main_data_begin is 9 bits).
MP3_RESERVOIR_BYTES = 511
#: Pre-roll when decoding a codec that is re-encoded: Opus asks for 80 ms (RFC 7845 §4.6).
DECODE_PREROLL_S = 0.08
#: Sample rates and channel layouts FFmpeg's AAC encoder takes; others are converted.
AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
AAC_LAYOUTS = ("mono", "stereo", "3.0", "4.0", "5.0", "5.1")
AAC_BITS_PER_SECOND_PER_CHANNEL = 64_000


@dataclass(frozen=True)
class AudioPacket:
    """One source packet on the audio timeline: its first sample, its sample count, its bytes."""

    start: int
    samples: int
    size: int = 0

    @property
    def end(self) -> int:
        return self.start + self.samples


@dataclass(frozen=True)
class CopiedPacket:
    """A packet of the clip: which source packet, its start (0 = the clip's first sample;
    negative for pre-roll) and the samples it lasts in the clip (the last one is cut short)."""

    index: int
    start: int
    samples: int


def copies(codec: str) -> bool:
    """Whether ``codec`` (FFmpeg's name) is copied into the clip rather than re-encoded."""
    return codec in COPY_PREROLL


def sample_position(pts: int, time_base: Fraction, sample_rate: int) -> int:
    """A timestamp as a sample index (nearest sample)."""
    return round(pts * time_base * sample_rate)


def continue_timeline(previous: AudioPacket | None, pts: int, duration: int, time_base: Fraction,
                      sample_rate: int, frame_size: int = 0, size: int = 0) -> AudioPacket:
    """The next packet on the timeline.

    Matroska stores milliseconds, so an AAC packet of 1024 samples at 48 kHz lasts 21 or 22
    ticks and its start is off by up to half a millisecond. A packet that starts where the
    previous one ends, give or take one tick of the time base, is taken to continue it
    exactly; a real gap (or a seek) starts the timeline afresh from its timestamp.
    """
    start = sample_position(pts, time_base, sample_rate)
    samples = frame_size or max(0, sample_position(duration, time_base, sample_rate))
    if previous is not None and abs(start - previous.end) <= math.ceil(time_base * sample_rate):
        start = previous.end
    return AudioPacket(start, samples, size)


def preroll_packets(codec: str, before: Sequence[AudioPacket]) -> int:
    """How many of the packets ``before`` (those preceding the first kept one, in order) to
    copy as pre-roll. MP3: enough to cover the bit reservoir, plus one for the overlap."""
    if codec != "mp3":
        return min(COPY_PREROLL.get(codec, 1), len(before))
    count, size = 0, 0
    for packet in reversed(before):
        if size >= MP3_RESERVOIR_BYTES:
            break
        count, size = count + 1, size + packet.size
    return min(count + 1, len(before))


def first_kept(packets: Sequence[AudioPacket], first: int) -> int | None:
    """Index of the packet holding sample ``first`` (or the first one after it, across a gap)."""
    for index, packet in enumerate(packets):
        if packet.end > first:
            return index
    return None


def copy_selection(codec: str, packets: Sequence[AudioPacket], first: int, end: int) -> list[CopiedPacket]:
    """The packets of a clip whose audio is ``[first, end)`` on the source's timeline, with
    their clip times (see the module docstring). ``packets`` are in timeline order."""
    index = first_kept(packets, first)
    if index is None or end <= first:
        return []
    index -= preroll_packets(codec, packets[:index])
    out = []
    for i in range(index, len(packets)):
        packet = packets[i]
        if packet.start >= end:
            break
        start = packet.start - first
        out.append(CopiedPacket(i, start, min(packet.samples, end - first - start)))
    return out


def decode_selection(packets: Sequence[AudioPacket], first: int, end: int, sample_rate: int) -> range:
    """Indices of the packets to decode for the samples ``[first, end)`` when re-encoding:
    those overlapping it, and :data:`DECODE_PREROLL_S` (at least one packet) before."""
    index = first_kept(packets, first)
    if index is None or end <= first:
        return range(0)
    start = index
    preroll_from = packets[index].start - DECODE_PREROLL_S * sample_rate
    while start > 0 and (start == index or packets[start - 1].end > preroll_from):
        start -= 1
    stop = index
    while stop < len(packets) and packets[stop].start < end:
        stop += 1
    return range(start, stop)


def aac_format(sample_rate: int, layout: str) -> tuple[int, str]:
    """(sample rate, layout) for the AAC encoder: the source's where AAC takes them, else
    48 kHz and stereo."""
    return (sample_rate if sample_rate in AAC_SAMPLE_RATES else 48000,
            layout if layout in AAC_LAYOUTS else "stereo")


def aac_bit_rate(channels: int) -> int:
    return AAC_BITS_PER_SECOND_PER_CHANNEL * max(1, channels)
