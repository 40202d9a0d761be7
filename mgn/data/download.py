"""Download the six LLP annotation CSVs from the official AVVP-ECCV20 repository.

Usage::

    python -m mgn.data.download --dest data                 # the 2024-fixed AVVP_eval_audio.csv (default)
    python -m mgn.data.download --dest data --audio-eval old # the MGN repository's older audio file

Each file is streamed to a temporary file beside its destination, checked (it must parse as the expected LLP CSV),
compared with the sha256 recorded here (a mismatch only warns: upstream may change the files), and renamed into
place. An existing file with different content is never replaced unless ``overwrite=True``. The features are not
downloaded here: they are the ``feats`` folder of the Google-Drive archive linked from the AVVP README.
"""

from __future__ import annotations

import argparse
import math
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from tqdm.auto import tqdm

from mgn.data.annotations import LLPFormatError, read_dense_annotations, read_weak_labels
from mgn.io import atomic_path, file_sha256

__all__ = [
    "ANNOTATION_FILES",
    "AVVP_BASE_URL",
    "MGN_BASE_URL",
    "DownloadError",
    "DownloadWarning",
    "download_annotations",
    "main",
]

AVVP_BASE_URL = "https://raw.githubusercontent.com/YapengTian/AVVP-ECCV20/master/data"
MGN_BASE_URL = "https://raw.githubusercontent.com/stoneMo/MGN/HEAD/data"  # ships the old AVVP_eval_audio.csv
AVVP_README = "https://github.com/YapengTian/AVVP-ECCV20"
EVAL_AUDIO = "AVVP_eval_audio.csv"

# name -> (reader that validates it, sha256 of the AVVP repository's copy at commit fde5611, 2024-04-16)
ANNOTATION_FILES = {
    "AVVP_train.csv": (read_weak_labels, "bbeb83e8af46a85075216b213d3464f92dd4ab71468c852ae454b82cc745c0a4"),
    "AVVP_val_pd.csv": (read_weak_labels, "1811813b54c5f43c3be0a97bd0971cfb8a93818ca7b3ab96cdc7f4ac37ef37a6"),
    "AVVP_test_pd.csv": (read_weak_labels, "3f7a2b040e3b67c15d08efef25002bf8c5b2320f11049eb99ae0eb2d62f8eb9b"),
    "AVVP_dataset_full.csv": (read_weak_labels, "89f112ffc602279c87cc2b2040c4cd42eaf163a9d7e61cf4e74250a343d21e56"),
    EVAL_AUDIO: (read_dense_annotations, "d5435664668bec6e7eafb39059d2f424ed2682f6b55395262fc3cb691b7d0778"),
    "AVVP_eval_visual.csv": (
        read_dense_annotations,
        "e2274af694f3f27e38b840e0cd91a9d8d9ac85280f193e90828d26b22db69abe",
    ),
}
# The MGN repository's AVVP_eval_audio.csv (git blob 920d360): 3 rows differ from the fixed copy (REFERENCE 1.7).
OLD_EVAL_AUDIO_SHA256 = "249122f65501d8d611c0027a48643798fe622bedee60f7e6224b5a8e3c02f886"
AUDIO_EVAL_VERSIONS = ("fixed", "old")
MAX_TIMEOUT_S = 3600.0
EXIT_ERROR = 2  # as argparse and the training command lines
EXIT_INTERRUPTED = 130  # 128 + SIGINT
_CHUNK_BYTES = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be fetched (offline, HTTP error) or is not the expected CSV; the message names the URL."""


class DownloadWarning(UserWarning):
    """A downloaded file parses fine but differs from the recorded sha256 (upstream may have changed it)."""


def _fetch(url: str, target: Path, *, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``target`` with a byte progress bar."""
    manual = f"download it manually (see {AVVP_README}) and put it at {target.parent / Path(url).name}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}; {manual}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"cannot reach {url} ({error.reason}); are you offline? Otherwise {manual}") from None
    except (TimeoutError, ConnectionError) as error:
        raise DownloadError(f"download of {url} failed ({error!r}); {manual}") from None
    except ValueError as error:  # urllib: "unknown url type", a malformed URL
        raise DownloadError(f"invalid URL {url!r} ({error}); expected http(s)://... or file://...") from None
    except OSError as error:  # writing the file: a full disk, ...
        destination = target.parent / Path(url).name
        raise OSError(error.errno, f"cannot write {destination}: {error.strerror or error}") from None


