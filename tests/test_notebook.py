"""jobs/notebook.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "jobs" / "notebook.ipynb"


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
    # The last cell: read back, filter, plot (a second PNG: the histogram), export shards.
    last = json.dumps(outputs[max(outputs)])
    assert "3 moving clips; 3 samples in shards/shard-000000.tar" in last and "image/png" in last
    assert (tmp_path / "work" / "shards" / "shard-000000.tar").exists()
