"""The video encoders a clip can be made with, their options, and the check made at start.

The reference (NeMo Curator's ``ClipTranscodingStage``) encodes with libx264 by default and
offers libopenh264 and h264_nvenc; since NeMo Curator PR #1930 (May 2026) its FFmpeg no
longer bundles libopenh264, and libvpx-vp9 is its CPU fallback, writing VP9 into the same
``clips/<uuid>.mp4`` files (MP4's ``vp09`` sample entry; FFmpeg, PyAV, decord and browsers
read it). We offer the CPU encoders among these that the bundled FFmpeg has: h264_nvenc
needs an NVIDIA GPU, and its bytes depend on the GPU and driver, which this project's
reproducible-bytes promise cannot cover. ``video_codec`` in the metas is probed from the
clip, so it follows the encoder (``h264`` or ``vp9``).

Options: ``encoder-preset`` and ``encoder-crf`` have their own settings; anything else goes
in ``encoder-options`` as ``key=value`` (FFmpeg's option names for that encoder: x264's
``x264-params``, ``tune``, ``profile``; libvpx's ``cpu-used``, ``deadline``, ``row-mt`` ...).
Unset options keep FFmpeg's defaults, as the reference's command line does. Everything is
checked once at start (:func:`check_encoder`): an encoder the bundled FFmpeg lacks, an option
it does not know or a value it refuses is one error naming it. So is an x264 parameter in
``x264-params`` or ``x264opts`` that reproducible bytes depend on or that we set ourselves
(``threads``, ``asm`` ...: bitexact.PINNED_X264_PARAMS).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .bitexact import pinned_x264_problems

#: Encoder -> the codec it writes (what ``video_codec`` in the metas says).
ENCODERS: dict[str, str] = {"libx264": "h264", "libopenh264": "h264", "libvpx-vp9": "vp9"}
DEFAULT_ENCODER = "libx264"
#: CRF ranges; libopenh264 has no CRF.
CRF_RANGES: dict[str, tuple[int, int]] = {"libx264": (0, 51), "libvpx-vp9": (0, 63)}
#: Encoders with x264-style presets.
PRESET_ENCODERS = ("libx264",)
#: Options set elsewhere: the thread count (encoder-threads, one per clip for reproducible
#: bytes) and the pixel format (yuv420p, as every reader expects).
RESERVED_OPTIONS = {"threads": "encoder-threads", "preset": "encoder-preset", "crf": "encoder-crf",
                    "pix_fmt": None}


def parse_options(items: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """``["key=value", ...]`` as a dict, and the problems found (bad items, repeated keys)."""
    options: dict[str, str] = {}
    problems = []
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"encoder-options takes key=value items, got {item!r}")
        elif key in options:
            problems.append(f"encoder-options sets {key!r} twice")
        elif key in RESERVED_OPTIONS:
            home = RESERVED_OPTIONS[key]
            problems.append(f"encoder-options cannot set {key!r}" + (f"; use {home}" if home else ""))
        else:
            options[key] = value
    problems += pinned_x264_problems(options)
    return options, problems


def option_problems(encoder: str, preset: str | None, crf: int | None, items: Sequence[str]) -> list[str]:
    """What is wrong with these encoder settings, without asking FFmpeg (pure)."""
    problems = parse_options(items)[1]
    if encoder not in ENCODERS:
        return [f"encoder must be one of {tuple(ENCODERS)!r}, got {encoder!r}", *problems]
    if preset is not None and encoder not in PRESET_ENCODERS:
        problems.append(f"encoder-preset is an x264 option; {encoder} has none (its speed options go in "
                        "encoder-options, e.g. cpu-used=4 for libvpx-vp9)")
    if crf is not None:
        if encoder not in CRF_RANGES:
            problems.append(f"encoder-crf: {encoder} has no CRF (set a bit rate in encoder-options, b=2M)")
        else:
            low, high = CRF_RANGES[encoder]
            if not low <= crf <= high:
                problems.append(f"encoder-crf must be within {low}..{high} for {encoder}, got {crf}")
    return problems


def encoder_options(encoder: str, preset: str | None, crf: int | None, items: Sequence[str]) -> dict[str, str]:
    """The AVOptions handed to the encoder: only what is set, so FFmpeg's defaults stay."""
    options = {}
    if preset is not None:
        options["preset"] = preset
    if crf is not None:
        options["crf"] = str(crf)
        if encoder == "libvpx-vp9":
            # libvpx's CRF is a cap unless the bit rate is 0 (constant quality), which is
            # what a CRF means with x264; a bit rate given in encoder-options wins.
            options["b"] = "0"
    options.update(parse_options(items)[0])
    return options


def bundled_encoders() -> list[str]:
    """The encoders of :data:`ENCODERS` that the bundled FFmpeg (PyAV's) has."""
    import av

    found = []
    for name in ENCODERS:
        try:
            av.Codec(name, "w")
        except Exception:  # noqa: BLE001 - PyAV raises UnknownCodecError (or ValueError in old versions)
            continue
        found.append(name)
    return found


def check_encoder(encoder: str, options: Mapping[str, str], threads: int = 1) -> None:
    """Refuse, before any work, an encoder the bundled FFmpeg lacks, or options it refuses
    or does not know: the encoder is opened once on a small picture with them."""
    from ..settings import SettingsError

    from .bitexact import reproducible_encoder_options

    try:  # options the bytes' reproducibility forbids (x264's threads, asm): refused first
        chosen = reproducible_encoder_options(encoder, options)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    have = bundled_encoders()
    if encoder not in have:
        raise SettingsError(f"encoder {encoder!r} is not in the bundled FFmpeg (PyAV); it has "
                            f"{', '.join(have) or 'none of ' + ', '.join(ENCODERS)}")
    import io

    import av

    try:
        with av.open(io.BytesIO(), "w", format="mp4") as container:
            stream = container.add_stream(encoder, rate=30)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            stream.codec_context.thread_count = threads
            stream.codec_context.options = chosen
            stream.codec_context.open()
            unknown = sorted(stream.codec_context.options)
    except Exception as exc:  # noqa: BLE001 - FFmpeg's refusal, whatever its type
        shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "no options"
        raise SettingsError(f"encoder {encoder} does not open with {shown}: {exc}") from None
    if unknown:
        raise SettingsError(f"encoder {encoder} does not know the option(s) {', '.join(unknown)} "
                            "(encoder-options takes FFmpeg's option names for that encoder)")
