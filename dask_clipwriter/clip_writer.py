"""``ClipWriter``: the public face of the writer (alias ``ClipWriterStage``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from . import layout
from .settings import WriterSettings
from .writer import build_graph
from .writer import check_partitioning as precheck_partitioning

log = logging.getLogger(__name__)


class ClipWriter:
    """Writes a NeMo-Curator-compatible clip dataset from a Dask DataFrame of clip records.

    Parameters keep the reference writer's names (``output_path``, ``input_path``,
    ``upload_clips``, ``dry_run``, ``generate_embeddings``, ``generate_previews``,
    ``generate_captions``, ``embedding_algorithm``, ``caption_models``,
    ``enhanced_caption_models``, ``verbose``, ``max_workers``, ``log_stats``) and add:

    storage_options
        fsspec options for ``output_path`` (e.g. s3fs credentials and ``endpoint_url``).
        Never logged and never written to summary.json.
    existing
        ``"skip"`` (default: keep files that already exist, like the reference) or
        ``"overwrite"``.
    resume
        Skip chunks whose ``processed_clip_chunks`` marker already exists.

    Invalid settings raise :class:`~dask_clipwriter.settings.SettingsError` here, at
    construction, not on the workers.
    """

    # The reference's static path helpers, same names and results.
    get_output_path_processed_videos = staticmethod(layout.get_output_path_processed_videos)
    get_output_path_processed_clip_chunks = staticmethod(layout.get_output_path_processed_clip_chunks)
    get_output_path_clips = staticmethod(layout.get_output_path_clips)
    get_output_path_previews = staticmethod(layout.get_output_path_previews)
    get_output_path_metas = staticmethod(layout.get_output_path_metas)
    get_output_path_ce1_embd = staticmethod(layout.get_output_path_ce1_embd)
    get_output_path_ce1_embd_parquet = staticmethod(layout.get_output_path_ce1_embd_parquet)

    def __init__(
        self,
        output_path: str,
        input_path: str,
        upload_clips: bool = True,
        dry_run: bool = False,
        generate_embeddings: bool = False,
        generate_previews: bool = False,
        generate_captions: bool = False,
        embedding_algorithm: str = "cosmos-embed1-224p",
        caption_models: Sequence[str] | None = None,
        enhanced_caption_models: Sequence[str] | None = None,
        verbose: bool = False,
        max_workers: int = 6,
        log_stats: bool = False,
        *,
        storage_options: Mapping[str, Any] | None = None,
        existing: str = "skip",
        resume: bool = False,
        write_retries: int = 3,
    ):
        # Every parameter is a WriterSettings field of the same name (a test keeps the
        # defaults equal); WriterSettings validates them.
        arguments = {name: value for name, value in locals().items() if name != "self"}
        self.settings = WriterSettings(**arguments)

    def __getattr__(self, name: str) -> Any:
        # Settings read like attributes, as on the reference stage (writer.output_path, ...).
        if name != "settings" and name in WriterSettings.__dataclass_fields__:
            return getattr(self.settings, name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"ClipWriter({self.settings!r})"

    def write(self, clips, videos=None, *, compute: bool = True, progress: bool = False,
              check_partitioning: bool = False):
        """Write the dataset for ``clips`` (a Dask DataFrame of clip records).

        ``videos`` is an optional table of video records (pandas or Dask). Returns the run
        summary (the content of summary.json). With ``compute=False`` returns the lazy
        collection instead: a one-element Dask Series whose value is the summary, to compute
        together with other work in one graph (partitions shared, never computed twice)::

            result, other = dask.compute(writer.write(clips, compute=False), other)
            summary = result.iloc[0]

        ``progress=True`` shows a progress bar (distributed's under a Client, Dask's local
        one otherwise).

        A chunk split across partitions, or one clip uuid in two chunks, is only visible
        across partitions: by default the final reduction catches it (after the writers ran,
        removing those chunks' markers). ``check_partitioning=True`` checks first, on the key
        columns alone, and raises before anything is written.
        """
        if check_partitioning:
            precheck_partitioning(clips)
        _, summary = build_graph(clips, self.settings, videos)
        if not compute:
            return summary
        return compute_with_progress(summary, progress=progress).iloc[0]


ClipWriterStage = ClipWriter


def compute_with_progress(collection, *, progress: bool = False):
    """Compute one Dask object, with the progress display that fits the active scheduler."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        future = client.compute(collection)
        if progress:
            from distributed import progress as show_progress

            show_progress(future)
        return future.result()
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return collection.compute()
    return collection.compute()
