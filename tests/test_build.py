"""Building clip-record collections: partitions conformed to the writer's columns and dtypes."""

import numpy as np
import pandas as pd

from dask_clipwriter import clip_records_from_map
from dask_clipwriter.build import conform_clip_frame
from dask_clipwriter.records import CLIP_COLUMNS, REQUIRED_CLIP_COLUMNS, clip_records_meta


def test_absent_optional_columns_become_nulls_of_meta_dtype():
    df = pd.DataFrame({"span_uuid": ["u"], "video": ["/in/a.mp4"], "clip_chunk_index": [0],
                       "span_start": [0.0], "span_end": [2.0], "my_extra": [7]}, index=[5])
    meta = clip_records_meta()
    out = conform_clip_frame(df, meta)
    assert list(out.columns) == [*CLIP_COLUMNS, "my_extra"]
    assert list(out.index) == [5]
    for name in CLIP_COLUMNS:
        if name not in df.columns:
            assert out[name].dtype == meta[name].dtype, name
            assert out[name].isna().all(), name


def test_absent_required_columns_stay_absent():
    out = conform_clip_frame(pd.DataFrame({"video": ["/in/a.mp4"]}), clip_records_meta())
    assert not set(REQUIRED_CLIP_COLUMNS) - {"video"} & set(out.columns)


def test_from_map_partitions_keep_bytes_and_arrays():
    def load(i):
        return pd.DataFrame({"video": ["/in/a.mp4"], "clip_chunk_index": [i], "span_uuid": [f"{i:08x}-0000-4000-8000-000000000000"],
                             "span_start": [0.0], "span_end": [1.0], "buffer": [b"\x00mp4"],
                             "embedding": [np.arange(3, dtype=np.float32)]})

    part = clip_records_from_map(load, range(2)).partitions[1].compute()
    assert part["buffer"].iloc[0] == b"\x00mp4"
    assert isinstance(part["embedding"].iloc[0], np.ndarray)
    assert part["clip_chunk_index"].iloc[0] == 1
