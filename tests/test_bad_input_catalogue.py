"""The catalogue of bad input: each case is refused with one message that names the culprit
(record and column, setting, flag, config key, file or path), and nothing of the refused
work is in output_path.

Records go through the library call, stored records and settings through it too, mistakes
on the command line and in config files through ``dask-clipwriter`` itself (in this process:
``main`` returns the exit code).
"""

from __future__ import annotations

import os

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clip_helpers import chunk_frame, make_clip, records_collection

from dask_clipwriter import ClipWriter, RecordError, SettingsError
from dask_clipwriter.cli import main

V = "/in/a.mp4"
U0 = chunk_frame(V).span_uuid[0]
WHERE = rf"clip record {U0} of video '{V}'"


def cell(column, value):
    """The first record of a two-clip chunk with one cell changed."""
    def change(frame):
        second = frame[column][1] if column in frame else None
        frame[column] = pd.Series([value, second], dtype=object)
        return frame
    return change


def window(**changes):
    return cell("windows", [{"start_frame": 0, "end_frame": 255, "caption": {"qwen": "a"}, **changes}])


def both_windows(first, second):
    return cell("windows", [first, second])


RECORD_CASES = {
    # (a change of the frame, the message the refusal must match)
    "video not text": (cell("video", 7), r"clip record .*: column 'video' must be a string, got int"),
    "video empty": (cell("video", ""), r"column 'video' is empty"),
    "video with a NUL byte": (cell("video", "/in/a\0.mp4"), r"video '/in/a\\x00.mp4' contains a NUL byte"),
    "video not valid Unicode": (cell("video", "/in/\ud800.mp4"), r"column 'video' holds text that is not valid Unicode"),
    "video name too long": (cell("video", "/in/" + "a" * 240 + ".mp4"), r"path component of 244 bytes"),
    "video outside input_path": (cell("video", "/elsewhere/a.mp4"), r"is not inside input_path '/in'"),
    "video climbing out": (cell("video", "/in/../etc/a.mp4"), r"relative path '\.\./etc/a\.mp4', which leaves"),
    "video with an empty component": (cell("video", "/in//a.mp4"), r"empty path component.*'/in/a.mp4'"),
    "uuid not a uuid": (cell("span_uuid", "clip-1"), r"column 'span_uuid' is not a UUID: 'clip-1'"),
    "uuid missing": (cell("span_uuid", None), r"clip record 0: column 'span_uuid' is missing"),
    "span start text": (cell("span_start", "zero"), rf"{WHERE}: column 'span_start' must be a number, got str"),
    "span start missing": (cell("span_start", np.nan), rf"{WHERE}: column 'span_start' is missing"),
    "span start infinite": (cell("span_start", np.inf), rf"{WHERE}: column 'span_start' must be finite"),
    "span start negative": (cell("span_start", -1.0), rf"{WHERE}: column 'span_start' must be >= 0"),
    "span end before start": (cell("span_end", -5.0), rf"{WHERE}: column 'span_end' \(-5.0\) is before span_start"),
    "chunk index negative": (cell("clip_chunk_index", -1), r"column 'clip_chunk_index' must be >= 0, got -1"),
    "chunk index beyond 64 bits": (cell("clip_chunk_index", 2**63), r"'clip_chunk_index' is 9223372036854775808, beyond"),
    "chunk index fractional": (cell("clip_chunk_index", 1.5), r"'clip_chunk_index' must be an integer, got 1.5"),
    "chunk index bool": (cell("clip_chunk_index", True), r"'clip_chunk_index' must be an integer, got bool"),
    "width text": (cell("width", "wide"), rf"{WHERE}: column 'width' must be an integer, got 'wide'"),
    "width beyond 64 bits": (cell("width", 2**70), r"column 'width' is 1180591620717411303424, beyond"),
    "framerate infinite": (cell("framerate", np.inf), rf"{WHERE}: column 'framerate' must be finite"),
    "bytes as int": (cell("buffer", 5), rf"{WHERE}: column 'buffer' must be bytes, got int"),
    "bytes as text": (cell("buffer", "mp4"), r"column 'buffer' holds text, not bytes: .*clip_records_from_map"),
    "embedding NaN": (cell("embedding", np.array([0.5, np.nan])), r"'embedding' holds NaN or infinite values"),
    "embedding infinite": (cell("embedding", [0.5, np.inf]), r"'embedding' holds NaN or infinite values"),
    "embedding beyond float16": (cell("embedding", [1e6, 0.0]), r"'embedding' holds 1e\+06, beyond float16's range"),
    "embedding complex": (cell("embedding", np.array([1 + 2j])), r"'embedding' must hold real numbers, got complex"),
    "embedding bool": (cell("embedding", np.array([True, False])), r"'embedding' must hold real numbers, got booleans"),
    "embedding with None": (cell("embedding", [0.5, None]), r"'embedding' must hold real numbers only, got NoneType"),
    "embedding empty": (cell("embedding", []), r"column 'embedding' is empty"),
    "embedding two rows": (cell("embedding", np.zeros((2, 4))), r"'embedding' must be one vector .* shape \(2, 4\)"),
    "embedding text": (cell("embedding", "0.5,0.2"), r"'embedding' holds text, not numbers"),
    "embeddings of two lengths": (cell("embedding", np.zeros(4)), r"chunk 0 of video '/in/a.mp4': embeddings of "
                                                                  r"different lengths, 4 \(clip .*\) and 8"),
    "windows not a list": (cell("windows", 5), r"'windows' must be a list of window structs, got int"),
    "window not a struct": (cell("windows", [5]), r"'windows' item 0 must be a struct/dict, got int"),
    "window without start": (cell("windows", [{"end_frame": 9}]), r"'windows\[0\]\.start_frame' is missing"),
    "window backwards": (window(start_frame=9, end_frame=3), r"'windows\[0\]' has start_frame 9 and end_frame 3"),
    "window negative": (window(start_frame=-2), r"'windows\[0\]' has start_frame -2"),
    "windows with the same frames": (both_windows({"start_frame": 0, "end_frame": 9}, {"start_frame": 0, "end_frame": 9}),
                                     r"'windows\[1\]' has the same frames \(0_9\) as windows\[0\]"),
    "caption not a map": (window(caption="a caption"), r"'windows\[0\]\.caption' holds text, not a map"),
    "caption not text": (window(caption={"qwen": 5}), r"'windows\[0\]\.caption' must map strings to strings"),
    "caption not valid Unicode": (window(caption={"qwen": "bad \udc80"}), r"column .windows\[0\]\.caption\['qwen'\]. "
                                                                           r"holds text that is not valid Unicode"),
    "enhanced caption key not Unicode": (window(enhanced_caption={"\ud800": "x"}), r"'windows\[0\]\.enhanced_caption' "
                                                                                  r"holds text that is not valid"),
    "errors as int": (cell("errors", 3), r"'errors' must be a map or a list of keys, got int"),
    "errors with a bad entry": (cell("errors", [("a", "b", "c")]), r"'errors' has an entry that is neither a key"),
    "filtered_by not text": (cell("filtered_by", 1), rf"{WHERE}: column 'filtered_by' must be a string, got int"),
    "source video not Unicode": (cell("source_video", "/in/\udcff"), r"'source_video' holds text that is not valid"),
}


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_a_bad_record_is_refused_before_anything_is_written(writer_factory, case):
    change, message = RECORD_CASES[case]
    good, bad = chunk_frame(V, 1), change(chunk_frame(V, 0))  # the bad chunk and a good one
    with pytest.raises(RecordError, match=message):
        writer_factory().write(records_collection(bad, good))
    assert not writer_factory.out.exists()


