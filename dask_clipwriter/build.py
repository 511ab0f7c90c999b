"""Building clip-record collections the right way under pandas 3 / Dask 2026.

Dask's ``dataframe.convert-string`` (on by default) turns every object column into text when
a collection is built: bytes then fail at compute, and arrays or lists of dicts silently
become their ``repr``. :func:`clip_records_from_map` builds the collection with that option
off and with the writer's dtypes, so users never meet it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from .records import REQUIRED_CLIP_COLUMNS, clip_records_meta


def conform_clip_frame(df: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Give a partition ``meta``'s columns: absent optional ones become null; absent required
    ones stay absent, so the writer reports them. Extra columns are kept, after meta's."""
    present = set(df.columns)
    data = {}
    for name, dtype in meta.dtypes.items():
        if name in present:
            data[name] = df[name]
        elif name not in REQUIRED_CLIP_COLUMNS:
            data[name] = np.full(len(df), np.nan if dtype.kind == "f" else None,
                                 dtype=dtype if dtype.kind in "fO" else object)
    for name in df.columns:
        data.setdefault(name, df[name])
    # One new frame from the columns (not an insert per column, nor a reordering copy).
    return pd.DataFrame(data, index=df.index, copy=False)


def _call_and_conform(func: Callable[..., pd.DataFrame], meta: pd.DataFrame, *args: Any, **kwargs: Any) -> pd.DataFrame:
    return conform_clip_frame(func(*args, **kwargs), meta)


def clip_records_from_map(
    func: Callable[..., pd.DataFrame],
    *iterables: Iterable,
    meta: pd.DataFrame | None = None,
    **kwargs: Any,
) -> dd.DataFrame:
    """``dd.from_map`` for clip records: one partition per call of ``func`` (one chunk each).

    ``func`` runs on the workers and returns a pandas frame of clip records; missing
    optional columns are added as nulls. Extra keyword arguments go to ``dd.from_map``.
    """
    meta = clip_records_meta() if meta is None else meta
    wrapped = functools.partial(_call_and_conform, func, meta)
    functools.update_wrapper(wrapped, func)
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(wrapped, *iterables, meta=meta, enforce_metadata=False, **kwargs)
