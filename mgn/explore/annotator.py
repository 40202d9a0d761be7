"""The explorer's label editor, per browser session: what the page's editing controls call (no gradio, no torch).

An :class:`Annotator` (one per server) joins the loaded :class:`~mgn.explore.state.Explorer` (the split, its
original labels and the models' predictions) with an :class:`~mgn.annotations.AnnotationStore`:

- **local mode** (``--annotations FILE``, or the default file beside the data): every browser session edits the one
  shared file store (WAL, one transaction per edit); the author's name is recorded with each edit;
- **hosted mode** (a Space): each session gets its own ``store.session_store()`` (in memory, on the shared
  read-only data); nothing a visitor edits reaches a file or another visitor, and the edits are downloaded as a zip
  (:meth:`Annotator.edits_archive`) and uploaded back (:meth:`Annotator.import_archive`).

A session's state is an :class:`EditSession` (its store, author, and the class rows added in the view). The
annotator answers, for a session: the clip's editor view (:class:`EditorView`: the editable timeline figure with the
segments that differ from the original framed, the clip's scores under the original and the corrected labels, the
diff table, what undo / redo would do, the version the view was drawn at); the edits the page sends
(:class:`EditCommand`: a click or a drag on one ground-truth lane), undo / redo, adding and removing a class row;
the corrected ground truth as an explorer :class:`~mgn.explore.state.GroundTruth` (so that the clip list and the
dataset views are recomputed with it, cached by its content); Table 1 under both labels per model; the "likely label
errors" table and where a row of it opens. An edit made on a stale view (another session edited the clip since it was
drawn) is refused by the store's version check: the answer is the reloaded view with a message saying so.

A parsed video ("Parse a video") is annotated from scratch in the same store: :func:`parsed_windows` cuts it into
LLP clips, :meth:`Annotator.declare_parsed` declares them with their video-level labels, they are painted like any
clip (:meth:`Annotator.parsed_view`), and :meth:`Annotator.parsed_dataset` gives them with their features as an
LLP-format dataset zip (``mgn.annotations.new_clips``).

Layouts: a split's labels are ``(N, C, T)`` uint8 [clip, class, segment]; a clip's ``(C, T)``; segment
probabilities ``(N, T, C)``. Segments are 0-based in code and commands, 1-based in text.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mgn.annotations import AnnotationError, AnnotationStore, ConflictError, DataSource, NothingToUndoError
from mgn.annotations.new_clips import assign_splits, clips_from_store, dataset_archive, window_clips
from mgn.annotations.source import read_eval_file
from mgn.data.annotations import DENSE_COLUMNS, VIDEO_ID_LENGTH
from mgn.data.llp import LLPLayout
from mgn.events import find_events
from mgn.explore import editing
from mgn.explore.editing import EditingError, ScoresPair
from mgn.explore.memo import KeyedCache
from mgn.explore.state import ExplorerError, GroundTruth
from mgn.explore.timeline import ClipPrediction, timeline_json
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS, display_name

if TYPE_CHECKING:
    from mgn.data.llp import Split
    from mgn.explore.state import Explorer
    from mgn.parse_video import ParsedVideo

__all__ = [
    "LABEL_CHOICES",
    "Annotator",
    "AnnotatorError",
    "EditCommand",
    "EditSession",
    "EditorView",
    "ParsedWindow",
    "class_choices",
    "default_annotations_path",
    "open_annotator",
    "parsed_windows",
    "split_data_source",
]

LABEL_CHOICES = ("corrected", "original")  # the "labels" switch: the current (edited) labels, or the data's own
_SPLIT_KEY = "split"  # the explorer's key of the split's own ground truth
_MAX_COMMAND_CHARS = 2_000
_DEFAULT_ERROR_LIMIT = 200  # rows of the "likely label errors" table shown


class AnnotatorError(ValueError):
    """A request the editor cannot carry out (bad command, unknown class, nothing to undo); the message is fit to show
    to the user."""


# ---------------------------------------------------------------------------------------------------------------------
# the data a store sits on, and where its file lives


def split_data_source(split: Split) -> DataSource:
    """A :class:`~mgn.annotations.DataSource` made of a split already in memory (e.g. a ``.npz`` split pack, which
    has no CSV files): its clips (all in ``split.name``), weak labels and dense labels, with eval CSVs written from the
    dense labels in the official format (events = maximal runs of segments, class then onset order). A store on it
    edits and exports those clips like an LLP folder's.

    Raises:
        AnnotatorError: the split has no dense labels, or is not a train / val / test split.
    """
    if split.gt_audio is None or split.gt_visual is None:
        raise AnnotatorError(f"split {split.name!r} has no dense labels to edit")
    if split.name not in ("train", "val", "test"):
        raise AnnotatorError(f"split {split.name!r}: expected train, val or test to annotate")
    filenames = tuple(str(name) for name in split.filenames)
    arrays = {"audio": np.asarray(split.gt_audio, dtype=np.uint8), "visual": np.asarray(split.gt_visual, np.uint8)}
    with tempfile.TemporaryDirectory(prefix="mgn-split-labels-") as folder:
        eval_files = {}
        for modality, labels in arrays.items():  # (N, C, T) each
            lines = ["\t".join(DENSE_COLUMNS)]
            for name, clip in zip(filenames, labels):
                classes, onsets, offsets = find_events(clip)  # (E,) each
                lines += [f"{name}\t{a}\t{b}\t{CLASSES[c]}" for c, a, b in zip(classes, onsets, offsets)]
            path = Path(folder) / f"{modality}.csv"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            eval_files[modality] = replace(read_eval_file(path), path=None)  # no file: nothing to protect on export
    ground_truth = np.stack([arrays["audio"], arrays["visual"]])  # (M, N, C, T)
    ground_truth.setflags(write=False)
    weak = np.asarray(split.labels) > 0  # (N, C)
    return DataSource(
        layout=None,
        filenames=filenames,
        split_of=dict.fromkeys(filenames, split.name),
        weak_labels={name: tuple(CLASSES[c] for c in np.flatnonzero(row)) for name, row in zip(filenames, weak)},
        row_of={name: row for row, name in enumerate(filenames)},
        ground_truth=ground_truth,
        eval_files=eval_files,
        video_ids=frozenset(name[:VIDEO_ID_LENGTH] for name in filenames),
        dense_filenames=frozenset(name for file in eval_files.values() for name in file.rows["filename"]),
    )


def default_annotations_path(
    data: str | Path, *, cache_dir: str | Path | None = None, inside: Path | None = None
) -> Path:
    """Where the explorer keeps its annotations by default: beside the data (``<LLP folder>/annotations.sqlite``, or
    ``<pack>.annotations.sqlite`` beside a ``.npz`` split pack), except for data inside ``inside`` (the package's
    embedded demo, which must never be written to): ``<cache_dir>/annotations/<pack stem>.annotations.sqlite``.

    Raises:
        AnnotatorError: the data lies inside ``inside`` and no ``cache_dir`` is given.
    """
    data = Path(data)
    beside = data / "annotations.sqlite" if data.is_dir() else data.with_name(f"{data.stem}.annotations.sqlite")
    if inside is None or not data.resolve().is_relative_to(Path(inside).resolve()):
        return beside
    if cache_dir is None:
        raise AnnotatorError(f"the data {data} is inside {inside}: give --annotations FILE (or a cache folder)")
    return Path(cache_dir) / "annotations" / beside.name


# ---------------------------------------------------------------------------------------------------------------------
# what the page sends, and the session's state


@dataclass(frozen=True)
class EditCommand:
    """A click or a drag on one ground-truth lane, as the page script sends it (``editor_js``).

    Attributes:
        clip: the clip the figure shows (``layout.meta["clip"]``).
        class_name: CSV spelling (``customdata[0]`` of the cell).
        modality: ``'audio'`` or ``'visual'``.
        start, end: 0-based segments where the gesture started and ended (equal for a click).
        version: the clip version the figure was drawn at (``layout.meta["edit_version"]``).
    """

    clip: str
    class_name: str
    modality: str
    start: int
    end: int
    version: int

    @classmethod
    def parse(cls, text: str | Mapping[str, Any]) -> EditCommand:
        """Read the JSON object the page script writes: ``{"clip", "class", "modality", "start", "end",
        "version"}`` (other keys, such as the script's ``nonce``, are ignored).

        Raises:
            AnnotatorError: not such an object, naming the bad field.
        """
        if isinstance(text, str):
            if len(text) > _MAX_COMMAND_CHARS:
                raise AnnotatorError(f"edit command too long ({len(text)} characters)")
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise AnnotatorError("edit command: expected a JSON object from the page") from None
        else:
            value = text
        if not isinstance(value, Mapping):
            raise AnnotatorError("edit command: expected a JSON object from the page")
        missing = [key for key in ("clip", "class", "modality", "start", "end", "version") if key not in value]
        if missing:
            raise AnnotatorError(f"edit command: missing {', '.join(missing)}")
        for key in ("clip", "class", "modality"):
            if not isinstance(value[key], str) or not value[key]:
                raise AnnotatorError(f"edit command: {key} must be a non-empty string, got {value[key]!r}")
        numbers = {}
        for key, low, high in (("start", 0, NUM_SEGMENTS - 1), ("end", 0, NUM_SEGMENTS - 1), ("version", 0, None)):
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, int) or number < low or (high and number > high):
                limit = f"{low}..{high}" if high is not None else f">= {low}"
                raise AnnotatorError(f"edit command: {key} must be a whole number {limit}, got {number!r}")
            numbers[key] = number
        return cls(value["clip"], value["class"], value["modality"], **numbers)


@dataclass
class EditSession:
    """One browser session's editing state (kept in the page's session state).

    Attributes:
        store: the store its edits go to: the shared file store (local mode) or its own in-memory one (hosted).
        author: the name recorded with its edits (None: unnamed).
        extra_classes: per clip, the class rows added in the view that may have no segment yet (CSV spelling).
        owned: whether the store is the session's own (hosted mode), closed by :meth:`close`.
    """

    store: AnnotationStore
    author: str | None = None
    extra_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    owned: bool = False  # the store is the session's own (hosted): closed with the session

    def close(self) -> None:
        """End the session: its own (in-memory) store is closed, its edits gone; a shared store stays open."""
        if self.owned:
            self.store.close()

    def __deepcopy__(self, memo: dict) -> EditSession:
        """The session itself: it holds a database connection, which cannot be copied (Gradio deep-copies the
        value a session state starts from)."""
        return self

    def with_class(self, clip: str, class_name: str) -> None:
        shown = self.extra_classes.get(clip, ())
        if class_name not in shown:
            self.extra_classes[clip] = (*shown, class_name)

    def without_class(self, clip: str, class_name: str) -> None:
        self.extra_classes[clip] = tuple(name for name in self.extra_classes.get(clip, ()) if name != class_name)


@dataclass(frozen=True)
class EditorView:
    """What the clip view shows while editing one clip.

    Attributes:
        clip: the LLP filename.
        labels: ``'corrected'`` (editable) or ``'original'`` (the data's labels, read-only).
        version: the clip's version the view was drawn at (sent back with every edit).
        figure_json: the timeline (Plotly JSON; ``layout.meta`` adds ``edit_version`` and ``edit_labels``).
        scores: :func:`mgn.explore.editing.clip_score_comparison` of the clip (every model, both labels).
        diff: :func:`mgn.explore.editing.diff_table` of the clip against its original labels.
        undo, redo: what the undo / redo buttons would do (None: nothing).
        classes: the class rows that can be removed (display names: those with a segment, or added).
        message: what happened ("" when all went well), e.g. a conflict and the reload.
    """

    clip: str
    labels: str
    version: int
    figure_json: str
    scores: pd.DataFrame
    diff: pd.DataFrame
    undo: str | None
    redo: str | None
    classes: tuple[str, ...]
    message: str = ""

    @property
    def changed(self) -> bool:
        """Whether the clip's current labels differ from its original ones."""
        return len(self.diff) > 0


# ---------------------------------------------------------------------------------------------------------------------
# new videos


@dataclass(frozen=True, eq=False)
class ParsedWindow:
    """One 10-s window of a parsed video as an LLP clip to annotate.

    Attributes:
        clip: its LLP filename (``<window's video ID>_<start>_<start + 10>``, :func:`window_clips`).
        start, length: where it lies in the video (s).
        features: ``{'audio': (10, 128), 'visual': (80, 2048), 'visual_st': (10, 512)}`` float32.
        prediction: the parser's output on it, as the timeline shows it.
    """

    clip: str
    start: float
    length: float
    features: Mapping[str, np.ndarray]
    prediction: ClipPrediction

    @property
    def title(self) -> str:
        """``'0–10 s (clip X)'``: how a window is offered in a choice."""
        return f"{self.start:g}–{self.start + self.length:g} s ({self.clip})"


def parsed_windows(parsed: ParsedVideo, model_name: str) -> list[ParsedWindow]:
    """The windows of a parsed video (``mgn.parse_video.ParsedVideo``), each with the parser's predictions on it cut
    from the stitched timeline (each of its segments is the stitched segment that covers that segment's middle: the
    windows start on whole seconds, so a window that overlaps the previous one takes that one's segments)."""
    bounds = np.asarray(parsed.segment_bounds, dtype=float)  # (S, 2)
    clips = window_clips(parsed)
    windows = []
    for index, (window, (clip, features)) in enumerate(zip(parsed.windows, clips, strict=True)):
        middles = window.segment_bounds().mean(axis=1)  # (T,)
        columns = np.clip(np.searchsorted(bounds[:, 0], middles, side="right") - 1, 0, len(bounds) - 1)  # (T,)
        gate = np.asarray(parsed.global_prob[index], dtype=np.float32)  # (C,)
        prediction = ClipPrediction(
            name=model_name,
            pred_audio=np.asarray(parsed.pred_audio)[:, columns].astype(np.uint8),  # (C, T)
            pred_visual=np.asarray(parsed.pred_visual)[:, columns].astype(np.uint8),
            prob_audio=np.asarray(parsed.prob_audio, dtype=np.float32)[:, columns].T.copy(),  # (T, C)
            prob_visual=np.asarray(parsed.prob_visual, dtype=np.float32)[:, columns].T.copy(),
            gate_audio=gate,
            gate_visual=gate,
        )
        windows.append(ParsedWindow(clip, float(window.start), float(window.length), features, prediction))
    return windows


# ---------------------------------------------------------------------------------------------------------------------
# the annotator


def _user_error(error: Exception) -> AnnotatorError:
    return AnnotatorError(str(error))


def _display_classes(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(display_name(name) for name in names)


@dataclass
class Annotator:
    """The editing side of one explorer (shared by every session; see the module docstring).

    Attributes:
        explorer: the loaded split and models.
        store: the shared file store (local mode), or in hosted mode the store whose data the sessions' in-memory
            stores share (it is never edited).
        hosted: whether each session edits its own in-memory store.
    """

    explorer: Explorer
    store: AnnotationStore
    hosted: bool = False
    _truths: KeyedCache = field(init=False, repr=False)
    _calibrations: KeyedCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._truths = KeyedCache(16)  # content digest -> GroundTruth (same arrays for the explorer's caches)
        self._calibrations = KeyedCache(None)  # model index -> (2, C, 2) label-error calibration (original labels)

    @property
    def mode(self) -> str:
        """``'hosted'`` (edits in the browser session, downloaded) or ``'local'`` (a shared file)."""
        return "hosted" if self.hosted else "local"

    def describe(self) -> str:
        """One line for the page: where the edits go."""
        if self.hosted:
            return (
                "Edits stay in this browser session only (nobody else sees them, nothing is saved on the server): "
                "download them before you leave, upload them to continue."
            )
        return f"Edits are saved to {self.store.path} (one transaction per edit; shared by every open page)."

    def session(self, author: str | None = None) -> EditSession:
        """A new browser session's state: its own in-memory store (hosted) or the shared store (local)."""
        store = self.store.session_store(author=None) if self.hosted else self.store
        session = EditSession(store, owned=self.hosted)
        self.set_author(session, author)
        return session

    def version(self, session: EditSession, clip: str) -> int:
        """The clip's version in the session's store (what an edit of the shown view must name)."""
        name = self._clip_name(clip)
        try:
            return session.store.version(name)
        except AnnotationError as error:
            raise _user_error(error) from None

    @staticmethod
    def set_author(session: EditSession, author: str | None) -> None:
        """Record ``author`` with the session's next edits (blank: unnamed)."""
        name = (author or "").strip() or None
        if name is not None and (len(name) > 100 or any(not character.isprintable() for character in name)):
            raise AnnotatorError("author: at most 100 printable characters")
        session.author = name

    # ------------------------------------------------------------------------------------------- labels
    def ground_truth(self, session: EditSession, labels: str = "corrected") -> GroundTruth:
        """The split's labels the session sees: the original ones (the explorer's own, key ``'split'``), or the
        corrected ones (the store's changes applied), keyed by their content so that equal labels share the
        explorer's cached scores."""
        if labels not in LABEL_CHOICES:
            raise AnnotatorError(f"labels must be one of {', '.join(LABEL_CHOICES)}, got {labels!r}")
        original = self.explorer.ground_truth
        if labels == "original":
            return original
        split = self.explorer.split
        try:
            changes = session.store.changes()
        except AnnotationError as error:
            raise _user_error(error) from None
        corrected = editing.corrected_ground_truth(split.filenames, original.audio, original.visual, changes)
        if not corrected.changed.any():
            return original
        digest = hashlib.sha256(corrected.gt_audio.tobytes() + corrected.gt_visual.tobytes()).hexdigest()[:24]
        return self._truths.get(digest, lambda: GroundTruth(corrected.gt_audio, corrected.gt_visual, f"edits-{digest}"))

    def _index(self, clip: str) -> int:
        try:
            return self.explorer.index_of(clip)
        except ExplorerError as error:
            raise _user_error(error) from None

    def _clip_name(self, clip: str) -> str:
        """The split's file name of ``clip`` (an AnnotatorError for an unknown clip)."""
        return str(self.explorer.split.filenames[self._index(clip)])

    def scores_pairs(self, session: EditSession, threshold: float | None = None) -> dict[str, ScoresPair]:
        """Every model's scores under the original and the corrected labels, by its short name."""
        original = self.explorer.scoring(threshold)
        corrected = self.explorer.scoring(threshold, self.ground_truth(session))
        return {
            model.short_name: ScoresPair(before, after)
            for model, before, after in zip(self.explorer.models, original.scores, corrected.scores, strict=True)
        }

    # ------------------------------------------------------------------------------------------- clip view
    def view(
        self,
        session: EditSession,
        clip: str,
        *,
        threshold: float | None = None,
        labels: str = "corrected",
        edit: bool = True,
        message: str = "",
    ) -> EditorView:
        """The editor view of ``clip`` (a full filename or its video ID); see :class:`EditorView`. Its timeline is
        editable with ``edit`` under the corrected labels (then with the rows added in the view); the corrected labels
        are always drawn with the segments that differ from the original framed.

        Raises:
            AnnotatorError: an unknown clip, threshold or labels choice.
        """
        index = self._index(clip)
        name = str(self.explorer.split.filenames[index])
        gt = self.ground_truth(session, labels)
        try:
            scoring = self.explorer.scoring(threshold, gt)
            version = session.store.version(name)
        except (ExplorerError, AnnotationError) as error:
            raise _user_error(error) from None
        original = self.explorer.ground_truth
        before = {"audio": original.audio[index], "visual": original.visual[index]}
        now = {"audio": gt.audio[index], "visual": gt.visual[index]}
        corrected = labels == "corrected"
        editable = edit and corrected
        extra = session.extra_classes.get(name, ()) if editable else ()
        figure = timeline_json(
            name,
            now["audio"],
            now["visual"],
            self.explorer.clip_predictions(index, scoring),
            threshold=scoring.threshold,
            audio_strip=self.explorer.audio_strip(name),
            editable=editable,
            original_gt_audio=before["audio"] if corrected else None,
            original_gt_visual=before["visual"] if corrected else None,
            extra_classes=extra,
            include_config=True,
        )
        figure = _with_edit_meta(figure, version, labels)
        pairs = self.scores_pairs(session, scoring.threshold)
        state = editing.undo_state(session.store.history(name))
        present = now["audio"].any(axis=1) | now["visual"].any(axis=1)  # (C,)
        classes = [CLASSES[c] for c in np.flatnonzero(present)] + [c for c in extra if not present[CLASSES.index(c)]]
        return EditorView(
            clip=name,
            labels=labels,
            version=version,
            figure_json=figure,
            scores=editing.clip_score_comparison(pairs, index),
            diff=editing.diff_table(before, now),
            undo=state.undo,
            redo=state.redo,
            classes=_display_classes(sorted(classes, key=CLASSES.index)),
            message=message,
        )

    def _after_edit(
        self, session: EditSession, clip: str, threshold: float | None, action: Callable[[], object]
    ) -> EditorView:
        """Run ``action()`` (one store edit); a conflict or a refused edit gives the reloaded view with the reason."""
        try:
            action()
        except ConflictError as error:
            return self.view(session, clip, threshold=threshold, message=f"Not saved: {error} The clip was reloaded.")
        except (NothingToUndoError, EditingError, AnnotationError) as error:
            return self.view(session, clip, threshold=threshold, message=f"Not saved: {error}")
        return self.view(session, clip, threshold=threshold)

    def apply(
        self,
        session: EditSession,
        command: str | Mapping[str, Any] | EditCommand,
        *,
        threshold: float | None = None,
    ) -> EditorView:
        """Apply a click / drag the page sent (paint semantics, :func:`mgn.explore.editing.segments_after_click`),
        checked against the version its view was drawn at; the clip's new view.

        Raises:
            AnnotatorError: a malformed command or an unknown clip (nothing stored).
        """
        edit = command if isinstance(command, EditCommand) else EditCommand.parse(command)
        name = self._clip_name(edit.clip)

        def action() -> None:
            editing.paint(
                session.store,
                name,
                edit.class_name,
                edit.modality,
                edit.start,
                edit.end,
                expected_version=edit.version,
                author=session.author,
            )

        return self._after_edit(session, name, threshold, action)

    def undo(self, session: EditSession, clip: str, version: int, *, threshold: float | None = None) -> EditorView:
        """Undo the clip's last edit (a grouped edit as one step), if the view (``version``) is current."""
        return self._step(session, clip, version, threshold, session.store.undo)

    def redo(self, session: EditSession, clip: str, version: int, *, threshold: float | None = None) -> EditorView:
        """Redo the clip's last undone edit, if the view (``version``) is current."""
        return self._step(session, clip, version, threshold, session.store.redo)

    def _step(
        self, session: EditSession, clip: str, version: int, threshold: float | None, store_step: Callable[..., object]
    ) -> EditorView:
        """Undo or redo (``store_step``: the store's ``undo`` / ``redo``) one step of the clip's history."""
        name = self._clip_name(clip)
        return self._after_edit(
            session, name, threshold, lambda: store_step(name, session.author, expected_version=int(version))
        )

    def add_class(
        self, session: EditSession, clip: str, class_name: str, *, threshold: float | None = None
    ) -> EditorView:
        """Show an empty row for ``class_name`` (CSV or display spelling) in the clip's audio and visual panels, to
        paint; nothing is stored until a segment is set."""
        name = self._clip_name(clip)
        try:
            session.with_class(name, editing.class_name_of(class_name))
        except EditingError as error:
            raise _user_error(error) from None
        return self.view(session, name, threshold=threshold)

    def remove_class(
        self, session: EditSession, clip: str, class_name: str, version: int, *, threshold: float | None = None
    ) -> EditorView:
        """Remove a class row: clear its audio and visual segments as one grouped edit (one undo step) and drop it
        from the added rows."""
        name = self._clip_name(clip)
        try:
            csv_name = editing.class_name_of(class_name)
        except EditingError as error:
            raise _user_error(error) from None
        session.without_class(name, csv_name)
        return self._after_edit(
            session,
            name,
            threshold,
            lambda: editing.remove_class(
                session.store, name, csv_name, expected_version=int(version), author=session.author
            ),
        )

    # ------------------------------------------------------------------------------------------- dataset views
    def table1(self, session: EditSession, threshold: float | None = None) -> pd.DataFrame:
        """Table 1 of every model under the original and the corrected labels and the change
        (:func:`mgn.explore.editing.table1_comparison`), with a first column ``model``."""
        frames = [
            editing.table1_comparison(pair).assign(model=name)
            for name, pair in self.scores_pairs(session, threshold).items()
        ]
        table = pd.concat(frames, ignore_index=True)
        return table[["model", *[column for column in table.columns if column != "model"]]]

    def changed_clips(self, session: EditSession, model: int = 0, threshold: float | None = None) -> pd.DataFrame:
        """The corrected clips of the split and how their scores moved (``changed_clip_scores`` of one model)."""
        gt = self.ground_truth(session)
        split = self.explorer.split
        changed = ((gt.audio != split.gt_audio) | (gt.visual != split.gt_visual)).any(axis=(1, 2))  # (N,)
        pairs = list(self.scores_pairs(session, threshold).values())
        if not 0 <= model < len(pairs):
            raise AnnotatorError(f"model {model} does not exist ({len(pairs)} loaded)")
        return editing.changed_clip_scores(pairs[model], split.filenames, changed)

    def label_errors(
        self,
        session: EditSession,
        *,
        model: int = 0,
        high: float = 0.9,
        low: float = 0.1,
        calibrated: bool = True,
        limit: int | None = _DEFAULT_ERROR_LIMIT,
    ) -> pd.DataFrame:
        """The "likely label errors" of one model's probabilities against the session's corrected labels (cells it
        fixed leave the list), most likely first; the calibration is fitted once per model, on the original labels.

        Raises:
            AnnotatorError: a bad model, thresholds or limit.
        """
        models = self.explorer.models
        if isinstance(model, bool) or not isinstance(model, int) or not 0 <= model < len(models):
            raise AnnotatorError(f"model {model!r} does not exist ({len(models)} loaded)")
        for name, value in (("high", high), ("low", low)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value < 1:
                raise AnnotatorError(f"{name} threshold must be a number between 0 and 1, got {value!r}")
        if low >= high:
            raise AnnotatorError(f"low threshold {low:g} must be below the high one {high:g}")
        outputs, split, gt = models[model].predictions, self.explorer.split, self.ground_truth(session)
        try:
            calibration = None
            if calibrated:
                calibration = self._calibrations.get(
                    model,
                    lambda: editing.label_error_calibration(
                        outputs.a_frame_prob, outputs.v_frame_prob, split.gt_audio, split.gt_visual, split.filenames
                    ),
                )
            return editing.label_error_candidates(
                outputs.a_frame_prob,
                outputs.v_frame_prob,
                gt.audio,
                gt.visual,
                split.filenames,
                high=high,
                low=low,
                calibrated=calibrated,
                calibration=calibration,
                limit=limit,
            )
        except EditingError as error:
            raise _user_error(error) from None

    @staticmethod
    def target(row: Mapping[str, Any] | pd.Series) -> editing.CellTarget:
        """Where a row of :meth:`label_errors` opens (clip, class row, lane, 0-based segment)."""
        try:
            return editing.candidate_target(row)
        except EditingError as error:
            raise _user_error(error) from None

    # ------------------------------------------------------------------------------------------- files
    def edits_archive(self, session: EditSession) -> tuple[str, bytes]:
        """``(file name, zip bytes)``: the session's store exported (the corrected eval CSVs in the official
        format, the diff, new clips' weak labels) with the whole edit history (``annotation_edits.jsonl``), which
        :meth:`import_archive` reads back."""
        data, _ = session.store.export_archive()
        stamp = hashlib.sha256(data).hexdigest()[:8]
        return f"mgn_annotations_{stamp}.zip", data

    def import_archive(self, session: EditSession, data: bytes, source: str = "upload.zip") -> str:
        """Merge an uploaded archive of :meth:`edits_archive` (or a zip of an exported folder) into the session's
        store; a sentence saying what was stored.

        Raises:
            AnnotatorError: not such an archive, or a history that diverged from the store's (nothing stored).
        """
        try:
            result = session.store.import_archive(data, source=source, author=session.author or "import")
        except AnnotationError as error:
            raise _user_error(error) from None
        clips = sorted({edit.clip for edit in result.edits})
        if not result.edits and not result.new_clips:
            return f"{source}: nothing new (every edit in it is already here)"
        return (
            f"{source}: {len(result.edits)} edit(s) on {len(clips)} clip(s) and {len(result.new_clips)} new clip(s) "
            "stored"
        )

    # ------------------------------------------------------------------------------------------- new videos
    def declare_parsed(self, session: EditSession, windows: Sequence[ParsedWindow], labels: Sequence[str]) -> str:
        """Declare (or re-declare) every window of a parsed video as a new clip with the video-level ``labels``
        (CSV or display spellings); a sentence saying what was done.

        Raises:
            AnnotatorError: no window, no label, an unknown class, or a window's video already in the data.
        """
        if not windows:
            raise AnnotatorError("parse a video first")
        try:
            names = [editing.class_name_of(label) for label in labels]
        except EditingError as error:
            raise _user_error(error) from None
        if not names:
            raise AnnotatorError("choose the video-level labels first: the classes present in the video")
        known = {clip.clip for clip in session.store.new_clips()}
        try:
            for window in windows:
                if window.clip in known:
                    session.store.set_labels(window.clip, names, session.author)
                else:
                    session.store.add_clip(window.clip, names, session.author)
        except AnnotationError as error:
            raise _user_error(error) from None
        for window in windows:  # the declared classes get a row to paint in, with or without segments
            for name in names:
                session.with_class(window.clip, name)
        shown = ", ".join(display_name(name) for name in names)
        return f"{len(windows)} clip(s) declared with the labels {shown}: now paint their segments"

    def parsed_view(
        self, session: EditSession, window: ParsedWindow, *, message: str = ""
    ) -> tuple[str, int, pd.DataFrame]:
        """``(figure JSON, version, events)`` of one window of a parsed video in the editor: its current labels
        (none before any edit) against the parser's predictions, the declared classes' rows shown.

        Raises:
            AnnotatorError: the window was not declared yet (:meth:`declare_parsed`).
        """
        try:
            truth = session.store.ground_truth(window.clip)
            version = session.store.version(window.clip)
            declared = session.store.labels(window.clip)
        except AnnotationError:
            raise AnnotatorError(f"{window.clip}: declare the video-level labels first") from None
        extra = tuple(dict.fromkeys((*declared, *session.extra_classes.get(window.clip, ()))))
        figure = timeline_json(
            window.clip,
            truth["audio"],
            truth["visual"],
            [window.prediction],
            editable=True,
            extra_classes=extra,
            include_config=True,
        )
        rows = []
        for modality in ("audio", "visual"):
            classes, onsets, offsets = find_events(truth[modality])  # (E,) each
            scale = window.length / NUM_SEGMENTS  # seconds per segment
            rows += [
                [display_name(c), modality, round(window.start + a * scale, 2), round(window.start + b * scale, 2)]
                for c, a, b in zip(classes.tolist(), onsets.tolist(), offsets.tolist())
            ]
        events = pd.DataFrame(rows, columns=["class", "modality", "onset (s)", "offset (s)"])
        return _with_edit_meta(figure, version, "corrected"), version, events

    def apply_parsed(self, session: EditSession, window: ParsedWindow, command: str | Mapping[str, Any]) -> str:
        """Apply a click / drag on a parsed window's lane; "" or a message saying why nothing was stored."""
        edit = EditCommand.parse(command)
        if edit.clip != window.clip:
            return f"Not saved: the edit is for {edit.clip}, the view shows {window.clip}; it was reloaded."
        try:
            editing.paint(
                session.store,
                window.clip,
                edit.class_name,
                edit.modality,
                edit.start,
                edit.end,
                expected_version=edit.version,
                author=session.author,
            )
        except ConflictError as error:
            return f"Not saved: {error} It was reloaded."
        except (EditingError, AnnotationError) as error:
            return f"Not saved: {error}"
        return ""

    def parsed_dataset(
        self, session: EditSession, windows: Sequence[ParsedWindow], *, val_fraction: float = 0.2, seed: int = 0
    ) -> tuple[str, bytes]:
        """``(file name, zip bytes)``: the parsed video's annotated windows with their features as an LLP-format
        dataset (``mgn.annotations.new_clips.dataset_archive``; splits drawn by ``assign_splits``).

        Raises:
            AnnotatorError: no declared window (naming what to do).
        """
        declared = {clip.clip for clip in session.store.new_clips()}
        chosen = [window for window in windows if window.clip in declared]
        if not chosen:
            raise AnnotatorError("nothing to export: declare the video-level labels of the parsed video first")
        names = [window.clip for window in chosen]
        try:
            splits = assign_splits(names, val_fraction=val_fraction, seed=seed)
            clips = clips_from_store(
                session.store, {window.clip: dict(window.features) for window in chosen}, splits, clips=names
            )
            data = dataset_archive(clips)
        except AnnotationError as error:
            raise _user_error(error) from None
        return f"mgn_dataset_{names[0][:VIDEO_ID_LENGTH]}.zip", data


def _with_edit_meta(figure_json: str, version: int, labels: str) -> str:
    """The figure JSON with ``layout.meta.edit_version`` (what the page sends back with an edit) and
    ``layout.meta.edit_labels``."""
    figure = json.loads(figure_json)
    figure["layout"]["meta"]["edit_version"] = int(version)
    figure["layout"]["meta"]["edit_labels"] = labels
    return json.dumps(figure, separators=(",", ":"))


def class_choices() -> list[tuple[str, str]]:
    """``(display name, CSV name)`` of the 25 classes, for a dropdown."""
    return [(display_name(name), name) for name in CLASSES[:NUM_CLASSES]]


def open_annotator(
    explorer: Explorer,
    data: str | Path,
    *,
    path: str | Path | None = None,
    hosted: bool = False,
    cache_dir: str | Path | None = None,
    protected: str | Path | None = None,
) -> Annotator:
    """The annotator of an explorer opened on ``data`` (an LLP folder, whose CSVs the store reads, or a split pack,
    whose split in memory is the store's data: :func:`split_data_source`).

    Args:
        path: the database file; None: in hosted mode, session-only stores; else
            :func:`default_annotations_path` (beside the data, or under ``cache_dir`` for data inside
            ``protected``, the package's embedded demo).
        hosted: edits in each browser session only (unless a ``path`` is given: then the file is shared).

    Raises:
        AnnotatorError / AnnotationError: a refused database file (not SQLite, newer schema...) or bad data.
    """
    data = Path(data)
    source = DataSource.read(LLPLayout(root=data)) if data.is_dir() else split_data_source(explorer.split)
    if path is None and hosted:
        return Annotator(explorer, AnnotationStore(None, source), hosted=True)
    if path is None:
        path = default_annotations_path(
            data, cache_dir=cache_dir, inside=None if protected is None else Path(protected)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
    return Annotator(explorer, AnnotationStore(path, source), hosted=False)
