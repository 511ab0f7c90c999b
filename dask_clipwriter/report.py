"""``report.html``: a page of plots about a dataset, for people to look at rather than read.

    dask-clipwriter report OUT [-o report.html]          # or: from dask_clipwriter.report import write_report

Three parts, each testable alone: :mod:`.report_read` reads a bounded sample of the dataset
(I/O), :mod:`.report_figures` turns documents into figures (pure), :mod:`.report_html` draws
them with bokeh. By default the page is written into the dataset, beside summary.json
(``OUT/report.html``, through the writer's sink: atomically, confined to the dataset); the
batch job writes it at the end of each run unless ``--no-report``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import layout
from .report_figures import ReportFigures, gather
from .report_read import ReportError, ReportSettings, read_sample


def report_figures(output_path: str, storage_options: Mapping[str, Any] | None = None,
                   settings: ReportSettings | None = None) -> ReportFigures:
    """The figures of the dataset at ``output_path`` (read with ``storage_options``)."""
    sample = read_sample(output_path, storage_options, settings or ReportSettings())
    return gather(sample.summary, sample.metas, sample.previews, dataset=output_path, sample=sample.describe())


def write_report(output_path: str, storage_options: Mapping[str, Any] | None = None, target: str | None = None,
                 settings: ReportSettings | None = None) -> str:
    """Write the report of the dataset at ``output_path`` to ``target`` (default
    ``<output_path>/report.html``; a local path or URL); returns where it went."""
    from .report_html import report_html

    page = report_html(report_figures(output_path, storage_options, settings)).encode("utf-8")
    target = target or layout.report_path(output_path)
    if target.startswith(output_path.rstrip("/") + "/"):
        from .sink import FileSink

        FileSink(output_path, storage_options=storage_options).put(target, page, existing="overwrite")
    else:
        import fsspec

        # The dataset's storage options are for a target in the same store, not a local file.
        options = dict(storage_options or {}) if "://" in target else {}
        with fsspec.open(target, "wb", **options) as fh:
            fh.write(page)
    return target


__all__ = ["ReportError", "ReportSettings", "report_figures", "write_report"]
