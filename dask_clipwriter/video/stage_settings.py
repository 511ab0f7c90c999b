"""Every knob of the upstream video stages, with the reference's defaults.

Plain data (picklable, hashable, no secrets): it travels with every chunk task. Storage
options for remote sources are passed separately, so they never show up in a settings repr
or log. Field types are kept to what a command-line flag can carry (numbers, strings, lists);
each field is an option (options.py) with its default, help line and range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..options import check_options, option
from ..settings import SettingsError
from . import encoders, listing, motion, plan, previews, windows

MOTION_FILTER_MODES = ("enable", "score-only", "disable")


@dataclass(frozen=True)
class StageSettings:
    # Planning (clip-records.md, "Deterministic ids")
    clip_len_s: float = option(plan.DEFAULT_CLIP_LEN_S, "clip length, seconds", above=0)
    clip_stride_s: float = option(plan.DEFAULT_CLIP_STRIDE_S, "distance between clip starts, seconds", above=0)
    min_clip_length_s: float = option(plan.DEFAULT_MIN_CLIP_LENGTH_S, "drop a clip shorter than this, seconds",
                                      minimum=0)
    num_clips_per_chunk: int = option(plan.DEFAULT_NUM_CLIPS_PER_CHUNK,
                                      "chunk size: a chunk closes once it holds num-clips-per-chunk x 8 s of clips",
                                      minimum=1)

    # Listing the source videos
    extensions: tuple[str, ...] = option(listing.DEFAULT_VIDEO_EXTENSIONS, "video file extensions to list")
    limit: int | None = option(None, "process at most this many videos", minimum=0)

    # Transcoding: None keeps the source height; preset, crf and options unset keep the
    # encoder's FFmpeg defaults (x264: medium, 23), which is what the reference's command uses
    target_height: int | None = option(None, "scale clips to this height (default: keep the source's)", minimum=2)
    encoder: str = option(encoders.DEFAULT_ENCODER, "video encoder (refused at start if the bundled FFmpeg "
                                                    "lacks it)", choices=tuple(encoders.ENCODERS))
    encoder_preset: str | None = option(None, "libx264 preset (default: x264's)")
    encoder_crf: int | None = option(None, "CRF: libx264 0-51, libvpx-vp9 0-63 (default: the encoder's)",
                                     minimum=0, maximum=63)
    encoder_options: tuple[str, ...] = option((), "more encoder options, key=value (FFmpeg's names, e.g. "
                                                  "x264-params=keyint=60:bframes=2 or cpu-used=4)")
    encoder_threads: int = option(1, "encoder threads per clip", minimum=1)
    audio: bool = option(True, "carry the source's first audio stream into each clip (copied where MP4 "
                               "takes its codec, else AAC)")

    # Motion filter
    motion_filter: str = option("enable", "enable (filter small motion), score-only, or disable",
                                choices=MOTION_FILTER_MODES)
    motion_global_mean_threshold: float = option(motion.GLOBAL_MEAN_THRESHOLD, "small motion below this global mean")
    motion_per_patch_min_256_threshold: float = option(motion.PER_PATCH_MIN_256_THRESHOLD,
                                                       "small motion below this per-patch minimum")

    # Caption windows and previews
    window_size: int = option(windows.DEFAULT_WINDOW_SIZE, "caption window length, frames", minimum=1)
    remainder_threshold: int = option(windows.DEFAULT_REMAINDER_THRESHOLD,
                                      "a remainder this long becomes its own window, frames", minimum=0)
    make_previews: bool = option(True, "make an animated WebP preview per caption window")
    preview_fps: float = option(previews.PREVIEW_FPS, "preview frames per second", above=0)
    preview_height: int = option(previews.PREVIEW_HEIGHT, "preview height, pixels", minimum=1)
    preview_quality: int = option(previews.PREVIEW_QUALITY, "preview WebP quality (lossy)", minimum=0, maximum=100)

    # Plug-ins ("package.module:callable"); None turns the stage off
    aesthetic_scorer: str | None = option(None, "plug-in 'package.module:callable' scoring aesthetics")
    aesthetic_threshold: float | None = option(None, "filter clips scoring below this (default: score only)")
    aesthetic_fps: float = option(1.0, "frames per second given to the aesthetic scorer", above=0)
    embedder: str | None = option(None, "plug-in 'package.module:callable' giving the clip embedding")
    embedding_fps: float = option(2.0, "frames per second given to the embedder", above=0)
    captioner: str | None = option(None, "plug-in 'package.module:callable' captioning each window")
    caption_model: str = option("qwen", "model name the --captioner's captions are stored under (list it in "
                                        "--caption-models for the writer to write them)")
    enhanced_captioner: str | None = option(None, "plug-in 'package.module:callable' enhancing each caption")
    enhanced_caption_model: str = option("qwen_lm", "model name the enhanced captions are stored under")
    caption_fps: float = option(2.0, "frames per second given to the captioners", above=0)

    def __post_init__(self) -> None:
        problems = check_options(self)
        if not self.extensions or isinstance(self.extensions, str):
            problems.append(f"extensions must be a non-empty list of names, got {self.extensions!r}")
        if isinstance(self.encoder_options, str):
            problems.append(f"encoder_options must be a list of key=value items, got {self.encoder_options!r}")
        elif self.encoder in encoders.ENCODERS:
            problems += encoders.option_problems(self.encoder, self.encoder_preset, self.encoder_crf,
                                                 self.encoder_options)
        if problems:
            raise SettingsError("invalid stage settings: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def content_settings(self) -> dict[str, Any]:
        """The settings that decide what the clips and their records hold (recorded in the
        dataset's manifest): all but which videos are listed."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in self.as_dict().items() if name not in ("extensions", "limit")}

    def encoder_option_values(self) -> dict[str, str]:
        """The encoder's AVOptions: only those set, so FFmpeg's defaults stay."""
        return encoders.encoder_options(self.encoder, self.encoder_preset, self.encoder_crf, self.encoder_options)

    def check_encoder(self) -> None:
        """Refuse an encoder the bundled FFmpeg lacks or options it refuses (before any work)."""
        encoders.check_encoder(self.encoder, self.encoder_option_values(), self.encoder_threads)
