"""The clipwriter config namespace: YAML defaults, files, environment, flags."""

from __future__ import annotations

import copy
import dataclasses

import dask.config
import pytest
import yaml

from dask_clipwriter.config import DEFAULTS_FILE, JobSettings, apply_config_files, resolve_job_config
from dask_clipwriter.report_read import ReportSettings
from dask_clipwriter.settings import SettingsError, WriterSettings
from dask_clipwriter.video.stage_settings import StageSettings


@pytest.fixture(autouse=True)
def fresh_config():
    # dask-jobqueue adds its defaults to the config when first imported (checking a SLURM
    # section imports it): import it before the copy, or the restore would drop them.
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        pass
    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


def _yaml_section(name):
    return {k.replace("-", "_"): v for k, v in yaml.safe_load(DEFAULTS_FILE.read_text())["clipwriter"][name].items()}


@pytest.mark.parametrize(("section", "cls", "skip"), [
    ("writer", WriterSettings, {"output_path", "input_path", "storage_options"}),
    ("stages", StageSettings, set()),
    ("job", JobSettings, set()),
    ("report", ReportSettings, set()),
])
def test_yaml_defaults_equal_the_dataclass_defaults(section, cls, skip):
    values = _yaml_section(section)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    assert set(values) == set(fields)
    for name, f in fields.items():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert values[name] == (list(default) if isinstance(default, tuple) else default), name


def test_precedence_defaults_file_env_flags(tmp_path, monkeypatch):
    conf = tmp_path / "site.yaml"
    conf.write_text("clipwriter:\n  input-path: /in\n  output-path: /out\n  writer:\n    max-workers: 3\n"
                    "    dry-run: true\n  stages:\n    clip-len-s: 5\n")
    monkeypatch.setenv("DASK_CLIPWRITER__WRITER__MAX_WORKERS", "9")
    apply_config_files([conf])
    cfg = resolve_job_config(StageSettings, {"stages.clip_len_s": 7.0})
    assert cfg.writer.dry_run is True  # file over default
    assert cfg.writer.max_workers == 9  # environment over file
    assert cfg.stages.clip_len_s == 7.0  # flag over file
    assert cfg.stages.clip_stride_s == 10.0 and cfg.writer.embedding_algorithm == "cosmos-embed1-224p"
    assert (cfg.writer.input_path, cfg.writer.output_path, cfg.cluster_kind) == ("/in", "/out", "local")


def test_unknown_option_is_named_with_its_file_and_the_closest_key(tmp_path):
    conf = tmp_path / "typo.yaml"
    conf.write_text("clipwriter:\n  writer:\n    dryrun: true\n")
    with pytest.raises(SettingsError, match=rf"config file {conf}: unknown key clipwriter.writer.dryrun "
                                            r"\(did you mean 'dry-run'\?\); known: caption-models, clip-index, dry-run"):
        apply_config_files([conf])


def test_file_without_namespace_is_refused(tmp_path):
    conf = tmp_path / "bare.yaml"
    conf.write_text("writer:\n  dry-run: true\n")
    with pytest.raises(SettingsError, match="has no top-level 'clipwriter:' section"):
        apply_config_files([conf])


def test_paths_are_required():
    with pytest.raises(SettingsError, match="no input path: pass --input"):
        resolve_job_config(StageSettings, {"output_path": "/out"})


def test_local_paths_become_absolute_urls_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = resolve_job_config(StageSettings, {"input_path": "videos", "output_path": "s3://bucket/out"})
    assert cfg.writer.input_path == str(tmp_path / "videos")
    assert cfg.writer.output_path == "s3://bucket/out"


def test_shipped_example_configs_resolve():
    from pathlib import Path

    conf = Path(__file__).resolve().parents[1] / "conf"
    apply_config_files([conf / "s3-example.yaml"])
    cfg = resolve_job_config(StageSettings)
    assert cfg.writer.output_path == "s3://curated/clip-dataset" and cfg.writer.resume is True
    assert cfg.stages.target_height == 720 and cfg.writer.storage_options["profile"] == "curation"
    assert "curation" not in repr(cfg) and "curation" not in repr(cfg.writer)  # options never in reprs
