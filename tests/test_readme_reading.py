"""The README's section "Reading a dataset back, and training shards", run as written: from
a folder where `dask-clipwriter demo` wrote ./demo-output, every Python block and command
of the section in order, each checked to do what the section says of it, and the copy it
makes checked to differ from the demo's dataset in the ways, and for the reasons, it lists."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readme import bash_lines, code_blocks, command
from test_round_trip import assert_same_files, files_of

from dask_clipwriter import verify

SECTION = "Reading a dataset back, and training shards [ours]"
#: The write call's flags that are no content setting (the manifest does not keep them).
CALL_FLAGS = {"generate_embeddings", "generate_previews", "generate_captions"}


def console_script() -> str:
    exe = shutil.which("dask-clipwriter", path=str(Path(sys.executable).parent)) or shutil.which("dask-clipwriter")
    assert exe, "the console script is installed by `pip install -e .`"
    return exe


def run_python(text: str) -> tuple[list, dict]:
    """Run a README block; (the values of its top-level expressions in order, its names)."""
    tree = ast.parse(text)
    for i, statement in enumerate(tree.body):
        if isinstance(statement, ast.Expr):  # kept: what a notebook would show
            call = ast.parse("__values.append(None)").body[0]
            call.value.args = [statement.value]
            tree.body[i] = ast.copy_location(call, statement)
    names: dict = {"__values": []}
    exec(compile(ast.fix_missing_locations(tree), "README.md", "exec"), names)  # noqa: S102 - the README's own code
    return names["__values"], names


def run_bash(text: str, exe: str) -> list[subprocess.CompletedProcess]:
    out = []
    for line in bash_lines(text):
        argv = command(line, {})
        assert argv[0] == "dask-clipwriter", line
        proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (line, proc.stderr)
        out.append(proc)
    return out


def assert_copy_differs_as_documented(dataset: Path, copy: str) -> None:
    """The copy of the job's dataset: the round-trip test's comparison, after the three
    differences a job-written source adds, each checked: its report.html, the producer (the
    job's clip-making settings) in its manifest, and the write call's flags in summary.json."""
    before, after = files_of(str(dataset)), files_of(copy)
    assert "report.html" in before and "report.html" not in after
    del before["report.html"]
    manifest, copied = (json.loads(f[".clipwriter/manifest.json"]) for f in (before, after))
    assert manifest["producer"]["clip_len_s"] == 10.0 and copied["producer"] == {}
    manifest["producer"] = {}
    before[".clipwriter/manifest.json"] = json.dumps(manifest, indent=4).encode()
    summary, copied_summary = (json.loads(f["summary.json"]) for f in (before, after))
    changed = {k for k, v in summary["settings"].items() if copied_summary["settings"].get(k) != v}
    assert "generate_previews" in changed and changed - {"output_path"} <= CALL_FLAGS  # the job made previews
    summary["settings"].update({k: copied_summary["settings"][k] for k in changed - {"output_path"}})
    before["summary.json"] = json.dumps(summary).encode()
    assert_same_files(before, after, str(dataset), copy)


@pytest.mark.cluster
def test_the_reading_section_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exe = console_script()
    demo = subprocess.run([exe, "demo"], capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    dataset = tmp_path / "demo-output" / "dataset"
    blocks = code_blocks(SECTION)
    assert [lang for lang, _ in blocks] == ["python", "python", "bash", "python", "bash", "python"]
    read, again, export, load, backfill, index = (text for _, text in blocks)

    (columns, moving, histogram), _ = run_python(read)
    claimed = re.search(r"columns\.tolist\(\)\[:6\]\s+# (\[.*?\])", read).group(1)
    assert columns == ast.literal_eval(claimed)
    assert list(moving.columns) == ["span_uuid", "motion_score_global_mean"]
    assert len(moving) > 0 and (moving["motion_score_global_mean"] > 0.001).all()
    assert len(histogram.patches) == 20

    run_python(again)
    assert verify("demo-output/copy") == [] and verify("demo-output/moving") == []
    assert_copy_differs_as_documented(dataset, "demo-output/copy")
    moved = json.loads((tmp_path / "demo-output/moving/summary.json").read_text())["totals"]
    assert moved["num_clips_passed"] == len(moving) and moved["num_clips_filtered"] == 0

    [proc] = run_bash(export, exe)
    assert "wrote 5 samples in 1 shard" in proc.stderr
    _, names = run_python(load)
    assert names["index"]["samples"] == 5 and names["index"]["shards_pattern"] == "shard-000000.tar"
    assert isinstance(names["mp4"], bytes) and names["meta"]["span_uuid"] == names["sample"]["__key__"]

    [proc] = run_bash(backfill, exe)
    assert any((dataset / "clip_index").iterdir()) and any((dataset / "metas_jsonl" / "v0").iterdir())
    (frame,), _ = run_python(index)
    assert list(frame.columns) == ["span_uuid", "aesthetic_score"] and len(frame) == 6
