"""``.clipwriter/manifest.json`` [ours]: what a dataset is, kept beside the reference's layout.

It records the format of our bookkeeping, the version that last wrote the dataset and how
its index is bucketed. Pure: documents in and out as bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

FORMAT = 1


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the path."""


@dataclass(frozen=True)
class Manifest:
    #: buckets of the dataset index (index.py); 0 for a dataset without an index yet
    index_buckets: int = 0
    written_by: str = ""


def manifest_bytes(manifest: Manifest) -> bytes:
    document = {"format": FORMAT, "written_by": manifest.written_by, "index_buckets": manifest.index_buckets}
    return json.dumps(document, indent=4).encode()


def read_manifest(data: bytes | None, path: str) -> Manifest:
    """The manifest stored at ``path`` (``data`` None: no manifest, a new dataset)."""
    if data is None:
        return Manifest()
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} manifest")
        buckets = int(document["index_buckets"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"cannot read the dataset manifest {path}: {exc}") from None
    return Manifest(index_buckets=buckets, written_by=str(document.get("written_by", "")))
