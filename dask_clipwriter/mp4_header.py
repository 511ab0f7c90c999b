"""A clip's probe values read from its MP4 header boxes, without opening a demuxer or decoder.

Opening a clip with PyAV to probe it costs about 1.8 ms, most of the writer's time for a clip
without probe values; this reads the same values in about 0.05 ms. They all come from a few
boxes of the ``moov`` header, read here by the rules FFmpeg's MOV demuxer applies
(libavformat/mov.c, FFmpeg 8):

* frame rate: ``time_scale * samples / sum of sample durations`` (``stts``), reduced to a
  fraction whose terms fit in 31 bits (``av_reduce`` with INT_MAX);
* duration: the media duration (``mdhd``), lowered to the sum of the sample durations, then
  to the end of the edit list (each edit rescaled from the movie's time scale to the
  track's, rounded to nearest), as ``mov_fix_index`` does; in seconds as ffprobe prints it
  (``probe_values.py``);
* width and height: the sample entry's, which must equal the cropped size of the H.264
  sequence parameter set (the decoder's, which PyAV reports);
* codec: ``h264`` for an ``avc1`` sample entry.

Only headers laid out as FFmpeg's MP4 muxer and the usual encoders write them are read
(H.264 video, optionally one AAC track, FFmpeg's ``ilst`` tags); every box FFmpeg would parse
is checked as it would check it (versions, table sizes, sample-to-chunk entries, a
self-contained data reference, tag text that PyAV can decode). Anything else (fragmented
files, several video tracks or sample descriptions, other codecs or boxes, edit lists beyond
one edit after an optional empty one, negative composition offsets, cropping on the left or
top, a header that disagrees with itself or points past the end of the data) makes
:func:`read_clip_header` return None, and the caller opens the clip with PyAV instead: the
values, and the clips PyAV cannot open, stay exactly what they were.
``tests/test_mp4_header.py`` holds both readers equal over many encodings and over damaged
headers. Pure: bytes in, values out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

from .probe_values import frame_count, stream_seconds

#: The largest numerator or denominator av_reduce keeps exact (INT_MAX).
_INT_MAX = 2**31 - 1

#: The boxes read, by parent. A box of another kind makes the header unread here.
_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"}
_MOOV = {b"mvhd", b"trak", b"udta"}
_TRAK = {b"tkhd", b"edts", b"mdia"}
_MDIA = {b"mdhd", b"hdlr", b"minf"}
_MINF = {b"vmhd", b"smhd", b"dinf", b"stbl", b"hdlr"}
_STBL = {b"stsd", b"stts", b"ctts", b"stss", b"stsc", b"stsz", b"stco", b"co64", b"sdtp"}
_AUDIO_STBL = _STBL | {b"sgpd", b"sbgp"}  # FFmpeg writes AAC's roll-distance groups
_AVC1 = {b"avcC", b"btrt", b"pasp", b"colr"}
_MP4A = {b"esds", b"btrt"}
#: ilst tags FFmpeg exports under names of its own (encoder, title, comment, ...).
_TAGS = {b"\xa9too", b"\xa9nam", b"\xa9cmt", b"\xa9day", b"\xa9ART", b"\xa9alb", b"\xa9gen", b"\xa9wrt"}


class _NotReproduced(Exception):
    """The header holds something this module does not read as FFmpeg would."""


@dataclass(frozen=True)
class HeaderValues:
    width: int
    height: int
    framerate: float
    duration: float
    num_frames: int
    video_codec: str


def read_clip_header(data: bytes) -> HeaderValues | None:
    """The clip-level probe values of an MP4 clip from its header, or None where only a
    demuxer can say (see the module's docstring)."""
    try:
        return _read(memoryview(data))
    except (_NotReproduced, struct.error, IndexError, ValueError, ZeroDivisionError):
        return None


# --------------------------------------------------------------------------------------
# Boxes


def _children(buf: memoryview, start: int, end: int, allowed: set[bytes]) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in buf[start:end], all of ``allowed``
    kinds. Sizes 0 (to the end) and 1 (64-bit) only at the top, where muxers write them:
    inside the header some of FFmpeg's readers treat them as errors, others do not."""
    out, pos = [], start
    while pos < end:
        if end - pos < 8:
            raise _NotReproduced("trailing bytes after the last box")
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size in (0, 1) and start != 0:
            raise _NotReproduced("a box size of another form")
        if size == 1:
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise _NotReproduced(f"box {kind!r} runs past its parent")
        if kind not in allowed:
            raise _NotReproduced(f"box {kind!r}")
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def _only(children, kind: bytes) -> tuple[int, int]:
    found = [(s, e) for k, s, e in children if k == kind]
    if len(found) != 1:
        raise _NotReproduced(f"{len(found)} {kind!r} boxes")
    return found[0]


def _unique(children) -> dict[bytes, tuple[int, int]]:
    boxes: dict[bytes, tuple[int, int]] = {}
    for kind, start, end in children:
        if kind in boxes:
            raise _NotReproduced(f"several {kind!r} boxes")
        boxes[kind] = (start, end)
    return boxes


def _full_box(buf: memoryview, start: int, end: int, versions: tuple[int, ...], size: int) -> int:
    """The version of a full box whose fixed part is ``size`` bytes (after version and flags)."""
    version = buf[start]
    if version not in versions or end - start < 4 + size:
        raise _NotReproduced("a box of another version or too short")
    return version


def _table(buf: memoryview, start: int, end: int, entry_size: int) -> int:
    """The entry count of a table box, checked to fit in the box (FFmpeg reads past a short
    box into the next and fails on the end of the header)."""
    _full_box(buf, start, end, (0, 1), 4)
    (entries,) = struct.unpack_from(">I", buf, start + 4)
    if start + 8 + entry_size * entries > end:
        raise _NotReproduced("a table longer than its box")
    return entries


def _text(raw: bytes) -> None:
    """Tag text PyAV decodes (it refuses a file whose tags are not UTF-8)."""
    try:
        raw.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _NotReproduced("tag text that is not UTF-8") from None


# --------------------------------------------------------------------------------------
# The movie


def _read(buf: memoryview) -> HeaderValues:
    top = _children(buf, 0, len(buf), _TOP)
    if top[0][0] != b"ftyp":
        raise _NotReproduced("not an MP4 that starts with ftyp")
    moov = _children(buf, *_only(top, b"moov"), _MOOV)
    start, end = _only(moov, b"mvhd")
    version = _full_box(buf, start, end, (0, 1), 96)
    if version == 1:
        _full_box(buf, start, end, (1,), 108)
    (movie_time_scale,) = struct.unpack_from(">I", buf, start + (20 if version == 1 else 12))
    if not 0 < movie_time_scale <= _INT_MAX:
        raise _NotReproduced("a movie time scale FFmpeg replaces")  # it is a C int there
    video = None
    for kind, start, end in moov:
        if kind == b"udta":
            if video is None:
                # Cover art read before the first track would become video stream 0.
                raise _NotReproduced("user data before the video track")
            _check_udta(buf, start, end)
        elif kind == b"trak":
            track = _track(buf, start, end)
            if track is not None:
                if video is not None:
                    raise _NotReproduced("several video tracks")
                video = track
    if video is None:
        raise _NotReproduced("no video track")
    return _video_values(buf, *video, movie_time_scale)


def _check_udta(buf: memoryview, start: int, end: int) -> None:
    """FFmpeg's own tags only: udta/meta (hdlr, ilst) with UTF-8 text items."""
    for _, meta_start, meta_end in _children(buf, start, end, {b"meta"}):
        _full_box(buf, meta_start, meta_end, (0,), 0)
        for kind, s, e in _children(buf, meta_start + 4, meta_end, {b"hdlr", b"ilst"}):
            if kind == b"ilst":
                for _, item_start, item_end in _children(buf, s, e, _TAGS):
                    for _, data_start, data_end in _children(buf, item_start, item_end, {b"data"}):
                        if data_end - data_start < 8 or struct.unpack_from(">I", buf, data_start)[0] != 1:
                            raise _NotReproduced("a tag that is not text")
                        _text(bytes(buf[data_start + 8:data_end]))


def _track(buf: memoryview, start: int, end: int):
    """A track checked as FFmpeg reads it; for the video track (trak, stbl, time scale,
    media duration), None for an audio track."""
    trak = _children(buf, start, end, _TRAK)
    s, e = _only(trak, b"tkhd")
    if _full_box(buf, s, e, (0, 1), 80) == 1:
        _full_box(buf, s, e, (1,), 92)
    mdia = _children(buf, *_only(trak, b"mdia"), _MDIA)
    kinds = [k for k, _, _ in mdia]
    if kinds.index(b"mdhd") > kinds.index(b"minf"):
        raise _NotReproduced("mdhd after minf")  # FFmpeg would then keep mdhd's duration as it is
    s, e = _only(mdia, b"hdlr")
    _full_box(buf, s, e, (0,), 20)
    handler = bytes(buf[s + 8:s + 12])
    _text(bytes(buf[s + 24:e]))
    if handler not in (b"vide", b"soun"):
        raise _NotReproduced(f"a {handler!r} track")
    time_scale, media_duration = _mdhd(buf, *_only(mdia, b"mdhd"))
    minf = _children(buf, *_only(mdia, b"minf"), _MINF)
    for kind, s, e in minf:
        if kind == b"hdlr":
            _full_box(buf, s, e, (0,), 20)
            _text(bytes(buf[s + 24:e]))
    _check_dinf(buf, *_only(minf, b"dinf"))
    stbl = _unique(_children(buf, *_only(minf, b"stbl"), _STBL if handler == b"vide" else _AUDIO_STBL))
    _check_tables(buf, stbl)
    entry = _sample_entry(buf, *stbl[b"stsd"], _AVC1 if handler == b"vide" else _MP4A)
    if handler != b"vide":
        return None
    return trak, stbl, entry, time_scale, media_duration


def _mdhd(buf: memoryview, start: int, end: int) -> tuple[int, int]:
    if _full_box(buf, start, end, (0, 1), 20) == 1:
        _full_box(buf, start, end, (1,), 32)
        time_scale, duration = struct.unpack_from(">IQ", buf, start + 20)
        unknown = 2**64 - 1
    else:
        time_scale, duration = struct.unpack_from(">II", buf, start + 12)
        unknown = 2**32 - 1
    if not 0 < time_scale <= _INT_MAX or duration in (0, unknown):
        raise _NotReproduced("mdhd without a time scale or a duration")
    return time_scale, duration


def _check_dinf(buf: memoryview, start: int, end: int) -> None:
    """One self-contained data reference: FFmpeg would otherwise look for another file."""
    s, e = _only(_children(buf, start, end, {b"dref"}), b"dref")
    if _table(buf, s, e, 0) != 1:
        raise _NotReproduced("several data references")
    entries = _children(buf, s + 8, e, {b"url "})
    if len(entries) != 1 or not (entries[0][2] - entries[0][1] >= 4 and buf[entries[0][1] + 3] & 1):
        raise _NotReproduced("a data reference to another file")


def _check_tables(buf: memoryview, stbl: dict[bytes, tuple[int, int]]) -> None:
    """Every sample table fits its box, and the sample-to-chunk table maps exactly the
    samples of stsz onto the chunks of stco (FFmpeg corrects or refuses it otherwise)."""
    for kind in (b"stsd", b"stts", b"stsc", b"stsz"):
        if kind not in stbl:
            raise _NotReproduced(f"no {kind!r}")
    if (b"stco" in stbl) == (b"co64" in stbl):
        raise _NotReproduced("no single chunk offset table")
    for kind, entry in ((b"stts", 8), (b"ctts", 8), (b"stss", 4)):
        if kind in stbl:
            _table(buf, *stbl[kind], entry)
    chunks = _table(buf, *stbl[b"stco"], 4) if b"stco" in stbl else _table(buf, *stbl[b"co64"], 8)
    s, e = stbl[b"stsz"]
    _full_box(buf, s, e, (0,), 8)
    sample_size, samples = struct.unpack_from(">II", buf, s + 4)
    if sample_size == 0:
        if s + 12 + 4 * samples > e:
            raise _NotReproduced("stsz shorter than its sample count")
        sample_size = max(struct.unpack_from(f">{samples}I", buf, s + 12), default=0)
    if sample_size > 0x3FFFFFFF:
        raise _NotReproduced("a sample FFmpeg finds too large")  # it stops indexing the track
    s, e = stbl[b"stsc"]
    entries = _table(buf, s, e, 12)
    rows = struct.unpack_from(f">{3 * entries}I", buf, s + 8)
    firsts, counts, ids = rows[0::3], rows[1::3], rows[2::3]
    if (not entries or firsts[0] != 1 or any(b <= a for a, b in zip(firsts, firsts[1:]))
            or firsts[-1] > chunks or min(counts) < 1 or set(ids) != {1}):
        raise _NotReproduced("sample-to-chunk entries FFmpeg corrects")
    spans = [*(b - a for a, b in zip(firsts, firsts[1:])), chunks - firsts[-1] + 1]
    if sum(span * count for span, count in zip(spans, counts)) != samples:
        raise _NotReproduced("sample-to-chunk entries that do not cover the samples")


def _sample_entry(buf: memoryview, start: int, end: int, allowed: set[bytes]):
    """The one sample description: (payload start, end, its boxes by kind), checked."""
    if _table(buf, start, end, 0) != 1:
        raise _NotReproduced("several sample descriptions")
    ((fmt, s, e),) = _children(buf, start + 8, end, {b"avc1", b"mp4a"})
    if (fmt == b"avc1") != (b"avcC" in allowed):
        raise _NotReproduced(f"a {fmt!r} sample entry in this track")
    fixed = 78 if fmt == b"avc1" else 28  # visual / audio sample entry fields
    if e - s < fixed:
        raise _NotReproduced("a short sample entry")
    if fmt == b"avc1" and any(c >= 0x80 for c in buf[s + 42:s + 74]):
        raise _NotReproduced("a compressor name that is not ASCII")
    if fmt == b"mp4a" and struct.unpack_from(">H", buf, s + 8)[0] != 0:
        raise _NotReproduced("a QuickTime sound description")
    boxes = _unique(_children(buf, s + fixed, e, allowed))
    if fmt == b"mp4a":
        if b"esds" not in boxes:
            raise _NotReproduced("an mp4a entry without esds")
        _check_esds(buf, *boxes[b"esds"])
    return s, e, boxes


def _descriptor(buf: memoryview, pos: int, end: int, tag: int) -> tuple[int, int]:
    """(payload start, end) of the MPEG-4 descriptor at ``pos``, which must have ``tag``."""
    if pos >= end or buf[pos] != tag:
        raise _NotReproduced("an esds of another layout")
    length, pos = 0, pos + 1
    for _ in range(4):
        byte = buf[pos]
        pos += 1
        length = length << 7 | byte & 0x7F
        if not byte & 0x80:
            break
    if pos + length > end:
        raise _NotReproduced("an esds descriptor longer than its box")
    return pos, pos + length


def _check_esds(buf: memoryview, start: int, end: int) -> None:
    """AAC-LC with a sampling rate and a channel layout of the standard tables: a decoder
    configuration FFmpeg refuses fails the whole file's opening."""
    _full_box(buf, start, end, (0,), 0)
    s, e = _descriptor(buf, start + 4, end, 0x03)  # ES_Descriptor
    flags = buf[s + 2]
    if flags & 0xE0:
        raise _NotReproduced("an ES descriptor with dependencies or a URL")
    s, e = _descriptor(buf, s + 3, e, 0x04)  # DecoderConfigDescriptor
    if buf[s] != 0x40 or e - s < 13:
        raise _NotReproduced("audio that is not MPEG-4 AAC")
    s, e = _descriptor(buf, s + 13, e, 0x05)  # DecoderSpecificInfo: AudioSpecificConfig
    if e - s < 2:
        raise _NotReproduced("a short AudioSpecificConfig")
    config = buf[s] << 8 | buf[s + 1]
    object_type, rate_index, channels = config >> 11, config >> 7 & 0xF, config >> 3 & 0xF
    if object_type != 2 or rate_index > 12 or not 1 <= channels <= 7:
        raise _NotReproduced("an AAC configuration other than LC at a standard rate")


# --------------------------------------------------------------------------------------
# The video track's values


def _video_values(buf: memoryview, trak, stbl, entry, time_scale: int, media_duration: int,
                  movie_time_scale: int) -> HeaderValues:
    s, _, config = entry
    width, height = struct.unpack_from(">HH", buf, s + 24)
    if b"avcC" not in config or _avc_size(buf, *config[b"avcC"]) != (width, height) or not width or not height:
        raise _NotReproduced("the sample entry's size differs from the stream's")
    samples, sample_durations = _stts(buf, *stbl[b"stts"])
    s, _ = stbl[b"stsz"]
    sample_size, count = struct.unpack_from(">II", buf, s + 4)
    if count != samples:
        raise _NotReproduced("stsz and stts count different samples")
    if b"ctts" in stbl:
        _check_ctts(buf, *stbl[b"ctts"])
    _check_data_present(buf, stbl)

    rate = Fraction(time_scale * samples, sample_durations)
    if rate.numerator > _INT_MAX or rate.denominator > _INT_MAX:
        raise _NotReproduced("a frame rate beyond av_reduce's exact range")
    duration = min(media_duration, sample_durations)
    edts = [(s, e) for k, s, e in trak if k == b"edts"]
    if len(edts) > 1:
        raise _NotReproduced("several edts boxes")
    if edts:
        duration = min(duration, _edit_list_end(buf, *edts[0], time_scale, movie_time_scale))
    framerate = float(rate)
    seconds = stream_seconds(duration, 1, time_scale)  # the stream's time base is 1/time_scale
    return HeaderValues(width=width, height=height, framerate=framerate, duration=seconds,
                        num_frames=frame_count(seconds, framerate), video_codec="h264")


def _stts(buf: memoryview, start: int, end: int) -> tuple[int, int]:
    entries = _table(buf, start, end, 8)
    values = struct.unpack_from(f">{2 * entries}I", buf, start + 8)
    counts, durations = values[0::2], values[1::2]
    # Durations FFmpeg would clip or correct (huge, or negative as int32), or zero ones.
    if not entries or min(durations) == 0 or max(durations) >= 2**31:
        raise _NotReproduced("stts durations FFmpeg corrects")
    samples = sum(counts)
    if not samples or samples > _INT_MAX:
        raise _NotReproduced("no samples")
    return samples, sum(c * d for c, d in zip(counts, durations, strict=True))


def _check_ctts(buf: memoryview, start: int, end: int) -> None:
    entries = _table(buf, start, end, 8)
    values = struct.unpack_from(f">{2 * entries}i", buf, start + 8)
    # Negative offsets shift FFmpeg's timestamps (dts_shift), huge ones make it drop the box,
    # and entries without samples are skipped: none of that is reproduced here.
    if entries and (min(values[0::2]) <= 0 or min(values[1::2]) < 0 or max(values[1::2]) >= 2**28):
        raise _NotReproduced("ctts offsets FFmpeg adjusts")


def _check_data_present(buf: memoryview, stbl) -> None:
    """The samples lie inside the data: a clip cut short is left to the demuxer."""
    kind = b"stco" if b"stco" in stbl else b"co64"
    start, _ = stbl[kind]
    (entries,) = struct.unpack_from(">I", buf, start + 4)
    offsets = struct.unpack_from(f">{entries}{'I' if kind == b'stco' else 'Q'}", buf, start + 8)
    stsz, _ = stbl[b"stsz"]
    sample_size, count = struct.unpack_from(">II", buf, stsz + 4)
    last = sample_size or (struct.unpack_from(">I", buf, stsz + 12 + 4 * (count - 1))[0] if count else 0)
    if not offsets or max(offsets) + last > len(buf):
        raise _NotReproduced("samples beyond the end of the data")


def _edit_list_end(buf: memoryview, start: int, end: int, time_scale: int, movie_time_scale: int) -> int:
    """Where the edit list ends on the track's time line (mov_fix_index's
    ``edit_list_dts_entry_end``), for one edit after an optional empty one."""
    s, e = _only(_children(buf, start, end, {b"elst"}), b"elst")
    version = _full_box(buf, s, e, (0, 1), 4)
    layout, step = (">QqhH", 20) if version == 1 else (">IihH", 12)
    entries = _table(buf, s, e, step)
    edits = [struct.unpack_from(layout, buf, s + 8 + i * step) for i in range(entries)]
    normal = edits[1:] if len(edits) == 2 and edits[0][1] == -1 else edits
    if len(normal) != 1 or normal[0][1] < 0 or normal[0][0] == 0 or normal[0][2:] != (1, 0) or not movie_time_scale:
        raise _NotReproduced("an edit list of another shape")
    # av_rescale: duration * time_scale / movie_time_scale, rounded to nearest.
    return sum((duration * time_scale + movie_time_scale // 2) // movie_time_scale for duration, *_ in edits)


# --------------------------------------------------------------------------------------
# H.264: the picture size from the first sequence parameter set in avcC (H.264 7.3.2.1.1)


def _avc_size(buf: memoryview, start: int, end: int) -> tuple[int, int]:
    if end - start < 8 or buf[start] != 1 or not buf[start + 5] & 0x1F:
        raise _NotReproduced("avcC of another version or without a parameter set")
    (length,) = struct.unpack_from(">H", buf, start + 6)
    nal = bytes(buf[start + 8:start + 8 + length])
    if len(nal) != length or not length or nal[0] & 0x1F != 7:
        raise _NotReproduced("avcC's first parameter set is not an SPS")
    # Without its emulation prevention bytes (00 00 03 -> 00 00).
    return _sps_size(nal[1:].replace(b"\x00\x00\x03", b"\x00\x00"))


class _Bits:
    def __init__(self, data: bytes):
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise _NotReproduced("an SPS that ends early")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise _NotReproduced("an SPS value too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


#: Profiles whose SPS carries chroma format, bit depths and scaling matrices.
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def _sps_size(rbsp: bytes) -> tuple[int, int]:
    bits = _Bits(rbsp)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format, separate_planes = 1, 0
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate_planes = bits.u(1)
        bits.ue(), bits.ue(), bits.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if bits.u(1):  # seq_scaling_matrix_present
            for i in range(8 if chroma_format != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num - 4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1), bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue(), bits.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field
    bits.u(1)  # direct_8x8_inference
    left = right = top = bottom = 0
    if bits.u(1):
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
    if left or top or chroma_format > 3:
        raise _NotReproduced("cropping on the left or top")  # FFmpeg may realign it
    chroma_type = 0 if separate_planes else chroma_format
    unit_x = 2 if chroma_type in (1, 2) else 1
    unit_y = (2 - frame_mbs_only) * (2 if chroma_type == 1 else 1)
    width = 16 * width_mbs - unit_x * right
    height = 16 * height_units * (2 - frame_mbs_only) - unit_y * bottom
    if width <= 0 or height <= 0:
        raise _NotReproduced("cropping larger than the picture")
    return width, height


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last
