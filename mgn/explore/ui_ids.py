"""The explorer page's DOM ids and CSS classes: one definition for the app (``elem_id=``), the page script and
stylesheet (:mod:`mgn.explore.player`), and the browser tests and benchmark that read the page.

Gradio puts ``elem_id`` on a component's outer element; the ids below name those elements, except
:data:`VIDEO`, the ``<video>`` element the player HTML writes itself.
"""

from __future__ import annotations

__all__ = [
    "ADD_CLASS",
    "ADD_CLASS_BUTTON",
    "APPLY_EDIT",
    "AUTHOR",
    "CLASSES_FILTER",
    "CLEAR_FILTERS",
    "CLIPS_ROW",
    "CLIP_LIST",
    "CLIP_MESSAGE",
    "CLIP_SCORES",
    "COLUMN_CHOOSER",
    "COMPARE_CLASS",
    "CORRECTED_CLIPS",
    "CURSOR_CLASS",
    "DETAILS_CLASS",
    "DIFF_TABLE",
    "DISAGREEMENTS",
    "DOWNLOAD_EDITS",
    "DOWNLOAD_TIMELINE",
    "EDIT_BAR",
    "EDIT_COMMAND",
    "EDIT_MESSAGE",
    "EDIT_TOGGLE",
    "EMPTY_LIST_NOTE",
    "FEATURES_PLOT",
    "HEADER",
    "HIDDEN_CLASS",
    "LABELS_PANEL",
    "LABELS_SWITCH",
    "LABEL_ERRORS",
    "LIST_COLUMN",
    "LIST_HIDDEN_CLASS",
    "NEXT_CLIP",
    "OFFICIAL_THRESHOLD",
    "OPEN_CLIP",
    "OPEN_ROW_CLASS",
    "PARSE_ANNOTATE",
    "PARSE_APPLY_EDIT",
    "PARSE_BUTTON",
    "PARSE_DECLARE",
    "PARSE_DOWNLOAD",
    "PARSE_EDITOR_PLOT",
    "PARSE_EDIT_COMMAND",
    "PARSE_EVENTS",
    "PARSE_LABELS",
    "PARSE_LISTED",
    "PARSE_MESSAGE",
    "PARSE_STATUS",
    "PARSE_TIMELINE",
    "PARSE_UPLOAD",
    "PARSE_VIDEO",
    "PARSE_WINDOW",
    "PREDICTIONS_PREFIX",
    "PREVIOUS_CLIP",
    "REDO",
    "REMOVE_CLASS",
    "REMOVE_CLASS_BUTTON",
    "SEARCH",
    "SELECTED_CLIP",
    "TABLE1",
    "TABLE1_LABELS",
    "THRESHOLD",
    "TIMELINE",
    "TIMELINE_COLUMN",
    "TOGGLE_LIST",
    "TOKENS_PLOT",
    "UNDO",
    "UPLOAD_EDITS",
    "VIDEO",
    "VIDEO_BOX",
    "VIDEO_COLUMN",
]

HEADER = "mgn-header"  # the title, the models' scores and the threshold

# Clips tab: the three columns (list | video and clip details | timeline) and their contents.
CLIPS_ROW = "mgn-clips-row"
LIST_COLUMN = "mgn-list-column"
VIDEO_COLUMN = "mgn-video-column"
TIMELINE_COLUMN = "mgn-timeline-column"
TOGGLE_LIST = "mgn-toggle-list"  # shows / hides the list column
SEARCH = "mgn-search"
CLASSES_FILTER = "mgn-classes"
COLUMN_CHOOSER = "mgn-columns"
CLIP_LIST = "mgn-clip-list"
EMPTY_LIST_NOTE = "mgn-empty-list"  # "no clip matches", shown with CLEAR_FILTERS when a filter leaves nothing
CLEAR_FILTERS = "mgn-clear-filters"
SELECTED_CLIP = "mgn-selected-clip"  # the clip box (type an ID and press Enter)
OPEN_CLIP = "mgn-open-clip"  # hidden button the script clicks after writing a clip into SELECTED_CLIP
PREVIOUS_CLIP = "mgn-previous-clip"  # previous / next clip of the list (the up / down keys click them)
NEXT_CLIP = "mgn-next-clip"
CLIP_MESSAGE = "mgn-clip-message"  # one line: why a request could not be answered (unknown clip, ...)
THRESHOLD = "mgn-threshold"
OFFICIAL_THRESHOLD = "mgn-official-threshold"  # sets the threshold back to the official value
VIDEO_BOX = "mgn-video-box"
VIDEO = "mgn-video"  # the <video> element inside VIDEO_BOX
TIMELINE = "mgn-timeline"
DOWNLOAD_TIMELINE = "mgn-download-timeline"

