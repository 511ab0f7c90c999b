"""Encoded bytes that depend only on the source and the settings, not on the run or the CPU.

Two parts of the bundled FFmpeg make output depend on the machine; both are fixed here, at
the two places where pixels are made (the encoder's options and the scaler's flags).

**x264's AVX-512 macroblock tree.** x264 (build 165, as bundled with PyAV 18) propagates
macroblock-tree costs eight macroblocks at a time. Its SSSE3/AVX/AVX2 versions write into a
scratch buffer of which the caller reads only the row's real entries. The AVX-512 version
instead scatters straight into the reference frame's costs, and it does not mask the lanes
past the end of a row. When the frame's width in macroblocks is not a multiple of 8, the
last row's extra lanes read memory past x264's own arrays. That memory is uninitialised, so
rate control, and with it the bytes, change from run to run. This was measured on a 320x256
clip (20 macroblocks wide): 6 encodes gave 6 different files. Widths of 16, 24 or 32
macroblocks always gave the same bytes; `mbtree=0` also did, which points at the macroblock
tree. With AVX-512 left out, every instruction level from SSSE3 to AVX2 gives the same bytes
as the others and as AVX-512 on those widths, at the same speed (0.91 s against 0.92 s for
the 12 s test clip). So on a CPU with AVX-512 we pin x264 to the AVX2 level through its
``asm`` parameter. A pin must never name a feature the CPU lacks (x264 does not check), so
nothing is pinned on other CPUs. They choose at most AVX2 and get the same bytes anyway.
CPUs without SSSE3 (x86-64 parts from before 2006-2011) would give other bytes.

Since ``asm`` is our pin, a user's own ``asm`` in ``x264-params`` or ``x264opts`` is refused
(:data:`PINNED_X264_PARAMS`): on an AVX-512 CPU it would undo the pin, elsewhere it would
make the bytes those of another CPU level. So are x264's threading parameters, which
``encoder-threads`` sets (one thread per clip) and which make the bytes depend on the
machine or the run.

**swscale's SIMD rounding.** Scaling and pixel-format conversion round differently in the
C, SSE2 and AVX2 paths: the same frame scaled 320x256 -> 226x180 gave three different
pictures. With ``ACCURATE_RND | BITEXACT`` all three agree. Every conversion that makes
stored pixels (clip frames, preview frames, frames for plug-ins) uses :func:`scaler_flags`.
It is bicubic, FFmpeg's default for its ``scale`` filter, which the reference's command uses.

**Float audio codecs** (the AAC encoder that re-encodes a clip's audio, and the decoders of
float codecs it reads from) choose AVX versions of their DSP at open: see
:func:`float_audio_codec_init`. VP9 needs nothing: libvpx requires each of its SIMD functions
to give the C function's exact output (it tests that), and it gave the same bytes with its
SIMD masked off (``VPX_SIMD_CAPS_MASK=0``).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import threading
from collections.abc import Iterator, Mapping

#: x264's ``asm`` value on a CPU with AVX-512: the AVX2 level and the scalar extensions
#: every AVX-512 CPU also has (x264 would otherwise add AVX-512 itself).
X264_ASM_WITHOUT_AVX512 = "AVX2,FMA3,BMI2,LZCNT"
#: FFmpeg's libx264 options that hand parameters to x264 itself (``key=value:key=value``).
X264_PARAM_OPTIONS = ("x264-params", "x264opts")
_THREADS = "x264's threads are set by encoder-threads (one per clip), for the same bytes on every machine"
#: x264 parameters a user may not set, and why: we set them, or they make bytes irreproducible.
PINNED_X264_PARAMS = {
    "threads": "the thread count is encoder-threads (one per clip, for the same bytes on every machine)",
    "lookahead-threads": _THREADS,
    "sliced-threads": _THREADS,
    "sync-lookahead": _THREADS,
    "non-deterministic": "it lets x264's threads give different bytes on every run",
    "asm": "clipwriter pins x264's instruction set itself (AVX2 on AVX-512 CPUs), which is what keeps "
           "the bytes the same on every CPU",
}


@functools.lru_cache(maxsize=1)
def cpu_has_avx512() -> bool:
    """Whether this CPU (and OS) runs AVX-512F code, as x264 would detect it."""
    try:
        # numpy's runtime dispatch table: cross-platform, and it checks OS support (XGETBV).
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - a numpy that moved its private table
        try:
            with open("/proc/cpuinfo") as fh:
                return "avx512f" in fh.read().split()
        except OSError:
            return False
    return bool(__cpu_features__.get("AVX512F"))


def x264_param_names(value: str) -> list[str]:
    """The parameter names of an ``x264-params`` or ``x264opts`` value, as given
    (``"keyint=60:no-8x8dct"``: keyint, no-8x8dct)."""
    return [item.split("=", 1)[0].strip() for item in value.split(":") if item.strip()]


def _pinned_name(name: str) -> str | None:
    """The :data:`PINNED_X264_PARAMS` entry ``name`` sets, in any spelling x264 takes
    (``sliced_threads``, and the negations ``no-asm``, ``noasm``), else None."""
    name = name.replace("_", "-")
    for candidate in (name, name[3:] if name.startswith("no-") else None, name[2:] if name.startswith("no") else None):
        if candidate in PINNED_X264_PARAMS:
            return candidate
    return None


def pinned_x264_problems(options: Mapping[str, str]) -> list[str]:
    """One message per x264 parameter in ``x264-params``/``x264opts`` that may not be set."""
    problems = []
    for option in X264_PARAM_OPTIONS:
        for name in x264_param_names(str(options.get(option) or "")):
            pinned = _pinned_name(name)
            if pinned is not None:
                problems.append(f"encoder-options cannot set {name!r} in {option}: {PINNED_X264_PARAMS[pinned]}")
    return problems


def reproducible_encoder_options(encoder: str, options: Mapping[str, str], *, avx512: bool | None = None) -> dict[str, str]:
    """``options`` for ``encoder`` plus what makes its output the same on every CPU.

    For libx264 on an AVX-512 CPU that is ``asm=`` in ``x264-params``. Options that set one
    of :data:`PINNED_X264_PARAMS` (``asm`` among them, on every CPU) raise ValueError: the
    settings refuse them at start, so reaching here with one is a caller's mistake.
    """
    out = dict(options)
    if encoder != "libx264":
        return out
    problems = pinned_x264_problems(out)
    if problems:
        raise ValueError("; ".join(problems))
    if not (cpu_has_avx512() if avx512 is None else avx512):
        return out
    params = out.get("x264-params", "")
    out["x264-params"] = ":".join(filter(None, [params, f"asm={X264_ASM_WITHOUT_AVX512}"]))
    return out


@functools.cache
def scaler_flags() -> int:
    """swscale flags for every conversion that makes stored pixels (see the module docstring)."""
    from av.video.reformatter import Interpolation

    return int(Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.BITEXACT)


# --------------------------------------------------------------------------------------
# Float audio codecs: libavcodec's own SIMD choice

#: libavutil's x86 flags up to SSE4.2 (MMX .. SSE4.2, CMOV): AV_CPU_FLAG_* in cpu.h.
AVUTIL_FLAGS_UP_TO_SSE42 = 0x0001 | 0x0002 | 0x0008 | 0x0010 | 0x0040 | 0x0080 | 0x0100 | 0x0200 | 0x1000
_cpu_flags_lock = threading.Lock()


@functools.cache
def _bundled_avutil():
    """PyAV's own libavutil (already loaded by ``import av``), or None where it is not found."""
    import ctypes

    import av

    candidates = []
    try:
        with open("/proc/self/maps") as fh:  # Linux: the copy this process really uses
            candidates = sorted({line.split()[-1] for line in fh if "libavutil" in line and "/" in line})
    except OSError:
        pass
    package = os.path.dirname(av.__file__)
    for folder in (os.path.join(package, os.pardir, "av.libs"), os.path.join(package, ".dylibs")):
        candidates += sorted(glob.glob(os.path.join(folder, "libavutil*")))
    for path in candidates:
        try:
            library = ctypes.CDLL(path)
            library.av_get_cpu_flags.restype = ctypes.c_int
            library.av_force_cpu_flags.argtypes = [ctypes.c_int]
            return library
        except (OSError, AttributeError):
            continue
    return None


