"""report.html in a real browser: Debian's headless Chromium opens the page a real job wrote
and every plot has drawn its data (its bar colour on a canvas), the previews have loaded,
the console has no error and nothing was fetched from a network."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from browser import chromium, visit
from clip_helpers import STAGES

from dask_clipwriter.config import JobConfig
from dask_clipwriter.job import run_job
from dask_clipwriter.report_html import PLOT_COLOURS
from dask_clipwriter.settings import WriterSettings
from dask_clipwriter.video.stage_settings import StageSettings

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

#: Runs in the page: every canvas (bokeh draws inside shadow roots), how many pixels of each
#: plot colour the canvases hold, and the page's images. "ready" once every colour is there.
CHECK = """
(() => {
  const colours = %s;
  const canvases = [], images = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS') canvases.push(el);
      if (el.tagName === 'IMG') images.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  const hex = (d, i) => '#' + [d[i], d[i + 1], d[i + 2]].map(v => v.toString(16).padStart(2, '0')).join('');
  const pixels = {};
  let painted = 0;
  for (const canvas of canvases) {
    if (!canvas.width || !canvas.height) continue;
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] === 0) continue;
      painted++;
      const c = hex(d, i);
      if (colours.includes(c)) pixels[c] = (pixels[c] || 0) + 1;
    }
  }
  const loaded = images.filter(img => img.complete && img.naturalWidth > 0).length;
  return {ready: colours.every(c => (pixels[c] || 0) >= 100) && loaded === images.length,
          canvases: canvases.length, painted, pixels, images: images.length, loaded,
          previews: images.filter(img => img.className === 'clipwriter-preview').length};
})()
"""


@pytest.fixture(scope="module")
def report_page(job_videos, tmp_path_factory, cluster_client):
    """A real job's report: moving, static, short, corrupt and truncated videos, with an
    aesthetic scorer, so that every plot of the page has data to draw."""
    if chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    out = tmp_path_factory.mktemp("browser") / "dataset"
    stages = StageSettings(**STAGES, aesthetic_scorer="example_plugins:mean_brightness")
    cfg = JobConfig(writer=WriterSettings(output_path=str(out), input_path=str(job_videos)), stages=stages)
    cluster_client.upload_file(str(Path(__file__).parent / "video" / "example_plugins.py"))
    with cluster_client.as_current():
        run_job(cfg, cluster_client, stream=sys.stderr)
    return out / "report.html"


def test_every_plot_draws_in_chromium(report_page, tmp_path):
    page = visit(report_page.as_uri(), CHECK % json.dumps(sorted(PLOT_COLOURS.values())), screenshot=True)
    (tmp_path / "report.png").write_bytes(page.screenshot)  # to look at when this fails
    drawn = page.value
    assert drawn["ready"], f"not every plot drew: {drawn}; screenshot {tmp_path / 'report.png'}"
    assert drawn["canvases"] >= 7 and drawn["painted"] > 0
    assert drawn["previews"] >= 2 and drawn["loaded"] == drawn["images"]
    assert page.console_errors == [] and page.exceptions == []
    # Self-contained: the page itself, and data: URIs for the previews; nothing else.
    assert {url for url in page.requests if not url.startswith("data:")} == {report_page.as_uri()}
    assert page.failed_requests == []
    assert page.screenshot.startswith(b"\x89PNG")


def test_a_broken_page_is_seen_as_broken(tmp_path):
    """The check can fail: a page whose script throws, that fetches from a network and whose
    plot draws nothing is reported as such (so a pass above means something)."""
    if chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><canvas width=50 height=50></canvas><img src='http://127.0.0.1:9/x.png'>"
                      "<script>console.error('boom'); undefined_function();</script></body></html>")
    page = visit(broken.as_uri(), CHECK % json.dumps([PLOT_COLOURS["durations"]]), timeout=3)
    assert page.value["ready"] is False and page.value["painted"] == 0
    assert "boom" in page.console_errors and any("undefined_function" in e for e in page.exceptions)
    assert "http://127.0.0.1:9/x.png" in page.requests
