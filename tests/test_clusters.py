"""Cluster plumbing: make_cluster, the rendered SLURM job script, defaults from YAML, and a
real write through the single-node SLURM of scripts/slurm-up.sh (skipped where it is not up)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import dask.config
import pandas as pd
import pytest
import reference as ref
import yaml
from clip_helpers import make_clip
from slurm_helpers import slurm_unavailable, squeue

from dask_clipwriter import ClipWriter, clip_records_from_map
from dask_clipwriter.clusters import cluster_summary, make_cluster

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
PROFILE = REPO / "conf" / "jobqueue-slurm.yaml"


@pytest.fixture
def slurm_module():
    pytest.importorskip("dask_jobqueue")
    from dask_clipwriter.clusters import slurm

    return slurm


def render(**options) -> str:
    """The worker job script for ``options``, from a SLURMCluster that submits nothing."""
    options = {"interface": "lo", **options, "n_workers": 0, "adaptive_maximum": None}
    with make_cluster("slurm", **options) as cluster:
        return cluster.job_script()


def directives(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


# ----------------------------------------------------------------------------------------
# Without any SLURM: the job script, defaults, errors.


def test_job_script_has_the_directives_and_the_worker_command(slurm_module, tmp_path):
    logs = tmp_path / "logs"
    script = render(
        cores=4, processes=2, memory="8GiB", walltime="00:20:00", queue="gpu",
        account="proj-7", job_name="cw", job_extra_directives=["--gres=gpu:1", "--qos=low"],
        log_directory=str(logs), job_script_prologue=["module load ffmpeg"],
    )
    assert directives(script) == [
        "#SBATCH -J cw",
        f"#SBATCH -e {logs}/cw-%J.err",
        f"#SBATCH -o {logs}/cw-%J.out",
        "#SBATCH -p gpu",
        "#SBATCH -A proj-7",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8G",
        "#SBATCH -t 00:20:00",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --qos=low",
    ]
    assert "\nmodule load ffmpeg\n" in script
    worker = script.strip().splitlines()[-1]
    assert worker.startswith(f"{sys.executable} -m distributed.cli.dask_worker tcp://127.0.0.1:")
    for part in ("--nthreads 2", "--memory-limit 4.00GiB", "--nworkers 2", "--nanny",
                 "--death-timeout 60", "--interface lo"):
        assert part in worker, part
    assert logs.is_dir()  # dask-jobqueue makes it when the cluster is built


def test_defaults_come_from_the_yaml_beside_the_code(slurm_module, tmp_path):
    defaults = yaml.safe_load(slurm_module.DEFAULTS_FILE.read_text())["clipwriter"]["cluster"]["slurm"]
    resolved = slurm_module.resolve_options()
    assert resolved == {k.replace("-", "_"): v for k, v in defaults.items()}
    script = render()
    assert directives(script) == [
        f"#SBATCH -J {defaults['job-name']}",
        "#SBATCH -n 1",
        f"#SBATCH --cpus-per-task={defaults['cores']}",
        "#SBATCH --mem=4G",
        f"#SBATCH -t {defaults['walltime']}",
    ]
    assert f"--death-timeout {defaults['death-timeout']}" in script


def test_config_overrides_defaults_and_arguments_override_config(slurm_module, tmp_path):
    with dask.config.set({"clipwriter.cluster.slurm.walltime": "02:00:00",
                          "clipwriter.cluster.slurm.queue": "long"}):
        script = render(queue="short")
    assert "#SBATCH -t 02:00:00" in script
    assert "#SBATCH -p short" in script
    # None means "not given": the configured value stays.
    assert "#SBATCH --cpus-per-task=1" in render(cores=None)


def test_example_profile_has_only_known_keys_and_renders(slurm_module, tmp_path):
    profile = yaml.safe_load(PROFILE.read_text())["clipwriter"]["cluster"]
    assert profile["kind"] == "slurm"
    known = set(yaml.safe_load(slurm_module.DEFAULTS_FILE.read_text())["clipwriter"]["cluster"]["slurm"])
    assert set(profile["slurm"]) <= known
    options = {k.replace("-", "_"): v for k, v in profile["slurm"].items()}
    script = render(**{**options, "log_directory": str(tmp_path / "logs")})
    assert "#SBATCH --cpus-per-task=4" in script
    assert "#SBATCH --mem=16G" in script
    assert "--nworkers 2" in script


def test_log_directory_with_an_output_directive_is_refused(slurm_module, tmp_path):
    with pytest.raises(ValueError, match="log_directory.*--output=x.out"):
        make_cluster("slurm", n_workers=0, log_directory=str(tmp_path), job_extra_directives=["--output=x.out"])
    with pytest.raises(ValueError, match="-e err.txt"):
        make_cluster("slurm", n_workers=0, log_directory=str(tmp_path), job_extra_directives=["-e err.txt"])


def test_unknown_kind_and_unknown_local_option():
    with pytest.raises(ValueError, match="unknown cluster kind 'kubernetes': choose one of local, slurm"):
        make_cluster("kubernetes")
    with pytest.raises(TypeError, match=r"unknown local cluster option\(s\) \['cores'\]"):
        make_cluster("local", cores=4)


def test_missing_dask_jobqueue_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'dask_clipwriter\[slurm\]'"):
        make_cluster("slurm", n_workers=0)


def test_workers_without_sbatch_is_a_clear_error(slurm_module, monkeypatch):
    monkeypatch.setattr(slurm_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="sbatch is not on PATH"):
        make_cluster("slurm", n_workers=1, interface="lo")


def test_adaptive_and_summary_without_jobs(slurm_module, monkeypatch):
    monkeypatch.setattr(slurm_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    # Minimum 0 and no work: nothing is submitted (nor checked: this test runs without SLURM).
    with make_cluster("slurm", interface="lo", adaptive_maximum=3, check_request=False) as cluster:
        assert cluster._adaptive is not None
        assert (cluster._adaptive.minimum, cluster._adaptive.maximum) == (0, 3)
        line = cluster_summary(cluster)
    assert line.startswith("SLURMCluster: 0/0 workers, dashboard http://127.0.0.1:"), line


def test_lifetime_is_rendered_as_the_dask_workers_own_flags(slurm_module):
    worker = render(lifetime="230m", lifetime_stagger="5m", worker_extra_args=["--resources", "GPU=1"])
    worker = worker.strip().splitlines()[-1]
    assert " --resources GPU=1 --lifetime 230m --lifetime-stagger 5m " in worker + " "
    assert "--lifetime" not in render().strip().splitlines()[-1]


def test_our_slurm_options_have_their_defaults_in_the_yaml(slurm_module):
    import dataclasses

    from dask_clipwriter.clusters.slurm_settings import SlurmSettings

    defaults = yaml.safe_load(slurm_module.DEFAULTS_FILE.read_text())["clipwriter"]["cluster"]["slurm"]
    fields = dataclasses.fields(SlurmSettings)
    assert {f.name for f in fields} == set(slurm_module.OWN_OPTIONS)
    for f in fields:
        assert defaults[f.name.replace("_", "-")] == f.default, f.name


def test_lifetime_keeps_the_workers_up_by_adapting(slurm_module):
    from dask_clipwriter.clusters.slurm_settings import SlurmSettings

    assert SlurmSettings(n_workers=4, lifetime="1h").adaptive_range() == (4, 4)  # retired workers are replaced
    assert SlurmSettings(n_workers=4).adaptive_range() is None  # a fixed scale
    assert SlurmSettings(adaptive_maximum=8, lifetime="1h").adaptive_range() == (0, 8)
    assert SlurmSettings(pending_timeout="never").pending_timeout_s is None
    assert SlurmSettings(pending_timeout="90s").pending_timeout_s == 90.0


@pytest.mark.parametrize(("options", "message"), [
    ({"lifetime": "soon"}, "lifetime must be a duration such as '90s' or '230m', got 'soon'"),
    ({"pending_timeout": "-5s"}, "pending-timeout must be a duration such as"),
    ({"adaptive_minimum": 5, "adaptive_maximum": 2}, r"adaptive-minimum \(5\) is above adaptive-maximum \(2\)"),
    ({"n_workers": -1}, "n_workers must be an integer >= 0"),
])
def test_bad_slurm_options_are_refused_before_a_cluster_starts(slurm_module, options, message):
    from dask_clipwriter.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        make_cluster("slurm", interface="lo", **options)


def test_slurm_flags_reach_the_cluster_options_and_are_refused_for_a_local_run(tmp_path):
    from dask_clipwriter.cli import build_parser
    from dask_clipwriter.cli_common import settings_overrides as _overrides
    from dask_clipwriter.config import resolve_job_config
    from dask_clipwriter.settings import SettingsError

    args = build_parser().parse_args(["run", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                                      "--cluster", "slurm", "--lifetime", "2h", "--pending-timeout", "30s",
                                      "--no-check-request", "--adaptive-maximum", "6"])
    cfg = resolve_job_config(None, _overrides(args) | {"input_path": args.input_path,
                                                       "output_path": args.output_path, "cluster": "slurm"})
    assert {k: cfg.cluster_options[k] for k in ("lifetime", "pending_timeout", "check_request", "adaptive_maximum")} \
        == {"lifetime": "2h", "pending_timeout": "30s", "check_request": False, "adaptive_maximum": 6}
    args = build_parser().parse_args(["run", "--input", str(tmp_path), "--lifetime", "2h"])
    with pytest.raises(SettingsError, match=r"--lifetime: options of SLURM clusters, and this run's cluster is 'loc"):
        resolve_job_config(None, _overrides(args) | {"input_path": str(tmp_path), "output_path": str(tmp_path / "o")})


@pytest.mark.cluster
def test_local_cluster_has_worker_processes():
    from distributed import Client

    with make_cluster("local", n_workers=1, threads_per_worker=1) as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=30)
        pids = client.run(os.getpid)
        assert os.getpid() not in pids.values()
        line = cluster_summary(cluster)
    assert line.startswith("LocalCluster: 1/1 workers, "), line
    assert "dashboard http://127.0.0.1:" in line or "no dashboard" in line


# ----------------------------------------------------------------------------------------
# A real SLURM (scripts/slurm-up.sh): one worker job, a real write.


def build_and_record(part: int, where: str) -> pd.DataFrame:
    """Runs on the worker: notes where it ran, then builds the partition's clip records."""
    Path(where, f"part-{part}.json").write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "job": os.environ.get("SLURM_JOB_ID")}))
    if part == 0:
        return ref.clip_records()  # the spec's example chunk
    return pd.DataFrame([make_clip(f"/data/in/slurm/v{part}.mp4", 0, i) for i in range(2)])


