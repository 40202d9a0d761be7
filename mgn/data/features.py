"""Per-clip LLP feature files (``<ID>.npy``) -> validated contiguous arrays, with an optional memory-mapped cache.

Every file is checked at the door (REFERENCE 1.4): it must exist, load with ``np.load(allow_pickle=False)``, be a
float32 array of the modality's shape and hold only finite values. Anything else raises ``FeatureFileError`` naming
the file, what was expected and what was found; nothing is skipped.

Notation: N clips, T = 10 segments, F = 80 frames (8 per segment).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mgn.labels import FRAMES_PER_SEGMENT, NUM_FRAMES, NUM_SEGMENTS

__all__ = [
    "FEATURE_SHAPES",
    "MODALITIES",
    "FeatureFileError",
    "feature_cache_key",
    "load_feature_arrays",
    "load_feature_arrays_cached",
    "pool_frames",
    "read_feature_file",
]

VGGISH_DIM = 128  # audio: one VGGish embedding per ~1 s example
RESNET152_DIM = 2048  # 2D visual: ResNet-152 global-average-pool feature per frame
R2PLUS1D_DIM = 512  # 3D visual: R(2+1)D-18 global-average-pool feature per 8-frame clip

MODALITIES = ("audio", "visual", "visual_st")
FEATURE_SHAPES: dict[str, tuple[int, int]] = {
    "audio": (NUM_SEGMENTS, VGGISH_DIM),  # vggish/<ID>.npy
    "visual": (NUM_FRAMES, RESNET152_DIM),  # res152/<ID>.npy
    "visual_st": (NUM_SEGMENTS, R2PLUS1D_DIM),  # r2plus1d_18/<ID>.npy
}
CACHE_FORMAT_VERSION = 1  # bump when the cached arrays change meaning


class FeatureFileError(ValueError):
    """A feature ``.npy`` that is missing, unreadable, of the wrong shape or dtype, or not finite."""


def _stored_shape(modality: str, pooled_visual: bool) -> tuple[int, int]:
    """Per-clip shape as stored in memory: the 2D visual stream is (10, 2048) once pooled."""
    if modality == "visual" and pooled_visual:
        return (NUM_SEGMENTS, RESNET152_DIM)
    return FEATURE_SHAPES[modality]


def read_feature_file(path: str | Path, modality: str) -> np.ndarray:
    """Load and validate one clip's feature file.

    Returns:
        The array as stored, ``FEATURE_SHAPES[modality]`` float32, all finite.

    Raises:
        FeatureFileError: naming the file and the expected vs found shape / dtype / values.
    """
    path = Path(path)
    expected = f"float32 array of shape {FEATURE_SHAPES[modality]} ({modality})"
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found; expected a {expected}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # truncated, corrupt, pickled, not .npy
        raise FeatureFileError(f"{path}: not a readable .npy file ({error}); expected a {expected}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise FeatureFileError(f"{path}: found an .npz archive, expected a single {expected}")
    if array.shape != FEATURE_SHAPES[modality] or array.dtype.kind != "f" or array.dtype.itemsize != 4:
        raise FeatureFileError(f"{path}: expected a {expected}, found {array.dtype} of shape {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        position = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise FeatureFileError(
            f"{path}: {int((~finite).sum())} non-finite value(s) (NaN/inf), first {array[position]} at {position}; "
            f"expected a finite {expected}"
        )
    return array


def pool_frames(frames: np.ndarray) -> np.ndarray:
    """Mean of 8 consecutive frames per segment: segment t = mean of frames 8t .. 8t+7.

    Args:
        frames: ``(..., 80, D)`` frame features.

    Returns:
        ``(..., 10, D)`` in the input dtype.
    """
    *lead, num_frames, dim = frames.shape
    if num_frames != NUM_FRAMES:
        raise ValueError(f"expected {NUM_FRAMES} frames on axis -2, found shape {frames.shape}")
    windows = frames.reshape(*lead, NUM_SEGMENTS, FRAMES_PER_SEGMENT, dim)  # (..., T, 8, D)
    return windows.mean(axis=-2, dtype=frames.dtype)  # (..., T, D)


def _allocate(shape: tuple[int, ...], out_dir: Path | None, modality: str) -> np.ndarray:
    if out_dir is None:
        return np.empty(shape, dtype=np.float32)
    return np.lib.format.open_memmap(out_dir / f"{modality}.npy", mode="w+", dtype=np.float32, shape=shape)


def load_feature_arrays(
    paths: Mapping[str, Sequence[Path]],
    *,
    pooled_visual: bool = False,
    out_dir: Path | None = None,
    progress: bool = True,
    description: str = "loading features",
    num_workers: int = 4,
) -> dict[str, np.ndarray]:
    """Read every clip's feature files into one contiguous array per modality.

    Args:
        paths: modality (a key of ``FEATURE_SHAPES``) -> ``(N,)`` file paths, clip order.
        pooled_visual: store the 8-frame means ``(N, 10, 2048)`` instead of all ``(N, 80, 2048)`` visual frames.
        out_dir: write the arrays as ``<out_dir>/<modality>.npy`` (memory-mapped) instead of holding them in RAM.
        progress: show a tqdm bar over clips.
        description: the bar's label.
        num_workers: reader threads (file reads release the GIL); 1 reads sequentially.

    Returns:
        modality -> ``(N, *shape)`` float32 (``np.memmap`` when ``out_dir`` is given).

    Raises:
        FeatureFileError: for the first bad file in clip order.
    """
    num_clips = {len(files) for files in paths.values()}
    if len(num_clips) > 1:
        raise ValueError(f"every modality needs one path per clip; found lengths {sorted(num_clips)}")
    count = num_clips.pop() if num_clips else 0
    arrays = {m: _allocate((count, *_stored_shape(m, pooled_visual)), out_dir, m) for m in paths}

    def read_clip(index: int) -> None:
        for modality, files in paths.items():
            array = read_feature_file(files[index], modality)
            arrays[modality][index] = pool_frames(array) if modality == "visual" and pooled_visual else array

    with tqdm(total=count, desc=description, unit="clip", disable=not progress) as bar:
        if num_workers <= 1:
            for index in range(count):
                read_clip(index)
                bar.update()
        else:
            executor = ThreadPoolExecutor(max_workers=num_workers)
            try:
                for _ in executor.map(read_clip, range(count)):  # results in clip order: the first error is raised
                    bar.update()
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
    for array in arrays.values():
        if isinstance(array, np.memmap):
            array.flush()
    return arrays


def feature_cache_key(paths: Mapping[str, Sequence[Path]], *, pooled_visual: bool, extra: str = "") -> str:
    """sha256 (hex) over the cache format, ``extra``, the pooled flag and every file's path, size and mtime.

    Raises:
        FeatureFileError: a feature file is missing.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_FORMAT_VERSION, extra, pooled_visual, FEATURE_SHAPES]).encode())
    for modality, files in sorted(paths.items()):
        digest.update(f"\n{modality}".encode())
        for path in files:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                raise FeatureFileError(
                    f"{path}: feature file not found; expected a float32 array of shape {FEATURE_SHAPES[modality]}"
                ) from None
            digest.update(f"\n{os.path.abspath(path)}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _open_cached(entry: Path, paths: Mapping[str, Sequence[Path]], pooled_visual: bool) -> dict[str, np.ndarray] | None:
    """The arrays of a complete cache entry, memory-mapped read-only; None when it is absent or does not fit."""
    if not entry.is_dir():
        return None
    arrays = {}
    for modality, files in paths.items():
        try:
            array = np.load(entry / f"{modality}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if array.shape != (len(files), *_stored_shape(modality, pooled_visual)) or array.dtype != np.float32:
            return None
        arrays[modality] = array
    return arrays


def _cache_scope(paths: Mapping[str, Sequence[Path]], name: str) -> str:
    """Identity of what a cache entry is for (name and feature folders), whatever the files' contents."""
    folders = {os.path.dirname(path) for files in paths.values() for path in files}
    resolved = sorted(str(Path(folder).resolve()) for folder in folders)
    return hashlib.sha256(json.dumps([name, resolved]).encode()).hexdigest()[:16]


def _remove_stale_entries(cache_dir: Path, prefix: str, scope: str, keep: Path) -> None:
    """Delete older entries for the same scope (their feature files have changed since), so the cache stays bounded."""
    for stale in cache_dir.glob(f"{prefix}*"):
        if stale == keep:
            continue
        try:
            meta = json.loads((stale / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("scope") == scope:
            shutil.rmtree(stale, ignore_errors=True)


def load_feature_arrays_cached(
    paths: Mapping[str, Sequence[Path]],
    cache_dir: Path,
    name: str,
    *,
    pooled_visual: bool = False,
    extra_key: str = "",
    progress: bool = True,
    num_workers: int = 4,
) -> dict[str, np.ndarray]:
    """Like ``load_feature_arrays``, through a memory-mapped cache ``<cache_dir>/<name>-<variant>-<key>/``.

    The key (``feature_cache_key``) covers ``extra_key``, the pooled flag and each file's path, size and mtime, so any
    change to a feature file gives a new entry. A hit opens ``<modality>.npy`` with ``np.load(mmap_mode='r')`` and
    reads no per-clip file. A miss writes a temporary directory and renames it into place (atomic), then removes
    older entries of the same name, variant and feature folders (outdated by a changed file).

    Returns:
        modality -> read-only ``np.memmap`` ``(N, *shape)`` float32.
    """
    variant = "pooled" if pooled_visual else "frames"
    scope = _cache_scope(paths, name)
    key = feature_cache_key(paths, pooled_visual=pooled_visual, extra=extra_key)
    entry = cache_dir / f"{name}-{variant}-{key[:20]}"
    cached = _open_cached(entry, paths, pooled_visual)
    if cached is not None:
        return cached
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"cannot create the feature cache folder {cache_dir} ({error}); choose another cache_dir"
        ) from None
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=cache_dir))
    try:
        arrays = load_feature_arrays(
            paths,
            pooled_visual=pooled_visual,
            out_dir=staging,
            progress=progress,
            description=f"caching {name} features",
            num_workers=num_workers,
        )
        del arrays  # close the writable maps before the rename
        (staging / "meta.json").write_text(json.dumps({"scope": scope, "pooled_visual": pooled_visual, "key": key}))
        if entry.exists():  # a damaged entry with this key (a good one was returned above)
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.replace(staging, entry)
        except OSError:  # a concurrent writer put the same entry in place first: keep theirs
            if _open_cached(entry, paths, pooled_visual) is None:
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _remove_stale_entries(cache_dir, f"{name}-{variant}-", scope, keep=entry)
    cached = _open_cached(entry, paths, pooled_visual)
    if cached is None:
        raise OSError(f"feature cache {entry} could not be read back after writing it")
    return cached
