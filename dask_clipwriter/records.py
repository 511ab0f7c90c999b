"""The clip/video record contract (shared/spec/clip-records.md): columns, dtypes, validation.

A partition (pandas) is turned into plain Python :class:`ClipRecord` objects by
:func:`normalise_clip_partition`. That is the one place where pandas' many spellings of
"missing" (None, NaN, ``pd.NA``), pyarrow-backed values (maps as lists of pairs) and numpy
arrays are folded into one shape, and where bad input is refused with an error naming the
record and the column. Everything downstream works on the normalised objects.
"""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

REQUIRED_CLIP_COLUMNS = ("video", "clip_chunk_index", "span_uuid", "span_start", "span_end")

#: Every column the writer understands, with the pandas dtype of an empty record frame.
#: Nested and binary columns are ``object`` (bytes, numpy arrays, lists of dicts).
CLIP_COLUMN_DTYPES: dict[str, str] = {
    "video": "object",
    "clip_chunk_index": "int64",
    "span_uuid": "object",
    "span_start": "float64",
    "span_end": "float64",
    "filtered_by": "object",
    "source_video": "object",
    "buffer": "object",
    "width": "float64",
    "height": "float64",
    "framerate": "float64",
    "num_frames": "float64",
    "video_codec": "object",
    "motion_score_global_mean": "float64",
    "motion_score_per_patch_min_256": "float64",
    "aesthetic_score": "float64",
    "embedding": "object",
    "windows": "object",
    "errors": "object",
    "width_source": "float64",
    "height_source": "float64",
    "framerate_source": "float64",
}
CLIP_COLUMNS = tuple(CLIP_COLUMN_DTYPES)

#: Columns whose values are bytes or nested objects; Dask's ``dataframe.convert-string``
#: silently turns them into text if the collection is built with it on.
NESTED_CLIP_COLUMNS = ("buffer", "embedding", "windows", "errors")

VIDEO_COLUMN_DTYPES: dict[str, str] = {
    "video": "object",
    "height": "float64",
    "width": "float64",
    "framerate": "float64",
    "num_frames": "float64",
    "duration": "float64",
    "video_codec": "object",
    "pixel_format": "object",
    "audio_codec": "object",
    "num_total_clips": "float64",
    "num_clip_chunks": "float64",
    "error": "object",  # [ours] why the video could not be read; such a video has no clips
}

CONVERT_STRING_HINT = (
    "Dask's 'dataframe.convert-string' option turned it into text when the collection was "
    "built. Build clip records with dask_clipwriter.clip_records_from_map(...), or under "
    "dask.config.set({'dataframe.convert-string': False}), or give the column a pyarrow "
    "dtype (pd.ArrowDtype(pa.binary()) for bytes, list/struct types for nested values)."
)


class RecordError(ValueError):
    """A clip or video record breaks the contract; the message names record and column."""


def clip_records_meta(extra_columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """An empty frame with every clip column and the dtypes the writer expects."""
    dtypes = {**CLIP_COLUMN_DTYPES, **(extra_columns or {})}
    return pd.DataFrame({name: pd.Series([], dtype=dt) for name, dt in dtypes.items()})


def video_records_meta() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dt) for name, dt in VIDEO_COLUMN_DTYPES.items()})


# --------------------------------------------------------------------------------------
# Value helpers


