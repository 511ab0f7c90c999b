"""Reading one cell of a record frame into a plain Python value, or refusing it by name.

pandas spells "missing" many ways (None, NaN, ``pd.NA``, ``NaT``), pyarrow-backed columns give
maps as lists of pairs and structs as dicts, and numpy-backed ones give arrays. Every reader
here folds these into one shape. A bad cell raises :class:`RecordError` naming the record and
the column. :data:`KINDS` names, for each kind of column, its pandas dtype, its Arrow type
and its reader; ``records.py`` gives each column its kind.
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
import pyarrow as pa

CONVERT_STRING_HINT = (
    "Dask's 'dataframe.convert-string' option turned it into text when the collection was "
    "built. Build clip records with dask_clipwriter.clip_records_from_map(...), or under "
    "dask.config.set({'dataframe.convert-string': False}), or give the column a pyarrow "
    "dtype (pd.ArrowDtype(pa.binary()) for bytes, list/struct types for nested values)."
)


class RecordError(ValueError):
    """A clip or video record breaks the contract; the message names record and column."""


#: The integers a record may hold: what a 64-bit integer column (pandas, Parquet) holds.
INT64_RANGE = (-(2**63), 2**63 - 1)
#: The largest magnitude a float16 holds: an embedding value beyond it would be stored as inf.
FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass
class Window:
    """One caption window of a clip: frames [start_frame, end_frame], captions per model."""

    start_frame: int
    end_frame: int
    caption: dict[str, str] = field(default_factory=dict)
    enhanced_caption: dict[str, str] = field(default_factory=dict)
    webp: bytes | None = None


def is_missing(value: Any) -> bool:
    """True for None, NaN, pd.NA and NaT: every way pandas spells "absent"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def _absent(value: Any) -> bool:
    """Missing, for a cell that may hold a container (whose truth value is ambiguous)."""
    return not isinstance(value, np.ndarray | list | tuple | Mapping) and is_missing(value)


def _sequence(value: Any) -> list | None:
    return list(value) if isinstance(value, list | tuple | np.ndarray) else None


