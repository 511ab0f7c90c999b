"""Every knob of the upstream video stages, with the reference's defaults.

Plain data (picklable, hashable, no secrets): it travels with every chunk task. Storage
options for remote sources are passed separately, so they never show up in a settings repr
or log. Field types are kept to what a command-line flag can carry (numbers, strings, lists).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import listing, motion, plan, previews, windows

MOTION_FILTER_MODES = ("enable", "score-only", "disable")


@dataclass(frozen=True)
class StageSettings:
    # Planning (clip-records.md, "Deterministic ids")
    clip_len_s: float = plan.DEFAULT_CLIP_LEN_S
    clip_stride_s: float = plan.DEFAULT_CLIP_STRIDE_S
    min_clip_length_s: float = plan.DEFAULT_MIN_CLIP_LENGTH_S
    num_clips_per_chunk: int = plan.DEFAULT_NUM_CLIPS_PER_CHUNK

    # Listing the source videos
    extensions: tuple[str, ...] = listing.DEFAULT_VIDEO_EXTENSIONS
    limit: int | None = None

    # Transcoding: None keeps the source height; preset and crf None keep x264's defaults
    # (medium, 23), which is what the reference's ffmpeg command uses
    target_height: int | None = None
    encoder_preset: str | None = None
    encoder_crf: int | None = None
    encoder_threads: int = 1

    # Motion filter: "enable" filters small-motion clips, "score-only" scores without
    # filtering, "disable" neither scores nor filters
    motion_filter: str = "enable"
    motion_global_mean_threshold: float = motion.GLOBAL_MEAN_THRESHOLD
    motion_per_patch_min_256_threshold: float = motion.PER_PATCH_MIN_256_THRESHOLD

    # Caption windows and previews
    window_size: int = windows.DEFAULT_WINDOW_SIZE
    remainder_threshold: int = windows.DEFAULT_REMAINDER_THRESHOLD
    # On, as in the project's config for the writer (one --generate-previews flag sets both)
    generate_previews: bool = True
    preview_fps: float = previews.PREVIEW_FPS
    preview_height: int = previews.PREVIEW_HEIGHT
    preview_quality: int = previews.PREVIEW_QUALITY

    # Plug-ins ("package.module:callable"); None turns the stage off
    aesthetic_scorer: str | None = None
    aesthetic_threshold: float | None = None  # None: score only, never filter
    aesthetic_fps: float = 1.0
    embedder: str | None = None
    embedding_fps: float = 2.0
    captioner: str | None = None
    caption_model: str = "qwen"
    enhanced_captioner: str | None = None
    enhanced_caption_model: str = "qwen_lm"
    caption_fps: float = 2.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("clip_len_s", "clip_stride_s", "aesthetic_fps", "embedding_fps", "caption_fps", "preview_fps"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.min_clip_length_s < 0:
            problems.append(f"min_clip_length_s must be >= 0, got {self.min_clip_length_s!r}")
        for name in ("num_clips_per_chunk", "window_size", "preview_height", "encoder_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be an integer >= 1, got {value!r}")
        if self.remainder_threshold < 0:
            problems.append(f"remainder_threshold must be >= 0, got {self.remainder_threshold!r}")
        if self.target_height is not None and (not isinstance(self.target_height, int) or self.target_height < 2):
            problems.append(f"target_height must be None or an integer >= 2, got {self.target_height!r}")
        if self.motion_filter not in MOTION_FILTER_MODES:
            problems.append(f"motion_filter must be one of {', '.join(MOTION_FILTER_MODES)}, got {self.motion_filter!r}")
        if not 0 <= self.preview_quality <= 100:
            problems.append(f"preview_quality must be within 0..100, got {self.preview_quality!r}")
        if not self.extensions or isinstance(self.extensions, str):
            problems.append(f"extensions must be a non-empty list of names, got {self.extensions!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            problems.append(f"limit must be None or an integer >= 0, got {self.limit!r}")
        if self.encoder_crf is not None and not 0 <= self.encoder_crf <= 51:
            problems.append(f"encoder_crf must be within 0..51, got {self.encoder_crf!r}")
        if problems:
            raise ValueError("invalid stage settings: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encoder_options(self) -> dict[str, str]:
        """x264 options for the encoder: only the ones set, so FFmpeg's defaults stay."""
        options = {}
        if self.encoder_preset is not None:
            options["preset"] = self.encoder_preset
        if self.encoder_crf is not None:
            options["crf"] = str(self.encoder_crf)
        return options