def is_missing(value: Any) -> bool:
    """True for None, NaN, pd.NA and NaT: every way pandas spells "absent"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def _is_text_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        return pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    return False


def check_clip_columns(columns: Any, dtypes: Mapping[str, Any] | None = None) -> None:
    """Refuse a collection whose columns cannot be written, before any work is scheduled."""
    present = set(columns)
    missing = [c for c in REQUIRED_CLIP_COLUMNS if c not in present]
    if missing:
        raise RecordError(
            f"clip records lack required column(s) {', '.join(repr(c) for c in missing)}; "
            f"required: {', '.join(REQUIRED_CLIP_COLUMNS)}"
        )
    for name in NESTED_CLIP_COLUMNS:
        if dtypes is not None and name in dtypes and _is_text_dtype(dtypes[name]):
            raise RecordError(f"column {name!r} has a text dtype ({dtypes[name]}), not bytes/nested values: " + CONVERT_STRING_HINT)


# --------------------------------------------------------------------------------------
# Normalised records


@dataclass
class Window:
    start_frame: int
    end_frame: int
    caption: dict[str, str] = field(default_factory=dict)
    enhanced_caption: dict[str, str] = field(default_factory=dict)
    webp: bytes | None = None


@dataclass
class ClipRecord:
    video: str
    clip_chunk_index: int
    span_uuid: str
    span_start: float
    span_end: float
    filtered_by: str | None = None
    source_video: str | None = None
    buffer: bytes | None = None
    width: int | None = None
    height: int | None = None
    framerate: float | None = None
    num_frames: int | None = None
    video_codec: str | None = None
    motion_score_global_mean: float | None = None
    motion_score_per_patch_min_256: float | None = None
    aesthetic_score: float | None = None
    embedding: np.ndarray | None = None
    windows: list[Window] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    width_source: int | None = None
    height_source: int | None = None
    framerate_source: float | None = None

    @property
    def passed(self) -> bool:
        return self.filtered_by is None

    @property
    def has_bytes(self) -> bool:
        return bool(self.buffer)

    @property
    def duration(self) -> float:
        return self.span_end - self.span_start

    def probe_values(self) -> dict[str, Any] | None:
        """The record's own probe values, or None when any of them is absent."""
        values = {
            "width": self.width,
            "height": self.height,
            "framerate": self.framerate,
            "num_frames": self.num_frames,
            "video_codec": self.video_codec,
        }
        return None if any(v is None for v in values.values()) else values


@dataclass
class VideoRecord:
    video: str
    height: int | None = None
    width: int | None = None
    framerate: float | None = None
    num_frames: int | None = None
    duration: float | None = None
    video_codec: str | None = None
    pixel_format: str | None = None
    audio_codec: str | None = None
    num_total_clips: int | None = None
    num_clip_chunks: int | None = None
    error: str | None = None


class _Field:
    """Converts one cell, raising :class:`RecordError` that names record and column."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, column: str, problem: str) -> RecordError:
        return RecordError(f"{self.where}: column {column!r} {problem}")

    def text(self, column: str, value: Any, *, required: bool = False) -> str | None:
        if is_missing(value):
            if required:
                raise self.fail(column, "is missing")
            return None
        if not isinstance(value, str):
            raise self.fail(column, f"must be a string, got {type(value).__name__}")
        if required and not value:
            raise self.fail(column, "is empty")
        return value

    def integer(self, column: str, value: Any, *, required: bool = False) -> int | None:
        if is_missing(value):
            if required:
                raise self.fail(column, "is missing")
            return None
        if isinstance(value, bool | np.bool_):
            raise self.fail(column, "must be an integer, got bool")
        if isinstance(value, numbers.Integral):
            return int(value)
        # Integer columns with gaps are float in pandas: accept whole floats.
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        raise self.fail(column, f"must be an integer, got {value!r}")

    def real(self, column: str, value: Any, *, required: bool = False) -> float | None:
        if is_missing(value):
            if required:
                raise self.fail(column, "is missing")
            return None
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise self.fail(column, f"must be a number, got {type(value).__name__}")
        result = float(value)
        if math.isinf(result):
            raise self.fail(column, "must be finite")
        return result

    def binary(self, column: str, value: Any) -> bytes | None:
        if is_missing(value):
            return None
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            raise self.fail(column, "holds text, not bytes: " + CONVERT_STRING_HINT)
        raise self.fail(column, f"must be bytes, got {type(value).__name__}")

    def text_map(self, column: str, value: Any) -> dict[str, str]:
        """A map model -> text: a dict, or pyarrow's list of (key, value) pairs."""
        if is_missing(value):
            return {}
        if isinstance(value, str):
            raise self.fail(column, "holds text, not a map: " + CONVERT_STRING_HINT)
        pairs = value.items() if isinstance(value, Mapping) else value
        out: dict[str, str] = {}
        try:
            for key, text in pairs:
                if is_missing(text):
                    continue
                if not isinstance(key, str) or not isinstance(text, str):
                    raise TypeError
                out[key] = text
        except (TypeError, ValueError):
            raise self.fail(column, f"must map strings to strings, got {value!r:.80}") from None
        return out


