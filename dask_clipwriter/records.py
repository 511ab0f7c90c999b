"""The clip and video record contract (docs/spec/clip-records.md), declared once.

The fields of :class:`ClipRecord` and :class:`VideoRecord` *are* the columns. Each field's
kind (``values.KINDS``) says how the column is held in pandas, how it is stored in Parquet
and how one cell is read. The frame builders, the Dask meta, the stored-record
schema and the normaliser are all derived from that one table, so a new column is one new
field.

A partition (pandas) becomes plain Python records in :func:`normalise_clip_partition`. It
is the one place where bad input is refused, with an error naming the record and the column.
Everything downstream works on the normalised records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .probe import PROBE_KEYS
from .values import (
    CONVERT_STRING_HINT,
    KINDS,
    Cells,
    Kind,
    RecordError,
    Window,
    is_missing,
)

__all__ = [
    "CLIP_COLUMNS", "ClipRecord", "Column", "KINDS", "RecordError", "VideoRecord", "Window",
    "check_clip_columns", "clip_columns", "clip_records_frame", "clip_records_meta", "is_missing",
    "normalise_clip_partition", "normalise_video_frame", "video_columns", "video_records_frame",
    "video_records_meta",
]


def _column(kind: str, *, required: bool = False, factory=None):
    metadata = {"kind": kind, "required": required}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=None, metadata=metadata)


@dataclass
class ClipRecord:
    """One clip record, normalised. Defaults are what an absent optional column means."""

    video: str = _column("text", required=True)
    clip_chunk_index: int = _column("index", required=True)
    span_uuid: str = _column("uuid", required=True)
    span_start: float = _column("real", required=True)
    span_end: float = _column("real", required=True)
    filtered_by: str | None = _column("text")
    source_video: str | None = _column("text")
    buffer: bytes | None = _column("binary")
    width: int | None = _column("integer")
    height: int | None = _column("integer")
    framerate: float | None = _column("real")
    num_frames: int | None = _column("integer")
    video_codec: str | None = _column("text")
    motion_score_global_mean: float | None = _column("real")
    motion_score_per_patch_min_256: float | None = _column("real")
    aesthetic_score: float | None = _column("real")
    embedding: np.ndarray | None = _column("embedding")
    windows: list[Window] = _column("windows", factory=list)
    errors: dict[str, str] = _column("errors", factory=dict)
    width_source: int | None = _column("integer")
    height_source: int | None = _column("integer")
    framerate_source: float | None = _column("real")

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
        values = {name: getattr(self, name) for name in PROBE_KEYS}
        return None if any(v is None for v in values.values()) else values


@dataclass
class VideoRecord:
    """One video record (the optional ``videos`` table), normalised."""

    video: str = _column("text", required=True)
    height: int | None = _column("integer")
    width: int | None = _column("integer")
    framerate: float | None = _column("real")
    num_frames: int | None = _column("integer")
    duration: float | None = _column("real")
    video_codec: str | None = _column("text")
    pixel_format: str | None = _column("text")
    audio_codec: str | None = _column("text")
    num_total_clips: int | None = _column("integer")
    num_clip_chunks: int | None = _column("integer")
    error: str | None = _column("text")  # [ours] why the video could not be read; it has no clips


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool


def _columns(record_type) -> tuple[Column, ...]:
    return tuple(Column(f.name, KINDS[f.metadata["kind"]], f.metadata["required"]) for f in fields(record_type))


_CLIP_COLUMNS = _columns(ClipRecord)
_VIDEO_COLUMNS = _columns(VideoRecord)


def clip_columns() -> tuple[Column, ...]:
    return _CLIP_COLUMNS


def video_columns() -> tuple[Column, ...]:
    return _VIDEO_COLUMNS


#: Every clip column's name, in contract order.
CLIP_COLUMNS: tuple[str, ...] = tuple(c.name for c in _CLIP_COLUMNS)
REQUIRED_CLIP_COLUMNS: tuple[str, ...] = tuple(c.name for c in _CLIP_COLUMNS if c.required)


# --------------------------------------------------------------------------------------
# Frames


def _frame(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (dicts) as a frame with exactly the table's columns and dtypes.

    Object columns are filled cell by cell: pandas would otherwise infer its string dtype
    for text, or try to stack equal-length arrays into a 2-D block."""
    data = {}
    for column in columns:
        values = [row.get(column.name) for row in rows]
        if column.kind.pandas_dtype == "object":
            cells = np.empty(len(values), dtype=object)
            for i, value in enumerate(values):
                cells[i] = value
            data[column.name] = pd.Series(cells, dtype=object)
        else:
            data[column.name] = pd.Series([np.nan if v is None else v for v in values], dtype=column.kind.pandas_dtype)
    return pd.DataFrame(data)