# Other tabs.
TABLE1 = "mgn-table1"
PREDICTIONS_PREFIX = "mgn-predictions-"  # + the model's file label: the predictions archive's download button
DISAGREEMENTS = "mgn-disagreements"
TOKENS_PLOT = "mgn-tokens"
FEATURES_PLOT = "mgn-features"
PARSE_UPLOAD = "mgn-parse-upload"
PARSE_LISTED = "mgn-parse-listed"
PARSE_BUTTON = "mgn-parse-button"
PARSE_STATUS = "mgn-parse-status"
PARSE_VIDEO = "mgn-parse-video"
PARSE_TIMELINE = "mgn-parse-timeline"
PARSE_EVENTS = "mgn-parse-events"

# Label editing (mgn.explore.annotator; the hidden command boxes and buttons: mgn.explore.editor_js).
CLIP_SCORES = "mgn-clip-scores"  # the clip's F-scores (under both labels once edited)
EDIT_BAR = "mgn-edit-bar"  # over the timeline: the edit switch, original / corrected labels, undo / redo
EDIT_TOGGLE = "mgn-edit-toggle"  # checkbox: the ground-truth lanes take clicks and drags
LABELS_SWITCH = "mgn-labels-switch"  # radio: the corrected (edited) or the original labels
UNDO = "mgn-undo"
REDO = "mgn-redo"
EDIT_MESSAGE = "mgn-edit-message"  # one line: why an edit was not saved (a conflict: the clip was reloaded)
EDIT_COMMAND = "mgn-edit-command"  # hidden textbox: the edit command the editor script writes
APPLY_EDIT = "mgn-apply-edit"  # hidden button the editor script clicks after writing EDIT_COMMAND
LABELS_PANEL = "mgn-labels-panel"  # author, add / remove a class row, the changes, download / upload
AUTHOR = "mgn-author"
ADD_CLASS = "mgn-add-class"
ADD_CLASS_BUTTON = "mgn-add-class-button"
REMOVE_CLASS = "mgn-remove-class"
REMOVE_CLASS_BUTTON = "mgn-remove-class-button"
DIFF_TABLE = "mgn-diff"  # the open clip's changes against its original labels
DOWNLOAD_EDITS = "mgn-download-edits"
UPLOAD_EDITS = "mgn-upload-edits"
TABLE1_LABELS = "mgn-table1-labels"  # Table 1 under the original and the corrected labels
CORRECTED_CLIPS = "mgn-corrected-clips"
LABEL_ERRORS = "mgn-label-errors"  # the likely label errors (a row opens its clip)
PARSE_ANNOTATE = "mgn-parse-annotate"  # Parse a video: annotating the parsed video
PARSE_LABELS = "mgn-parse-labels"
PARSE_DECLARE = "mgn-parse-declare"
PARSE_WINDOW = "mgn-parse-window"
PARSE_MESSAGE = "mgn-parse-message"
PARSE_EDITOR_PLOT = "mgn-parse-editor"  # the editable timeline of one window of the parsed video
PARSE_EDIT_COMMAND = "mgn-parse-edit-command"
PARSE_APPLY_EDIT = "mgn-parse-apply-edit"
PARSE_DOWNLOAD = "mgn-parse-download"

# CSS classes.
HIDDEN_CLASS = "mgn-hidden"  # never displayed (the hidden buttons the script clicks)
CURSOR_CLASS = "mgn-cursor"  # the playback cursor over the timeline
OPEN_ROW_CLASS = "mgn-open-row"  # the clip list's row of the open clip
LIST_HIDDEN_CLASS = "mgn-list-hidden"  # on CLIPS_ROW while the list column is hidden
COMPARE_CLASS = "mgn-compare"  # on CLIPS_ROW in compare mode: a wider list (per-model columns)
DETAILS_CLASS = "mgn-details"  # the clip's tables under the player: below the timeline on a phone
