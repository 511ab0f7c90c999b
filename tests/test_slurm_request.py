"""What a worker job asks, what a partition offers, and the verdict on pending jobs: the pure
rules of clusters/slurm_request.py, on job scripts dask-jobqueue really renders and on the
text sinfo and squeue really print (no SLURM needed)."""

from __future__ import annotations

import pytest

from dask_clipwriter.clusters import make_cluster
from dask_clipwriter.clusters.slurm_request import (
    JobRequest,
    Partition,
    judge_pending,
    parse_job_request,
    parse_memory_mb,
    parse_minutes,
    parse_sinfo,
    parse_squeue,
    request_problems,
)

# `sinfo -h -N -o "%P|%c|%m|%l|%a|%t"` on a site with two partitions (the default marked *).
SINFO = """\
cpu*|64|257000|2-00:00:00|up|idle
cpu*|128|515000|2-00:00:00|up|mix
gpu|32|190000|12:00:00|up|alloc
"""


@pytest.fixture
def rendered():
    pytest.importorskip("dask_jobqueue")

    def render(**options) -> str:
        options = {"interface": "lo", **options, "n_workers": 0, "adaptive_maximum": None}
        with make_cluster("slurm", **options) as cluster:
            return cluster.job_script()

    return render


def test_the_request_is_read_from_the_rendered_job_script(rendered, tmp_path):
    script = rendered(cores=4, processes=2, memory="16GiB", walltime="04:00:00", queue="gpu",
                      job_extra_directives=["--nodes=2", "--gres=gpu:1"], log_directory=str(tmp_path))
    request = parse_job_request(script)
    assert (request.partition, request.cpus, request.tasks, request.memory_mb, request.time_minutes,
            request.nodes) == ("gpu", 4, 1, 16384, 240.0, 2)
    # Every directive but names and log files, as written: the line a user can act on.
    assert request.describe() == "-p gpu -n 1 --cpus-per-task=4 --mem=16G -t 04:00:00 --nodes=2 --gres=gpu:1"


def test_later_directives_win_as_in_sbatch(rendered):
    # An extra --mem after the one rendered from `memory` is what SLURM applies.
    request = parse_job_request(rendered(memory="4GiB", job_extra_directives=["--mem=64G", "-p debug"]))
    assert (request.memory_mb, request.partition) == (65536, "debug")


@pytest.mark.parametrize(("text", "mb"), [("16G", 16384), ("2048", 2048), ("512M", 512), ("1T", 1048576),
                                          ("22899", 22899), ("1.5G", 1536), ("bogus", None)])
def test_memory_sizes(text, mb):
    assert parse_memory_mb(text) == mb


@pytest.mark.parametrize(("text", "minutes"), [("30", 30), ("30:30", 30.5), ("04:00:00", 240), ("1-0", 1440),
                                               ("2-12", 3600), ("1-02:03", 1563), ("1-00:00:30", 1440.5),
                                               ("infinite", None), ("UNLIMITED", None)])
def test_times(text, minutes):
    assert parse_minutes(text) == minutes


def test_sinfo_gives_each_partitions_largest_node():
    partitions = parse_sinfo(SINFO)
    assert partitions["cpu"] == Partition(name="cpu", default=True, available="up", nodes=2, cpus=128,
                                          memory_mb=515000, time_minutes=2880.0, states=("idle", "mix"))
    assert partitions["gpu"].default is False and partitions["gpu"].time_minutes == 720


def test_a_request_that_fits_has_no_problem():
    request = JobRequest(cpus=128, tasks=1, memory_mb=515000, time_minutes=2880)
    assert request_problems(request, parse_sinfo(SINFO)) == []


def test_each_unmet_part_of_a_request_is_named_with_the_option_to_change():
    partitions = parse_sinfo(SINFO)
    problems = request_problems(JobRequest(partition="gpu", cpus=48, memory_mb=200000, time_minutes=1440, nodes=2),
                                partitions)
    assert problems == [
        "it asks 48 CPUs per job (option cores) and the nodes of partition gpu have at most 32",
        "it asks 200000 MB of memory per job (option memory) and the nodes of partition gpu have at most 190000 MB",
        "it asks a walltime of 1-00:00:00 (option walltime) and partition gpu allows 12:00:00",
        "it asks 2 nodes (option job-extra-directives) and partition gpu has 1",
    ]


def test_an_unknown_partition_and_no_default_partition():
    partitions = parse_sinfo(SINFO)
    assert request_problems(JobRequest(partition="bigmem"), partitions) == [
        "partition 'bigmem' does not exist here (partitions: cpu, gpu; set option queue)"]
    assert request_problems(JobRequest(), {"gpu": partitions["gpu"]}) == [
        "no default partition (partitions: gpu); set option queue"]
    down = parse_sinfo("debug*|2|22899|infinite|down|down*\n")
    assert request_problems(JobRequest(cpus=1), down) == ["partition debug is down"]


def test_squeue_states():
    assert parse_squeue("101|PENDING|PartitionConfig\n102|RUNNING|None\nnoise\n") == {
        "101": ("PENDING", "PartitionConfig"), "102": ("RUNNING", "None")}


ASKS = "-n 1 --cpus-per-task=4"


def test_a_reason_that_never_clears_ends_the_run_at_once():
    verdict = judge_pending({"7": ("PENDING", "PartitionConfig")}, {"7": 100.0}, 101.0, 600, 0, ASKS)
    assert verdict.fail == ("SLURM worker job 7 pending for 1 s, reason PartitionConfig: it asks -n 1 "
                            "--cpus-per-task=4 - more than the partition allows")


def test_a_queue_wait_ends_the_run_only_after_the_timeout_and_only_without_workers():
    states = {"7": ("PENDING", "Resources"), "8": ("RUNNING", "None")}
    assert judge_pending(states, {"7": 100.0}, 150.0, 60, 0, ASKS).fail is None  # not yet
    late = judge_pending(states, {"7": 100.0}, 161.0, 60, 0, ASKS)
    assert late.fail.startswith("SLURM worker job 7 pending for 61 s, reason Resources") and \
        late.fail.endswith("no worker has joined after the pending timeout (60 s)")
    with_workers = judge_pending(states, {"7": 100.0}, 161.0, 60, 2, ASKS)
    assert with_workers.fail is None and with_workers.warn.endswith("going on with the 2 worker(s) up")
    assert judge_pending(states, {"7": 100.0}, 10_000.0, None, 0, ASKS).fail is None  # "never": wait