def _absent(value: Any) -> bool:
    """Missing, for a cell that may hold a container (whose truth value is ambiguous)."""
    return not isinstance(value, np.ndarray | list | tuple | Mapping) and is_missing(value)


def _sequence(value: Any) -> list | None:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray):
        return list(value)
    return None


def _windows(f: _Field, value: Any) -> list[Window]:
    if _absent(value):
        return []
    if isinstance(value, str):
        raise f.fail("windows", "holds text, not a list of windows: " + CONVERT_STRING_HINT)
    items = _sequence(value)
    if items is None:
        raise f.fail("windows", f"must be a list of window structs, got {type(value).__name__}")
    windows = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise f.fail("windows", f"item {i} must be a struct/dict, got {type(item).__name__}")
        col = f"windows[{i}]"
        start = f.integer(f"{col}.start_frame", item.get("start_frame"), required=True)
        end = f.integer(f"{col}.end_frame", item.get("end_frame"), required=True)
        if start < 0 or end < start:
            raise f.fail(col, f"has start_frame {start} and end_frame {end}; need 0 <= start_frame <= end_frame")
        windows.append(
            Window(
                start_frame=start,
                end_frame=end,
                caption=f.text_map(f"{col}.caption", item.get("caption")),
                enhanced_caption=f.text_map(f"{col}.enhanced_caption", item.get("enhanced_caption")),
                webp=f.binary(f"{col}.webp", item.get("webp")),
            )
        )
    return windows


def _errors(f: _Field, value: Any) -> dict[str, str]:
    if _absent(value):
        return {}
    if isinstance(value, str):
        raise f.fail("errors", "holds text, not a map or list of keys: " + CONVERT_STRING_HINT)
    if isinstance(value, Mapping):
        return {str(k): "" if is_missing(v) else str(v) for k, v in value.items()}
    items = _sequence(value)
    if items is None:
        raise f.fail("errors", f"must be a map or a list of keys, got {type(value).__name__}")
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, str):
            out[item] = ""
        elif isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
            out[item[0]] = "" if is_missing(item[1]) else str(item[1])
        else:
            raise f.fail("errors", f"has an entry that is neither a key nor a (key, message) pair: {item!r:.80}")
    return out


def _embedding(f: _Field, value: Any) -> np.ndarray | None:
    if _absent(value):
        return None
    if isinstance(value, str):
        raise f.fail("embedding", "holds text, not numbers: " + CONVERT_STRING_HINT)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise f.fail("embedding", f"must be a list or array of numbers, got {value!r:.80}") from None
    if array.size == 0:
        raise f.fail("embedding", "is empty")
    if array.ndim > 1 and array.shape[0] != 1:
        raise f.fail("embedding", f"must be one vector (shape (D,) or (1, D)), got shape {array.shape}")
    return array.reshape(1, -1)


def canonical_uuid(f: _Field, column: str, value: Any) -> str:
    text = f.text(column, value, required=True)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise f.fail(column, f"is not a UUID: {text!r}") from None


