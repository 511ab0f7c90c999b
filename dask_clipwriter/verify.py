"""``dask-clipwriter verify OUT``: check a written dataset against its own metadata and the spec.

Each problem comes with the path it concerns. What is checked:

* every clip JSON (``metas/v0``) parses and has the spec's keys in the spec's order;
* an uploaded clip's file exists and has ``num_bytes`` bytes;
* every chunk JSON parses, and its passed and filtered clips are the metas that say so;
  every meta belongs to one chunk;
* each chunk's Parquet rows are its passed clips with embeddings, equal to their pickles;
* every preview is a window of a passed clip's meta;
* every video's chunks are all there (``num_clip_chunks`` chunk JSONs);
* no temporary file is left;
* the manifest parses, and summary.json agrees with the chunk JSONs it adds up.

The whole tree is listed once; small files are read in batches (concurrently on object
stores), so a tree of 100,000 files is checked in seconds.
"""

from __future__ import annotations

import json
import pickle
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np

from . import layout
from .documents import read_chunk_document
from .manifest import ManifestError, read_manifest
from .parquet_bytes import read_parquet_bytes
from .probe import PROBE_KEYS
from .sink import TEMPORARY_DIR

#: The clip JSON's keys in the spec's order (output-format.md §2); the optional ones may be absent.
META_KEYS = ("span_uuid", "source_video", "duration_span", "width_source", "height_source", "framerate_source",
             "clip_location", *PROBE_KEYS, "num_bytes", "motion_score", "aesthetic_score", "errors", "windows", "valid")
REQUIRED_META_KEYS = ("span_uuid", "source_video", "duration_span", "width_source", "height_source",
                      "framerate_source", "clip_location", "windows", "valid")
