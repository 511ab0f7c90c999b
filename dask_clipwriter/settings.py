"""Writer settings: the reference writer's parameters plus ours, validated once on the client.

The frozen :class:`WriterSettings` value is what travels to the workers inside each
partition task, so a dask-jobqueue worker (which never sees the client's ``dask.config``)
writes with exactly the settings the client resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: Embedding algorithms and the directory pair their embeddings are written to.
EMBEDDING_ALGORITHMS: dict[str, tuple[str, str]] = {
    "cosmos-embed1-224p": ("ce1_embd", "ce1_embd_parquet"),
    "cosmos-embed1-336p": ("ce1_embd", "ce1_embd_parquet"),
    "cosmos-embed1-448p": ("ce1_embd", "ce1_embd_parquet"),
}

EXISTING_FILE_POLICIES = ("skip", "overwrite")


class SettingsError(ValueError):
    """An invalid writer setting; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class WriterSettings:
    output_path: str
    input_path: str
    upload_clips: bool = True
    dry_run: bool = False
    generate_embeddings: bool = False
    generate_previews: bool = False
    generate_captions: bool = False
    embedding_algorithm: str = "cosmos-embed1-224p"
    caption_models: tuple[str, ...] = ()
    enhanced_caption_models: tuple[str, ...] = ()
    verbose: bool = False
    max_workers: int = 6
    log_stats: bool = False
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    existing: str = "skip"
    resume: bool = False
    write_retries: int = 3

    def __post_init__(self) -> None:
        for name in ("output_path", "input_path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip("/"):
                raise SettingsError(f"{name} must be a non-empty path or URL string, got {value!r}")
        for name in ("upload_clips", "dry_run", "generate_embeddings", "generate_previews",
                     "generate_captions", "verbose", "log_stats", "resume"):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.embedding_algorithm not in EMBEDDING_ALGORITHMS:
            raise SettingsError(
                f"embedding_algorithm {self.embedding_algorithm!r} is not supported; "
                f"choose one of {', '.join(EMBEDDING_ALGORITHMS)}"
            )
        object.__setattr__(self, "caption_models", _model_list("caption_models", self.caption_models))
        object.__setattr__(
            self, "enhanced_caption_models", _model_list("enhanced_caption_models", self.enhanced_caption_models)
        )
        for name, low in (("max_workers", 1), ("write_retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SettingsError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.existing not in EXISTING_FILE_POLICIES:
            raise SettingsError(f"existing must be one of {EXISTING_FILE_POLICIES}, got {self.existing!r}")
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
