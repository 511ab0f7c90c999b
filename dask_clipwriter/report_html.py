"""``report.html`` drawn with bokeh from :class:`.report_figures.ReportFigures`: one page,
self-contained (bokeh's JavaScript and CSS inline, previews as data URIs), so it opens from
a file on a machine without network, or as an attachment.

Each plot's bars have a colour of their own (:data:`PLOT_COLOURS`); the browser test looks
for those colours on the page's canvases to see that every plot drew its data.
"""

from __future__ import annotations

import base64
import html

from .report_figures import Histogram, ReportFigures

#: The bar colour of each plot.
PLOT_COLOURS = {
    "durations": "#1f77b4",
    "motion": "#2ca02c",
    "aesthetic": "#9467bd",
    "clips_per_video": "#17becf",
    "clips_per_video_filtered": "#ff7f0e",
    "outcome": "#bcbd22",
    "bytes": "#8c564b",
    "errors": "#d62728",
}
WIDTH, HEIGHT = 420, 300
PREVIEW_HEIGHT = 120

_STYLE = "font-family: sans-serif; font-size: 13px; color: #222;"


def _figure(title: str, **kwargs):
    from bokeh.plotting import figure

    # One left border for all plots, wide enough for the bar labels: the plot areas line up.
    fig = figure(title=title, width=WIDTH, height=HEIGHT, toolbar_location=None, tools="hover,pan,wheel_zoom,reset",
                 min_border_left=130, **kwargs)
    fig.title.text_font_size = "11pt"
    return fig


def _placeholder(title: str, text: str):
    from bokeh.models import Div

    return Div(text=f"<div style='{_STYLE} width: {WIDTH - 20}px; height: {HEIGHT - 40}px; border: 1px solid #ddd; "
                    f"padding: 10px;'><b>{html.escape(title)}</b><p>{html.escape(text)}</p></div>",
               width=WIDTH, height=HEIGHT)


def histogram_plot(title: str, hist: Histogram | None, colour: str, x_label: str, empty: str):
    if hist is None:
        return _placeholder(title, empty)
    left_out = f"; {hist.left_out} at 0" if hist.left_out else ""
    fig = _figure(f"{title} ({hist.values:,} clips{left_out})", x_axis_type="log" if hist.log else "linear")
    fig.quad(left=hist.left, right=hist.right, bottom=0, top=list(hist.counts), fill_color=colour,
             line_color="white")
    fig.xaxis.axis_label, fig.yaxis.axis_label = x_label, "clips"
    fig.y_range.start = 0
    return fig


def bar_plot(title: str, rows: list[tuple[str, int]], colour: str, x_label: str, empty: str, scale: float = 1.0):
    """Horizontal bars, largest first at the top."""
    if not rows or not any(n for _, n in rows):
        return _placeholder(title, empty)
    from bokeh.models import ColumnDataSource

    labels = [label for label, _ in rows][::-1]
    values = [n / scale for _, n in rows][::-1]
    fig = _figure(title, y_range=labels)
    fig.hbar(y="label", right="value", height=0.7, fill_color=colour, line_color=colour,
             source=ColumnDataSource({"label": labels, "value": values}))
    fig.xaxis.axis_label = x_label
    fig.x_range.start = 0
    return fig


def clips_per_video_plot(figures: ReportFigures):
    title = "clips per video"
    if figures.clips_per_video_histogram is not None:
        return histogram_plot(f"{title}, {figures.videos_listed:,} videos", figures.clips_per_video_histogram,
                              PLOT_COLOURS["clips_per_video"], "clips in the video", "no clips")
    rows = figures.clips_per_video
    if not rows or not any(p + f for _, p, f in rows):
        return _placeholder(title, "no clips yet")
    from bokeh.models import ColumnDataSource

    labels = [video for video, _, _ in rows][::-1]
    source = ColumnDataSource({"video": labels, "passed": [p for _, p, _ in rows][::-1],
                               "filtered": [f for _, _, f in rows][::-1]})
    fig = _figure(title, y_range=labels)
    fig.hbar_stack(["passed", "filtered"], y="video", height=0.7, source=source, legend_label=["passed", "filtered"],
                   color=[PLOT_COLOURS["clips_per_video"], PLOT_COLOURS["clips_per_video_filtered"]])
    fig.x_range.start = 0
    fig.legend.location = "bottom_right"
    fig.xaxis.axis_label = "clips"
    return fig


