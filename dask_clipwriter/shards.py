"""WebDataset shards as pure logic: what one sample holds, how samples are cut into shards of
a size, the tar bytes of a shard, and the shard index. No filesystem, no Dask (export.py).

A sample is one clip, its members named ``<span_uuid>.<extension>`` in a fixed order::

    <uuid>.mp4                  the clip's bytes
    <uuid>.json                 its metas/v0 document, as stored
    <uuid>.<model>.txt          the clip's caption by a caption model (its first captioned window)
    <uuid>.<model>.enhanced.txt the same for an enhanced-caption model
    <uuid>.npy                  its embedding: float16, shape (1, D), as in ce1_embd/<uuid>.pickle

Every window's captions stay in the ``.json``. The tar bytes depend only on the members:
fixed mtime, owner and mode, members in sample order, so an export run again gives the same
shards. Sizes are exact before any clip is read (a member's header and padding are known
from its name and length), so shards are planned on the client from the sizes alone.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dataset_rows import window_record

#: The same for every member: an export run again gives the same bytes.
TAR_MTIME = 0
TAR_MODE = 0o444
TAR_FORMAT = tarfile.GNU_FORMAT  # long names (a long model name) are still one member
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
SHARD_NAME = "shard-{:06d}.tar"
INDEX_JSON = "index.json"
INDEX_PARQUET = "index.parquet"
INDEX_FORMAT = 1

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
#: The smallest tar there is (one record); a sample larger than the size gets a shard alone.
MIN_SHARD_BYTES = RECORD


class ShardSizeError(ValueError):
    """A shard size that cannot be read; the message names the value."""


def parse_size(text: str | int) -> int:
    """Bytes in a size such as ``1GB`` (10^9), ``512MiB`` (2^29), ``2.5GB`` or ``1000000``."""
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise ShardSizeError(f"shard size {text!r} is not a size: give a number of bytes or one with a unit "
                                 f"(KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 1GB")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = int(value * _UNITS[unit])
    if size < MIN_SHARD_BYTES:
        raise ShardSizeError(f"shard size {text!r} is {size} bytes; a shard needs at least {MIN_SHARD_BYTES} bytes")
    return size


# --------------------------------------------------------------------------------------
# Samples


def caption_members(meta: Mapping[str, Any], models: Sequence[str] | None, caption_models: Sequence[str] = (),
                    enhanced_models: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(extension, text) of a sample's captions: per model, its first captioned window;
    ``models`` None means every model found, plain ones first, in the order found."""
    plain: dict[str, str] = {}
    enhanced: dict[str, str] = {}
    for entry in meta.get("windows") or []:
        window = window_record(entry, caption_models, enhanced_models)
        for model, text in window["caption"].items():
            plain.setdefault(model, text)
        for model, text in window["enhanced_caption"].items():
            enhanced.setdefault(model, text)
    chosen = lambda found: [m for m in (found if models is None else models) if m in found]  # noqa: E731
    return ([(f"{m}.txt", plain[m]) for m in chosen(plain)]
            + [(f"{m}.enhanced.txt", enhanced[m]) for m in chosen(enhanced)])


def npy_bytes(embedding: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(embedding, dtype=np.float16).reshape(1, -1), allow_pickle=False)
    return buf.getvalue()


def sample_members(key: str, meta_bytes: bytes, meta: Mapping[str, Any], embedding: np.ndarray | None, *,
                   mp4: bytes | int, models: Sequence[str] | None = None, caption_models: Sequence[str] = (),
                   enhanced_models: Sequence[str] = ()) -> list[tuple[str, bytes | int]]:
    """The members of one sample, in order. ``mp4`` is the clip's bytes, or only their
    length when planning (a member is then (name, size))."""
    members: list[tuple[str, bytes | int]] = [(f"{key}.mp4", mp4), (f"{key}.json", meta_bytes)]
    members += [(f"{key}.{ext}", text.encode("utf-8"))
                for ext, text in caption_members(meta, models, caption_models, enhanced_models)]
    if embedding is not None:
        members.append((f"{key}.npy", npy_bytes(embedding)))
    return members


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, TAR_MTIME, TAR_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def member_bytes(name: str, size: int) -> int:
    """What one member takes in a tar: its header blocks (more for a long name), its data padded."""
    return len(_info(name, size).tobuf(TAR_FORMAT, tarfile.ENCODING, "surrogateescape")) + _padded(size)


def sample_size(members: Iterable[tuple[str, bytes | int]]) -> int:
    return sum(member_bytes(name, data if isinstance(data, int) else len(data)) for name, data in members)


def shard_size(sample_sizes: Iterable[int]) -> int:
    """A shard's tar bytes: its samples, the two zero blocks that end it, padded to a record."""
    return -(-(sum(sample_sizes) + 2 * BLOCK) // RECORD) * RECORD


def plan_shards(sizes: Sequence[int], limit: int) -> list[range]:
    """Consecutive samples cut into shards of at most ``limit`` bytes (a sample larger than
    that alone in its shard): the positions of each shard's samples."""
    shards, start, total = [], 0, 0
    for position, size in enumerate(sizes):
        if position > start and shard_size([total, size]) > limit:
            shards.append(range(start, position))
            start, total = position, 0
        total += size
    if len(sizes) > start:
        shards.append(range(start, len(sizes)))
    return shards


def tar_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """The shard's bytes: the members in order, each with the fixed mtime, owner and mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=TAR_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# The shard index


@dataclass(frozen=True)
class ShardRecord:
    """One written shard: what the index says of it."""

    name: str
    samples: int
    bytes: int
    sha256: str
    first: str
    last: str


def shard_record(name: str, keys: Sequence[str], data: bytes) -> ShardRecord:
    return ShardRecord(name, len(keys), len(data), hashlib.sha256(data).hexdigest(), keys[0], keys[-1])


def index_document(shards: Sequence[ShardRecord], *, dataset: str, shard_limit: int,
                   skipped: Mapping[str, int]) -> dict[str, Any]:
    """``index.json``: every shard with its sample count, size and hash; which clip went to
    which shard is in ``index.parquet``."""
    pattern = SHARD_NAME.format(0) if len(shards) <= 1 else \
        "shard-{" + f"{0:06d}..{len(shards) - 1:06d}" + "}.tar"
    return {
        "format": INDEX_FORMAT,
        "dataset": dataset,
        "shard_size_limit": shard_limit,
        "shards_pattern": pattern,
        "samples": sum(s.samples for s in shards),
        "bytes": sum(s.bytes for s in shards),
        "skipped": dict(sorted(skipped.items())),
        "shards": [s.__dict__ for s in shards],
    }