def _download_one(
    name: str, url: str, expected_sha256: str, dest: Path, *, timeout: float, progress: bool, overwrite: bool
) -> Path:
    target = dest / name
    if target.is_file() and file_sha256(target) == expected_sha256:
        return target  # already the expected file: nothing to fetch
    with atomic_path(target) as staging:  # the target changes only once the download is complete and checked
        _fetch(url, staging, timeout=timeout, progress=progress)
        reader = ANNOTATION_FILES[name][0]
        try:
            reader(staging)
        except LLPFormatError as error:
            raise DownloadError(f"{url} is not the expected LLP CSV: {error}") from None
        actual_sha256 = file_sha256(staging)
        if actual_sha256 != expected_sha256:
            message = (
                f"{url}: sha256 {actual_sha256} differs from the recorded {expected_sha256} (the file parses "
                "fine; upstream may have changed it)"
            )
            warnings.warn(DownloadWarning(message), stacklevel=3)
        if target.exists() and not overwrite and file_sha256(target) != actual_sha256:
            raise FileExistsError(
                f"{target} exists and differs from {url}; pass overwrite=True (--overwrite) to replace it"
            )
    return target


def download_annotations(
    dest: str | Path,
    *,
    base_url: str = AVVP_BASE_URL,
    timeout: float = 30,
    progress: bool = True,
    overwrite: bool = False,
    audio_eval: str = "fixed",
    old_audio_base_url: str = MGN_BASE_URL,
) -> dict[str, Path]:
    """Fetch the six LLP annotation CSVs into ``dest`` (created if needed).

    Args:
        dest: target folder, usually the layout root (``data``).
        base_url: folder URL holding the CSVs; ``<base_url>/<name>`` is fetched.
        timeout: seconds per connection attempt / read.
        progress: tqdm byte bars.
        overwrite: replace an existing file whose content differs (otherwise ``FileExistsError``).
        audio_eval: ``'fixed'`` (AVVP repository, 2024) or ``'old'`` (MGN repository, used by the published numbers;
            fetched from ``old_audio_base_url`` and saved as ``AVVP_eval_audio.csv``).
        old_audio_base_url: folder URL of the old audio file.

    Returns:
        file name -> path written (or found already up to date).

    Raises:
        DownloadError: offline, HTTP error, a malformed URL, or a file that does not parse; names the URL.
        FileExistsError: an existing file differs and ``overwrite`` is False.
        NotADirectoryError: ``dest`` is a file.
        ValueError: ``audio_eval`` or ``timeout`` out of range.
        OSError: ``dest`` cannot be written (read-only, full disk, ...).
    """
    if audio_eval not in AUDIO_EVAL_VERSIONS:
        raise ValueError(f"audio_eval must be one of {AUDIO_EVAL_VERSIONS}, got {audio_eval!r}")
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT_S):
        raise ValueError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], got {timeout!r}")
    dest = Path(dest)
    for folder in (dest, *dest.parents):
        if folder.exists() and not folder.is_dir():
            where = "" if folder == dest else f" (on the way to {dest})"
            raise NotADirectoryError(f"{folder} is a file; expected a folder to download the CSVs into{where}")
    dest.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (_, sha256) in ANNOTATION_FILES.items():
        folder_url = base_url
        if name == EVAL_AUDIO and audio_eval == "old":
            folder_url, sha256 = old_audio_base_url, OLD_EVAL_AUDIO_SHA256
        url = f"{folder_url.rstrip('/')}/{name}"
        written[name] = _download_one(name, url, sha256, dest, timeout=timeout, progress=progress, overwrite=overwrite)
    return written


class _ArgumentParser(argparse.ArgumentParser):
    """A bad command line is one ``error:`` line (as every command line of the project), not the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m mgn.data.download --dest DIR``; returns the exit status."""
    parser = _ArgumentParser(prog="python -m mgn.data.download", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path("data"), help="target folder (default: data)")
    parser.add_argument("--base-url", default=AVVP_BASE_URL, help="folder URL of the CSVs")
    parser.add_argument(
        "--audio-eval",
        choices=AUDIO_EVAL_VERSIONS,
        default="fixed",
        help="fixed: AVVP repository (2024); old: MGN repository, as in the published numbers",
    )
    parser.add_argument(
        "--timeout", type=float, default=30, help=f"seconds per connection / read, (0, {MAX_TIMEOUT_S:g}] (default: 30)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing files that differ")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    try:
        written = download_annotations(
            args.dest,
            base_url=args.base_url,
            timeout=args.timeout,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            audio_eval=args.audio_eval,
        )
    except KeyboardInterrupt:
        print("interrupted; the files downloaded so far are complete, the current one was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DownloadError, ValueError, OSError) as error:  # OSError: FileExistsError, a read-only or full --dest
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
