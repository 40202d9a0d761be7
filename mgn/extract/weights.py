"""The published weights of the feature extractors: where they live, a checked download cache, safe loading.

The four files (:data:`WEIGHTS`) are the ones the LLP features were made with: ResNet-152 (ImageNet) and R(2+1)D-18
(Kinetics-400) from the PyTorch model zoo, VGGish and its PCA parameters from the v0.1 release of
github.com/harritaylor/torchvggish. The part of each file name after the dash is the first 8 hex digits of the file's
SHA-256 (``torch.hub``'s ``check_hash`` convention); every download is checked against it.

Where a file comes from (:func:`weights_path`):

* ``weights_dir`` given: ``<weights_dir>/<file name>``, nothing else. A file whose hash differs only warns
  (:class:`WeightsHashWarning`), so fine-tuned weights saved under the published name work.
* otherwise the cache folder: ``cache_dir``, else ``$MGN_CACHE_DIR/weights``, else ``~/.cache/mgn/weights``. A missing
  file is downloaded (``download=True``): streamed to a temporary file in that folder, checked, then renamed into
  place, so the cache only ever holds complete, checked files. ``base_url`` (or ``$MGN_WEIGHTS_URL``) replaces the
  published address by ``<base_url>/<file name>``, e.g. a mirror.

Nothing here runs at import, and files are read with ``torch.load(weights_only=True)`` only: no arbitrary unpickling.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from mgn.download import DownloadError, stream_to_file
from mgn.io import atomic_path, file_sha256

__all__ = [
    "CACHE_DIR_ENV",
    "WEIGHTS",
    "WEIGHTS_URL_ENV",
    "PCAParams",
    "WeightFile",
    "WeightsHashError",
    "WeightsHashWarning",
    "WeightsUnavailable",
    "default_cache_dir",
    "load_pca_params",
    "load_state_dict",
    "weights_path",
]

CACHE_DIR_ENV = "MGN_CACHE_DIR"  # the mgn cache root; weights go in its ``weights`` subfolder
WEIGHTS_URL_ENV = "MGN_WEIGHTS_URL"  # a folder URL holding the files under their published names (a mirror)
EMBEDDING_DIM = 128  # VGGish embedding size, the PCA's input and output width
_TORCHVGGISH_RELEASE = "https://github.com/harritaylor/torchvggish/releases/download/v0.1"


@dataclass(frozen=True)
class WeightFile:
    """One published weight file."""

    filename: str  # the published file name, also its name in the cache and in a weights folder
    url: str  # where it is published
    sha256_prefix: str  # leading lowercase hex digits of its SHA-256 (at least 8)

    def __post_init__(self) -> None:
        if not self.filename or Path(self.filename).name != self.filename:
            raise ValueError(f"WeightFile.filename must be a bare file name, got {self.filename!r}")
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.sha256_prefix):
            raise ValueError(
                f"WeightFile.sha256_prefix must be 8 to 64 lowercase hex digits, got {self.sha256_prefix!r}"
            )


WEIGHTS: Mapping[str, WeightFile] = MappingProxyType(
    {
        "resnet152": WeightFile(
            "resnet152-b121ed2d.pth", "https://download.pytorch.org/models/resnet152-b121ed2d.pth", "b121ed2d"
        ),
        "r2plus1d_18": WeightFile(
            "r2plus1d_18-91a641e6.pth", "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth", "91a641e6"
        ),
        "vggish": WeightFile("vggish-10086976.pth", f"{_TORCHVGGISH_RELEASE}/vggish-10086976.pth", "10086976"),
        "vggish_pca": WeightFile(
            "vggish_pca_params-970ea276.pth", f"{_TORCHVGGISH_RELEASE}/vggish_pca_params-970ea276.pth", "970ea276"
        ),
    }
)


class WeightsUnavailable(RuntimeError):
    """A weight file is neither where it was asked for nor downloadable (offline, HTTP error, ``download=False``);
    the message names the file, its address and the folder to put it in."""


class WeightsHashError(RuntimeError):
    """A downloaded file's SHA-256 does not start with the published prefix; nothing was saved."""


class WeightsHashWarning(UserWarning):
    """A file in ``weights_dir`` differs from the published one (fine-tuned weights, or the wrong file)."""


