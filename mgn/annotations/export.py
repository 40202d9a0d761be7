"""An annotation store's labels as files in the official LLP format, and such files read back as changes.

``write_export`` writes, into one folder:

- ``AVVP_eval_audio.csv`` / ``AVVP_eval_visual.csv``: the data's eval CSVs with the edits applied. Every line of the
  data's file is copied byte for byte, except the rows of a (clip, class) whose segments now differ from the data's;
  those rows are replaced by the events (maximal runs, ``mgn.events.find_events``) of the current segments, written
  right after the clip's last line (at the end for a clip without lines, and for new clips). Rows that the
  official evaluation ignores (orphans, empty intervals) are kept as they are. Without edits the files are
  byte-identical copies, and ``load_annotations`` reads the export exactly like the data.
- ``annotation_diff.csv``: one line per changed row: ``filename, class, modality, before, after, authors, last_edit``
  (segments as 10 characters '0'/'1', segment 0 first; ``before`` is the data's row, all zeros for a new clip).
- ``AVVP_new_clips.csv``: the weak-label rows (``filename\\tevent_labels``) of the videos added to the store: their
  declared labels plus every class with a segment in audio or visual. A layout can use it as a split CSV.

All files are tab-separated and written atomically; the folder must not already hold any of them (unless forced), and
a file of the data is never overwritten.

``folder_changes`` reads such a folder back (``python -m mgn.annotations import``): the rows that differ from the
store's current labels, and the new clips to declare.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from mgn.annotations.errors import AnnotationError
from mgn.annotations.records import Change, Edit, ExportResult, NewClip, RowKey, current_rows
from mgn.annotations.source import DataSource, EvalFile, read_eval_file
from mgn.annotations.validation import EDITABLE_MODALITIES, check_labels, check_new_clip_name, segments_to_text
from mgn.data.annotations import LLPFormatError, dense_ground_truth, find_ignored_rows, read_weak_labels
from mgn.events import find_events
from mgn.io import atomic_path
from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = [
    "ARCHIVE_LOG",
    "DIFF_COLUMNS",
    "EXPORT_FILES",
    "ExportFolder",
    "FolderChanges",
    "compute_changes",
    "export_archive",
    "export_texts",
    "exported_labels",
    "folder_changes",
    "read_archive",
    "read_folder",
    "write_export",
]

ARCHIVE_LOG = "annotation_edits.jsonl"  # the edit log inside an export archive
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024  # an uploaded archive's members, uncompressed, at most
_ARCHIVE_DATE = (2020, 1, 1, 0, 0, 0)
EXPORT_FILES = {
    "audio": "AVVP_eval_audio.csv",
    "visual": "AVVP_eval_visual.csv",
    "diff": "annotation_diff.csv",
    "new_clips": "AVVP_new_clips.csv",
}
DIFF_COLUMNS = ("filename", "class", "modality", "before", "after", "authors", "last_edit")
_WEAK_HEADER = "filename\tevent_labels"
_AUTHOR_SEPARATOR = "; "


def _clip_order(source: DataSource, new_clips: Sequence[NewClip]) -> dict[str, int]:
    order = {name: index for index, name in enumerate(source.filenames)}
    for clip in new_clips:
        order.setdefault(clip.clip, len(order))
    return order


def _original_row(source: DataSource, clip: str, class_name: str, modality: str) -> tuple[bool, ...]:
    if clip not in source:
        return (False,) * NUM_SEGMENTS
    row = source.original(clip)[EDITABLE_MODALITIES.index(modality), CLASS_TO_INDEX[class_name]]  # (T,)
    return tuple(bool(value) for value in row)


def compute_changes(source: DataSource, edits: Sequence[Edit], new_clips: Sequence[NewClip]) -> list[Change]:
    """Every row whose current segments differ from the data's, in clip (data, then new), class, modality order.

    Args:
        edits: every edit of the store, in id order.
        new_clips: the current declaration of every new clip, in the order they were added.
    """
    authors: dict[RowKey, list[str | None]] = defaultdict(list)
    last_edit: dict[RowKey, str] = {}
    for edit in edits:
        if edit.author not in authors[edit.row]:
            authors[edit.row].append(edit.author)
        last_edit[edit.row] = edit.timestamp
    order = _clip_order(source, new_clips)
    changes = []
    for (clip, class_name, modality), after in current_rows(edits).items():
        before = _original_row(source, clip, class_name, modality)
        if after != before:
            key = (clip, class_name, modality)
            changes.append(Change(clip, class_name, modality, before, after, tuple(authors[key]), last_edit[key]))
    changes.sort(
        key=lambda change: (
            order[change.clip],
            CLASS_TO_INDEX[change.class_name],
            EDITABLE_MODALITIES.index(change.modality),
        )
    )
    return changes


def exported_labels(clip: NewClip, changes: Sequence[Change]) -> tuple[str, ...]:
    """The weak labels exported for a new clip: its declared labels and every class with a positive segment."""
    present = {change.class_name for change in changes if change.clip == clip.clip and any(change.after)}
    return tuple(name for name in CLASSES if name in present or name in clip.labels)


def _event_lines(clip: str, class_name: str, row: tuple[bool, ...], newline: str) -> list[str]:
    onsets, offsets = find_events(np.asarray(row, dtype=np.uint8))  # (E,) each
    return [f"{clip}\t{onset}\t{offset}\t{class_name}{newline}" for onset, offset in zip(onsets, offsets)]


def _eval_text(file: EvalFile, changes: Sequence[Change]) -> str:
    """The data's eval CSV with the rows of the changed (clip, class) pairs replaced (see the module docstring)."""
    changed = {(change.clip, change.class_name) for change in changes}
    rows = file.rows
    last_line: dict[str, int] = {}
    dropped = set()
    for line, filename, onset, offset, label in zip(
        rows.index, rows["filename"], rows["onset"], rows["offset"], rows["event_labels"]
    ):
        last_line[filename] = line
        if (filename, label) in changed and onset < offset:  # rows that add nothing are kept as they are
            dropped.add(line)
    after_line: dict[int, list[str]] = defaultdict(list)
    tail: list[str] = []
    for change in changes:  # clip, class order: the new lines of a clip come out sorted by class and onset
        lines = _event_lines(change.clip, change.class_name, change.after, file.newline)
        (after_line[last_line[change.clip]] if change.clip in last_line else tail).extend(lines)
    output = [file.lines[0]]
    for line in range(2, len(file.lines) + 1):
        if line not in dropped:
            output.append(file.lines[line - 1])
        output.extend(after_line.get(line, ()))
    if tail and not output[-1].endswith(("\n", "\r")):
        output[-1] += file.newline
    return "".join(output + tail)


