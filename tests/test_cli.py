"""The dask-clipwriter command: flags made from the options, --help, and real runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from clip_helpers import STAGES, read_json

from dask_clipwriter.cli import build_parser
from dask_clipwriter.cli_common import settings_overrides as _overrides
from dask_clipwriter.config import settings_fields
from dask_clipwriter.settings import WriterSettings
from dask_clipwriter.video.stage_settings import StageSettings


def test_flags_parse_into_overrides():
    args = build_parser().parse_args(["run", "--input", "/in", "--no-upload-clips", "--caption-models", "a,b",
                                      "--clip-len-s", "4", "--generate-previews", "--no-make-previews",
                                      "--motion-filter", "score-only"])
    over = _overrides(args)
    assert over == {"writer.upload_clips": False, "writer.caption_models": ["a", "b"], "stages.clip_len_s": 4.0,
                    "writer.generate_previews": True, "stages.make_previews": False,
                    "stages.motion_filter": "score-only"}


def test_a_backslash_escapes_a_comma_inside_a_list_item():
    """x264's zones are comma-separated, inside one x264opts item of --encoder-options."""
    zones = r"x264opts=keyint=60:zones=0\,29\,q=40/30\,59\,b=0.5,tune=film"
    args = build_parser().parse_args(["run", "--input", "/in", "--encoder-options", zones,
                                      "--extensions", r"mp4,odd\,name,,mkv"])
    over = _overrides(args)
    assert over["stages.encoder_options"] == ["x264opts=keyint=60:zones=0,29,q=40/30,59,b=0.5", "tune=film"]
    assert over["stages.extensions"] == ["mp4", "odd,name", "mkv"]  # empty items still dropped
    # the zones reach x264 whole (x264opts refuses what x264 cannot parse)
    StageSettings(encoder_options=tuple(over["stages.encoder_options"])).check_encoder()
    # a backslash elsewhere is kept as it is
    args = build_parser().parse_args(["run", "--input", "/in", "--extensions", "a\\b,c\\"])
    assert _overrides(args)["stages.extensions"] == ["a\\b", "c\\"]
    # export's own list flag reads the same way
    args = build_parser().parse_args(["export", "/data", "--to", "/shards", "--caption-models", r"a\,b,c"])
    assert args.caption_models == ["a,b", "c"]


def test_list_flags_say_how_to_give_a_comma(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    at = text.rindex("--encoder-options A,B")  # its help, after the usage line
    assert r"\, for a comma inside an item" in text[at:at + 400]


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = capsys.readouterr().out
    for flag in ("--input", "--output", "--config", "--cluster", "--dry-run", "--embedder", "--motion-filter"):
        assert flag in text
    assert "DASK_CLIPWRITER__" in text


def test_every_option_has_help_text_and_a_flag(capsys):
    fields = {**settings_fields(WriterSettings), **settings_fields(StageSettings)}
    assert not [name for name, f in fields.items() if not f.metadata["help"]]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = "".join(capsys.readouterr().out.split())  # --help wraps lines anywhere, even at hyphens
    for name, f in fields.items():
        assert "--" + name.replace("_", "-") in text, name
        assert "".join(f.metadata["help"].split()) in text, name


@pytest.mark.cluster
def test_run_then_write(tmp_path, job_videos):
    """`run` on the videos, then `write` of records stored as Parquet."""
    videos = job_videos
    out = tmp_path / "cli-out"
    cmd = [sys.executable, "-m", "dask_clipwriter.cli", "run", "--input", str(videos), "--output", str(out),
           "--n-workers", "1", "--clip-len-s", "4", "--clip-stride-s", "4", "--num-clips-per-chunk", "1",
           "--no-make-previews"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr  # 3: finished, but some videos could not be read
    assert "chunks 3/3" in proc.stderr and "dashboard: http://" in proc.stderr
    assert f"summary: {out}/summary.json" in proc.stderr
    assert not (out / "previews").exists()
    summary = read_json(out / "summary.json")
    assert summary["totals"]["chunks"] == 3

    # `write`: clip records stored as Parquet (made here with the job's stages, in-process).
    import pyarrow.parquet as pq_

    from dask_clipwriter.probe import probe_video_file
    from dask_clipwriter.stored_records import clip_records_to_table
    from dask_clipwriter.video.chunk import plan_video, process_chunk

    pan = str(videos / "pan.mp4")
    probe = probe_video_file(pan)
    stages = StageSettings(**STAGES, make_previews=False)
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    for plan in plan_video(pan, probe, stages):
        pq_.write_table(clip_records_to_table(process_chunk(plan, probe, stages)),
                        records_dir / f"part-{plan.chunk_index}.parquet")
    out2 = tmp_path / "written"
    proc = subprocess.run([sys.executable, "-m", "dask_clipwriter.cli", "write", str(records_dir), "--input",
                           str(videos), "--output", str(out2), "--n-workers", "1", "--no-upload-clips"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 chunks, 3 clips passed" in proc.stderr
    assert not (out2 / "clips").exists() and len(list((out2 / "metas/v0").iterdir())) == 3
    # Same records, same documents as the job wrote (only the output root differs).
    for index in (0, 1):
        chunk = f"processed_clip_chunks/pan.mp4_{index}.json"
        assert (out2 / chunk).read_bytes() == (out / chunk).read_bytes()
        for u in read_json(out / chunk)["clips"]:
            meta = f"metas/v0/{u}.json"
            assert (out2 / meta).read_bytes().replace(str(out2).encode(), str(out).encode()) == (out / meta).read_bytes()
