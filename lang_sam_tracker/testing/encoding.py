"""Encoder settings that make a scene's video the same bytes on every write.

libx264 as shipped in PyAV's wheels is not repeatable on CPUs with AVX-512: one of its AVX-512
routines makes the same frames encode differently from one write to the next (measured: six writes
of a 150-frame crowd scene gave six different files, with decoded pixels up to 106 levels apart;
without AVX-512, or with no assembly at all, all six were byte-identical). Every score measured on a
scene video (IDF1 of the identity benchmark moved between 0.939 and 0.965 for one seed) was then a
draw. Its thread count also changes the bitstream (frame threading), and the default follows the
number of cores, so the same scene would differ between machines.

So the scene writers encode with one thread and, where the CPU has AVX-512, with x264's assembly
limited to the AVX2 level (every AVX-512 CPU has all of these); elsewhere x264 picks as usual.
"""

from __future__ import annotations

import functools

# x264's names for the instruction sets up to AVX2 (no XOP/FMA4: AMD-only, absent on AVX-512 CPUs).
_UP_TO_AVX2 = "MMX2,SSE,SSE2,SSE2Fast,SSE3,SSSE3,SSE4.1,SSE4.2,LZCNT,AVX,FMA3,BMI1,BMI2,AVX2"


@functools.lru_cache(maxsize=1)
def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def x264_options(crf: int, preset: str = "medium") -> dict[str, str]:
    """The libx264 options for a repeatable encode at `crf` (see the module docstring)."""
    options = {"crf": str(crf), "preset": preset, "threads": "1"}
    if _has_avx512():
        options["x264-params"] = f"asm={_UP_TO_AVX2}"
    return options
