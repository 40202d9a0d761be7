"""Per-clip LLP feature files (``<ID>.npy``) -> validated contiguous arrays, with an optional memory-mapped cache.

A clip has three feature streams (:data:`FEATURE_STREAMS`): ``audio`` (VGGish), ``visual`` (ResNet-152 frames) and
``visual_st`` (R(2+1)D clips). Every file is checked at the door (REFERENCE 1.4): it must exist, load with
``np.load(allow_pickle=False)``, be a float32 array of the stream's shape and hold only finite values. Anything else
raises ``FeatureFileError`` naming the file, what was expected and what was found; nothing is skipped.

Notation: N clips, T = 10 segments, F = 80 frames (8 per segment).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mgn.labels import FRAMES_PER_SEGMENT, NUM_FRAMES, NUM_SEGMENTS

__all__ = [
    "FEATURE_SHAPES",
    "FEATURE_STREAMS",
    "FeatureCacheError",
    "FeatureFileError",
    "check_reader_count",
    "feature_cache_key",
    "load_feature_arrays",
    "load_feature_arrays_cached",
    "open_feature_cache",
    "pool_frames",
    "read_feature_file",
    "remove_abandoned_staging",
]

VGGISH_DIM = 128  # audio: one VGGish embedding per ~1 s example
RESNET152_DIM = 2048  # 2D visual: ResNet-152 global-average-pool feature per frame
R2PLUS1D_DIM = 512  # 3D visual: R(2+1)D-18 global-average-pool feature per 8-frame clip

FEATURE_STREAMS = ("audio", "visual", "visual_st")  # a clip's three feature files (not the evaluated modalities)
FEATURE_SHAPES: dict[str, tuple[int, int]] = {
    "audio": (NUM_SEGMENTS, VGGISH_DIM),  # vggish/<ID>.npy
    "visual": (NUM_FRAMES, RESNET152_DIM),  # res152/<ID>.npy
    "visual_st": (NUM_SEGMENTS, R2PLUS1D_DIM),  # r2plus1d_18/<ID>.npy
}
CACHE_FORMAT_VERSION = 1  # bump when the cached arrays change meaning
MAX_READERS = 64  # reader threads: beyond this, disks (not threads) are the limit


class FeatureFileError(ValueError):
    """A feature ``.npy`` that is missing, unreadable, of the wrong shape or dtype, or not finite."""


class FeatureCacheError(OSError):
    """The feature cache folder cannot be created or written (read-only, full disk, ...); names the folder."""


def _stored_shape(stream: str, pooled_visual: bool) -> tuple[int, int]:
    """Per-clip shape as stored in memory: the 2D visual stream is (10, 2048) once pooled."""
    if stream == "visual" and pooled_visual:
        return (NUM_SEGMENTS, RESNET152_DIM)
    return FEATURE_SHAPES[stream]


def read_feature_file(path: str | Path, stream: str) -> np.ndarray:
    """Load and validate one clip's feature file.

    Returns:
        The array as stored, ``FEATURE_SHAPES[stream]`` float32, all finite.

    Raises:
        FeatureFileError: naming the file and the expected vs found shape / dtype / values.
    """
    path = Path(path)
    expected = f"float32 array of shape {FEATURE_SHAPES[stream]} ({stream})"
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found; expected a {expected}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # truncated, corrupt, pickled, not .npy
        raise FeatureFileError(f"{path}: not a readable .npy file ({error}); expected a {expected}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise FeatureFileError(f"{path}: found an .npz archive, expected a single {expected}")
    if array.shape != FEATURE_SHAPES[stream] or array.dtype.kind != "f" or array.dtype.itemsize != 4:
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


def check_reader_count(num_workers: int) -> None:
    """Raise ValueError unless ``num_workers`` (reader threads) is an integer in [1, MAX_READERS]."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or not 1 <= num_workers <= MAX_READERS:
        raise ValueError(f"num_workers must be an integer in [1, {MAX_READERS}], got {num_workers!r}")


