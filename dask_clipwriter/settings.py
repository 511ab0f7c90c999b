"""Writer settings: the reference writer's parameters plus ours, validated once on the client.

Each option's default, help line and range live in its field (options.py); the command
line, the config namespace and ``ClipWriter``'s signature follow from here. The frozen
:class:`WriterSettings` value is what travels to the workers inside each partition task, so
a dask-jobqueue worker (which never sees the client's ``dask.config``) writes with exactly
the settings the client resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .options import check_options, option

#: Embedding algorithms and the directory pair their embeddings are written to.
EMBEDDING_ALGORITHMS: dict[str, tuple[str, str]] = {
    "cosmos-embed1-224p": ("ce1_embd", "ce1_embd_parquet"),
    "cosmos-embed1-336p": ("ce1_embd", "ce1_embd_parquet"),
    "cosmos-embed1-448p": ("ce1_embd", "ce1_embd_parquet"),
}

EXISTING_FILE_POLICIES = ("skip", "overwrite")

#: Fields that are not options of the ``clipwriter.writer`` section: they are set per job
#: (``clipwriter.input-path`` ...) or per call.
JOB_LEVEL_FIELDS = ("output_path", "input_path", "storage_options")


class SettingsError(ValueError):
    """An invalid writer setting; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class WriterSettings:
    output_path: str
    input_path: str
    upload_clips: bool = option(True, "write clip mp4 files (clips/, filtered_clips/)")
    dry_run: bool = option(False, "write no clip-level files; still count and write video/chunk JSON and summary.json")
    generate_embeddings: bool = option(False, "expect an embedding for every passed clip: log and count those "
                                              "without one (embeddings present are written either way)")
    generate_previews: bool = option(False, "expect a WebP preview for every window of a passed clip: log and "
                                            "count those without one (--make-previews makes them)")
    generate_captions: bool = option(False, "accepted for compatibility; captions are written whenever present")
    embedding_algorithm: str = option("cosmos-embed1-224p", ", ".join(EMBEDDING_ALGORITHMS))
    caption_models: tuple[str, ...] = option(
        help="caption models whose captions the writer writes, in priority order", factory=tuple)
    enhanced_caption_models: tuple[str, ...] = option(
        help="enhanced-caption models whose captions are written, in priority order", factory=tuple)
    verbose: bool = option(False, "log one line per file and per chunk")
    max_workers: int = option(6, "concurrent file writes within one partition", minimum=1, maximum=256)
    log_stats: bool = option(False, "accepted for compatibility (reserved)")
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    existing: str = option("skip", "what to do with a file that exists: skip or overwrite",
                           choices=EXISTING_FILE_POLICIES)
    resume: bool = option(False, "skip chunks whose processed_clip_chunks marker exists (no decoding either)")
    write_retries: int = option(3, "retries of a failed call to the store before the chunk fails", minimum=0,
                                maximum=20)
    metas_jsonl: bool = option(False, "also write metas_jsonl/v0/<video uuid>_<chunk>.jsonl: a chunk's passed "
                                      "clips' metas, one line each (the layout Cosmos converters read)")
    clip_index: bool = option(False, "also write clip_index/<chunk uuid>.parquet: one row of scalar metas per clip")

    def __post_init__(self) -> None:
        for name in ("output_path", "input_path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip("/"):
                raise SettingsError(f"{name} must be a non-empty path or URL string, got {value!r}")
        if self.embedding_algorithm not in EMBEDDING_ALGORITHMS:
            raise SettingsError(
                f"embedding_algorithm {self.embedding_algorithm!r} is not supported; "
                f"choose one of {', '.join(EMBEDDING_ALGORITHMS)}"
            )
        for name in ("caption_models", "enhanced_caption_models"):
            object.__setattr__(self, name, _model_list(name, getattr(self, name)))
        problems = check_options(self)
        if problems:
            raise SettingsError("; ".join(problems))
        if self.storage_options is None:
            object.__setattr__(self, "storage_options", {})
        if not isinstance(self.storage_options, Mapping):
            raise SettingsError("storage_options must be a mapping of fsspec options")
        object.__setattr__(self, "storage_options", dict(self.storage_options))

    @property
    def embedding_dirs(self) -> tuple[str, str]:
        """(pickle directory, parquet directory) for the configured algorithm."""
        return EMBEDDING_ALGORITHMS[self.embedding_algorithm]

    def public_dict(self) -> dict[str, Any]:
        """Settings for summary.json and logs: storage options (credentials) left out."""
        data = asdict(self)
        data.pop("storage_options")
        data["caption_models"] = list(self.caption_models)
        data["enhanced_caption_models"] = list(self.enhanced_caption_models)
        return data


def _model_list(name: str, value: Any) -> tuple[str, ...]:
    # None means "no models" (the reference crashes on None once a clip has windows).
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SettingsError(f"{name} must be a list of model names (e.g. ['qwen']), got {value!r}")
    models = tuple(value)
    bad = [m for m in models if not isinstance(m, str) or not m]
    if bad:
        raise SettingsError(f"{name} must hold non-empty strings, got {bad!r}")
    if len(set(models)) != len(models):
        raise SettingsError(f"{name} lists a model twice: {list(models)!r}")
    return models