PARTITIONING_CASES = {
    "a uuid twice in a chunk": (lambda a, b: (a.assign(span_uuid=a.span_uuid[0]),), r"duplicate clip uuid"),
    "a uuid in two chunks": (lambda a, b: (a, b.assign(span_uuid=[a.span_uuid[0], b.span_uuid[1]])),
                             rf"clip uuid {U0} appears in chunk 0 of '{V}' and in chunk 1"),
    "a chunk split over partitions": (lambda a, b: (a[:1], a[1:]), rf"chunk 0 of video '{V}' is split across"),
}


@pytest.mark.parametrize("case", sorted(PARTITIONING_CASES))
def test_partitioning_mistakes(writer_factory, case):
    split, message = PARTITIONING_CASES[case]
    with pytest.raises(RecordError, match=message):
        writer_factory().write(records_collection(*split(chunk_frame(V, 0), chunk_frame(V, 1))))
    assert not writer_factory.out.exists()


VIDEO_RECORD_CASES = {
    "width text": ([{"video": V, "width": "wide"}], rf"video record '{V}': column 'width' must be an integer"),
    "a video twice": ([{"video": V}, {"video": V}], rf"video record '{V}' appears more than once"),
    "outside input_path": ([{"video": "/elsewhere/a.mp4"}], r"video record '/elsewhere/a.mp4': .* not inside"),
    "no video column": ([{"width": 640}], r"video records lack the required column 'video'"),
    "duration infinite": ([{"video": V, "duration": np.inf}], rf"video record '{V}': column 'duration' must be finite"),
}