def _allocate(shape: tuple[int, ...], out_dir: Path | None, stream: str) -> np.ndarray:
    if out_dir is None:
        return np.empty(shape, dtype=np.float32)
    return np.lib.format.open_memmap(out_dir / f"{stream}.npy", mode="w+", dtype=np.float32, shape=shape)


def load_feature_arrays(
    paths: Mapping[str, Sequence[Path]],
    *,
    pooled_visual: bool = False,
    out_dir: Path | None = None,
    progress: bool = True,
    description: str = "loading features",
    num_workers: int = 4,
) -> dict[str, np.ndarray]:
    """Read every clip's feature files into one contiguous array per stream.

    Args:
        paths: stream (a key of ``FEATURE_SHAPES``) -> ``(N,)`` file paths, clip order.
        pooled_visual: store the 8-frame means ``(N, 10, 2048)`` instead of all ``(N, 80, 2048)`` visual frames.
        out_dir: write the arrays as ``<out_dir>/<stream>.npy`` (memory-mapped) instead of holding them in RAM.
        progress: show a tqdm bar over clips.
        description: the bar's label.
        num_workers: reader threads (file reads release the GIL), 1 to ``MAX_READERS``; 1 reads sequentially.

    Returns:
        stream -> ``(N, *shape)`` float32 (``np.memmap`` when ``out_dir`` is given).

    Raises:
        FeatureFileError: for the first bad file in clip order.
    """
    check_reader_count(num_workers)
    num_clips = {len(files) for files in paths.values()}
    if len(num_clips) > 1:
        raise ValueError(f"every feature stream needs one path per clip; found lengths {sorted(num_clips)}")
    count = num_clips.pop() if num_clips else 0
    arrays = {m: _allocate((count, *_stored_shape(m, pooled_visual)), out_dir, m) for m in paths}

    def read_clip(index: int) -> None:
        for stream, files in paths.items():
            array = read_feature_file(files[index], stream)
            arrays[stream][index] = pool_frames(array) if stream == "visual" and pooled_visual else array

    with tqdm(total=count, desc=description, unit="clip", disable=not progress) as bar:
        if num_workers == 1:
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
    for stream, files in sorted(paths.items()):
        digest.update(f"\n{stream}".encode())
        for path in files:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                raise FeatureFileError(
                    f"{path}: feature file not found; expected a float32 array of shape {FEATURE_SHAPES[stream]}"
                ) from None
            digest.update(f"\n{os.path.abspath(path)}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _open_cached(entry: Path, paths: Mapping[str, Sequence[Path]], pooled_visual: bool) -> dict[str, np.ndarray] | None:
    """The arrays of a complete cache entry, memory-mapped read-only; None when it is absent or does not fit."""
    if not entry.is_dir():
        return None
    arrays = {}
    for stream, files in paths.items():
        try:
            array = np.load(entry / f"{stream}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if array.shape != (len(files), *_stored_shape(stream, pooled_visual)) or array.dtype != np.float32:
            return None
        arrays[stream] = array
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


_STAGING_PREFIX = ".tmp-"  # <cache_dir>/.tmp-<entry>-<random>/: an entry being written
_STAGING_LOCK = ".writer.lock"  # flock-ed by the writer for as long as it lives
_STAGING_GRACE_S = 3600.0  # a staging folder without a lock file (writer killed before making it) is stale after this


@contextlib.contextmanager
def _staging_dir(cache_dir: Path, entry_name: str) -> Iterator[Path]:
    """A new staging folder for ``entry_name``, locked while this writer lives; removed on the way out (a no-op
    once it has been renamed into place)."""
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{entry_name}-", dir=cache_dir))
    handle = os.open(staging / _STAGING_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield staging
    finally:
        os.close(handle)
        shutil.rmtree(staging, ignore_errors=True)


def _staging_abandoned(staging: Path) -> bool:
    """Whether a staging folder's writer is gone: its lock file is not held (or, without one, it is old)."""
    try:
        handle = os.open(staging / _STAGING_LOCK, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - staging.stat().st_mtime > _STAGING_GRACE_S
        except FileNotFoundError:  # finished or removed meanwhile
            return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live writer holds it
    finally:
        os.close(handle)
    return True


def remove_abandoned_staging(cache_dir: Path) -> list[Path]:
    """Delete the staging folders of cache writers that were killed (SIGKILL, power loss); returns them."""
    removed = []
    for staging in sorted(cache_dir.glob(f"{_STAGING_PREFIX}*")):
        if staging.is_dir() and not staging.is_symlink() and _staging_abandoned(staging):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    return removed


def _cache_entry(
    paths: Mapping[str, Sequence[Path]], cache_dir: Path, name: str, pooled_visual: bool, extra_key: str
) -> tuple[Path, str, str]:
    """(entry folder, scope, key) of the cache entry for these files."""
    variant = "pooled" if pooled_visual else "frames"
    key = feature_cache_key(paths, pooled_visual=pooled_visual, extra=extra_key)
    return cache_dir / f"{name}-{variant}-{key[:20]}", _cache_scope(paths, name), key


def open_feature_cache(
    paths: Mapping[str, Sequence[Path]],
    cache_dir: Path,
    name: str,
    *,
    pooled_visual: bool = False,
    extra_key: str = "",
) -> dict[str, np.ndarray] | None:
    """The cached arrays of these files in ``cache_dir`` (see ``load_feature_arrays_cached``), or None on a miss.

    Reads no feature file and writes nothing.
    """
    entry, _, _ = _cache_entry(paths, Path(cache_dir), name, pooled_visual, extra_key)
    return _open_cached(entry, paths, pooled_visual)


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
    change to a feature file gives a new entry. A hit opens ``<stream>.npy`` with ``np.load(mmap_mode='r')`` and
    reads no per-clip file. A miss writes a locked staging folder and renames it into place (atomic), then removes
    older entries of the same name, variant and feature folders (outdated by a changed file) and the staging folders
    of killed writers.

    Returns:
        stream -> read-only ``np.memmap`` ``(N, *shape)`` float32.

    Raises:
        FeatureFileError: a bad feature file (named).
        FeatureCacheError: ``cache_dir`` cannot be created or written (read-only, full, ...); nothing is left in it.
    """
    cache_dir = Path(cache_dir)
    entry, scope, key = _cache_entry(paths, cache_dir, name, pooled_visual, extra_key)
    cached = _open_cached(entry, paths, pooled_visual)
    if cached is not None:
        return cached
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        remove_abandoned_staging(cache_dir)
        _write_entry(paths, cache_dir, entry, name, scope, key, pooled_visual, progress, num_workers)
    except OSError as error:
        raise FeatureCacheError(f"cannot write the feature cache in {cache_dir}: {_reason(error)}") from error
    _remove_stale_entries(cache_dir, entry.name.removesuffix(key[:20]), scope, keep=entry)
    cached = _open_cached(entry, paths, pooled_visual)
    if cached is None:
        raise FeatureCacheError(f"feature cache {entry} could not be read back after writing it")
    return cached


def _reason(error: OSError) -> str:
    """An OSError in words, without repeating the path: 'Read-only file system', 'No space left on device'."""
    return error.strerror or str(error)


def _write_entry(
    paths: Mapping[str, Sequence[Path]],
    cache_dir: Path,
    entry: Path,
    name: str,
    scope: str,
    key: str,
    pooled_visual: bool,
    progress: bool,
    num_workers: int,
) -> None:
    """Read the feature files into a staging folder and rename it to ``entry``."""
    with _staging_dir(cache_dir, entry.name) as staging:
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
        (staging / _STAGING_LOCK).unlink()  # (still held through the open handle until the rename is done)
        if entry.exists():  # a damaged entry with this key (a good one was returned above)
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.replace(staging, entry)
        except OSError:  # a concurrent writer put the same entry in place first: keep theirs
            if _open_cached(entry, paths, pooled_visual) is None:
                raise
