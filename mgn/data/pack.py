"""A split in one file: ``.npz`` with labels, dense ground truth and features (visual frames averaged per segment).

The explorer ships its demo split this way (a few MB instead of one 655 kB ``.npy`` per clip for the 80 ResNet
frames); both models read averaged frames exactly as they read all 80 (see :func:`mgn.models.layers.pool_frames`).
Arrays: ``filenames`` (N,) str, ``labels`` (N, C) float32, ``gt_audio`` / ``gt_visual`` (N, C, T) uint8,
``audio`` (N, T, 128), ``visual`` (N, T, 2048), ``visual_st`` (N, T, 512) float32, and a JSON ``meta`` string.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from mgn.data.annotations import VIDEO_ID_LENGTH
from mgn.data.features import pool_frames
from mgn.data.llp import Split
from mgn.io import atomic_path

__all__ = ["PACK_FORMAT", "SplitPackError", "load_split_pack", "save_split_pack"]

PACK_FORMAT = "mgn-split-pack/1"
_ARRAYS = ("filenames", "labels", "gt_audio", "gt_visual", "audio", "visual", "visual_st")


class SplitPackError(ValueError):
    """A split pack is unreadable, incomplete or inconsistent."""


def save_split_pack(path: str | Path, split: Split, *, meta: dict | None = None) -> Path:
    """Write ``split`` (with dense GT) as a pack; visual frames are averaged per segment. Atomic."""
    if split.gt_audio is None or split.gt_visual is None:
        raise ValueError(f"split {split.name!r} has no dense ground truth; only val / test splits can be packed")
    visual = split.visual if split.pooled_visual else pool_frames(np.asarray(split.visual))
    arrays = {
        "filenames": np.asarray(split.filenames, dtype=str),
        "labels": np.asarray(split.labels, dtype=np.float32),
        "gt_audio": np.asarray(split.gt_audio, dtype=np.uint8),
        "gt_visual": np.asarray(split.gt_visual, dtype=np.uint8),
        "audio": np.asarray(split.audio, dtype=np.float32),
        "visual": np.asarray(visual, dtype=np.float32),
        "visual_st": np.asarray(split.visual_st, dtype=np.float32),
        "meta": np.array(json.dumps({"format": PACK_FORMAT, "split": split.name, **(meta or {})})),
    }
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.savez_compressed(stream, **arrays)
    return Path(path)


def load_split_pack(path: str | Path) -> Split:
    """Read a pack written by :func:`save_split_pack` into a :class:`~mgn.data.llp.Split` (pooled visual frames).

    Raises:
        FileNotFoundError: no such file.
        SplitPackError: not a pack, a missing array, or arrays whose shapes disagree (named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split pack not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"])) if "meta" in archive.files else {}
            if meta.get("format") != PACK_FORMAT:
                raise SplitPackError(
                    f"{path} is not a split pack (format {meta.get('format')!r}, expected {PACK_FORMAT!r})"
                )
            missing = [name for name in _ARRAYS if name not in archive.files]
            if missing:
                raise SplitPackError(f"{path}: missing arrays {missing}")
            arrays = {name: archive[name] for name in _ARRAYS}
    except (OSError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        if isinstance(error, SplitPackError):
            raise
        raise SplitPackError(f"{path} is not a readable split pack: {error}") from error
    filenames = arrays["filenames"]
    try:
        return Split(
            meta.get("split", path.stem),
            filenames,
            np.array([name[:VIDEO_ID_LENGTH] for name in filenames]),
            arrays["labels"],
            arrays["audio"],
            arrays["visual"],
            arrays["visual_st"],
            arrays["gt_audio"],
            arrays["gt_visual"],
        )
    except ValueError as error:
        raise SplitPackError(f"{path}: {error}") from error
