"""``.clipwriter/manifest.json`` [ours]: what made a dataset, kept beside the reference's layout.

It records the settings that decide the files' contents (the writer's, and those of
whatever produced the records: the job's stages), the version that last wrote the dataset,
and how its index is bucketed. A later run with other content-deciding settings would mix
two datasets in one; :func:`settings_change` says what differs so the writer can refuse it.
Pure: documents in and out as bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .settings import SettingsError

FORMAT = 1

#: Writer settings that decide what the files hold (the others decide how or how fast).
CONTENT_SETTINGS = ("input_path", "upload_clips", "dry_run", "embedding_algorithm", "caption_models",
                    "enhanced_caption_models")


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the path."""


@dataclass(frozen=True)
class Manifest:
    #: the writer's content-deciding settings
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: the content-deciding settings of what produced the records (the job's stages)
    producer: Mapping[str, Any] = field(default_factory=dict)
    #: buckets of the dataset index (index.py); 0 for a dataset without an index yet
    index_buckets: int = 0
    #: chunks the index held after the last run (the bucket count follows the dataset's size)
    index_chunks: int = 0
    written_by: str = ""

    def with_index(self, buckets: int, chunks: int) -> Manifest:
        return replace(self, index_buckets=buckets, index_chunks=chunks)


def content_settings(public_settings: Mapping[str, Any]) -> dict[str, Any]:
    return {name: public_settings[name] for name in CONTENT_SETTINGS}


def manifest_bytes(manifest: Manifest) -> bytes:
    document = {"format": FORMAT, "written_by": manifest.written_by, "settings": dict(manifest.settings),
                "producer": dict(manifest.producer), "index_buckets": manifest.index_buckets,
                "index_chunks": manifest.index_chunks}
    return json.dumps(document, indent=4).encode()


def read_manifest(data: bytes | None, path: str) -> Manifest:
    """The manifest stored at ``path`` (``data`` None: no manifest, a new dataset)."""
    if data is None:
        return Manifest()
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} manifest")
        return Manifest(settings=dict(document["settings"]), producer=dict(document.get("producer") or {}),
                        index_buckets=int(document["index_buckets"]),
                        index_chunks=int(document.get("index_chunks", 0)),
                        written_by=str(document.get("written_by", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"cannot read the dataset manifest {path}: {exc}") from None


def settings_change(old: Manifest, new: Manifest) -> dict[str, tuple[Any, Any]]:
    """Each content-deciding setting whose value differs: {name: (dataset's, this run's)}.
    A dataset with no manifest (new, or written by another tool) differs in nothing."""
    if not old.settings:
        return {}
    changes = {}
    for group_old, group_new in ((old.settings, new.settings), (old.producer, new.producer)):
        for name in sorted(set(group_old) | set(group_new)):
            if group_old.get(name) != group_new.get(name):
                changes[name] = (group_old.get(name), group_new.get(name))
    return changes


def describe_change(changes: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{name} {old!r} (now {new!r})" for name, (old, new) in changes.items())


class SettingsChangedError(SettingsError):
    """A run whose content-deciding settings differ from the dataset's; the message names them."""


#: What a dry run writes: a real run after it starts from a clean slate of these.
DRY_RUN_OUTPUTS = ("processed_clip_chunks", "processed_videos", "summary.json", ".clipwriter/index")


@dataclass(frozen=True)
class RunStart:
    """What a run does to the dataset before its first file: the paths (below output_path)
    to remove, and the manifest to write."""

    remove: tuple[str, ...]
    manifest: Manifest
    #: the dataset has no manifest yet: the writers record it before their first file
    record: bool = False


def plan_run_start(old: Manifest, new: Manifest, *, output_path: str, existing: str,
                   all_outputs: tuple[str, ...]) -> RunStart:
    """How a run with manifest ``new`` starts on a dataset with manifest ``old``.

    Same settings (or a new dataset): nothing is removed; the index carries on. A real run
    after a dry run: the dry run's documents are removed, so the dataset ends exactly as a
    clean real run's. Other changes: refused, unless ``existing`` is ``overwrite``, which
    replaces the whole dataset (every output of ``all_outputs``)."""
    changes = settings_change(old, new)
    if not old.settings:
        return RunStart((), new.with_index(old.index_buckets, old.index_chunks), record=True)
    if not changes:
        return RunStart((), new.with_index(old.index_buckets, old.index_chunks))
    if set(changes) == {"dry_run"} and changes["dry_run"] == (True, False):
        return RunStart(DRY_RUN_OUTPUTS, new.with_index(0, 0))
    if existing == "overwrite":
        return RunStart(all_outputs, new.with_index(0, 0))
    raise SettingsChangedError(
        f"{output_path} holds a dataset written with other settings: {describe_change(changes)}; "
        "write to another output_path, or pass existing='overwrite' (--existing overwrite) to replace it")
