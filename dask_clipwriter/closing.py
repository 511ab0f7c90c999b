"""The closing lines of a run on the terminal, from its summary: which videos failed or are
incomplete (the first ten, and how many), why clips were filtered, which errors clips had.
Pure: a summary.json document in, lines out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .filter_reasons import describe_filtered

#: Videos named per list; the rest are counted.
NAMED = 10
#: An error message is cut to this many characters on the terminal (summary.json has it whole).
ERROR_CHARS = 120


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 3] + "..."


def _named(entries: list[str], total: int) -> str:
    more = total - len(entries)
    return "; ".join(entries) + (f"; and {more} more (summary.json lists them)" if more > 0 else "")


def failed_videos(summary: Mapping[str, Any]) -> list[str]:
    """``failed videos (N): a (why); b (why); ...`` and the same for incomplete ones, or []."""
    entries = summary.get("videos") or []
    totals = summary.get("totals") or {}
    lines = []
    failed = [v for v in entries if "error" in v]
    count = max(int(totals.get("videos_failed", 0)), len(failed))
    if count:
        named = [f"{v['video']} ({_cut(v['error'])})" for v in failed[:NAMED]]
        lines.append(f"failed videos ({count}): {_named(named, count)}")
    incomplete = [v for v in entries if "error" not in v and not v.get("complete", True)]
    if incomplete:
        named = [f"{v['video']} (chunks {', '.join(map(str, v.get('missing_chunks', [])[:5]))} missing)"
                 for v in incomplete[:NAMED]]
        lines.append(f"incomplete videos ({len(incomplete)}; run again with --resume): "
                     f"{_named(named, len(incomplete))}")
    return lines


def filter_reasons(run: Mapping[str, Any]) -> str:
    """``filtered clips: 3 by motion, 1 by aesthetic (small motion 2, too small to score
    (< 256 px) 1, aesthetic score 1)`` for this run's figures: the reference's counters per
    filter, then why, for the chunks this run wrote (filter_reasons.py; a resumed chunk's
    marker has only the counters)."""
    motion = int(run.get("num_clips_filtered_by_motion", 0))
    aesthetic = int(run.get("num_clips_filtered_by_aesthetic", 0))
    other = int(run.get("num_clips_filtered", 0)) - motion - aesthetic
    parts = [f"{motion} by motion", f"{aesthetic} by aesthetic"] + ([f"{other} for other reasons"] if other else [])
    reasons = describe_filtered(run.get("filtered") or {})
    return f"filtered clips: {', '.join(parts)}" + (f" ({reasons})" if reasons else "")


def clip_errors(run: Mapping[str, Any]) -> list[str]:
    errors = {key: int(n) for key, n in (run.get("errors") or {}).items() if n}
    if not errors:
        return []
    listed = ", ".join(f"{key} {n}" for key, n in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0])))
    return [f"clips with errors, by kind: {listed}"]


def closing_lines(summary: Mapping[str, Any]) -> list[str]:
    run = summary.get("run") or {}
    return [filter_reasons(run), *clip_errors(run), *failed_videos(summary)]


__all__ = ["closing_lines", "failed_videos", "filter_reasons"]
