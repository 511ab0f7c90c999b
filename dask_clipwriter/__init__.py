"""dask_clipwriter: write NeMo-Curator-compatible clip datasets from Dask DataFrames."""

from ._version import __version__
from .build import clip_records_from_map
from .clip_writer import ClipWriter, ClipWriterStage
from .manifest import SettingsChangedError
from .records import CLIP_COLUMNS, RecordError, clip_records_meta, video_records_meta
from .settings import SettingsError, WriterSettings
from .sink import SinkError
from .verify import verify
from .writer import ChunkWriteError

__all__ = [
    "__version__",
    "CLIP_COLUMNS",
    "ChunkWriteError",
    "ClipWriter",
    "ClipWriterStage",
    "RecordError",
    "SettingsChangedError",
    "SettingsError",
    "SinkError",
    "WriterSettings",
    "clip_records_from_map",
    "clip_records_meta",
    "verify",
    "video_records_meta",
]
