"""Model plug-ins: the stages this project does not ship (aesthetics, embeddings, captions).

A plug-in is named in the settings by an import path ``package.module:attribute`` and runs on
the workers. The attribute is either a callable with the signature of its kind below, or a
class whose no-argument constructor returns one (use that to load model weights once: a
plug-in is loaded once per worker process and reused for every clip).

Frames are RGB ``uint8`` numpy arrays of shape (height, width, 3), at the encoded clip's size,
sampled from the encoded clip at the stage's ``*_fps`` setting.
"""

from __future__ import annotations

import functools
import importlib
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


class PluginError(ValueError):
    """A plug-in path that cannot be loaded, or a plug-in that returned the wrong thing."""


@dataclass(frozen=True)
class ClipMedia:
    """What an embedder gets: the clip's mp4 bytes and frames sampled from it."""

    data: bytes
    frames: Sequence[np.ndarray]
    sample_fps: float  # frames per second of clip time in ``frames``
    framerate: float  # the clip's own frame rate


@runtime_checkable
class AestheticScorer(Protocol):
    def __call__(self, frames: Sequence[np.ndarray]) -> float:
        """One score for the clip (higher is better)."""


@runtime_checkable
class Embedder(Protocol):
    def __call__(self, clip: ClipMedia) -> Any:
        """One 1-D vector of floats (list or array; shape (D,) or (1, D))."""


@runtime_checkable
class Captioner(Protocol):
    def __call__(self, frames: Sequence[np.ndarray]) -> str:
        """A caption of one window's frames."""


@runtime_checkable
class EnhancedCaptioner(Protocol):
    def __call__(self, frames: Sequence[np.ndarray], caption: str | None) -> str:
        """A richer caption of one window, given its frames and the plain caption if any."""


def load_plugin(import_path: str) -> Any:
    """The callable named by ``package.module:attribute`` (a class is instantiated once).

    Loaded plug-ins are cached per process. Raises :class:`PluginError` saying what is wrong.
    """
    if not isinstance(import_path, str):
        raise PluginError(f"a plug-in is named by a string 'package.module:callable', got {type(import_path).__name__}")
    return _load(import_path.strip())


#: The plug-in settings of the stages, and how many positional arguments each plug-in takes.
PLUGIN_ARGUMENTS = {"aesthetic_scorer": 1, "embedder": 1, "captioner": 1, "enhanced_captioner": 2}


def check_plugin(import_path: str, arguments: int) -> None:
    """That ``import_path`` names something importable and callable with ``arguments``
    positional arguments, without calling it (a class is not constructed: that may load a
    model). Raises :class:`PluginError` saying what is wrong."""
    import inspect

    target = _resolve(import_path.strip() if isinstance(import_path, str) else import_path)
    # A class: its instances are called, so it is their __call__ (self included) that counts.
    call = next((vars(k)["__call__"] for k in target.__mro__ if "__call__" in vars(k)), None) if isinstance(
        target, type) else target
    if not callable(call):
        what = f"class {target.__name__} without __call__" if isinstance(target, type) else type(target).__name__
        raise PluginError(f"plug-in {import_path!r} is a {what}, not a callable")
    try:
        signature = inspect.signature(call)
    except (TypeError, ValueError):
        return  # a builtin without a signature: trust it
    args = (None,) * (arguments + 1) if isinstance(target, type) else (None,) * arguments  # + self
    try:
        signature.bind(*args)
    except TypeError as exc:
        raise PluginError(f"plug-in {import_path!r} cannot be called with {arguments} argument(s) "
                          f"({exc}); see dask_clipwriter/video/plugins.py for its interface") from None


def _resolve(import_path: Any) -> Any:
    """The object an import path names (a class is returned as the class)."""
    if not isinstance(import_path, str):
        raise PluginError(f"a plug-in is named by a string 'package.module:callable', got {type(import_path).__name__}")
    module_name, sep, attribute = import_path.partition(":")
    if not sep or not module_name or not attribute:
        raise PluginError(f"plug-in path {import_path!r} must look like 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plug-in {import_path!r}: cannot import module {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PluginError(f"plug-in {import_path!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return target


@functools.cache
def _load(import_path: str) -> Any:
    target = _resolve(import_path)
    if isinstance(target, type):
        try:
            target = target()
        except Exception as exc:
            raise PluginError(f"plug-in {import_path!r}: constructing {target.__name__}() failed: {exc}") from exc
    if not callable(target):
        raise PluginError(f"plug-in {import_path!r} is a {type(target).__name__}, not a callable")
    return target


# --------------------------------------------------------------------------------------
# Checking what a plug-in returned (a wrong type is the plug-in's bug: say so clearly)


def checked_score(value: Any, import_path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise PluginError(f"aesthetic scorer {import_path!r} must return a finite number, got {value!r:.80}")
    return float(value)


def checked_embedding(value: Any, import_path: str) -> np.ndarray:
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise PluginError(f"embedder {import_path!r} must return numbers, got {type(value).__name__}") from None
    if vector.ndim == 2 and vector.shape[0] == 1:
        vector = vector[0]
    if vector.ndim != 1 or vector.size == 0:
        raise PluginError(f"embedder {import_path!r} must return one non-empty vector, got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise PluginError(f"embedder {import_path!r} returned a vector with NaN or infinity")
    return vector


def checked_caption(value: Any, import_path: str) -> str:
    if not isinstance(value, str):
        raise PluginError(f"captioner {import_path!r} must return a str, got {type(value).__name__}")
    return value