@pytest.mark.slurm
@pytest.mark.timeout(180)
def test_write_through_a_real_slurm_worker_job(tmp_path):
    pytest.importorskip("dask_jobqueue")
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)
    from distributed import Client

    name = f"cw-test-{uuid.uuid4().hex[:8]}"
    logs, where = tmp_path / "logs", tmp_path / "where"
    where.mkdir()
    out = tmp_path / "data" / "out"
    parts = 3
    started = time.monotonic()
    with make_cluster(
        "slurm", cores=1, processes=1, memory="2GB", walltime="00:05:00", interface="lo",
        job_name=name, log_directory=str(logs), n_workers=1,
        # The partition function lives in this test module: let the worker import it.
        job_script_prologue=[f"export PYTHONPATH={TESTS}${{PYTHONPATH:+:$PYTHONPATH}}"],
    ) as cluster:
        with Client(cluster) as client:
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                job_logs = {p.name: p.read_text()[-2000:] for p in logs.glob("*")}
                pytest.fail(f"no worker after 60 s; squeue: {squeue(name)}; job logs: {job_logs}")
            job_ids = [str(job.job_id) for job in cluster.workers.values()]
            assert len(job_ids) == 1 and job_ids[0].isdigit()
            assert cluster_summary(cluster).startswith(f"SLURMCluster: 1/1 workers, jobs {job_ids[0]}, ")
            assert any(line.startswith(f"{job_ids[0]} R") for line in squeue(name))

            writer = ClipWriter(**{**ref.SETTINGS, "output_path": str(out)})
            clips = clip_records_from_map(build_and_record, range(parts), [str(where)] * parts)
            summary = writer.write(clips, ref.video_records())
            worker_pids = set(client.run(os.getpid).values())

    assert summary["totals"]["chunks"] == parts
    assert summary["totals"]["videos"] == parts
    assert json.loads((out / "summary.json").read_text())["totals"] == summary["totals"]
    written = (out / "processed_clip_chunks" / "video_00000.mp4_0.json").read_bytes()
    assert written == ref.expected("processed_clip_chunks_video_00000.mp4_0.json").replace(
        b"/data/out", str(out).encode())
    for part in range(1, parts):
        assert (out / "processed_clip_chunks" / f"slurm/v{part}.mp4_0.json").is_file()
        assert (out / "processed_videos" / f"slurm/v{part}.mp4.json").is_file()
    passed_in_example = int(ref.clip_records()["filtered_by"].isna().sum())
    assert len(list((out / "clips").glob("*.mp4"))) == passed_in_example + 2 * (parts - 1)

    # Every partition ran in the SLURM job's worker process, not in this one.
    ran = [json.loads((where / f"part-{part}.json").read_text()) for part in range(parts)]
    assert {r["job"] for r in ran} == set(job_ids)
    assert {r["pid"] for r in ran} <= worker_pids
    assert os.getpid() not in {r["pid"] for r in ran}

    # Closing the cluster cancelled the job (COMPLETING clears within a few seconds).
    deadline = time.monotonic() + 30
    while squeue(name) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert squeue(name) == [], "the worker job outlived the cluster"
    assert time.monotonic() - started < 90


