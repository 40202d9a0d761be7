"""Checks at the door of the annotation store: class names, modalities, segments, intervals, clip names, authors.

Each check returns the canonical value or raises ``AnnotationError`` naming the clip / field and what was expected
(with the closest spelling for an unknown class). Segments are held as a tuple of T = 10 bools, and stored as a
10-character ``'0'``/``'1'`` string (segment 0 first).
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable

import numpy as np

from mgn.annotations.errors import AnnotationError
from mgn.data.annotations import parse_filename
from mgn.labels import AUDIO_VISUAL, CLASS_TO_INDEX, CLASSES, NUM_SEGMENTS

__all__ = [
    "EDITABLE_MODALITIES",
    "check_author",
    "check_class",
    "check_flag",
    "check_interval",
    "check_labels",
    "check_modality",
    "check_new_clip_name",
    "check_segments",
    "closest",
    "segments_from_text",
    "segments_to_text",
]

EDITABLE_MODALITIES = ("audio", "visual")  # audio-visual is derived (audio AND visual), never edited
MAX_AUTHOR_LENGTH = 200  # characters
Segments = tuple[bool, ...]  # (T,) one bool per one-second segment, segment 0 first


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` (case, spaces and underscores ignored first, then difflib), or None."""
    candidates = list(candidates)

    def folded(text: str) -> str:
        return text.lower().replace(" ", "").replace("_", "").replace("-", "")

    exact = [candidate for candidate in candidates if folded(candidate) == folded(name)]
    if exact:
        return exact[0]
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(suggestion: str | None) -> str:
    return f"; did you mean {suggestion!r}?" if suggestion else ""


def check_class(name: object, where: str = "") -> str:
    """An LLP class name exactly as spelled in the CSVs (``'Frying_(food)'``)."""
    if not isinstance(name, str):
        raise AnnotationError(f"{where}class must be a string such as 'Speech', got {name!r}")
    if name not in CLASS_TO_INDEX:
        raise AnnotationError(
            f"{where}unknown class {name!r}{_did_you_mean(closest(name, CLASSES))} "
            f"(expected one of: {', '.join(CLASSES)})"
        )
    return name


def check_modality(modality: object, where: str = "") -> str:
    """``'audio'`` or ``'visual'``; audio-visual is refused with the reason."""
    if modality == AUDIO_VISUAL or modality in ("audio-visual", "av"):
        raise AnnotationError(
            f"{where}modality {modality!r} cannot be edited: audio-visual is derived (audio AND visual); "
            "edit 'audio' and/or 'visual' instead"
        )
    if modality not in EDITABLE_MODALITIES:
        raise AnnotationError(f"{where}unknown modality {modality!r}; expected 'audio' or 'visual'")
    return str(modality)


def _as_bool(value: object) -> bool | None:
    """True / False for a bool or an integer 0 / 1 (Python or numpy); None for anything else (floats included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(int(value))
    return None


def check_flag(value: object, where: str = "") -> bool:
    """One segment value: a bool or an integer 0 / 1."""
    flag = _as_bool(value)
    if flag is None:
        raise AnnotationError(f"{where}value {value!r}: expected a boolean (True/False or 0/1)")
    return flag


def check_segments(segments: object, where: str = "") -> Segments:
    """``segments`` as T = 10 bools: a list / tuple / 1-D array (or tensor) of bools or integers 0 / 1. Floats are
    refused, so that probabilities passed by mistake are caught."""
    expected = f"expected {NUM_SEGMENTS} booleans (True/False or 0/1), one per one-second segment"
    if isinstance(segments, (str, bytes)) or segments is None:
        raise AnnotationError(f"{where}segments {segments!r}: {expected}")
    try:
        values = np.asarray(segments, dtype=object)
    except ValueError:  # ragged nesting
        raise AnnotationError(f"{where}segments {segments!r}: {expected}") from None
    if values.ndim != 1:
        raise AnnotationError(f"{where}segments of shape {values.shape}: {expected}")
    if len(values) != NUM_SEGMENTS:
        raise AnnotationError(f"{where}{len(values)} segments given: {expected}")
    checked = []
    for index, value in enumerate(values):
        flag = _as_bool(value)
        if flag is None:
            raise AnnotationError(f"{where}segment {index} is {value!r}: {expected}")
        checked.append(flag)
    return tuple(checked)


def _check_second(value: object, name: str, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise AnnotationError(f"{where}{name} {value!r} is not an integer number of seconds in 0..{NUM_SEGMENTS}")
    if not 0 <= int(value) <= NUM_SEGMENTS:
        raise AnnotationError(f"{where}{name} {value} is outside 0..{NUM_SEGMENTS} s")
    return int(value)


def check_interval(onset: object, offset: object, where: str = "") -> tuple[int, int]:
    """Integer seconds with ``0 <= onset < offset <= 10`` (the half-open segment interval ``[onset, offset)``)."""
    onset, offset = _check_second(onset, "onset", where), _check_second(offset, "offset", where)
    if onset >= offset:
        raise AnnotationError(
            f"{where}empty or reversed interval [{onset}, {offset}): expected onset < offset (half-open, seconds)"
        )
    return onset, offset


def check_labels(labels: object, where: str = "") -> tuple[str, ...]:
    """Video-level labels: a non-empty list of class names (or one comma-separated string), in official order."""
    if isinstance(labels, str):
        labels = labels.split(",")
    if not isinstance(labels, Iterable):
        raise AnnotationError(f"{where}labels must be a list of class names, got {labels!r}")
    names = {check_class(name, where) for name in labels}
    if not names:
        raise AnnotationError(f"{where}labels are empty: expected at least one class present in the video")
    return tuple(name for name in CLASSES if name in names)


def check_new_clip_name(clip: object) -> str:
    """An LLP filename ``<11-char ID>_<start>_<end>`` spanning exactly T = 10 seconds."""
    try:
        _, start, end = parse_filename(clip)
    except ValueError as error:
        raise AnnotationError(str(error)) from None
    if end - start != NUM_SEGMENTS:
        raise AnnotationError(
            f"clip {clip!r} spans {end - start:g} s; LLP clips are {NUM_SEGMENTS} s long (end = start + 10)"
        )
    return str(clip)


def check_author(author: object) -> str | None:
    """None, or a non-empty single-line string of at most 200 characters (it goes into tab-separated files)."""
    if author is None:
        return None
    if not isinstance(author, str) or not author.strip():
        raise AnnotationError(f"author must be a non-empty string or None, got {author!r}")
    if any(character in author for character in "\t\r\n") or len(author) > MAX_AUTHOR_LENGTH:
        raise AnnotationError(
            f"author {author[:40]!r}: expected a single line without tabs, at most {MAX_AUTHOR_LENGTH} characters"
        )
    return author


def segments_to_text(segments: Iterable[bool]) -> str:
    """(T,) bools -> ``'0011100000'``."""
    return "".join("1" if flag else "0" for flag in segments)


def segments_from_text(text: object, where: str = "") -> Segments:
    """``'0011100000'`` -> (T,) bools; anything else is an ``AnnotationError``."""
    if not isinstance(text, str) or len(text) != NUM_SEGMENTS or set(text) - {"0", "1"}:
        raise AnnotationError(f"{where}segments {text!r}: expected {NUM_SEGMENTS} characters '0' or '1'")
    return tuple(character == "1" for character in text)