def clip_records_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Clip record rows (dicts; absent keys are null) as a frame with the contract's dtypes."""
    return _frame(_CLIP_COLUMNS, rows)


def clip_records_meta(extra_columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """An empty frame with every clip column and the dtypes the writer expects."""
    meta = clip_records_frame([])
    for name, dtype in (extra_columns or {}).items():
        meta[name] = pd.Series([], dtype=dtype)
    return meta


def video_records_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return _frame(_VIDEO_COLUMNS, rows)


def video_records_meta() -> pd.DataFrame:
    return video_records_frame([])


# --------------------------------------------------------------------------------------
# Checks on whole collections


def _is_text_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
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
    for column in _CLIP_COLUMNS:
        dtype = (dtypes or {}).get(column.name)
        if column.kind.nested and dtype is not None and _is_text_dtype(dtype):
            raise RecordError(
                f"column {column.name!r} has a text dtype ({dtype}), not bytes/nested values: " + CONVERT_STRING_HINT)


# --------------------------------------------------------------------------------------
# Normalising


def _read(cells: Cells, column: Column, row: Mapping[str, Any]) -> Any:
    return getattr(cells, column.kind.reader)(column.name, row.get(column.name), required=column.required)


def normalise_clip_row(row: Mapping[str, Any], position: int) -> ClipRecord:
    """One clip record as plain Python values; raises RecordError naming record and column."""
    return _ClipRowReader().read(row, position)


class _ClipRowReader:
    """Reads the rows of one partition: the cell readers are looked up once, not per cell."""

    def __init__(self):
        self.cells = Cells("")
        self.readers = [(column.name, getattr(self.cells, column.kind.reader), column.required)
                        for column in _CLIP_COLUMNS]

    def read(self, row: Mapping[str, Any], position: int) -> ClipRecord:
        cells = self.cells
        cells.where = f"clip record {position}"
        span_uuid = cells.uuid("span_uuid", row.get("span_uuid"), required=True)
        cells.where = f"clip record {span_uuid}"
        video = cells.text("video", row.get("video"), required=True)
        cells.where = f"clip record {span_uuid} of video {video!r}"
        record = ClipRecord(*[reader(name, row.get(name), required=required)
                              for name, reader, required in self.readers])
        if record.span_start < 0:
            raise cells.fail("span_start", f"must be >= 0 (seconds into the source), got {record.span_start}")
        if record.span_end < record.span_start:
            raise cells.fail("span_end", f"({record.span_end}) is before span_start ({record.span_start})")
        record.filtered_by = record.filtered_by or None  # "" means passed, as None does
        record.source_video = record.source_video or video
        return record


def normalise_clip_partition(df: pd.DataFrame) -> list[ClipRecord]:
    """All records of a partition, in order. Checks columns and each cell; raises RecordError."""
    check_clip_columns(df.columns, df.dtypes.to_dict())
    # One conversion of the whole frame to Python values: taking its columns one by one
    # cost seven times as much under pandas 3 (measured on a chunk of 4 records).
    names = list(df.columns)
    reader = _ClipRowReader()
    return [reader.read(dict(zip(names, values, strict=True)), position)
            for position, values in enumerate(df.to_numpy(dtype=object))]


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
        cells = Cells(f"video record {position}")
        video = cells.text("video", row.get("video"), required=True)
        cells.where = f"video record {video!r}"
        if video in out:
            raise RecordError(f"video record {video!r} appears more than once")
        out[video] = VideoRecord(**{column.name: _read(cells, column, row) for column in _VIDEO_COLUMNS})
    return out