class Cells:
    """Readers for the cells of one record; ``where`` names the record in every error."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, column: str, problem: str) -> RecordError:
        return RecordError(f"{self.where}: column {column!r} {problem}")

    def _absent(self, column: str, value: Any, required: bool) -> bool:
        if not is_missing(value):
            return False
        if required:
            raise self.fail(column, "is missing")
        return True

    def text(self, column: str, value: Any, *, required: bool = False) -> str | None:
        if type(value) is str and value:  # the usual cell, read without the general checks
            return self._unicode(column, value)
        if self._absent(column, value, required):
            return None
        if not isinstance(value, str):
            raise self.fail(column, f"must be a string, got {type(value).__name__}")
        if required and not value:
            raise self.fail(column, "is empty")
        return self._unicode(column, value)

    def _unicode(self, column: str, value: str) -> str:
        """Text that UTF-8 can hold: a lone surrogate would be written as an escape no reader
        can decode."""
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self.fail(column, f"holds text that is not valid Unicode (a lone surrogate at character "
                                    f"{exc.start}: {value!r:.60})") from None
        return value

    def uuid(self, column: str, value: Any, *, required: bool = False) -> str | None:
        """A UUID in its canonical form (lower case, hyphenated)."""
        text = self.text(column, value, required=required)
        if text is None:
            return None
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise self.fail(column, f"is not a UUID: {text!r}") from None

    def integer(self, column: str, value: Any, *, required: bool = False) -> int | None:
        kind = type(value)
        if kind is np.int64:
            return int(value)  # always within range
        if kind is float and value.is_integer():  # pandas holds integers with gaps as floats
            return self.integer(column, int(value), required=required)
        if self._absent(column, value, required):
            return None
        if isinstance(value, bool | np.bool_):
            raise self.fail(column, "must be an integer, got bool")
        if isinstance(value, numbers.Integral):
            number = int(value)
        # Integer columns with gaps are float in pandas: accept whole floats.
        elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            number = int(value)
        else:
            raise self.fail(column, f"must be an integer, got {value!r}")
        low, high = INT64_RANGE
        if not low <= number <= high:
            raise self.fail(column, f"is {number}, beyond a 64-bit integer's range")
        return number

    def index(self, column: str, value: Any, *, required: bool = False) -> int | None:
        """A non-negative integer (a chunk index)."""
        number = self.integer(column, value, required=required)
        if number is not None and number < 0:
            raise self.fail(column, f"must be >= 0, got {number}")
        return number

    def real(self, column: str, value: Any, *, required: bool = False) -> float | None:
        if type(value) is float and value - value == 0:  # finite (NaN and infinity give NaN)
            return value
        if self._absent(column, value, required):
            return None
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise self.fail(column, f"must be a number, got {type(value).__name__}")
        result = float(value)
        if math.isinf(result):
            raise self.fail(column, "must be finite")
        return result

    def binary(self, column: str, value: Any, *, required: bool = False) -> bytes | None:
        if self._absent(column, value, required):
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
        if _absent(value):
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
        for key, text in out.items():
            self._unicode(column, key)
            self._unicode(f"{column}[{key!r}]", text)
        return out

    def windows(self, column: str, value: Any, *, required: bool = False) -> list[Window]:
        """Caption windows, from a list of structs/dicts."""
        if _absent(value):
            return []
        if isinstance(value, str):
            raise self.fail(column, "holds text, not a list of windows: " + CONVERT_STRING_HINT)
        items = _sequence(value)
        if items is None:
            raise self.fail(column, f"must be a list of window structs, got {type(value).__name__}")
        windows: list[Window] = []
        seen: dict[tuple[int, int], int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise self.fail(column, f"item {i} must be a struct/dict, got {type(item).__name__}")
            name = f"{column}[{i}]"
            start = self.integer(f"{name}.start_frame", item.get("start_frame"), required=True)
            end = self.integer(f"{name}.end_frame", item.get("end_frame"), required=True)
            if start < 0 or end < start:
                raise self.fail(name, f"has start_frame {start} and end_frame {end}; need 0 <= start_frame <= end_frame")
            if (start, end) in seen:
                raise self.fail(name, f"has the same frames ({start}_{end}) as {column}[{seen[(start, end)]}]: "
                                      "both would be one preview file")
            seen[(start, end)] = i
            windows.append(Window(
                start_frame=start,
                end_frame=end,
                caption=self.text_map(f"{name}.caption", item.get("caption")),
                enhanced_caption=self.text_map(f"{name}.enhanced_caption", item.get("enhanced_caption")),
                webp=self.binary(f"{name}.webp", item.get("webp")),
            ))
        return windows

    def errors(self, column: str, value: Any, *, required: bool = False) -> dict[str, str]:
        """An error map key -> message, from a map or a list of keys / (key, message) pairs."""
        if _absent(value):
            return {}
        if isinstance(value, str):
            raise self.fail(column, "holds text, not a map or list of keys: " + CONVERT_STRING_HINT)
        if isinstance(value, Mapping):
            return {str(k): "" if is_missing(v) else str(v) for k, v in value.items()}
        items = _sequence(value)
        if items is None:
            raise self.fail(column, f"must be a map or a list of keys, got {type(value).__name__}")
        out: dict[str, str] = {}
        for item in items:
            if isinstance(item, str):
                out[item] = ""
            elif isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
                out[item[0]] = "" if is_missing(item[1]) else str(item[1])
            else:
                raise self.fail(column, f"has an entry that is neither a key nor a (key, message) pair: {item!r:.80}")
        return out

    def embedding(self, column: str, value: Any, *, required: bool = False) -> np.ndarray | None:
        """One vector as a float64 array of shape (1, D): finite real numbers that float16
        (the stored type) holds."""
        if type(value) is np.ndarray and value.dtype.kind == "f" and value.size and (
                value.ndim == 1 or (value.ndim == 2 and value.shape[0] == 1)):
            # The usual cell: one reduction checks both finiteness and float16's range.
            array = value.astype(np.float64, copy=False)
            largest = float(np.abs(array).max())
            if largest <= FLOAT16_MAX:
                return array.reshape(1, -1)
        if _absent(value):
            return None
        if isinstance(value, str):
            raise self.fail(column, "holds text, not numbers: " + CONVERT_STRING_HINT)
        raw = np.asarray(value)
        if raw.dtype == object:
            kinds = {type(v).__name__ for v in raw.reshape(-1) if not isinstance(v, numbers.Real) or isinstance(v, bool)}
            if kinds:
                raise self.fail(column, f"must hold real numbers only, got {', '.join(sorted(kinds))}")
        elif raw.dtype.kind not in "iuf":
            names = {"b": "booleans", "c": "complex numbers"}
            raise self.fail(column, f"must hold real numbers, got {names.get(raw.dtype.kind, str(raw.dtype))}")
        try:
            array = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise self.fail(column, f"must be a list or array of numbers, got {value!r:.80}") from None
        if array.size == 0:
            raise self.fail(column, "is empty")
        if array.ndim > 1 and array.shape[0] != 1:
            raise self.fail(column, f"must be one vector (shape (D,) or (1, D)), got shape {array.shape}")
        if not np.isfinite(array).all():
            raise self.fail(column, "holds NaN or infinite values")
        largest = float(np.abs(array).max())
        if largest > FLOAT16_MAX:
            raise self.fail(column, f"holds {largest:g}, beyond float16's range (±{FLOAT16_MAX:g}): it would be "
                                    "stored as infinity")
        return array.reshape(1, -1)


@dataclass(frozen=True)
class Kind:
    """How a column of one kind is held in pandas, stored in Arrow and read from a cell."""

    pandas_dtype: str
    arrow_type: pa.DataType
    #: the :class:`~.values.Cells` method that reads one cell
    reader: str
    #: bytes or nested values, which Dask's string conversion would turn into text
    nested: bool = False


_TEXT_MAP = pa.map_(pa.string(), pa.string())
_WINDOW = pa.struct([("start_frame", pa.int64()), ("end_frame", pa.int64()), ("caption", _TEXT_MAP),
                     ("enhanced_caption", _TEXT_MAP), ("webp", pa.binary())])

KINDS: dict[str, Kind] = {
    "text": Kind("object", pa.string(), "text"),
    "uuid": Kind("object", pa.string(), "uuid"),
    "index": Kind("int64", pa.int64(), "index"),
    # pandas turns an integer column with gaps into float; Parquet keeps it integer.
    "integer": Kind("float64", pa.int64(), "integer"),
    "real": Kind("float64", pa.float64(), "real"),
    "binary": Kind("object", pa.binary(), "binary", nested=True),
    "embedding": Kind("object", pa.list_(pa.float32()), "embedding", nested=True),
    "windows": Kind("object", pa.list_(_WINDOW), "windows", nested=True),
    "errors": Kind("object", _TEXT_MAP, "errors", nested=True),
}
