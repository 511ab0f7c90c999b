"""jobs/notebook.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), and
as the README runs it (`jupyter execute`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from readme import blocks, command

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "jobs" / "notebook.ipynb"


@pytest.mark.cluster
def test_notebook_runs_and_writes_a_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPWRITER_NOTEBOOK_DIR", str(tmp_path / "work"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"}
    assert not [o for outs in outputs.values() for o in outs if o.get("output_type") == "error"]
    text = json.dumps([o for outs in outputs.values() for o in outs])
    assert "http://127.0.0.1:" in text  # the dashboard link
    assert "(3, 2)" in text  # 3 clips passed (pan), 2 filtered (static)
    assert "image/png" in text and "x240" in text  # the preview: height 240, shown inline
    dataset = tmp_path / "work" / "dataset"
    assert (dataset / "summary.json").exists() and len(list((dataset / "filtered_clips").iterdir())) == 2
    # The report, inline (the cell before the last): bokeh's loader (its JavaScript inline,
    # no CDN) and the plots.
    report = json.dumps(outputs[sorted(outputs)[-2]])
    assert "application/vnd.bokehjs_load.v0+json" in text and "application/vnd.bokehjs_exec.v0+json" in report
    assert "cdn.bokeh.org" not in text and f"bytes in {dataset}/report.html" in report

    # The last cell: read back, filter, plot (a second PNG: the histogram), export shards.
    last = json.dumps(outputs[max(outputs)])
    assert "3 moving clips; 3 samples in shards/shard-000000.tar" in last and "image/png" in last
    assert (tmp_path / "work" / "shards" / "shard-000000.tar").exists()


@pytest.mark.cluster
def test_the_readme_command(tmp_path):
    [[line]] = blocks("In Jupyter")
    argv = command(line, {})
    assert argv == ["jupyter", "execute", "jobs/notebook.ipynb"]
    env = {**os.environ, "CLIPWRITER_NOTEBOOK_DIR": str(tmp_path / "work"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "work" / "dataset" / "report.html").is_file()
    assert not (REPO / "jobs" / "notebook-output").exists()  # all of it went to the chosen folder