def normalise_clip_row(row: Mapping[str, Any], position: int) -> ClipRecord:
    """One clip record as plain Python values; raises RecordError naming record and column."""
    where = f"clip record {position}"
    f = _Field(where)
    span_uuid = canonical_uuid(f, "span_uuid", row.get("span_uuid"))
    f.where = f"clip record {span_uuid}"
    video = f.text("video", row.get("video"), required=True)
    f.where = f"clip record {span_uuid} of video {video!r}"
    start = f.real("span_start", row.get("span_start"), required=True)
    end = f.real("span_end", row.get("span_end"), required=True)
    if end < start:
        raise f.fail("span_end", f"({end}) is before span_start ({start})")
    return ClipRecord(
        video=video,
        clip_chunk_index=_chunk_index(f, row.get("clip_chunk_index")),
        span_uuid=span_uuid,
        span_start=start,
        span_end=end,
        filtered_by=f.text("filtered_by", row.get("filtered_by")) or None,
        source_video=f.text("source_video", row.get("source_video")) or video,
        buffer=f.binary("buffer", row.get("buffer")),
        width=f.integer("width", row.get("width")),
        height=f.integer("height", row.get("height")),
        framerate=f.real("framerate", row.get("framerate")),
        num_frames=f.integer("num_frames", row.get("num_frames")),
        video_codec=f.text("video_codec", row.get("video_codec")),
        motion_score_global_mean=f.real("motion_score_global_mean", row.get("motion_score_global_mean")),
        motion_score_per_patch_min_256=f.real(
            "motion_score_per_patch_min_256", row.get("motion_score_per_patch_min_256")
        ),
        aesthetic_score=f.real("aesthetic_score", row.get("aesthetic_score")),
        embedding=_embedding(f, row.get("embedding")),
        windows=_windows(f, row.get("windows")),
        errors=_errors(f, row.get("errors")),
        width_source=f.integer("width_source", row.get("width_source")),
        height_source=f.integer("height_source", row.get("height_source")),
        framerate_source=f.real("framerate_source", row.get("framerate_source")),
    )


def _chunk_index(f: _Field, value: Any) -> int:
    index = f.integer("clip_chunk_index", value, required=True)
    if index < 0:
        raise f.fail("clip_chunk_index", f"must be >= 0, got {index}")
    return index


def normalise_clip_partition(df: pd.DataFrame) -> list[ClipRecord]:
    """All records of a partition, in order. Checks columns and each cell; raises RecordError."""
    check_clip_columns(df.columns, df.dtypes.to_dict())
    columns = list(df.columns)
    records = []
    for position, values in enumerate(df.itertuples(index=False, name=None)):
        records.append(normalise_clip_row(dict(zip(columns, values, strict=True)), position))
    return records


def normalise_video_frame(df: pd.DataFrame | None) -> dict[str, VideoRecord]:
    """Video records keyed by video path; raises RecordError for bad or duplicate rows."""
    if df is None or len(df) == 0:
        return {}
    if "video" not in df.columns:
        raise RecordError("video records lack the required column 'video'")
    out: dict[str, VideoRecord] = {}
    columns = list(df.columns)
    for position, values in enumerate(df.itertuples(index=False, name=None)):
        row = dict(zip(columns, values, strict=True))
        f = _Field(f"video record {position}")
        video = f.text("video", row.get("video"), required=True)
        f.where = f"video record {video!r}"
        if video in out:
            raise RecordError(f"video record {video!r} appears more than once")
        out[video] = VideoRecord(
            video=video,
            height=f.integer("height", row.get("height")),
            width=f.integer("width", row.get("width")),
            framerate=f.real("framerate", row.get("framerate")),
            num_frames=f.integer("num_frames", row.get("num_frames")),
            duration=f.real("duration", row.get("duration")),
            video_codec=f.text("video_codec", row.get("video_codec")),
            pixel_format=f.text("pixel_format", row.get("pixel_format")),
            audio_codec=f.text("audio_codec", row.get("audio_codec")),
            num_total_clips=f.integer("num_total_clips", row.get("num_total_clips")),
            num_clip_chunks=f.integer("num_clip_chunks", row.get("num_clip_chunks")),
            error=f.text("error", row.get("error")),
        )
    return out
