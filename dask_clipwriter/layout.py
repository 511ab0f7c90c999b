"""Every output path rule of the dataset layout (output-format.md §1). Pure string functions.

Paths are built by plain string joins, exactly like the reference, so that ``s3://bucket/x``
works the same as ``/data/out``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

SUMMARY_FILE = "summary.json"
#: [ours] The page of plots the job writes at the end of a run (report.py).
REPORT_FILE = "report.html"
#: [ours] Bookkeeping beside the reference's layout: the manifest and the dataset index.
BOOKKEEPING_DIR = ".clipwriter"
#: [ours] The writer's optional outputs (off by default): per-chunk JSONL metas, the clip index.
CLIP_INDEX_DIR = "clip_index"
OPTIONAL_DIRS = ("metas_jsonl", CLIP_INDEX_DIR)


class LayoutError(ValueError):
    """A path that would not stay inside its output directory (outside input_path, ``..``)."""


def output_subpath(output_path: str, name: str) -> str:
    """``<root>(out, name)``: ``out`` without trailing ``/`` + ``/`` + ``name`` without outer ``/``."""
    return output_path.rstrip("/") + "/" + name.strip("/")


# The reference's helpers, same names and results.


def get_output_path_processed_videos(output_path: str) -> str:
    return output_subpath(output_path, "processed_videos")


def get_output_path_processed_clip_chunks(output_path: str) -> str:
    return output_subpath(output_path, "processed_clip_chunks")


def get_output_path_clips(output_path: str, *, filtered: bool = False) -> str:
    return output_subpath(output_path, "filtered_clips" if filtered else "clips")


def get_output_path_previews(output_path: str) -> str:
    return output_subpath(output_path, "previews")


def get_output_path_metas(output_path: str, version: str) -> str:
    return output_subpath(output_path, f"metas/{version}")


def get_output_path_ce1_embd(output_path: str) -> str:
    return output_subpath(output_path, "ce1_embd")


def get_output_path_ce1_embd_parquet(output_path: str) -> str:
    return output_subpath(output_path, "ce1_embd_parquet")


# File paths.


def clip_path(output_path: str, clip_uuid: str, *, filtered: bool) -> str:
    return f"{get_output_path_clips(output_path, filtered=filtered)}/{clip_uuid}.mp4"


def preview_path(output_path: str, clip_uuid: str, start_frame: int, end_frame: int) -> str:
    return f"{get_output_path_previews(output_path)}/{clip_uuid}/{start_frame}_{end_frame}.webp"


def meta_path(output_path: str, clip_uuid: str) -> str:
    return f"{get_output_path_metas(output_path, 'v0')}/{clip_uuid}.json"


def embedding_pickle_path(output_path: str, directory: str, clip_uuid: str) -> str:
    return f"{output_subpath(output_path, directory)}/{clip_uuid}.pickle"


def embedding_parquet_path(output_path: str, directory: str, chunk_id: str) -> str:
    return f"{output_subpath(output_path, directory)}/{chunk_id}.parquet"


def video_json_path(output_path: str, rel: str) -> str:
    return f"{get_output_path_processed_videos(output_path)}/{rel}.json"


def chunk_json_path(output_path: str, rel: str, chunk_index: int) -> str:
    return f"{get_output_path_processed_clip_chunks(output_path)}/{rel}_{chunk_index}.json"


def metas_jsonl_path(output_path: str, video: str, chunk_index: int) -> str:
    """[ours, optional] ``metas_jsonl/v0/<video uuid>_<chunk index>.jsonl``, as Cosmos names it."""
    return f"{output_subpath(output_path, 'metas_jsonl/v0')}/{video_uuid(video)}_{chunk_index}.jsonl"


def clip_index_path(output_path: str, chunk_id: str) -> str:
    """[ours, optional] ``clip_index/<chunk uuid>.parquet``: the scalar metas of a chunk's clips."""
    return f"{output_subpath(output_path, CLIP_INDEX_DIR)}/{chunk_id}.parquet"


def summary_path(output_path: str) -> str:
    return output_subpath(output_path, SUMMARY_FILE)


def report_path(output_path: str) -> str:
    return output_subpath(output_path, REPORT_FILE)


