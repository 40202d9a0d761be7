"""The edit log as JSON lines: what a session-only (hosted) store hands the user, and reads back later.

Line 1 is a header ``{"format": "mgn.annotations.edits", "schema_version": 2, "segments": 10}``; then one object per
new-clip declaration (``"kind": "new_clip"``) and one per edit (``"kind": "edit"``), in the order they were stored.
Rows refer to each other by ``uid`` (an undo / redo names the uid of its target), never by database id, so logs
from different databases can be merged. Every field is validated on reading; errors name the line.

Versions: a version-2 edit has a ``batch`` field (the uid shared by the rows of a grouped edit, or null); logs of
version 1 (written before grouped edits) are read too, their edits without ``batch``. A log of a newer version is
refused, naming the version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mgn.annotations.errors import AnnotationError
from mgn.annotations.records import Edit, NewClip
from mgn.annotations.validation import (
    check_author,
    check_class,
    check_labels,
    check_modality,
    segments_from_text,
    segments_to_text,
)
from mgn.data.annotations import parse_filename
from mgn.labels import NUM_SEGMENTS

__all__ = ["LOG_FORMAT", "LOG_VERSIONS", "LoggedClip", "LoggedEdit", "dump_log", "parse_log"]

LOG_FORMAT = "mgn.annotations.edits"
LOG_VERSIONS = (1, 2)  # log versions this code reads (the header's schema_version); it writes the last
_HEADER = {"format": LOG_FORMAT, "schema_version": LOG_VERSIONS[-1], "segments": NUM_SEGMENTS}
_ACTIONS = ("set", "undo", "redo")
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # uids and session ids
_CLIP_KEYS = {"kind", "uid", "clip", "labels", "author", "timestamp", "session"}
_EDIT_KEYS_V1 = {
    "kind",
    "uid",
    "clip",
    "class",
    "modality",
    "before",
    "after",
    "action",
    "target",
    "author",
    "timestamp",
    "session",
    "version",
}
_EDIT_KEYS = _EDIT_KEYS_V1 | {"batch"}


@dataclass(frozen=True)
class LoggedEdit:
    """An edit read from a log: ``edit.id`` and ``edit.target`` are 0 / None (ids belong to a database)."""

    edit: Edit
    target_uid: str | None  # uid of the 'set' edit an undo / redo refers to
    line: int  # 1-based line in the log


@dataclass(frozen=True)
class LoggedClip:
    """A new-clip declaration read from a log (``clip.id`` is 0)."""

    clip: NewClip
    line: int


def dump_log(new_clips: Sequence[NewClip], edits: Sequence[Edit]) -> str:
    """The JSON-lines text of a store's rows (``edits`` in id order; every undo / redo target among them)."""
    uid_of = {edit.id: edit.uid for edit in edits}
    lines = [json.dumps(_HEADER)]
    for clip in new_clips:
        lines.append(
            json.dumps(
                {
                    "kind": "new_clip",
                    "uid": clip.uid,
                    "clip": clip.clip,
                    "labels": list(clip.labels),
                    "author": clip.author,
                    "timestamp": clip.timestamp,
                    "session": clip.session,
                }
            )
        )
    for edit in edits:
        lines.append(
            json.dumps(
                {
                    "kind": "edit",
                    "uid": edit.uid,
                    "clip": edit.clip,
                    "class": edit.class_name,
                    "modality": edit.modality,
                    "before": segments_to_text(edit.before),
                    "after": segments_to_text(edit.after),
                    "action": edit.action,
                    "target": None if edit.target is None else uid_of[edit.target],
                    "author": edit.author,
                    "timestamp": edit.timestamp,
                    "session": edit.session,
                    "version": edit.version,
                    "batch": edit.batch,
                }
            )
        )
    return "\n".join(lines) + "\n"


