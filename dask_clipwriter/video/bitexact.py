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

**swscale's SIMD rounding.** Scaling and pixel-format conversion round differently in the
C, SSE2 and AVX2 paths: the same frame scaled 320x256 -> 226x180 gave three different
pictures. With ``ACCURATE_RND | BITEXACT`` all three agree. Every conversion that makes
stored pixels (clip frames, preview frames, frames for plug-ins) uses :func:`scaler_flags`.
It is bicubic, FFmpeg's default for its ``scale`` filter, which the reference's command uses.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

#: x264's ``asm`` value on a CPU with AVX-512: the AVX2 level and the scalar extensions
#: every AVX-512 CPU also has (x264 would otherwise add AVX-512 itself).
X264_ASM_WITHOUT_AVX512 = "AVX2,FMA3,BMI2,LZCNT"


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


def reproducible_encoder_options(encoder: str, options: Mapping[str, str], *, avx512: bool | None = None) -> dict[str, str]:
    """``options`` for ``encoder`` plus what makes its output the same on every CPU.

    For libx264 on an AVX-512 CPU that is ``asm=`` in ``x264-params``, unless the caller set
    ``asm`` there already (their choice wins).
    """
    out = dict(options)
    if encoder != "libx264" or not (cpu_has_avx512() if avx512 is None else avx512):
        return out
    params = out.get("x264-params", "")
    keys = {item.split("=", 1)[0].strip() for item in params.split(":") if item}
    if "asm" not in keys:
        out["x264-params"] = ":".join(filter(None, [params, f"asm={X264_ASM_WITHOUT_AVX512}"]))
    return out


@functools.cache
def scaler_flags() -> int:
    """swscale flags for every conversion that makes stored pixels (see the module docstring)."""
    from av.video.reformatter import Interpolation

    return int(Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.BITEXACT)
