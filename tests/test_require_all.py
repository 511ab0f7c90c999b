"""With CI=true a skipped test fails (tests/require_all.py); without it, it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

SKIPPING = '''
import pytest

def test_needs_a_widget():
    pytest.skip("no widget on this machine")

@pytest.mark.skipif(True, reason="no gadget either")
def test_needs_a_gadget():
    pass

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False
'''


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "require_all", "-rfE",
         "--rootdir", str(tmp_path), str(tmp_path / "test_skipping.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_skip_fails_with_its_reason(tmp_path, ci):
    done = run_pytest(tmp_path, ci)
    assert done.returncode == 1, done.stdout
    assert "no widget on this machine" in done.stdout and "no gadget either" in done.stdout
    assert "skipped in CI" in done.stdout
    assert "1 xfailed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1]


def test_elsewhere_a_skip_stays_a_skip(tmp_path):
    done = run_pytest(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "2 skipped, 1 xfailed" in done.stdout.splitlines()[-1]
