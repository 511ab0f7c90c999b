"""Why a clip was filtered, one reason per filtered clip [ours] (pure).

The reference counts filtered clips per filter (``num_clips_filtered_by_motion``,
``..._by_aesthetic``), and a clip the motion filter could not score counts as "filtered by
motion" like one it scored as still. These reasons tell them apart, from the clip's own
record: ``filtered_by`` and the value the reference's motion stage writes under
``errors["motion_decode"]`` (or ``errors["buffer"] = "empty"`` for a clip without bytes).
They are added up in summary.json (``filtered``) and printed at the end of a job.
"""

from __future__ import annotations

from collections.abc import Mapping

#: reason key -> what the terminal says; motion's reasons first, in this order.
REASONS: dict[str, str] = {
    "small_motion": "small motion",
    "too_small_to_score": "too small to score (< 256 px)",
    "no_motion_vectors": "no motion vectors",
    "motion_undecodable": "motion not decodable",
    "no_clip_bytes": "no clip bytes",
    "aesthetic": "aesthetic score",
}
#: errors["motion_decode"] values (the reference's) -> reason.
_MOTION_DECODE = {"resolution_too_small": "too_small_to_score", "no_motion_frames": "no_motion_vectors",
                  "decode_failed": "motion_undecodable"}


def filter_reason(filtered_by: str | None, errors: Mapping[str, str] | None) -> str | None:
    """The reason of a filtered clip (None for a passed one); another filter is its own name."""
    if filtered_by is None:
        return None
    if filtered_by != "motion":
        return filtered_by
    errors = errors or {}
    if "motion_decode" in errors:
        return _MOTION_DECODE.get(errors["motion_decode"], "motion_undecodable")
    if "buffer" in errors:
        return "no_clip_bytes"
    return "small_motion"


def describe_filtered(counts: Mapping[str, int]) -> str:
    """``{reason: clips}`` as the terminal shows it: ``small motion 3, too small to score 2``."""
    order = [*REASONS, *sorted(set(counts) - set(REASONS))]
    return ", ".join(f"{REASONS.get(reason, reason)} {counts[reason]}" for reason in order if counts.get(reason))