def dataset_outputs(embedding_dirs: Iterable[str]) -> tuple[str, ...]:
    """Every top-level name a dataset of ours may hold below its output_path (what replacing
    it removes): the reference's folders (with every embedding folder given), our summary
    and bookkeeping. Nothing else a user keeps there is touched."""
    return ("clips", "filtered_clips", "previews", "metas", *sorted(set(embedding_dirs)), "processed_videos",
            "processed_clip_chunks", SUMMARY_FILE, REPORT_FILE, BOOKKEEPING_DIR, *OPTIONAL_DIRS)


def manifest_path(output_path: str) -> str:
    return output_subpath(output_path, f"{BOOKKEEPING_DIR}/manifest.json")


def index_part_path(output_path: str, table: str, buckets: int, bucket: int) -> str:
    """One bucket's part of a dataset index table ("chunks" or "videos"), for ``buckets``
    buckets: each bucket count has its own folder, so growing the count never overwrites
    the parts a failed run would still need."""
    return output_subpath(output_path, f"{BOOKKEEPING_DIR}/index/b{buckets}/{table}-{bucket:05d}.parquet")


def chunk_marker_prefix(output_path: str, rel: str) -> str:
    """What every chunk marker path of one video starts with: ``.../<rel>_``."""
    return f"{get_output_path_processed_clip_chunks(output_path)}/{rel}_"


def video_uuid(video: str) -> str:
    """``uuid5(NAMESPACE_URL, video)``: how Cosmos names a video's per-chunk JSONL files."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, video))


def chunk_uuid(video: str, chunk_index: int) -> str:
    """``uuid5(NAMESPACE_URL, f"{video}_{chunk_index}")``, names the chunk's Parquet file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{video}_{chunk_index}"))


def relative_video_path(video: str, input_path: str) -> str:
    """``<rel>``: the video path below ``input_path``, leading ``/`` stripped, extension kept.

    Unlike the reference (a plain ``startswith``), the prefix must match whole path
    components; a result that could climb out of its directory is refused, and so is an
    empty component (``/in//a.mp4``), which would share its output files with ``/in/a.mp4``.
    """
    prefix = input_path.rstrip("/")
    if not video.startswith(prefix + "/"):
        raise LayoutError(f"video {video!r} is not inside input_path {input_path!r}")
    rel = video[len(prefix) + 1:]
    parts = rel.split("/")
    if not rel or any(part in ("..", ".") for part in parts):
        raise LayoutError(f"video {video!r} gives the relative path {rel!r}, which leaves its output directory")
    if "" in parts:
        raise LayoutError(f"video {video!r} has an empty path component below input_path {input_path!r}: its "
                          f"output files would be those of {prefix + '/' + '/'.join(p for p in parts if p)!r}")
    _check_names(video, parts)
    return rel


#: The longest name a chunk marker adds to a video's last path component: ``_<index>.json``.
MARKER_SUFFIX_BYTES = len(f"_{2**63 - 1}.json")
#: What filesystems accept for one name (ext4, xfs, APFS, NTFS: 255 bytes or UTF-16 units).
NAME_MAX_BYTES = 255


def _check_names(video: str, parts: list[str]) -> None:
    """Refuse a ``<rel>`` whose output names some filesystem would not take: a NUL byte, text
    UTF-8 cannot hold, or a name (with the marker's suffix) over 255 bytes."""
    if "\0" in video:
        raise LayoutError(f"video {video!r} contains a NUL byte, which no file name may hold")
    try:
        sizes = [len(part.encode("utf-8")) for part in parts]
    except UnicodeEncodeError:
        raise LayoutError(f"video {video!r} is not valid Unicode (a lone surrogate: a file name that was not "
                          "UTF-8?)") from None
    limit = NAME_MAX_BYTES - MARKER_SUFFIX_BYTES
    for part, size in zip(parts, sizes, strict=True):
        if size > limit:
            raise LayoutError(f"video {video!r} has a path component of {size} bytes ({part[:40]!r}...): with the "
                              f"chunk files' suffix its output names would pass the {NAME_MAX_BYTES}-byte limit of "
                              f"file names (at most {limit} bytes)")


def directory_of(output_path: str, path: str) -> str:
    """The top-level dataset directory a written path belongs to (``metas`` for metas/v0)."""
    rest = path[len(output_path.rstrip("/")) + 1:]
    return rest.split("/", 1)[0]