def _header(figures: ReportFigures) -> str:
    cells = "".join(f"<tr><td style='padding-right: 16px; color: #666;'>{html.escape(k)}</td>"
                    f"<td>{html.escape(v)}</td></tr>" for k, v in figures.headline)
    return (f"<div style='{_STYLE}'><h1 style='font-size: 20px; margin: 0 0 8px;'>dask_clipwriter report</h1>"
            f"<div style='margin-bottom: 8px;'>{html.escape(figures.dataset)}</div><table>{cells}</table>"
            f"<p style='color: #666;'>{html.escape(figures.sample)}</p></div>")


def _failures(figures: ReportFigures) -> str:
    if not figures.failed_count:
        return f"<div style='{_STYLE}'><h2 style='font-size: 16px;'>failed videos</h2><p>none</p></div>"
    rows = "".join(f"<tr><td style='padding-right: 16px;'>{html.escape(video)}</td><td style='color: #a00;'>"
                   f"{html.escape(error)}</td></tr>" for video, error in figures.failed_videos)
    more = figures.failed_count - len(figures.failed_videos)
    tail = f"<p>and {more:,} more (summary.json lists them)</p>" if more > 0 else ""
    return (f"<div style='{_STYLE}'><h2 style='font-size: 16px;'>failed videos ({figures.failed_count:,})</h2>"
            f"<table>{rows}</table>{tail}</div>")


def _previews(figures: ReportFigures) -> str:
    if not figures.previews:
        return f"<div style='{_STYLE}'><h2 style='font-size: 16px;'>previews</h2><p>none in the sample</p></div>"
    items = []
    for preview in figures.previews:
        uri = f"data:{preview.mime};base64,{base64.b64encode(preview.data).decode('ascii')}"
        label = f"{preview.video.rsplit('/', 1)[-1]} {preview.span[0]:g}-{preview.span[1]:g} s"
        items.append(f"<figure style='margin: 0 8px 8px 0;'><img class='clipwriter-preview' src='{uri}' "
                     f"alt='{html.escape(preview.clip)}' title='{html.escape(preview.clip)}' "
                     f"style='height: {PREVIEW_HEIGHT}px; display: block;'>"
                     f"<figcaption style='font-size: 11px; color: #666;'>{html.escape(label)}</figcaption></figure>")
    return (f"<div style='{_STYLE}'><h2 style='font-size: 16px;'>previews</h2>"
            f"<div style='display: flex; flex-wrap: wrap;'>{''.join(items)}</div></div>")


def report_layout(figures: ReportFigures):
    """The report as one bokeh layout (``bokeh.io.show`` it in a notebook)."""
    from bokeh.layouts import column, gridplot
    from bokeh.models import Div

    plots = [
        histogram_plot("clip duration", figures.durations, PLOT_COLOURS["durations"], "seconds", "no clip metas"),
        histogram_plot("motion score", figures.motion, PLOT_COLOURS["motion"], "global mean (log scale)",
                       "no motion scores (motion filter disabled?)"),
        histogram_plot("aesthetic score", figures.aesthetic, PLOT_COLOURS["aesthetic"], "score",
                       "no aesthetic scores (the job had no --aesthetic-scorer)"),
        clips_per_video_plot(figures),
        bar_plot("clips by outcome", figures.outcome, PLOT_COLOURS["outcome"], "clips",
                 "no clips yet"),
        bar_plot("stored per directory", figures.bytes_per_directory, PLOT_COLOURS["bytes"], "MB", "nothing stored",
                 scale=1e6),
        bar_plot("errors by kind", figures.errors, PLOT_COLOURS["errors"], "count", "no errors"),
    ]
    width = 3 * WIDTH + 40
    return column(Div(text=_header(figures), width=width), gridplot(plots, ncols=3, toolbar_location=None),
                  Div(text=_failures(figures), width=width), Div(text=_previews(figures), width=width))


def report_html(figures: ReportFigures) -> str:
    """The whole page, with bokeh's resources inline (no network needed to view it)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(report_layout(figures), resources=INLINE, title=f"dask_clipwriter report: {figures.dataset}")


__all__ = ["PLOT_COLOURS", "report_html", "report_layout"]