def _diff_text(changes: Sequence[Change]) -> str:
    lines = ["\t".join(DIFF_COLUMNS)]
    for change in changes:
        authors = _AUTHOR_SEPARATOR.join(author or "" for author in change.authors)
        fields = (
            change.clip,
            change.class_name,
            change.modality,
            segments_to_text(change.before),
            segments_to_text(change.after),
            authors,
            change.last_edit,
        )
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def _new_clips_text(new_clips: Sequence[NewClip], changes: Sequence[Change]) -> str:
    lines = [_WEAK_HEADER]
    lines.extend(f"{clip.clip}\t{','.join(exported_labels(clip, changes))}" for clip in new_clips)
    return "\n".join(lines) + "\n"


def _data_files(source: DataSource) -> list[Path]:
    layout = source.layout
    if layout is None:
        return []
    files = [file.path for file in source.eval_files.values() if file.path is not None]
    files.extend(layout.split_csv(split) for split in ("train", "val", "test"))
    files.append(layout.resolve(layout.full_csv))
    return [path for path in files if path.is_file()]


def _check_targets(out_dir: Path, targets: dict[str, Path], source: DataSource, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise AnnotationError(f"export folder {out_dir} is a file; expected a folder")
    existing = [path for path in targets.values() if path.exists()]
    for path in existing:
        if any(path.samefile(data_file) for data_file in _data_files(source)):
            raise AnnotationError(
                f"export folder {out_dir}: {path.name} is a file of the data ({path}); export into another folder"
            )
    if existing and not force:
        raise AnnotationError(
            f"export folder {out_dir} already holds {', '.join(path.name for path in existing)}; choose a new "
            "folder, or force=True (--force) to replace them"
        )


def export_texts(
    source: DataSource, edits: Sequence[Edit], new_clips: Sequence[NewClip]
) -> tuple[dict[str, str], list[Change]]:
    """The text of each file of the module docstring (keys of ``EXPORT_FILES``), and the changes they hold.

    Args:
        edits: every edit of the store, in id order.
        new_clips: the current declaration of every new clip, in the order they were added.
    """
    changes = compute_changes(source, edits, new_clips)
    texts = {
        modality: _eval_text(source.eval_files[modality], [change for change in changes if change.modality == modality])
        for modality in EDITABLE_MODALITIES
    }
    texts["diff"] = _diff_text(changes)
    texts["new_clips"] = _new_clips_text(new_clips, changes)
    return texts, changes


def _result(files: dict[str, Path], changes: Sequence[Change], new_clips: Sequence[NewClip]) -> ExportResult:
    return ExportResult(
        files=files,
        changes=len(changes),
        clips=len({change.clip for change in changes} | {clip.clip for clip in new_clips}),
        new_clips=len(new_clips),
    )


def write_export(
    out_dir: str | Path,
    source: DataSource,
    edits: Sequence[Edit],
    new_clips: Sequence[NewClip],
    *,
    force: bool = False,
) -> ExportResult:
    """Write the four files of the module docstring into ``out_dir`` (created if needed).

    Args:
        edits: every edit of the store, in id order.
        new_clips: the current declaration of every new clip, in the order they were added.
        force: replace files of an earlier export in ``out_dir`` (never a file of the data).

    Raises:
        AnnotationError: ``out_dir`` is a file, or holds export files and ``force`` is False, or one of them is a
            file of the data.
    """
    out_dir = Path(out_dir)
    targets = {key: out_dir / name for key, name in EXPORT_FILES.items()}
    _check_targets(out_dir, targets, source, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts, changes = export_texts(source, edits, new_clips)
    for key, path in targets.items():
        with atomic_path(path) as temporary:
            temporary.write_bytes(texts[key].encode("utf-8"))
    return _result(targets, changes, new_clips)


def export_archive(
    source: DataSource, edits: Sequence[Edit], new_clips: Sequence[NewClip], edit_log: str
) -> tuple[bytes, ExportResult]:
    """The export as one zip (for a download): the four files of the module docstring and ``ARCHIVE_LOG``
    (the edit log, ``mgn.annotations.edit_log``), all at the top level. ``ExportResult.files`` hold the member
    names, as paths relative to the archive."""
    texts, changes = export_texts(source, edits, new_clips)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, name in EXPORT_FILES.items():
            archive.writestr(_member(name), texts[key].encode("utf-8"))
        archive.writestr(_member(ARCHIVE_LOG), edit_log.encode("utf-8"))
    files = {key: Path(name) for key, name in EXPORT_FILES.items()} | {"log": Path(ARCHIVE_LOG)}
    return buffer.getvalue(), _result(files, changes, new_clips)


def _member(name: str) -> zipfile.ZipInfo:
    """A zip member with a fixed date: the same labels give the same archive bytes."""
    info = zipfile.ZipInfo(name, date_time=_ARCHIVE_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


# -------------------------------------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class FolderChanges:
    """What a folder written by ``write_export`` holds beyond the store's current labels."""

    declare: tuple[tuple[str, tuple[str, ...]], ...]  # (new clip, its labels): to add, or to relabel
    rows: tuple[tuple[RowKey, tuple[bool, ...]], ...]  # (clip, class, modality) -> the folder's segments


@dataclass(frozen=True, eq=False)
class ExportFolder:
    """The files of an export folder, parsed (``read_folder``)."""

    path: Path
    eval_files: dict[str, EvalFile]
    new_clips: tuple[tuple[str, tuple[str, ...], int], ...]  # (filename, labels, line)


def read_folder(folder: str | Path) -> ExportFolder:
    """Parse the eval CSVs (required) and ``AVVP_new_clips.csv`` (optional) of an export folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationError(f"import folder {folder} not found; expected a folder written by export")
    eval_files = {}
    for modality in EDITABLE_MODALITIES:
        path = folder / EXPORT_FILES[modality]
        if not path.is_file():
            raise AnnotationError(f"import folder {folder} has no {path.name}; expected a folder written by export")
        eval_files[modality] = read_eval_file(path)
    new_clips = []
    path = folder / EXPORT_FILES["new_clips"]
    if path.is_file():
        weak = read_weak_labels(path)
        for line, filename, labels in zip(weak.index, weak["filename"], weak["event_labels"]):
            new_clips.append((filename, check_labels(labels, f"{path}, line {line}: clip {filename!r}: "), int(line)))
    return ExportFolder(folder, eval_files, tuple(new_clips))


def read_archive(data: bytes, source: str = "archive") -> tuple[str | None, ExportFolder | None]:
    """Read an export archive (``export_archive``, or a zip of a folder written by ``write_export``): its edit log
    (None when absent) and its files, parsed (None when the archive holds the log only). Members are found by name,
    at the top level or in one folder; nothing is extracted anywhere else. Errors name ``source`` and the member.

    Raises:
        AnnotationError: not a zip, a member missing, duplicated, too large, or malformed.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise AnnotationError(f"{source}: expected the bytes of a zip archive, got {type(data).__name__}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise AnnotationError(f"{source}: not a zip archive ({error}); expected an annotation export") from None
    wanted = {*EXPORT_FILES.values(), ARCHIVE_LOG}
    with archive:
        found: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            name = parts[-1] if parts else ""
            if info.is_dir() or name not in wanted or len(parts) > 2:
                continue
            if name in found:
                raise AnnotationError(f"{source}: two members named {name} ({found[name].filename}, {info.filename})")
            found[name] = info
        if sum(info.file_size for info in found.values()) > MAX_ARCHIVE_BYTES:
            raise AnnotationError(f"{source}: its annotation files exceed {MAX_ARCHIVE_BYTES // 2**20} MiB")
        contents = {name: archive.read(info) for name, info in found.items()}
    log = contents.pop(ARCHIVE_LOG, None)
    if log is not None:
        try:
            log = log.decode("utf-8")
        except UnicodeDecodeError as error:
            raise AnnotationError(f"{source}: {ARCHIVE_LOG} is not UTF-8 text ({error})") from None
        if not contents:  # the edit log alone (what a session download may be reduced to)
            return log, None
    with tempfile.TemporaryDirectory(prefix="mgn-import-") as temporary:
        for name, content in contents.items():
            (Path(temporary) / name).write_bytes(content)
        try:
            folder = read_folder(temporary)
        except (AnnotationError, LLPFormatError) as error:
            message = str(error).replace(f"import folder {temporary}", source).replace(temporary, source)
            raise AnnotationError(message) from None
    eval_files = {
        modality: dataclasses.replace(file, path=Path(source) / EXPORT_FILES[modality])
        for modality, file in folder.eval_files.items()
    }
    return log, ExportFolder(Path(source), eval_files, folder.new_clips)


def _current_matrix(source: DataSource, clips: Sequence[str], edits: Sequence[Edit]) -> np.ndarray:
    """``(M, K, C, T)`` uint8: the current labels of ``clips`` (data rows, zeros for new clips, edits applied)."""
    matrix = np.zeros((len(EDITABLE_MODALITIES), len(clips), NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    position = {clip: index for index, clip in enumerate(clips)}
    data_clips = [index for index, clip in enumerate(clips) if clip in source]
    matrix[:, data_clips] = source.ground_truth[:, [source.row_of[clips[index]] for index in data_clips]]
    for (clip, class_name, modality), row in current_rows(edits).items():
        matrix[EDITABLE_MODALITIES.index(modality), position[clip], CLASS_TO_INDEX[class_name]] = row
    return matrix


def folder_changes(
    folder: ExportFolder, source: DataSource, edits: Sequence[Edit], new_clips: Sequence[NewClip]
) -> FolderChanges:
    """The rows of ``folder`` that differ from the store's current labels, and the new clips to (re)declare.

    Clips compared: the data's, the store's new clips and those of the folder's ``AVVP_new_clips.csv``. A row the
    comparison cannot use (a clip that is none of these, an unknown class, an empty or reversed interval) is an
    error unless the data's own eval CSV has the same row (the export copies such rows unchanged).

    Raises:
        AnnotationError: naming the file and line.
    """
    declared = {clip.clip: clip for clip in new_clips}
    for filename, _labels, line in folder.new_clips:
        where = f"{folder.path / EXPORT_FILES['new_clips']}, line {line}: "
        if filename in source:
            raise AnnotationError(f"{where}clip {filename!r} is in the data; this file lists new videos only")
        try:
            check_new_clip_name(filename)
        except AnnotationError as error:
            raise AnnotationError(f"{where}{error}") from None
    clips = list(source.filenames) + [clip.clip for clip in new_clips]
    clips += [filename for filename, _, _ in folder.new_clips if filename not in declared]
    folder_matrix = []
    for modality in EDITABLE_MODALITIES:
        file = folder.eval_files[modality]
        data_rows = source.eval_files[modality].rows
        known_rows = set(zip(data_rows["filename"], data_rows["onset"], data_rows["offset"], data_rows["event_labels"]))
        for row in find_ignored_rows(file.rows, clips, file.path):
            if (row.filename, row.onset, row.offset, row.event_label) not in known_rows:
                raise AnnotationError(
                    f"{row}: this row would be ignored (expected a clip of the data or of "
                    f"{EXPORT_FILES['new_clips']}, a known class, onset < offset), and the data has no such row"
                )
        folder_matrix.append(dense_ground_truth(clips, file.rows))  # (K, C, T)
    theirs = np.stack(folder_matrix)  # (M, K, C, T)
    ours = _current_matrix(source, clips, edits)
    rows = []
    differing = np.nonzero((theirs != ours).any(axis=-1))  # (modality, clip, class) indices
    for modality, clip, class_index in sorted(zip(*differing), key=lambda cell: (cell[1], cell[2], cell[0])):
        key = (clips[clip], CLASSES[class_index], EDITABLE_MODALITIES[modality])
        rows.append((key, tuple(bool(value) for value in theirs[modality, clip, class_index])))
    position = {clip: index for index, clip in enumerate(clips)}
    declare = []
    for filename, labels, _line in folder.new_clips:
        present = theirs[:, position[filename]].any(axis=(0, 2))  # (C,): after the import, the folder's rows
        current = declared[filename].labels if filename in declared else ()
        store_labels = tuple(name for index, name in enumerate(CLASSES) if present[index] or name in current)
        if filename not in declared or store_labels != labels:
            declare.append((filename, labels))
    return FolderChanges(tuple(declare), tuple(rows))