class RefusedJob:
    """A worker whose submission fails, as sbatch refusing a job does: it stays "created"
    (dask-jobqueue's Job, as a ProcessInterface of distributed's, without SLURM)."""

    def __new__(cls, *args, **kwargs):
        from distributed.deploy.spec import ProcessInterface

        class Refused(ProcessInterface):
            async def start(self):
                raise RuntimeError("sbatch: error: Invalid generic resource (gres) specification")

            async def close(self):  # as dask-jobqueue's Job.close: cancels, leaves the status
                pass

        return Refused(*args, **kwargs)


def test_the_runs_error_survives_closing_a_half_started_cluster():
    """distributed asserts on closing a cluster with a worker that never started; `connected`
    must let the body's error through instead of that AssertionError."""
    from distributed import Client, Scheduler, SpecCluster

    from dask_clipwriter.clusters import connected

    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0", "port": 0}}
    cluster = SpecCluster(scheduler=scheduler, workers={}, silence_logs=50)
    client = Client(cluster)
    cluster.new_spec = {"cls": RefusedJob, "options": {}}
    cluster.scale(1)
    deadline = time.monotonic() + 10
    while not cluster._created and time.monotonic() < deadline:  # the refused start has run
        time.sleep(0.05)
    with pytest.raises(LookupError, match="the run's own error"):
        with connected(cluster, client):
            raise LookupError("the run's own error")
    assert client.status == "closed"
