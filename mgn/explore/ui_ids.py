"""The explorer page's DOM ids and CSS classes: one definition for the app (``elem_id=``), the page script and
stylesheet (:mod:`mgn.explore.player`), and the browser tests and benchmark that read the page.

Gradio puts ``elem_id`` on a component's outer element; the ids below name those elements, except
:data:`VIDEO`, the ``<video>`` element the player HTML writes itself.
"""

from __future__ import annotations

__all__ = [
    "CLASSES_FILTER",
    "CLEAR_FILTERS",
    "CLIPS_ROW",
    "CLIP_LIST",
    "CLIP_MESSAGE",
    "COLUMN_CHOOSER",
    "COMPARE_CLASS",
    "CURSOR_CLASS",
    "DISAGREEMENTS",
    "DOWNLOAD_TIMELINE",
    "EMPTY_LIST_NOTE",
    "FEATURES_PLOT",
    "DETAILS_CLASS",
    "HEADER",
    "HIDDEN_CLASS",
    "LIST_COLUMN",
    "LIST_HIDDEN_CLASS",
    "NEXT_CLIP",
    "OFFICIAL_THRESHOLD",
    "OPEN_CLIP",
    "OPEN_ROW_CLASS",
    "PARSE_BUTTON",
    "PARSE_EVENTS",
    "PARSE_LISTED",
    "PARSE_STATUS",
    "PARSE_TIMELINE",
    "PARSE_UPLOAD",
    "PARSE_VIDEO",
    "PREDICTIONS_PREFIX",
    "PREVIOUS_CLIP",
    "SEARCH",
    "SELECTED_CLIP",
    "TABLE1",
    "THRESHOLD",
    "TIMELINE",
    "TIMELINE_COLUMN",
    "TOGGLE_LIST",
    "TOKENS_PLOT",
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

# CSS classes.
HIDDEN_CLASS = "mgn-hidden"  # never displayed (the hidden buttons the script clicks)
CURSOR_CLASS = "mgn-cursor"  # the playback cursor over the timeline
OPEN_ROW_CLASS = "mgn-open-row"  # the clip list's row of the open clip
LIST_HIDDEN_CLASS = "mgn-list-hidden"  # on CLIPS_ROW while the list column is hidden
COMPARE_CLASS = "mgn-compare"  # on CLIPS_ROW in compare mode: a wider list (per-model columns)
DETAILS_CLASS = "mgn-details"  # the clip's tables under the player: below the timeline on a phone