BATCH = 2000


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Tree:
    """The dataset's files (relative path -> size), listed once, and batched reads."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None):
        self.root = root.rstrip("/")
        self.fs, self.fs_root = fsspec.url_to_fs(self.root, **dict(storage_options or {}))
        found = self.fs.find(self.fs_root, detail=True)
        prefix = self.fs_root.rstrip("/") + "/"
        self.sizes = {path[len(prefix):]: info.get("size") for path, info in found.items()
                      if info.get("type") != "directory"}

    def under(self, folder: str) -> list[str]:
        return sorted(name for name in self.sizes if name.startswith(folder + "/"))

    def read_many(self, names: Iterable[str]) -> dict[str, bytes]:
        names = list(names)
        out = {}
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            data = self.fs.cat([f"{self.fs_root}/{name}" for name in batch], on_error="return")
            for name in batch:
                value = data.get(f"{self.fs_root}/{name}")
                if isinstance(value, bytes):
                    out[name] = value
        return out


def verify(path: str, storage_options: Mapping[str, Any] | None = None) -> list[Problem]:
    """Every problem of the dataset at ``path`` (local or any fsspec URL); [] when none."""
    tree = _Tree(path, storage_options)
    problems: list[Problem] = []
    manifest = _check_manifest(tree, problems)
    upload_clips = bool((manifest.settings if manifest else {}).get("upload_clips", True))
    dry_run = bool((manifest.settings if manifest else {}).get("dry_run", False))
    metas = _check_metas(tree, problems)
    chunks = _check_chunks(tree, problems, metas, dry_run)
    _check_clip_files(tree, problems, metas, upload_clips and not dry_run)
    _check_embeddings(tree, problems, chunks)
    _check_previews(tree, problems, metas)
    _check_videos(tree, problems)
    problems += [Problem(name, "temporary file left by a writer that was stopped") for name in tree.sizes
                 if name.startswith(TEMPORARY_DIR + "/") or name.endswith(".tmp")]
    _check_summary(tree, problems, chunks)
    return problems


def _json(data: bytes, name: str, problems: list[Problem]) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem(name, f"does not parse as JSON ({exc})"))
        return None


def _check_manifest(tree: _Tree, problems: list[Problem]):
    name = f"{layout.BOOKKEEPING_DIR}/manifest.json"
    if name not in tree.sizes:
        return None  # a dataset written by another tool
    try:
        return read_manifest(tree.read_many([name]).get(name), name)
    except ManifestError as exc:
        problems.append(Problem(name, str(exc)))
        return None


def _check_metas(tree: _Tree, problems: list[Problem]) -> dict[str, dict]:
    metas = {}
    for name, data in tree.read_many(tree.under("metas/v0")).items():
        doc = _json(data, name, problems)
        if not isinstance(doc, dict):
            continue
        keys = list(doc)
        missing = [k for k in REQUIRED_META_KEYS if k not in doc]
        unknown = [k for k in keys if k not in META_KEYS]
        in_order = [k for k in META_KEYS if k in doc] == keys
        if missing or unknown or not in_order:
            problems.append(Problem(name, f"keys differ from the spec's: missing {missing}, unknown {unknown}"
                                          f"{'' if in_order else ', out of order'}"))
        uuid = name.rsplit("/", 1)[-1].removesuffix(".json")
        if doc.get("span_uuid") != uuid:
            problems.append(Problem(name, f"span_uuid {doc.get('span_uuid')!r} is not its file name's"))
        metas[uuid] = {**doc, "_name": name}
    return metas


def _check_chunks(tree: _Tree, problems: list[Problem], metas: dict[str, dict], dry_run: bool) -> list[dict]:
    chunks, owner = [], {}
    for name, data in tree.read_many(tree.under("processed_clip_chunks")).items():
        try:
            stats = read_chunk_document(data)
        except ValueError as exc:
            problems.append(Problem(name, f"damaged chunk JSON: {exc}"))
            continue
        chunks.append({"name": name, "stats": stats})
        for clips, folder in ((stats.clips, "clips"), (stats.filtered_clips, "filtered_clips")):
            for uuid in clips:
                if uuid in owner:
                    problems.append(Problem(name, f"clip {uuid} is also in {owner[uuid]}"))
                owner[uuid] = name
                meta = metas.get(uuid)
                if meta is None:
                    if not dry_run:
                        problems.append(Problem(name, f"clip {uuid} has no metas/v0/{uuid}.json"))
                elif not str(meta.get("clip_location", "")).endswith(f"/{folder}/{uuid}.mp4"):
                    problems.append(Problem(meta["_name"], f"clip_location {meta.get('clip_location')!r} is not "
                                                           f"in {folder}/ as its chunk {name} says"))
    problems += [Problem(meta["_name"], "belongs to no chunk JSON") for uuid, meta in metas.items() if uuid not in owner]
    return chunks


def _check_clip_files(tree: _Tree, problems: list[Problem], metas: dict[str, dict], uploaded: bool) -> None:
    for uuid, meta in metas.items():
        folder = "filtered_clips" if "/filtered_clips/" in str(meta.get("clip_location")) else "clips"
        name = f"{folder}/{uuid}.mp4"
        if "num_bytes" not in meta:
            continue
        size = tree.sizes.get(name)
        if size is None:
            if uploaded:
                problems.append(Problem(name, f"missing (its meta says {meta['num_bytes']} bytes)"))
        elif size != meta["num_bytes"]:
            problems.append(Problem(name, f"has {size} bytes, its meta says {meta['num_bytes']}"))


def _check_embeddings(tree: _Tree, problems: list[Problem], chunks: list[dict]) -> None:

    by_chunk = {layout.chunk_uuid(c["stats"].video, c["stats"].clip_chunk_index): c for c in chunks}
    parquet_names = [n for n in tree.sizes if n.endswith(".parquet") and n.split("/")[0].endswith("_embd_parquet")]
    for name, data in tree.read_many(parquet_names).items():
        chunk = by_chunk.get(name.rsplit("/", 1)[-1].removesuffix(".parquet"))
        if chunk is None:
            problems.append(Problem(name, "belongs to no chunk JSON"))
            continue
        table = read_parquet_bytes(data)
        ids = table["id"].to_pylist()
        if not set(ids) <= set(chunk["stats"].clips):
            problems.append(Problem(name, f"has rows for clips that are not passed clips of {chunk['name']}"))
        folder = name.split("/")[0].removesuffix("_parquet")
        pickles = tree.read_many(f"{folder}/{uuid}.pickle" for uuid in ids)
        for uuid, values in zip(ids, table["embedding"].to_pylist(), strict=True):
            data = pickles.get(f"{folder}/{uuid}.pickle")
            if data is None:
                problems.append(Problem(f"{folder}/{uuid}.pickle", f"missing (a row of {name})"))
            elif not np.array_equal(pickle.loads(data).astype(np.float64).reshape(-1), np.asarray(values)):
                problems.append(Problem(f"{folder}/{uuid}.pickle", f"differs from its row in {name}"))


def _check_previews(tree: _Tree, problems: list[Problem], metas: dict[str, dict]) -> None:
    for name in tree.under("previews"):
        parts = name.split("/")
        meta = metas.get(parts[1]) if len(parts) == 3 else None
        windows = {f"{w.get('start_frame')}_{w.get('end_frame')}.webp" for w in (meta or {}).get("windows", [])}
        if meta is None or "/filtered_clips/" in str(meta.get("clip_location")) or parts[2] not in windows:
            problems.append(Problem(name, "is not a window of a passed clip's meta"))


def _check_videos(tree: _Tree, problems: list[Problem]) -> None:
    markers = set(tree.under("processed_clip_chunks"))
    for name, data in tree.read_many(tree.under("processed_videos")).items():
        doc = _json(data, name, problems)
        if not isinstance(doc, dict):
            continue
        rel = name[len("processed_videos/"):].removesuffix(".json")
        absent = [i for i in range(int(doc.get("num_clip_chunks") or 0))
                  if f"processed_clip_chunks/{rel}_{i}.json" not in markers]
        if absent:
            problems.append(Problem(name, f"chunks {absent} of its {doc.get('num_clip_chunks')} are missing"))


def _check_summary(tree: _Tree, problems: list[Problem], chunks: list[dict]) -> None:
    if layout.SUMMARY_FILE not in tree.sizes:
        return
    summary = _json(tree.read_many([layout.SUMMARY_FILE])[layout.SUMMARY_FILE], layout.SUMMARY_FILE, problems)
    totals = (summary or {}).get("totals") if isinstance(summary, dict) else None
    if not isinstance(totals, dict):
        problems.append(Problem(layout.SUMMARY_FILE, "has no totals"))
        return
    counted = defaultdict(int)
    for chunk in chunks:
        stats = chunk["stats"]
        if stats.clips or stats.filtered_clips:  # a video without clips has an empty chunk 0
            counted["chunks"] += 1
        counted["num_clips_passed"] += stats.num_clips_passed
        counted["num_clips_filtered"] += len(stats.filtered_clips)
    for key, value in counted.items():
        if totals.get(key) != value:
            problems.append(Problem(layout.SUMMARY_FILE, f"totals say {key} {totals.get(key)}, the chunk JSONs {value}"))
