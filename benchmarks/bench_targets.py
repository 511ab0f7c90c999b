"""The performance targets of the writer and the job, each as a ratio to a floor measured in
the same run, on the same records, machine and cores (median of the repeats).

    python benchmarks/bench_targets.py                 # everything: 9-12 minutes on 2 cores (536 s and 706 s)
    python benchmarks/bench_targets.py --smoke         # seconds: what the test suite runs
    python benchmarks/bench_targets.py --only s3 bulk  # some targets
    python benchmarks/bench_targets.py --json out.json
    python benchmarks/bench_targets.py --only metadata --metadata-chunks 2000 20000

Prints one table: target, what is measured, ours, the floor, the ratio, the goal, held or
not. The writer runs on a local cluster of two single-threaded worker processes with the
scheduler in a process of its own (so that its memory is measured apart from the client's),
on records persisted first (making them is the upstream's work, not the writer's). The
floors write the very same files from memory with plain calls (``floors.py``): for local
disk the tree the writer wrote, read back, then written by 8 threads of one process; for S3
the same objects PUT from the same worker processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# workloads and floors must be importable by the scheduler and workers too (their own processes).
sys.path.insert(0, str(Path(__file__).parent))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))

import floors  # noqa: E402
import workloads  # noqa: E402
from bench_reduction import ClientPeak, rss_mb  # noqa: E402

from dask_clipwriter import ClipWriter, clip_records_from_map  # noqa: E402


@dataclass
class Row:
    target: str
    measure: str
    ours: float
    floor: float
    goal: str
    held: bool | None  # None: not applicable (its condition does not hold)
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.floor if self.floor else float("nan")


@dataclass(frozen=True)
class Sizes:
    probe_free_chunks: int = 64  # x 32 clips of 200 KB: 2,048 clip records
    #: The issue's sizes are 2,000 and 20,000 chunks (``--metadata-chunks 2000 20000``, about
    #: 14 minutes on its own on the shared 2-core machine); the default run uses 10,000 so
    #: that the whole command stays near its 10 minutes (536 s on 2026-12-02, 706 s loaded).
    metadata_chunks: tuple[int, int] = (2000, 10000)
    #: The comparison of 2 workers with 1 (x 32 clips of 200 KB; :func:`scaling`).
    scaling_chunks: int = 32
    bulk_chunks: int = 32  # x 16 clips of 1 MB
    s3_chunks: int = 32  # x 8 clips of 200 KB
    memory_chunks: tuple[int, int] = (4, 40)  # x 16 clips of 1 MB
    #: The job: this many 1280x720 sources of this many seconds, cut into 10 s clips (one
    #: clip a chunk: the job and FFmpeg both run two rounds of two clips on the 2 cores).
    job_videos: tuple[int, float, int, int] = (4, 10.0, 1280, 720)
    repeats: int = 3


SMOKE = Sizes(probe_free_chunks=4, metadata_chunks=(40, 80), scaling_chunks=4, bulk_chunks=2, s3_chunks=3,
              memory_chunks=(1, 2),
              job_videos=(2, 10.0, 320, 256), repeats=1)


# --------------------------------------------------------------------------------------
# Running the writer and the floors


#: Smoke runs share one cluster per worker count (starting one costs more than a smoke
#: target); full runs start a fresh one per measurement, so that memory peaks are its own.
_SHARED: dict[int, tuple] = {}
SHARE_CLUSTERS = False


@contextlib.contextmanager
def cluster(workers: int = 2):
    from distributed import Client
    from distributed.deploy.subprocess import SubprocessCluster

    if SHARE_CLUSTERS:
        if workers not in _SHARED:
            c = SubprocessCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0")
            # Not the default client: clients closed out of order would restore each
            # other's `scheduler` setting and leave dask pointing at a closed cluster.
            _SHARED[workers] = (c, Client(c, set_as_default=False))
        client = _SHARED[workers][1]
        with client.as_current():
            yield client
        return
    with SubprocessCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as c, Client(c) as client:
        yield client


def close_shared_clusters() -> None:
    for c, client in _SHARED.values():
        client.close()
        c.close()
    _SHARED.clear()


def persisted(client, make, chunks: int, **kwargs):
    from distributed import wait

    records = client.persist(clip_records_from_map(make, range(chunks), **kwargs))
    wait(records)
    return records


def write(records, out: str, check_records: bool = True, **settings) -> tuple[float, dict]:
    writer = ClipWriter(output_path=out, input_path=workloads.INPUT, caption_models=["qwen"], **settings)
    started = time.perf_counter()
    summary = writer.write(records, check_records=check_records)
    return time.perf_counter() - started, summary


def write_and_remove(records, out: Path, **settings) -> float:
    """Seconds to write ``records`` to ``out`` (then removed)."""
    seconds, _ = write(records, str(out), **settings)
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def local_floor(files: list[tuple[str, bytes]], root: Path) -> float:
    out = root / f"floor-{time.monotonic_ns()}"
    started = time.perf_counter()
    floors.write_local(out, files)
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def against_local_floor(records, root: Path, repeats: int, **settings) -> tuple[list[float], list[float], dict, int]:
    """Ours and the floor, alternated, ``repeats`` times: (ours s, floor s, summary, files)."""
    ours, floor, summary, files = [], [], {}, []
    for repeat in range(repeats):
        out = root / f"ours-{repeat}"
        seconds, summary = write(records, str(out), **settings)
        ours.append(seconds)
        if not files:  # every repeat writes the same tree: read it back once
            files = floors.read_tree(out)
        shutil.rmtree(out, ignore_errors=True)
        floor.append(local_floor(files, root))
    return ours, floor, summary, len(files)


def median(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------------------
# The targets


def probe_free(sizes: Sizes, root: Path) -> list[Row]:
    with cluster() as client:
        records = persisted(client, workloads.probe_free_chunk, sizes.probe_free_chunks)
        ours, floor, summary, _ = against_local_floor(records, root, sizes.repeats)
    clips = summary["run"]["clips"] if "clips" in summary["run"] else sizes.probe_free_chunks * 32
    return [Row("clips without probe values (200 KB)", "clips/s", clips / median(ours), clips / median(floor),
                ">= 0.8", clips / median(ours) >= 0.8 * clips / median(floor))]


def metadata(sizes: Sizes, root: Path) -> list[Row]:
    rows, per_chunk = [], {}
    for chunks in sizes.metadata_chunks:
        # The large size once: making and persisting its records takes longer than a write of
        # them, and three of each would take minutes more.
        repeats = sizes.repeats if chunks == sizes.metadata_chunks[0] else 1
        with cluster() as client, ClientPeak() as client_peak:
            records = persisted(client, workloads.metadata_chunk, chunks)
            ours, floor, _, files = against_local_floor(records, root, repeats)
            scheduler_mb = client.run_on_scheduler(rss_mb)
            if chunks == sizes.metadata_chunks[0]:
                # What the pass that checks every record before the first file costs: the
                # write without it, for records right by construction, once (a comparison,
                # not a target), against the checked row's floor (the same files):
                unchecked = [write_and_remove(records, root / "unchecked", check_records=False)]
        per_chunk[chunks] = median(ours) / chunks
        rows.append(Row(f"metadata-bound, {chunks:,} chunks x 4 clips of 20 KB", "files/s", files / median(ours),
                        files / median(floor), ">= 0.5", files / median(ours) >= 0.5 * files / median(floor),
                        note=f"client peak {client_peak.peak / 2**20:.0f} MB, scheduler peak {scheduler_mb:.0f} MB, "
                             f"{repeats} repeat(s)"))
        if chunks == sizes.metadata_chunks[0]:
            rows.append(Row("  the same, check_records=False", "files/s", files / median(unchecked),
                            files / median(floor), "(for comparison)", None, note="1 repeat"))
    small, large = sizes.metadata_chunks
    rows.append(Row(f"cost per chunk, {large:,} against {small:,} chunks", "ms/chunk", 1e3 * per_chunk[large],
                    1e3 * per_chunk[small], "<= 1.3", per_chunk[large] <= 1.3 * per_chunk[small]))
    return rows


def bulk(sizes: Sizes, root: Path) -> list[Row]:
    with cluster() as client:
        records = persisted(client, workloads.bulk_chunk, sizes.bulk_chunks)
        ours, floor, summary, _ = against_local_floor(records, root, sizes.repeats)
    mb = sum(summary["run"]["bytes_written"].values()) / 1e6
    return [Row("1 MB clips", "MB/s", mb / median(ours), mb / median(floor), ">= 0.9",
                mb / median(ours) >= 0.9 * mb / median(floor))]


@contextlib.contextmanager
def moto_server():
    """moto's S3 server in a process of its own on 127.0.0.1, port 0."""
    code = ("import sys, time\nfrom moto.server import ThreadedMotoServer\n"
            "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start()\n"
            "print(s._server.server_port, flush=True)\nsys.stdin.read()\n")
    # Its request log goes to stderr: dropped, the table is what matters.
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def s3(sizes: Sizes, root: Path) -> list[Row]:
    import fsspec

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_server() as endpoint, cluster() as client:
        options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
        fs = fsspec.filesystem("s3", **options)
        fs.mkdir("bench-bucket")
        records = persisted(client, workloads.probe_free_chunk, sizes.s3_chunks, clips=8)
        ours, floor = [], []
        for repeat in range(sizes.repeats):
            seconds, summary = write(records, f"s3://bench-bucket/ours-{repeat}", storage_options=options)
            ours.append(seconds)
            # The same objects (read back after the run), PUT from the worker processes.
            keys = fs.find(f"bench-bucket/ours-{repeat}")
            files = [(key.split(f"ours-{repeat}/", 1)[1], fs.cat_file(key)) for key in keys]
            # The bytes are on the workers before the clock starts, as the writer's records
            # are (sent in the graph, they would slow the floor down with the client's upload).
            groups = client.scatter([files[i::2 * 6] for i in range(2 * 6)])
            started = time.perf_counter()
            client.gather(client.map(floors.put_objects, [f"bench-bucket/floor-{repeat}"] * len(groups), groups,
                                     [options] * len(groups), [6] * len(groups), pure=False))
            floor.append(time.perf_counter() - started)
        mb = sum(summary["run"]["bytes_written"].values()) / 1e6
    return [Row("S3 (moto on 127.0.0.1)", "MB/s", mb / median(ours), mb / median(floor), ">= 0.7",
                mb / median(ours) >= 0.7 * mb / median(floor))]