def _token(value: object, field: str, where: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise AnnotationError(f"{where}{field} {value!r}: expected 1 to 64 characters of [A-Za-z0-9_.:-]")
    return value


def _timestamp(value: object, where: str) -> str:
    try:
        datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AnnotationError(
            f"{where}timestamp {value!r}: expected ISO 8601 (e.g. 2026-05-01T12:00:00.000Z)"
        ) from None
    return value  # type: ignore[return-value]


def _clip_name(value: object, where: str) -> str:
    try:
        parse_filename(value)  # type: ignore[arg-type]
    except ValueError as error:
        raise AnnotationError(f"{where}{error}") from None
    return value  # type: ignore[return-value]


def _parse_clip(record: dict, where: str, line: int) -> LoggedClip:
    clip = NewClip(
        id=0,
        clip=_clip_name(record["clip"], where),
        labels=check_labels(record["labels"], where),
        author=check_author(record["author"]),
        timestamp=_timestamp(record["timestamp"], where),
        session=_token(record["session"], "session", where),
        uid=_token(record["uid"], "uid", where),
    )
    return LoggedClip(clip, line)


def _parse_edit(record: dict, where: str, line: int) -> LoggedEdit:
    batch = record.get("batch")
    action = record["action"]
    if action not in _ACTIONS:
        raise AnnotationError(f"{where}action {action!r}: expected one of {_ACTIONS}")
    target = record["target"]
    if (action == "set") != (target is None):
        raise AnnotationError(f"{where}target {target!r}: a 'set' edit has none, an undo / redo names a uid")
    version = record["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise AnnotationError(f"{where}version {version!r}: expected an integer >= 1")
    edit = Edit(
        id=0,
        clip=_clip_name(record["clip"], where),
        class_name=check_class(record["class"], where),
        modality=check_modality(record["modality"], where),
        before=segments_from_text(record["before"], where),
        after=segments_from_text(record["after"], where),
        author=check_author(record["author"]),
        timestamp=_timestamp(record["timestamp"], where),
        session=_token(record["session"], "session", where),
        version=version,
        action=action,
        target=None,
        uid=_token(record["uid"], "uid", where),
        batch=None if batch is None else _token(batch, "batch", where),
    )
    return LoggedEdit(edit, None if target is None else _token(target, "target", where), line)


def parse_log(text: str | bytes, source: str = "edit log") -> tuple[list[LoggedClip], list[LoggedEdit]]:
    """Read and validate a log written by ``dump_log``: (new-clip declarations, edits), in file order.

    Raises:
        AnnotationError: naming ``source``, the line and the field.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise AnnotationError(f"{source}: not UTF-8 text ({error})") from None
    if not isinstance(text, str):
        raise AnnotationError(f"{source}: expected the text (str or bytes) written by export_edits, got {type(text)}")
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise AnnotationError(f"{source}, line {number}: not JSON ({error})") from None
        if not isinstance(record, dict):
            raise AnnotationError(f"{source}, line {number}: expected a JSON object")
        records.append((number, record))
    header = records[0][1] if records else None
    version = header.get("schema_version") if isinstance(header, dict) else None
    version = None if isinstance(version, bool) else version
    if version not in LOG_VERSIONS or header != {**_HEADER, "schema_version": version}:
        if isinstance(version, int) and version > LOG_VERSIONS[-1]:
            raise AnnotationError(
                f"{source}: edit log of version {version}, newer than this version of mgn reads (up to "
                f"{LOG_VERSIONS[-1]}); upgrade mgn to import it"
            )
        raise AnnotationError(
            f"{source}: expected the header {json.dumps(_HEADER)} on line 1, found {header if records else 'nothing'}"
        )
    edit_keys = _EDIT_KEYS_V1 if version == 1 else _EDIT_KEYS
    clips, edits = [], []
    for number, record in records[1:]:
        where = f"{source}, line {number}: "
        kind = record.get("kind")
        keys = {"new_clip": _CLIP_KEYS, "edit": edit_keys}.get(kind)
        if keys is None:
            raise AnnotationError(f"{where}kind {kind!r}: expected 'new_clip' or 'edit'")
        if set(record) != keys:
            raise AnnotationError(f"{where}fields {sorted(record)}: expected exactly {sorted(keys)}")
        if kind == "new_clip":
            clips.append(_parse_clip(record, where, number))
        else:
            edits.append(_parse_edit(record, where, number))
    return clips, edits
