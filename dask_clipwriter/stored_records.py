"""Clip records stored as Parquet (the input of ``dask-clipwriter write``).

Inference would turn a dict column into a struct (and fail on an empty one) and numpy
arrays into whatever it guesses; the schema here pins every column from the record table
(records.py): binary clip bytes, maps for captions and errors, a list of window structs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .records import Window, clip_columns, normalise_clip_partition


def clip_records_arrow_schema() -> pa.Schema:
    """The pyarrow schema for clip records stored as Parquet."""
    return pa.schema([(column.name, column.kind.arrow_type) for column in clip_columns()])


def _window(window: Window) -> dict[str, Any]:
    return {"start_frame": window.start_frame, "end_frame": window.end_frame, "caption": window.caption,
            "enhanced_caption": window.enhanced_caption, "webp": window.webp}


#: How a normalised value of a kind becomes an Arrow value (the others are stored as they are).
_TO_ARROW = {
    "embedding": lambda value: value.reshape(-1).astype(np.float32).tolist(),
    "windows": lambda value: [_window(w) for w in value],
    "errors": lambda value: list(value.items()),
}


def clip_records_to_table(df: pd.DataFrame) -> pa.Table:
    """A pandas frame of clip records as a pyarrow Table with :func:`clip_records_arrow_schema`."""
    records = normalise_clip_partition(df)
    columns: dict[str, list] = {}
    for column in clip_columns():
        convert = _TO_ARROW.get(column.kind.reader)
        values = [getattr(r, column.name) for r in records]
        columns[column.name] = [convert(v) if convert and v is not None else v for v in values]
    return pa.table(columns, schema=clip_records_arrow_schema())
