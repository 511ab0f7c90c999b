"""Which audio packets and samples a clip gets (the rules, on hand-made timelines)."""

from __future__ import annotations

from fractions import Fraction

from dask_clipwriter.video import audio_cut
from dask_clipwriter.video.audio_cut import AudioPacket, CopiedPacket


def aac_timeline(count: int, start: int = -1024) -> list[AudioPacket]:
    """AAC packets as an MP4 holds them: 1024 samples each, the first (priming) at -1024."""
    return [AudioPacket(start + 1024 * i, 1024, 300) for i in range(count)]


def test_copy_starts_two_packets_before_the_first_sample_and_shifts_it_to_zero():
    packets = aac_timeline(200)
    # 1.51 s at 48 kHz = sample 72480, inside the packet starting at 71680 (index 71)
    chosen = audio_cut.copy_selection("aac", packets, 72480, 72480 + 48960)
    assert chosen[:3] == [CopiedPacket(69, 69632 - 72480, 1024), CopiedPacket(70, 70656 - 72480, 1024),
                          CopiedPacket(71, 71680 - 72480, 1024)]
    # the last packet starts before the end and is cut short there
    last = chosen[-1]
    assert last.start < 48960 <= last.start + 1024 and last.start + last.samples == 48960
    # consecutive, no gaps
    assert all(b.start == a.start + a.samples for a, b in zip(chosen, chosen[1:-1], strict=False))


def test_a_cut_on_a_packet_boundary_and_at_the_start():
    packets = aac_timeline(100)
    assert audio_cut.copy_selection("aac", packets, 1024 * 10, 1024 * 12)[2:] == [
        CopiedPacket(11, 0, 1024), CopiedPacket(12, 1024, 1024)]
    # at the very start there is nothing before the priming packet to pre-roll
    assert audio_cut.copy_selection("aac", packets, 0, 1024)[0] == CopiedPacket(0, -1024, 1024)


def test_a_reader_ignoring_edit_lists_starts_fewer_than_3_aac_frames_early():
    """What the README promises such a reader: the first copied packet starts at most 3071
    samples before the clip's first sample (2 pre-roll packets and part of a third)."""
    packets = aac_timeline(40)
    early = {-audio_cut.copy_selection("aac", packets, first, first + 30000)[0].start for first in range(20000)}
    assert max(early) == 3 * 1024 - 1 and min(early) == 1024  # at sample 0: the priming packet only


def test_preroll_per_codec():
    before = [AudioPacket(i * 1152, 1152, 104) for i in range(10)]
    assert audio_cut.preroll_packets("aac", before) == 2
    assert audio_cut.preroll_packets("flac", before) == 0
    # MP3: packets back until the bit reservoir (511 bytes) is covered, plus one
    assert audio_cut.preroll_packets("mp3", before) == 6  # 5 * 104 = 520 >= 511
    assert audio_cut.preroll_packets("mp3", before[:2]) == 2  # no more than there is


def test_no_packets_and_audio_that_starts_later():
    assert audio_cut.copy_selection("aac", [], 0, 100) == []
    late = [AudioPacket(48000, 1024), AudioPacket(49024, 1024)]
    # the source's audio begins 1 s into the clip: it keeps its place (start 48000)
    assert audio_cut.copy_selection("aac", late, 0, 50000) == [CopiedPacket(0, 48000, 1024), CopiedPacket(1, 49024, 976)]
    assert audio_cut.copy_selection("aac", late, 60000, 70000) == []


def test_millisecond_timestamps_are_put_back_on_the_sample_grid():
    # Matroska: 1024-sample packets at 48 kHz start at 0, 21, 43, 64 ms ...
    tb = Fraction(1, 1000)
    packet = None
    starts = []
    for pts in (0, 21, 43, 64, 85):
        packet = audio_cut.continue_timeline(packet, pts, 21, tb, 48000, frame_size=1024)
        starts.append(packet.start)
    assert starts == [0, 1024, 2048, 3072, 4096]
    # a real gap (or a seek) starts afresh
    assert audio_cut.continue_timeline(packet, 500, 21, tb, 48000, frame_size=1024).start == 24000
    # a time base of one sample: timestamps as they are
    one = Fraction(1, 44100)
    assert audio_cut.continue_timeline(None, 441, 1152, one, 44100).start == 441


def test_decode_selection_keeps_80_ms_before_and_every_overlapping_packet():
    packets = [AudioPacket(i * 960, 960) for i in range(100)]  # Opus: 20 ms at 48 kHz
    chosen = audio_cut.decode_selection(packets, 48000, 96000, 48000)
    assert chosen.start == 50 - 4 and chosen.stop == 100  # 80 ms before sample 48000 (packet 50) is 4 packets
    pcm = [AudioPacket(i * 4096, 4096) for i in range(10)]
    assert audio_cut.decode_selection(pcm, 4096 * 3, 4096 * 4, 48000) == range(2, 4)


def test_what_is_copied_and_what_aac_takes():
    assert [c for c in ("aac", "mp3", "ac3", "eac3", "flac", "alac") if audio_cut.copies(c)] == \
        ["aac", "mp3", "ac3", "eac3", "flac", "alac"]
    assert not any(audio_cut.copies(c) for c in ("pcm_s16le", "opus", "vorbis", "mp2"))
    assert audio_cut.aac_format(44100, "stereo") == (44100, "stereo")
    assert audio_cut.aac_format(37800, "7.1(wide)") == (48000, "stereo")
    assert audio_cut.aac_bit_rate(2) == 128_000