def memory(sizes: Sizes, root: Path) -> list[Row]:
    peaks = {}
    for chunks in sizes.memory_chunks:
        with cluster() as client:
            # Records made by the tasks that write them (as upstream stages hand them over),
            # not persisted: persisted records would be in the peak themselves, 10x larger.
            records = clip_records_from_map(workloads.bulk_chunk, range(chunks))
            write(records, str(root / f"memory-{chunks}"))
            peaks[chunks] = max(client.run(rss_mb).values())  # each worker's peak RSS
            shutil.rmtree(root / f"memory-{chunks}", ignore_errors=True)
    small, large = sizes.memory_chunks
    return [Row(f"peak worker memory, {large} against {small} chunks of 16 MB", "MB", peaks[large], peaks[small],
                "<= 1.2", peaks[large] <= 1.2 * peaks[small])]


#: The floor's speed-up from 1 process to 2 at which the scaling target applies (and its goal).
SCALING_GOAL = 1.6


def scaling(sizes: Sizes, root: Path) -> list[Row]:
    """Throughput with 2 workers against 1, for ours and for the floor (2 processes against 1).
    The floor goes first: where it does not scale the target does not apply, and ours is
    timed once per worker count (for the record) instead of ``repeats`` times. Each cluster
    writes once untimed first (a fresh cluster's first write imports and warms up)."""
    ours: dict[int, float] = {}
    floor: dict[int, float] = {}
    repeats = sizes.repeats
    for workers in (2, 1):
        with cluster(workers) as client:
            records = persisted(client, workloads.probe_free_chunk, sizes.scaling_chunks)
            out = root / f"scale-warm-{workers}"
            write(records, str(out))
            files = None if floor else floors.read_tree(out)  # the floor's tree: the writer's own
            shutil.rmtree(out, ignore_errors=True)
            if files is not None:
                floor = {n: median([_floor_processes(files, n, root) for _ in range(sizes.repeats)]) for n in (1, 2)}
                repeats = sizes.repeats if floor[1] / floor[2] >= SCALING_GOAL else 1
            ours[workers] = median([write_and_remove(records, root / f"scale-{workers}-{repeat}")
                                    for repeat in range(repeats)])
    floor_speedup, our_speedup = floor[1] / floor[2], ours[1] / ours[2]
    applies = floor_speedup >= SCALING_GOAL
    return [Row("2 workers against 1 (clips without probe values)", "speed-up", our_speedup, floor_speedup,
                f">= {SCALING_GOAL} where the floor scales", our_speedup >= SCALING_GOAL if applies else None,
                note=f"the floor scales {floor_speedup:.2f}x with 2 processes"
                     + ("" if applies else f"; ours timed {repeats} time(s) per worker count, after a warm-up"))]