@pytest.mark.parametrize("case", sorted(VIDEO_RECORD_CASES))
def test_bad_video_records_are_refused_on_the_client(writer_factory, case, tmp_path):
    rows, message = VIDEO_RECORD_CASES[case]
    calls = tmp_path / "calls"

    def build(part):
        calls.touch()  # no partition may even be built
        return chunk_frame(V, part)

    from dask_clipwriter import clip_records_from_map

    with pytest.raises(RecordError, match=message):
        writer_factory().write(clip_records_from_map(build, [0]), pd.DataFrame(rows), check_records=False)
    assert not writer_factory.out.exists() and not calls.exists()


SETTINGS_CASES = {
    "embedding algorithm": ({"embedding_algorithm": "cosmos-embed1"}, r"embedding_algorithm 'cosmos-embed1' is not"),
    "caption models as text": ({"caption_models": "qwen"}, r"caption_models must be a list of model names"),
    "a caption model twice": ({"enhanced_caption_models": ["a", "a"]}, r"lists a model twice"),
    "max workers zero": ({"max_workers": 0}, r"max_workers must be within 1\.\.256, got 0"),
    "max workers huge": ({"max_workers": 10**9}, r"max_workers must be within 1\.\.256, got 1000000000"),
    "write retries negative": ({"write_retries": -1}, r"write_retries must be within 0\.\.20, got -1"),
    "existing policy": ({"existing": "replace"}, r"existing must be one of \('skip', 'overwrite'\), got 'replace'"),
    "dry run as text": ({"dry_run": "no"}, r"dry_run must be true or false, got 'no'"),
    "no output path": ({"output_path": ""}, r"output_path must be a non-empty path"),
    "storage options a list": ({"storage_options": ["key"]}, r"storage_options must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(SETTINGS_CASES))
def test_bad_settings_are_refused_at_construction(case):
    changes, message = SETTINGS_CASES[case]
    with pytest.raises(SettingsError, match=message):
        ClipWriter(**{"output_path": "/out", "input_path": "/in", **changes})


def test_text_where_nested_values_belong(writer_factory):
    with dask.config.set({"dataframe.convert-string": True}):
        clips = dd.from_pandas(chunk_frame(V).astype({"windows": str}), npartitions=1)
    with pytest.raises(RecordError, match=r"column '(buffer|windows)' has a text dtype .*clip_records_from_map"):
        writer_factory().write(clips)
    assert not writer_factory.out.exists()


# --------------------------------------------------------------------------------------
# The command line, config files and job input


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """``dask-clipwriter ARGS`` in this process: (exit code, stderr); the config namespace
    is restored afterwards."""
    import copy

    import dask_clipwriter.clusters.slurm  # noqa: F401 - registers its defaults: saved below with the rest

    saved = copy.deepcopy(dask.config.config["clipwriter"])
    monkeypatch.chdir(tmp_path)

    def run(*args):
        code = main([str(a) for a in args])
        return code, capsys.readouterr().err

    yield run
    dask.config.config["clipwriter"] = saved


def one_line(err: str) -> str:
    """The one error line (a command that started a cluster has printed its dashboard link)."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("dashboard: ")]
    assert len(lines) == 1 and lines[0].startswith("dask-clipwriter: error: "), err
    return lines[0]


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"not really a video")
    return folder


FLAG_CASES = {
    "a choice": (["--motion-filter", "maybe"], r"argument --motion-filter: invalid choice: 'maybe'"),
    "a range": (["--clip-len-s", "-3"], r"--clip-len-s \(clipwriter.stages.clip-len-s\) must be > 0, got -3.0"),
    "a bound": (["--max-workers", "1000000000"], r"--max-workers \(clipwriter.writer.max-workers\) must be within"),
    "a type": (["--encoder-crf", "high"], r"argument --encoder-crf: invalid int value: 'high'"),
    "an encoder it does not offer": (["--encoder", "h264_nvenc"], r"argument --encoder: invalid choice: 'h264_nvenc'"),
    "an encoder the bundled FFmpeg lacks": (["--encoder", "libopenh264"], r"encoder 'libopenh264' is not in the bundled "
                                                                          r"FFmpeg \(PyAV\); it has libx264, libvpx-vp9"),
    "an encoder option it does not know": (["--encoder-options", "keyint=60,bogus=1"],
                                           r"encoder libx264 does not know the option\(s\) bogus"),
    "an encoder option value it refuses": (["--encoder-preset", "nonsense"],
                                           r"encoder libx264 does not open with preset=nonsense"),
    "a CRF beyond the encoder's": (["--encoder-crf", "60"], r"encoder-crf must be within 0..51 for libx264, got 60"),
    "an x264 asm of the user's": (["--encoder-options", "x264-params=keyint=60:asm=AVX2"],
                                  r"encoder-options cannot set 'asm' in x264-params: clipwriter pins x264's "
                                  r"instruction set itself"),
    "x264 threads in x264opts": (["--encoder-options", "tune=film,x264opts=bframes=2:sliced-threads"],
                                 r"encoder-options cannot set 'sliced-threads' in x264opts: x264's threads are set "
                                 r"by encoder-threads"),
    "a preset VP9 has not": (["--encoder", "libvpx-vp9", "--encoder-preset", "slow"],
                             r"encoder-preset is an x264 option; libvpx-vp9 has none"),
    "a policy": (["--existing", "replace"], r"argument --existing: invalid choice: 'replace'"),
    "an unknown flag": (["--clip-length", "4"], r"unrecognized arguments: --clip-length"),
    "a plug-in module": (["--embedder", "nosuch.module:fn"], r"--embedder: plug-in 'nosuch.module:fn': cannot import"),
    "a plug-in path": (["--embedder", "not-a-path"], r"--embedder: plug-in path 'not-a-path' must look like"),
    "a plug-in attribute": (["--captioner", "os:nosuch"], r"--captioner: plug-in 'os:nosuch': module 'os' has no"),
    "a plug-in signature": (["--aesthetic-scorer", "os:getcwd"], r"--aesthetic-scorer: plug-in 'os:getcwd' cannot be "
                                                                  r"called with 1 argument"),
    "a plug-in class without __call__": (["--embedder", "collections:OrderedDict"], r"is a class OrderedDict without"),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_a_bad_flag_is_one_line_and_exit_code_2(cli, source, tmp_path, case):
    flags, message = FLAG_CASES[case]
    code, err = cli("run", "--input", source, "--output", tmp_path / "out", *flags)
    assert code == 2 and pytest.approx(0) == 0
    assert __import__("re").search(message, one_line(err)), err
    assert not (tmp_path / "out").exists()


def test_paths_of_the_job(cli, source, tmp_path):
    for args, message in [
        (["--input", tmp_path / "none", "--output", tmp_path / "out"], "input_path .* does not exist"),
        (["--input", source / "a.mp4", "--output", tmp_path / "out"], r"input_path '.*a.mp4' is a file: give the folder"),
        (["--input", source, "--output", source / "dataset"], r"output_path '.*dataset' is inside input_path"),
        (["--input", source, "--output", source], r"output_path .* is inside input_path .* \(or is it\)"),
        (["--output", tmp_path / "out"], r"no input path: pass --input"),
    ]:
        code, err = cli("run", *args)
        assert code == 2 and __import__("re").search(message, one_line(err)), (args, err)
    assert not (tmp_path / "out").exists() and not (source / "dataset").exists()


CONFIG_CASES = {
    "not YAML": ("clipwriter: [unclosed\n", r"config file .*: not valid YAML \(line 2\)"),
    "no clipwriter section": ("writer:\n  dry-run: true\n", r"has no top-level 'clipwriter:' section"),
    "clipwriter a list": ("clipwriter: [1, 2]\n", r"clipwriter must be a mapping of keys, got list"),
    "writer a scalar": ("clipwriter:\n  writer: 5\n", r"clipwriter.writer must be a mapping of keys, got int"),
    "unknown section": ("clipwriter:\n  writers: {}\n", r"unknown key clipwriter.writers \(did you mean 'writer'\?\)"),
    "unknown writer key": ("clipwriter:\n  writer:\n    dryrun: true\n", r"unknown key clipwriter.writer.dryrun "
                                                                         r"\(did you mean 'dry-run'\?\)"),
    "unknown stage key": ("clipwriter:\n  stages:\n    clip-length: 4\n", r"clipwriter.stages.clip-length \(did you mean"),
    "wrong type int": ("clipwriter:\n  writer:\n    max-workers: six\n", r"clipwriter.writer.max-workers must be an "
                                                                        r"integer, got 'six'"),
    "wrong type bool": ("clipwriter:\n  writer:\n    dry-run: maybe\n", r"clipwriter.writer.dry-run must be true or "
                                                                       r"false, got 'maybe'"),
    "wrong type list": ("clipwriter:\n  stages:\n    extensions: mp4\n", r"clipwriter.stages.extensions must be a list"),
    "null where a value is needed": ("clipwriter:\n  stages:\n    clip-len-s: null\n", r"clip-len-s must be set"),
    "cluster kind": ("clipwriter:\n  cluster:\n    kind: kubernetes\n", r"clipwriter.cluster.kind must be local or "
                                                                         r"slurm, got 'kubernetes'"),
    "local cluster option": ("clipwriter:\n  cluster:\n    local:\n      n-worker: 2\n", r"unknown key "
                             r"clipwriter.cluster.local.n-worker \(did you mean 'n-workers'\?\)"),
    "slurm option": ("clipwriter:\n  cluster:\n    slurm:\n      coress: 2\n", r"clipwriter.cluster.slurm.coress "
                                                                              r"\(did you mean 'cores'\?\)"),
    "input path a number": ("clipwriter:\n  input-path: 5\n", r"clipwriter.input-path must be a path or URL, got 5"),
    "storage options a list": ("clipwriter:\n  storage-options: [a]\n", r"clipwriter.storage-options must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_a_bad_config_file_is_named_with_its_key(cli, source, tmp_path, case):
    text, message = CONFIG_CASES[case]
    conf = tmp_path / "site.yaml"
    conf.write_text(text)
    code, err = cli("run", "--config", conf, "--input", source, "--output", tmp_path / "out")
    line = one_line(err)
    assert code == 2 and __import__("re").search(message, line), line
    assert str(conf) in line and not (tmp_path / "out").exists()


def test_a_missing_config_file(cli, source, tmp_path):
    code, err = cli("run", "--config", tmp_path / "none.yaml", "--input", source, "--output", tmp_path / "out")
    assert code == 2 and f"config file {tmp_path / 'none.yaml'}: cannot read it" in one_line(err)


def test_a_bad_environment_variable(cli, source, tmp_path, monkeypatch):
    monkeypatch.setenv("DASK_CLIPWRITER__WRITER__MAX_WORKERS", "abc")
    code, err = cli("run", "--input", source, "--output", tmp_path / "out")
    assert code == 2 and "the environment (DASK_CLIPWRITER__...): clipwriter.writer.max-workers must be an integer, " \
                         "got 'abc'" in one_line(err)


def test_stored_records_that_are_bad(cli, tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    clip = make_clip(V, 0, 0, span_start=-1.0, span_end=5.0)
    table = pa.table({k: [v] for k, v in clip.items() if k in ("video", "clip_chunk_index", "span_uuid", "span_start",
                                                              "span_end")})
    pq.write_table(table, records / "part-0.parquet")
    code, err = cli("write", records, "--input", "/in", "--output", tmp_path / "out", "--n-workers", "1")
    assert code == 2 and "column 'span_start' must be >= 0" in one_line(err).split("|")[-1]
    assert not (tmp_path / "out").exists()


def test_a_fifo_named_like_a_video_is_skipped_with_a_note(tmp_path, job_videos, cluster_client):
    import shutil
    import sys

    from dask_clipwriter.config import JobConfig
    from dask_clipwriter.job import run_job
    from dask_clipwriter.settings import WriterSettings
    from dask_clipwriter.video.stage_settings import StageSettings

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(job_videos / "cams/static.mp4", videos / "static.mp4")
    os.mkfifo(videos / "x.mp4")  # listing it as a video would hang the probe forever
    writer = WriterSettings(output_path=str(tmp_path / "out"), input_path=str(videos))
    with cluster_client.as_current():
        summary = run_job(JobConfig(writer=writer, stages=StageSettings(clip_len_s=4.0)), cluster_client,
                          stream=sys.stderr)
    assert summary["skipped_sources"] == [{"path": f"{videos}/x.mp4", "reason": "not a regular file"}]
    assert summary["totals"]["videos"] == 1
