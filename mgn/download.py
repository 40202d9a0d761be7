"""Downloads: stream an https address into a file, with a byte progress bar and one error type for every failure.

Used for the published backbone weights (:mod:`mgn.extract.weights`) and for checkpoints given by address
(:func:`mgn.checkpoint.fetch_checkpoint`). Writes go through :func:`mgn.io.atomic_path`, so an interrupted download
never leaves a half file under the final name.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["DownloadError", "is_url", "stream_to_file"]

_CHUNK_BYTES = 1 << 20


class DownloadError(OSError):
    """An address could not be fetched (offline, HTTP error, timeout, reset); the message names it and why."""


def is_url(source: str | Path) -> bool:
    """Whether ``source`` is an http(s) address rather than a local path."""
    return isinstance(source, str) and source.lower().startswith(("https://", "http://"))


def stream_to_file(url: str, target: str | Path, *, timeout: float = 60.0, progress: bool = True) -> None:
    """Stream ``url`` into ``target`` (created or truncated), showing a byte progress bar.

    Raises:
        DownloadError: any network failure, with the reason (``are you offline?`` for name and connection errors).
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, Path(target).open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            name = Path(urllib.parse.urlparse(url).path).name or url
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: {error.reason}; are you offline?") from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets, truncated responses
        raise DownloadError(f"{url}: {error!r}") from None