class PCAParams(NamedTuple):
    """VGGish's PCA postprocess: ``eigen_vectors @ (embedding - means)``, then clip and 8-bit quantise."""

    eigen_vectors: Tensor  # (128, 128) float32, one output component per row
    means: Tensor  # (128,) float32, subtracted from each raw embedding first


def default_cache_dir() -> Path:
    """``$MGN_CACHE_DIR/weights`` if that variable is set, else ``~/.cache/mgn/weights``."""
    root = os.environ.get(CACHE_DIR_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "mgn") / "weights"


def _resolve(name: str | WeightFile) -> WeightFile:
    if isinstance(name, WeightFile):
        return name
    if name not in WEIGHTS:
        raise ValueError(f"unknown weight file {name!r}; expected one of {sorted(WEIGHTS)} or a WeightFile")
    return WEIGHTS[name]


def _unavailable(spec: WeightFile, url: str, folder: Path, reason: str) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"{spec.filename} is not in {folder} and could not be downloaded from {url} ({reason}). Download it where "
        f"there is internet access and put it in {folder}, or put it in any folder and pass that folder as "
        "--weights-dir (weights_dir=)."
    )


def _download(spec: WeightFile, url: str, path: Path, *, timeout: float, progress: bool) -> None:
    """Download ``url`` to ``path`` through a temporary file beside it, renamed only once the hash is right."""
    with atomic_path(path) as staging:  # removed again if anything below raises
        try:
            stream_to_file(url, staging, timeout=timeout, progress=progress)
        except DownloadError as error:
            reason = str(error).removeprefix(f"{url}: ")
            raise _unavailable(spec, url, path.parent, reason) from None
        digest = file_sha256(staging)
        if not digest.startswith(spec.sha256_prefix):
            raise WeightsHashError(
                f"{url}: the downloaded file's sha256 {digest} does not start with {spec.sha256_prefix} (the published "
                f"{spec.filename}); the download is corrupt or the file changed upstream. Nothing was saved."
            )