def _floor_processes(files, processes: int, root: Path) -> float:
    """The local floor split over ``processes`` processes (each its share of the files)."""
    import multiprocessing

    out = root / f"floor-{processes}-{time.monotonic_ns()}"
    shares = [files[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    with context.Pool(processes) as pool:
        pool.starmap(floors.write_local, [(out, share, 8) for share in shares])
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def job_sources(sizes: Sizes) -> Path:
    """The job's source videos (a textured pan with an AAC tone), made once and kept in the
    temporary folder: making them takes longer than the benchmark of them."""
    from dask_clipwriter.video import samples

    count, seconds, width, height = sizes.job_videos
    folder = Path(tempfile.gettempdir()) / f"clipwriter-bench-sources-{count}x{seconds:g}s-{width}x{height}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        for k in range(count):
            samples.write_sample_video(folder / f"source_{k}.mp4", "pan", seconds, width=width, height=height, seed=k,
                                       audio="aac")
        done.write_text("")
    return folder


def ffmpeg_floor(spans: list[tuple[str, float, float]], root: Path, processes: int = 2) -> float:
    """FFmpeg's command line cutting the same spans as the reference does (libx264 with its
    defaults, one thread, the first audio stream copied), ``processes`` at a time."""
    from concurrent.futures import ThreadPoolExecutor

    out = root / "ffmpeg"
    out.mkdir(exist_ok=True)

    def cut(item):
        k, (video, start, end) = item
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{start}", "-to", f"{end}", "-i",
                        video, "-map", "0:v:0", "-c:v", "libx264", "-threads", "1", "-map", "0:a:0?", "-c:a", "copy",
                        str(out / f"clip_{k}.mp4")], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(processes) as pool:
        list(pool.map(cut, enumerate(spans)))
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def job(sizes: Sizes, root: Path) -> list[Row]:
    """The batch job (cut, H.264, motion scores, previews, the writer) against FFmpeg's
    command line on the same spans; and where a chunk's time goes, stage by stage."""
    from dask_clipwriter.config import JobConfig, JobSettings
    from dask_clipwriter.job import probe_source, run_job
    from dask_clipwriter.settings import WriterSettings
    from dask_clipwriter.video.chunk import plan_video
    from dask_clipwriter.video.stage_settings import StageSettings

    if not shutil.which("ffmpeg"):
        return [Row("the job against FFmpeg's command line", "clips/s", float("nan"), float("nan"), ">= 0.8", None,
                    note="ffmpeg not installed (Debian package ffmpeg)")]
    sources = job_sources(sizes)
    videos = sorted(str(p) for p in sources.glob("*.mp4"))
    stages = StageSettings()
    spans = [(video, span.start, span.end) for video in videos
             for plan in plan_video(video, probe_source(video, {}), stages) for span in plan.spans]

    def timed_job(client, folder: Path, name: str) -> tuple[float, dict]:
        cfg = JobConfig(writer=WriterSettings(output_path=str(root / name), input_path=str(folder)),
                        stages=stages, job=JobSettings(report=False))
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            summary = run_job(cfg, client, stream=quiet)
        seconds = time.perf_counter() - started
        shutil.rmtree(root / name, ignore_errors=True)
        return seconds, summary

    ours, floor = [], []
    with cluster() as client:
        # Untimed, both: a job on the smoke run's tiny sources, so that the fresh workers'
        # first tasks (importing PyAV, pandas and the job, about 3 s) and FFmpeg's first start
        # are not in the first repeat: the target is a rate, and the repeats are its samples.
        warm = job_sources(SMOKE)
        timed_job(client, warm, "job-warm-up")
        ffmpeg_floor([(str(warm / "source_0.mp4"), 0.0, 1.0)], root)
        for repeat in range(sizes.repeats):
            seconds, summary = timed_job(client, sources, f"job-{repeat}")
            ours.append(seconds)
            floor.append(ffmpeg_floor(spans, root))
    clips = summary["run"]["num_clips_passed"] + summary["run"]["num_clips_filtered"]
    assert clips == len(spans), (clips, len(spans))
    source_minutes = sum(end - start for _, start, end in spans) / 60
    ours_rate, floor_rate = clips / median(ours), clips / median(floor)
    stage_note = ", ".join(f"{name} {share:.0%}" for name, share in stage_shares(videos[0], stages).items())
    return [
        Row("the job against FFmpeg's command line (2 cores)", "clips/s", ours_rate, floor_rate, ">= 0.8",
            ours_rate >= 0.8 * floor_rate,
            note=f"{ours_rate / 2:.3f} clips/s per core, {source_minutes / (median(ours) * 2 / 60):.2f} source-minutes "
                 f"per core-minute (FFmpeg {source_minutes / (median(floor) * 2 / 60):.2f}); one chunk in one process: "
                 f"{stage_note}"),
    ]


def stage_shares(video: str, stages) -> dict[str, float]:
    """Where one chunk's time goes in one process (cProfile): encoding (decode, x264, mux),
    motion scores, previews, the rest."""
    import cProfile
    import pstats

    from dask_clipwriter.job import probe_source
    from dask_clipwriter.video.chunk import plan_video, process_chunk

    probe = probe_source(video, {})
    plan = plan_video(video, probe, stages)[0]
    profile = cProfile.Profile()
    profile.enable()
    process_chunk(plan, probe, stages)
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = max(v[3] for (_, _, name), v in stats.items() if name == "process_chunk")
    cumulative = {name: sum(v[3] for (_, _, fn), v in stats.items() if fn == name)
                  for name in ("transcode_spans", "score_clip_motion", "make_window_previews")}
    shares = {"encode": cumulative["transcode_spans"], "motion": cumulative["score_clip_motion"],
              "previews": cumulative["make_window_previews"]}
    shares["other"] = max(0.0, total - sum(shares.values()))
    return {name: seconds / total for name, seconds in shares.items()}


TARGETS = {"probe-free": probe_free, "metadata": metadata, "bulk": bulk, "s3": s3, "memory": memory,
           "scaling": scaling, "job": job}


def table(rows: list[Row]) -> str:
    lines = [f"{'target':52s} {'measure':9s} {'ours':>10s} {'floor':>10s} {'ratio':>6s} {'goal':>28s}  held",
             "-" * 126]
    for r in rows:
        held = "n/a" if r.held is None else ("yes" if r.held else "NO")
        lines.append(f"{r.target:52s} {r.measure:9s} {r.ours:10.4g} {r.floor:10.4g} {r.ratio:6.2f} {r.goal:>28s}  "
                     f"{held}{'  (' + r.note + ')' if r.note else ''}")
    return "\n".join(lines)


def write_rows(path: str, rows: list[Row]) -> None:
    Path(path).write_text(json.dumps([{**asdict(r), "ratio": r.ratio} for r in rows], indent=2) + "\n")


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: checks the harness runs")
    parser.add_argument("--only", nargs="+", choices=sorted(TARGETS), help="run these targets only")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3)")
    parser.add_argument("--metadata-chunks", type=int, nargs=2, metavar=("SMALL", "LARGE"),
                        help="the metadata-bound sizes (default 2000 10000; the issue's: 2000 20000)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else Sizes()
    global SHARE_CLUSTERS
    SHARE_CLUSTERS = args.smoke
    if args.repeats:
        sizes = Sizes(**{**asdict(sizes), "repeats": args.repeats})
    if args.metadata_chunks:
        sizes = Sizes(**{**asdict(sizes), "metadata_chunks": tuple(args.metadata_chunks)})
    root = Path(tempfile.mkdtemp(prefix="clipwriter-targets-"))
    rows: list[Row] = []
    started = time.perf_counter()
    try:
        for name in args.only or list(TARGETS):
            t0 = time.perf_counter()
            done = TARGETS[name](sizes, root)
            rows += done
            # Each target's rows as it ends: a run stopped part-way keeps what it measured.
            print(f"[{name}: {time.perf_counter() - t0:.0f} s]\n{table(done)}", file=sys.stderr, flush=True)
            if args.json:
                write_rows(args.json, rows)
    finally:
        close_shared_clusters()
        shutil.rmtree(root, ignore_errors=True)
    print(table(rows))
    print(f"\n{len(rows)} targets, {sum(r.held is True for r in rows)} held, {time.perf_counter() - started:.0f} s")
    return rows


if __name__ == "__main__":
    main()
