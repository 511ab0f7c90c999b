"""dask_clipwriter: write NeMo-Curator-compatible clip datasets from Dask DataFrames."""

from ._version import __version__
from .build import clip_records_from_map
from .backfill import backfill, read_clip_index
from .clip_writer import ClipWriter, ClipWriterStage
from .dataset_rows import DatasetError
from .export import ExportError, export_webdataset
from .manifest import SettingsChangedError
from .reader import dataset_writer_settings, read_clip_dataset, read_video_records
from .records import CLIP_COLUMNS, RecordError, clip_records_meta, video_records_meta
from .selection import consistent_selection
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
    "DatasetError",
    "ExportError",
    "RecordError",
    "SettingsChangedError",
    "SettingsError",
    "SinkError",
    "WriterSettings",
    "backfill",
    "clip_records_from_map",
    "clip_records_meta",
    "consistent_selection",
    "dataset_writer_settings",
    "export_webdataset",
    "read_clip_dataset",
    "read_clip_index",
    "read_video_records",
    "verify",
    "video_records_meta",
]