def weights_path(
    name: str | WeightFile,
    *,
    cache_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    base_url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """The local path of a published weight file, downloading it into the cache if needed.

    Args:
        name: a key of :data:`WEIGHTS` (``"resnet152"``, ``"r2plus1d_18"``, ``"vggish"``, ``"vggish_pca"``) or a
            :class:`WeightFile` of one's own.
        cache_dir: the download cache folder; default :func:`default_cache_dir`.
        weights_dir: a folder holding the file under its published name; when given, only this folder is used (a
            different hash warns, it does not fail) and nothing is downloaded.
        download: fetch a file missing from the cache (otherwise :class:`WeightsUnavailable`).
        progress: a tqdm byte bar while downloading.
        base_url: fetch ``<base_url>/<file name>`` instead of the published address; default ``$MGN_WEIGHTS_URL``.
        timeout: seconds per connection attempt and per read.

    Raises:
        WeightsUnavailable: the file is missing from ``weights_dir``, or missing from the cache and cannot be
            downloaded; the message says where to put it.
        WeightsHashError: the downloaded file is not the published one.
    """
    spec = _resolve(name)
    if weights_dir is not None:
        path = Path(weights_dir).expanduser() / spec.filename
        if not path.is_file():
            raise WeightsUnavailable(
                f"{path} not found: the weights folder must hold {spec.filename} (published at {spec.url})"
            )
        digest = file_sha256(path)
        if not digest.startswith(spec.sha256_prefix):
            message = (
                f"{path}: sha256 {digest[:8]}... differs from the published {spec.filename} ({spec.sha256_prefix}...); "
                "using it as given (fine-tuned weights?)"
            )
            warnings.warn(WeightsHashWarning(message), stacklevel=2)
        return path
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / spec.filename
    if path.is_file():  # only a checked download is ever renamed to this name
        return path
    if base_url is None:
        base_url = os.environ.get(WEIGHTS_URL_ENV) or None
    url = spec.url if base_url is None else f"{base_url.rstrip('/')}/{spec.filename}"
    if not download:
        raise WeightsUnavailable(
            f"{spec.filename} is not in {folder} and download=False: download it from {url} and put it in {folder}, "
            "or put it in any folder and pass that folder as --weights-dir (weights_dir=)."
        )
    _download(spec, url, path, timeout=timeout, progress=progress)
    return path


def _numpy_safe_globals() -> list:
    """What unpickling a plain float numpy array needs, under its numpy 1 and numpy 2 module names (torchvggish's PCA
    file holds two arrays pickled by numpy 1)."""
    reconstruct = np.empty(0).__reduce__()[0]  # numpy.core.multiarray._reconstruct (numpy 1) / numpy._core... (2)
    return [
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        np.dtypes.Float32DType,
        np.dtypes.Float64DType,
    ]


def _torch_load(path: Path, *, numpy_arrays: bool = False) -> dict:
    """``torch.load(weights_only=True)`` of a dict keyed by strings; ``numpy_arrays`` also admits float arrays."""
    try:
        if numpy_arrays:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                content = torch.load(path, map_location="cpu", weights_only=True)
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:  # refused global, not a torch file, truncated
        raise ValueError(f"{path} cannot be read as a weights-only checkpoint: {error}") from error
    if not isinstance(content, dict) or not all(isinstance(key, str) for key in content):
        raise ValueError(f"{path} does not hold a dict keyed by names (got {type(content).__name__})")
    return content


def load_state_dict(
    name: str | WeightFile,
    *,
    cache_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    base_url: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Tensor]:
    """The ``{key: tensor}`` state_dict in a weight file (located as by :func:`weights_path`, same arguments), on
    the CPU, with the reference key names :func:`mgn.extract.backbones.build` expects.

    Raises:
        ValueError: the file is not a plain dict of tensors (it is never unpickled beyond tensors).
        WeightsUnavailable, WeightsHashError: as :func:`weights_path`.
    """
    path = weights_path(
        name,
        cache_dir=cache_dir,
        weights_dir=weights_dir,
        download=download,
        progress=progress,
        base_url=base_url,
        timeout=timeout,
    )
    content = _torch_load(path)
    not_tensors = sorted(key for key, value in content.items() if not isinstance(value, Tensor))
    if not_tensors:
        raise ValueError(f"{path}: expected a state_dict of tensors; not tensors: {', '.join(not_tensors[:8])}")
    return content


def load_pca_params(
    name: str | WeightFile = "vggish_pca",
    *,
    cache_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    base_url: str | None = None,
    timeout: float = 60.0,
) -> PCAParams:
    """VGGish's PCA parameters from torchvggish's ``vggish_pca_params`` file (a dict with ``pca_eigen_vectors``
    (128, 128) and ``pca_means`` (128,) or (128, 1), numpy arrays or tensors), as float32 tensors. Locating
    arguments as :func:`weights_path`.

    Raises:
        ValueError: a key is missing or an array has the wrong shape.
        WeightsUnavailable, WeightsHashError: as :func:`weights_path`.
    """
    path = weights_path(
        name,
        cache_dir=cache_dir,
        weights_dir=weights_dir,
        download=download,
        progress=progress,
        base_url=base_url,
        timeout=timeout,
    )
    content = _torch_load(path, numpy_arrays=True)
    missing = [key for key in ("pca_eigen_vectors", "pca_means") if key not in content]
    if missing:
        raise ValueError(f"{path}: missing {missing}; a VGGish PCA file holds pca_eigen_vectors and pca_means")
    eigen_vectors = torch.as_tensor(content["pca_eigen_vectors"], dtype=torch.float32)
    means = torch.as_tensor(content["pca_means"], dtype=torch.float32)
    if means.shape == (EMBEDDING_DIM, 1):  # torchvggish stores / reshapes the means as a column
        means = means.reshape(EMBEDDING_DIM)
    if eigen_vectors.shape != (EMBEDDING_DIM, EMBEDDING_DIM) or means.shape != (EMBEDDING_DIM,):
        raise ValueError(
            f"{path}: expected pca_eigen_vectors ({EMBEDDING_DIM}, {EMBEDDING_DIM}) and pca_means ({EMBEDDING_DIM},), "
            f"got {tuple(eigen_vectors.shape)} and {tuple(means.shape)}"
        )
    return PCAParams(eigen_vectors.contiguous(), means.contiguous())
