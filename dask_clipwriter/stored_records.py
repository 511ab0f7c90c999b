"""Clip records stored as Parquet (the input of ``dask-clipwriter write``).

Inference would turn a dict column into a struct (and fail on an empty one) and numpy
arrays into whatever it guesses; the schema here pins every column: binary clip bytes,
maps for captions and errors, a list of window structs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .records import CLIP_COLUMN_DTYPES, normalise_clip_partition


def clip_records_arrow_schema():
    """The pyarrow schema for clip records stored as Parquet: maps stay maps, bytes binary."""
    text_map = pa.map_(pa.string(), pa.string())
    window = pa.struct([("start_frame", pa.int64()), ("end_frame", pa.int64()), ("caption", text_map),
                        ("enhanced_caption", text_map), ("webp", pa.binary())])
    types = {"object": pa.string(), "float64": pa.float64(), "int64": pa.int64()}
    fields = [(name, types[dtype]) for name, dtype in CLIP_COLUMN_DTYPES.items()]
    special = {"buffer": pa.binary(), "embedding": pa.list_(pa.float32()), "windows": pa.list_(window),
               "errors": text_map, "width": pa.int64(), "height": pa.int64(), "num_frames": pa.int64(),
               "width_source": pa.int64(), "height_source": pa.int64()}
    return pa.schema([(name, special.get(name, t)) for name, t in fields])


def clip_records_to_table(df: pd.DataFrame):
    """A pandas frame of clip records as a pyarrow Table with :func:`clip_records_arrow_schema`."""
    records = normalise_clip_partition(df)
    columns: dict[str, list] = {name: [] for name in CLIP_COLUMN_DTYPES}
    for r in records:
        for name in CLIP_COLUMN_DTYPES:
            value = getattr(r, name)
            if name == "embedding" and value is not None:
                value = value.reshape(-1).astype(np.float32).tolist()
            elif name == "windows":
                value = [{"start_frame": w.start_frame, "end_frame": w.end_frame, "caption": w.caption,
                          "enhanced_caption": w.enhanced_caption, "webp": w.webp} for w in value]
            elif name == "errors":
                value = list(value.items())
            columns[name].append(value)
    return pa.table(columns, schema=clip_records_arrow_schema())