@contextlib.contextmanager
def float_audio_codec_init() -> Iterator[None]:
    """Open a float audio codec (the AAC encoder, the Vorbis or Opus decoder ...) inside this
    to get the same samples and bytes on every x86-64 CPU.

    libavcodec picks its SIMD functions (FFT/MDCT, float DSP) when a codec is opened. The
    AVX and the AVX2/FMA3 versions round differently from the SSE ones and the C code, which
    all agree: FFmpeg's AAC encoder gave three different files for one input on the levels
    C..SSE4.2, AVX, and AVX2 and up (a 3 s stereo tone, 44.1 and 48 kHz). So while a codec
    opens, libavutil's CPU flags are held at SSE4.2 (never more than the CPU has), then put
    back: decoding and encoding afterwards use the functions chosen at open, at the same
    speed as on a CPU without AVX. A lock keeps two of our opens from interleaving; another
    thread opening a codec in that instant would only get the SSE versions.
    """
    avutil = _bundled_avutil()
    if avutil is None:  # pragma: no cover - a PyAV wheel with another layout
        yield
        return
    with _cpu_flags_lock:
        before = avutil.av_get_cpu_flags()
        avutil.av_force_cpu_flags(before & AVUTIL_FLAGS_UP_TO_SSE42)
        try:
            yield
        finally:
            avutil.av_force_cpu_flags(before)
