"""mgn explorer: see where audio-visual video parsers (MGN, HAN) go wrong, clip by clip.

``python app.py`` opens the embedded demo (a small synthetic LLP-format split with playable videos, its MGN, and the
HAN it is compared with when that checkpoint is shipped); ``python app.py --data DIR --checkpoint CKPT [--videos DIR]
[--compare CKPT2] [--label NAME --compare-label NAME2] [--split test]`` opens real LLP in the official layout. This
file is UI wiring only: the content comes from ``mgn.explore``.

The first page is served before torch and scikit-learn are imported when the predictions are cached (they are, from
the second start on): torch is imported to run a model or to parse a video, scikit-learn for the t-SNE tab.

Startup errors (a missing file, a bad option, a port in use, an unreadable checkpoint) print one ``error: ...`` line
on stderr and exit with status 2; cheap options are checked before anything is loaded.
"""

import argparse
import atexit
import importlib.util
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry unless the user opts in
# Gradio's queue rebuilds a pandas summary of every recorded event after each event (for its /monitoring page, off
# here): O(events) per request. Refresh it once per 1,000 events instead.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

from mgn.data.demo import DEMO_CHECKPOINT, DEMO_COMPARE_CHECKPOINT, DEMO_PACK  # noqa: E402
from mgn.data.llp import DENSE_SPLITS  # noqa: E402
from mgn.device import DEVICE_CHOICES, resolve_device  # noqa: E402
from mgn.download import is_url  # noqa: E402
from mgn.explore import clips as clip_views  # noqa: E402
from mgn.explore import dashboard, ui_ids  # noqa: E402
from mgn.explore.annotator import (  # noqa: E402
    LABEL_CHOICES,
    Annotator,
    AnnotatorError,
    EditorView,
    EditSession,
    class_choices,
    open_annotator,
    parsed_windows,
    split_data_source,
)
from mgn.explore.editor_js import SAVE_BYTES_JS, bytes_download, combine_scripts, editor_script  # noqa: E402
from mgn.explore.export import file_label, write_prediction_archives  # noqa: E402
from mgn.explore.player import PAGE_CSS, SAVE_TEXT_JS, VIDEO_ROUTE, page_script  # noqa: E402
from mgn.explore.state import OFFICIAL_THRESHOLD, THRESHOLD_RANGE, Explorer, ExplorerError, open_explorer  # noqa: E402
from mgn.labels import CLASSES, display_name  # noqa: E402
from mgn.predictions import GATES  # noqa: E402

if TYPE_CHECKING:  # gradio is imported when the page is built: a bad flag is reported before its slow import
    import gradio as gr

    from mgn.explore.video_parser import VideoParser

DEMO_DIR = Path(__file__).resolve().parent / "assets" / "demo"
ARCH_CHOICES = ("han", "mgn")  # mgn.models.ARCHITECTURES (imported with torch; a test checks they agree)
ALL_CLASSES = "all classes"
DEFAULT_MAX_FILE_SIZE = "200mb"
DEFAULT_MAX_VIDEO_SECONDS = 60.0
THRESHOLD_STEP = 0.05
# Gradio's units (gradio.utils.FileSize): binary multiples.
_SIZE_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}
# Requests run at once per group of events. The handlers are pure reads of cached views (GIL-bound Python): more
# threads than cores only fight over the GIL; the t-SNE group is apart so that a slow t-SNE never holds a clip switch.
READ_CONCURRENCY = max(2, os.cpu_count() or 1)
TABS = {"Clips": "clips", "Dataset": "dataset", "Disagreements": "disagreements", "t-SNE": "tsne"}
TABS |= {"Label errors": "errors", "Parse a video": "parse", "About": "about"}  # tab label -> id (the ?tab= value)
ABOUT = """
### Audio-visual video parsing in one minute
A 10-second video is cut into ten 1-second **segments**. For each segment and each of the 25 LLP classes, a parser
says whether the event is **audible**, **visible**, or both (**audio-visual**) — although training only ever saw
**video-level** labels ("this clip contains a dog and speech somewhere"). The hard parts are *which modality* (a dog
can be heard off-screen) and *when*.

**MGN** (Mo & Tian, NeurIPS 2022) groups segments into 25 learnable **class tokens** per modality, then groups audio
class features with visual ones; **HAN** (Tian et al., ECCV 2020) uses hybrid attention and attentive MIL pooling.

**Reading the timeline**: on top, the **sound** of the clip as a log-mel spectrogram (what VGGish hears), then three
panels (Audio, Visual, Audio-Visual = both at once), one row per class in the ground truth or a prediction, segments
numbered 1 to 10 as in the video's overlay. In each row the **ground truth** is a dark-grey bar per annotated event
(the same grey for every class); each model's lane marks every segment it gets wrong or right: **blue** a true
positive, **vermillion** a false positive (false alarm), **hatched purple** a false negative (missed), with a dark
frame around each predicted event; the grey strip under it is the model's segment score (darker = higher). MGN's
segment score is a probability times its soft class assignment (1 + a softmax, as in the official code), so it can
exceed 1: a segment counts as predicted when its score and the clip's video-level probability both reach the
**threshold**. Click the timeline to seek the video; the red cursor follows playback. Keys: ↑ / ↓ open the previous /
next clip of the list, space plays or pauses.

**Threshold** (top right): the official value is 0.5; moving it redraws the timeline and rescores the clip, the clip
list, Table 1 and the charts at once (the header keeps the official scores).

**Compare mode** (two models): every clip-list column and filter exists per model, Table 1 shows both with their
differences, and the Disagreements tab lists where one model is right and the other wrong.

**Sharing**: the address bar follows the open clip and tab (``?clip=<ID>&tab=dataset``): copy it to share a view.

**Parse a video**: upload a video (or pick a listed one): the official LLP feature pipeline (ResNet-152, R(2+1)D-18,
VGGish; the published weights, downloaded once) runs on each 10-second window, the model parses it, and the timeline
shows its predictions over the whole video (no ground truth), with the features to download in the official layout.

**Annotate**: tick *Edit labels* above the timeline, then click a segment of a ground-truth lane (Audio or Visual)
to switch it, or drag along the lane to set a range (a drag that starts on an empty segment paints, one that starts on
a set segment erases); audio-visual is derived from them. Undo / redo; add or remove a class row, your name and the
list of changes are in the *Labels* panel under the player. The clip's scores (original, corrected, change), the
clip list and Table 1 follow the corrected labels at once; *original / corrected* switches between them. The **Label
errors** tab lists cells where a model is confident against the label and opens them. Edits go to an SQLite file
shared by every open page (``--annotations FILE``), or on a hosted Space stay in your browser session (download them
as a zip: the corrected eval CSVs in the official format and the edit history; upload it to continue). A parsed
video can be annotated from scratch and downloaded as an LLP-format dataset (Parse a video).

**Metrics** (official): F-scores per clip over the classes present, averaged over clips, at the segment level and the
event level (IoU ≥ 0.5); Type@AV is the mean of Audio, Visual and Audio-Visual; Event@AV pools audio and visual.
"""


# ---------------------------------------------------------------------------------------------------------------------
# command line


class _Parser(argparse.ArgumentParser):
    """argparse with the house format for bad flags: one ``error: ...`` line, exit status 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")


def _port(text: str) -> int:
    """A TCP port number, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return port


def _file_size(text: str) -> int:
    """``"200mb"`` -> bytes (units b, kb, mb, gb, tb as Gradio counts them: binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?b)\s*", text.lower())
    if match is None or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 200mb (units b, kb, mb, gb, tb), got {text!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(DEMO_DIR / DEMO_PACK),
        help="LLP-format folder (official layout) or a .npz split pack (default: the embedded demo)",
    )
    parser.add_argument(
        "--checkpoint",
        default=os.environ.get("MGN_CHECKPOINT", str(DEMO_DIR / DEMO_CHECKPOINT)),
        help="model: our .safetensors, or official .pt / .pth weights; a path or an https address (downloaded once)",
    )
    parser.add_argument(
        "--compare",
        default=os.environ.get("MGN_COMPARE") or None,
        help="a second checkpoint to compare with the first (a path or an https address); the demo compares its "
        "MGN with its HAN unless --compare '' is given",
    )
    parser.add_argument("--label", help="the model's name in the page (default: architecture, training and run folder)")
    parser.add_argument("--compare-label", help="the compared model's name in the page (default: as --label)")
    parser.add_argument(
        "--arch",
        choices=ARCH_CHOICES,
        help="architecture of official .pt / .pth checkpoints (default: recognised from their weights)",
    )
    parser.add_argument("--videos", help="folder of <ID>.mp4 files (default: beside the data)")
    parser.add_argument(
        "--split", choices=DENSE_SPLITS, help="split of an LLP folder (default: test); a pack holds its own"
    )
    parser.add_argument("--gate", default="global", choices=GATES, help="segment gate: official global, or MA's")
    parser.add_argument(
        "--cache-dir",
        default=str(Path.home() / ".cache" / "mgn"),
        help="predictions and t-SNE results are cached here ('' to disable; an unusable folder: a warning, no cache)",
    )
    parser.add_argument(
        "--device", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default: auto, the GPU when there is one)"
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=_port, default=os.environ.get("GRADIO_SERVER_PORT", "7860"))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    parser.add_argument(
        "--max-file-size",
        type=_file_size,
        default=DEFAULT_MAX_FILE_SIZE,
        help=f"largest upload the server accepts (default {DEFAULT_MAX_FILE_SIZE}; units b, kb, mb, gb, tb)",
    )
    parser.add_argument(
        "--max-video-seconds",
        type=float,
        default=DEFAULT_MAX_VIDEO_SECONDS,
        help=f"Parse a video: parse at most this many seconds of a video (default {DEFAULT_MAX_VIDEO_SECONDS:g})",
    )
    parser.add_argument(
        "--weights-dir", help="Parse a video: folder holding the feature networks' published weight files"
    )
    parser.add_argument(
        "--annotations",
        help="the SQLite file label edits are saved in, shared by every open page (default: beside the data; for "
        "the embedded demo, under --cache-dir; with --hosted: none, edits stay in each browser session)",
    )
    parser.add_argument(
        "--hosted",
        action="store_true",
        default=bool(os.environ.get("SPACE_ID")),
        help="hosted mode (the default on a Hugging Face Space): without --annotations, each visitor's edits stay "
        "in their browser session, to download",
    )
    args = parser.parse_args(argv)
    args.compare = _demo_comparison(args)
    return args


def _demo_comparison(args: argparse.Namespace) -> str | None:
    """``--compare``; on the embedded demo (its data and model) without ``--compare``, the shipped comparison model
    (:data:`mgn.data.demo.DEMO_COMPARE_CHECKPOINT`) when it is there; ``--compare ''``: none."""
    if args.compare is not None:
        return args.compare or None
    shipped = DEMO_DIR / DEMO_COMPARE_CHECKPOINT
    on_demo = Path(args.data) == DEMO_DIR / DEMO_PACK and Path(args.checkpoint) == DEMO_DIR / DEMO_CHECKPOINT
    return str(shipped) if on_demo and shipped.is_file() else None


def check_args(args: argparse.Namespace) -> None:
    """The checks that need no data: paths exist, the device exists, the host resolves and the port is free.

    Raises:
        ValueError: naming the flag, the value and what was expected.
    """
    data = Path(args.data)
    if not data.exists():
        raise ValueError(f"--data: {data} not found (expected an LLP-format folder or a .npz split pack)")
    for flag, value in (("--checkpoint", args.checkpoint), ("--compare", args.compare)):
        if value is not None and not is_url(value) and not Path(value).is_file():
            raise ValueError(f"{flag}: checkpoint {value} not found (expected a .safetensors, .pt or .pth file)")
    if args.compare_label is not None and args.compare is None:
        raise ValueError("--compare-label: there is no compared model (give --compare CHECKPOINT)")
    if args.label and args.compare_label and args.label.strip() == args.compare_label.strip():
        raise ValueError(f"--compare-label: {args.compare_label!r} is the --label too; give the models two names")
    if not 1 <= args.max_video_seconds <= 3600:
        raise ValueError(f"--max-video-seconds: expected 1 to 3600 seconds, got {args.max_video_seconds:g}")
    if args.weights_dir is not None and not Path(args.weights_dir).is_dir():
        raise ValueError(f"--weights-dir: {args.weights_dir} is not a folder")
    if args.annotations is not None and Path(args.annotations).is_dir():
        raise ValueError(f"--annotations: {args.annotations} is a folder (expected an SQLite file to create or open)")
    if args.videos is not None and not Path(args.videos).is_dir():
        raise ValueError(f"--videos: {args.videos} is not a folder (expected a folder of <ID>.mp4 files)")
    if args.device not in (None, "", "auto", "cpu"):  # a GPU: checked now (this imports torch)
        try:
            resolve_device(args.device)
        except ValueError as error:
            raise ValueError(f"--device: {error}") from None
    _check_address(args.host, args.port)


def _check_address(host: str, port: int) -> None:
    """The server can bind ``host:port`` (checked by binding it once, as uvicorn will)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"--host: cannot resolve {host!r} ({error}); expected an address such as 127.0.0.1") from None
    try:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise ValueError(
            f"--port: cannot serve on {host}:{port} ({error.strerror or error}); pick a free port"
        ) from None


# ---------------------------------------------------------------------------------------------------------------------
# the page


@dataclass(frozen=True)
class ParseSetup:
    """The "Parse a video" tab: what it shows before its parser exists, and the parser, built on the first parse
    (it loads torch and the model; the feature networks come on first use too).

    Attributes:
        model_name: the parsing model's name in the page.
        max_seconds: only this much of a video is parsed.
        max_bytes: larger uploads are refused.
        listed: the videos offered to pick, by label (file name).
        parser: returns the :class:`~mgn.explore.video_parser.VideoParser` (the same one every call).
    """

    model_name: str
    max_seconds: float
    max_bytes: int
    listed: tuple[str, ...]
    parser: Callable[[], "VideoParser"]

    @classmethod
    def of(cls, parser: "VideoParser") -> "ParseSetup":
        """The setup of a parser that exists already."""
        listed = tuple(parser.listed_videos())
        return cls(parser.model_name, parser.max_seconds, parser.max_bytes, listed, lambda: parser)


def _user_error(function):
    """Turn the explorer's request errors into Gradio errors (the API's callers see the message)."""
    import gradio as gr

    def wrapped(*args):
        try:
            return function(*args)
        except (ExplorerError, AnnotatorError) as error:
            raise gr.Error(str(error)) from None

    wrapped.__name__ = function.__name__
    return wrapped


def _threshold_text(threshold: float) -> str:
    return f"{threshold:g}" + (" (official)" if threshold == OFFICIAL_THRESHOLD else "")


def _search_example(explorer: Explorer) -> str:
    """The search box's placeholder: a class and a clip-ID prefix that both match clips of this split."""
    table = explorer.table
    first_class = next((c for c in CLASSES if table["gt_classes"].str.contains(display_name(c), regex=False).any()), "")
    return f"e.g. {display_name(first_class).lower()}, {table['video_id'].iloc[0][:4]}"


def session_annotator(explorer: Explorer) -> Annotator:
    """An annotator whose edits stay in each browser session (nothing written anywhere): the default of
    :func:`build_app`; :func:`main` opens the one the flags ask for (:func:`open_app_annotator`)."""
    from mgn.annotations import AnnotationStore

    return Annotator(explorer, AnnotationStore(None, split_data_source(explorer.split)), hosted=True)


def build_app(explorer: Explorer, parse: ParseSetup | None = None, annotator: Annotator | None = None) -> "gr.Blocks":
    """The explorer's Blocks; every value comes from ``explorer`` (loaded once, shared read-only).

    Nothing is written per request: clip views come from the explorer's cache, the timeline download is made on
    demand and saved by the browser, and the prediction archives are written once, here, into a temporary folder
    that Gradio copies them from (into its own cache) before the folder is removed. With ``parse``, a "Parse a video"
    tab parses uploaded or listed videos (one at a time, queued). Label edits go to ``annotator`` (default: each
    browser session's own, :func:`session_annotator`); each page gets its session state when it loads. The page script
    and stylesheet are :func:`launch_assets` (``launch(js=..., css=...)``).
    """
    import gradio as gr

    annotator = annotator or session_annotator(explorer)

    summary = " · ".join(
        f"**{m.name}**: segment Type@AV {m.scores.segment.type:.1f}, event Type@AV {m.scores.event.type:.1f}"
        for m in explorer.models
    )
    first_clip = str(explorer.split.filenames[0])  # rendered by serve() once the page is up (warms plotly too)
    with (
        tempfile.TemporaryDirectory(prefix="mgn-explorer-") as export_dir,
        gr.Blocks(title="mgn explorer — audio-visual video parsing", analytics_enabled=False, fill_width=True) as demo,
    ):
        with gr.Row(equal_height=True, elem_id=ui_ids.HEADER):
            gr.Markdown(
                f"### Audio-visual video parsing explorer\n{explorer.split.name} split, {len(explorer.split)} clips, "
                f"official threshold: {summary}",
            )
            with gr.Row():
                threshold = gr.Slider(
                    *THRESHOLD_RANGE,
                    value=OFFICIAL_THRESHOLD,
                    step=THRESHOLD_STEP,
                    label=f"Threshold (official {OFFICIAL_THRESHOLD:g}, the middle mark)",
                    info="rescores the clips, the timeline and Table 1",
                    buttons=[],  # our own reset below (Gradio's leaves the outputs marked pending)
                    elem_id=ui_ids.THRESHOLD,
                    scale=5,
                    min_width=200,
                )
                official = gr.Button(
                    f"official {OFFICIAL_THRESHOLD:g}",
                    size="sm",
                    scale=1,
                    min_width=80,
                    elem_id=ui_ids.OFFICIAL_THRESHOLD,
                )
        official.click(lambda: OFFICIAL_THRESHOLD, None, threshold, api_visibility="private")
        api = gr.Button(visible=False)  # the trigger of the public API's events (the page has its own)
        session = gr.State(lambda: annotator.session(), delete_callback=_end_session)  # a new one per page load
        with gr.Tabs(selected="clips", overflow_behavior="wrap") as tabs:
            clips = _clips_tab(gr, explorer, annotator, threshold, session, first_clip, api)
            dataset = _dataset_tab(gr, explorer, annotator, threshold, session, clips, Path(export_dir))
            disagreements = _disagreements_tab(gr, explorer, threshold) if explorer.compare else None
            errors = _label_errors_tab(gr, explorer, annotator, session)
            _tsne_tab(gr, explorer)
            if parse is not None:
                _parse_tab(gr, parse, annotator, session, Path(export_dir))
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
        _wire_across_tabs(gr, demo, explorer, tabs, threshold, clips, dataset, disagreements, errors)
    return demo


def _end_session(session: EditSession | None) -> None:
    """A page's session state is dropped (the tab closed): its own edits (hosted mode) go with it."""
    if session is not None:
        session.close()


def _clip_outputs_of(gr, explorer: Explorer, annotator: Annotator):
    """The page's clip handlers (used by several tabs).

    ``show(clip, threshold, session, labels, edit)`` -> the clip view's outputs (:data:`CLIP_OUTPUT_NAMES`): an
    unknown clip (or threshold) leaves every shown output as it is and says why, once. ``edited(view, threshold,
    session)`` -> the outputs an edit changes (:data:`EDIT_OUTPUT_NAMES`), from the annotator's view.
    """
    from gradio.components.plot import PlotData  # gr.Plot passes it through: the cached JSON is sent as it is

    def editor_outputs(view: EditorView, events, message: str = "") -> tuple:
        return (
            PlotData(type="plotly", plot=view.figure_json),
            view.scores,
            events,
            view.diff,
            gr.update(value=f"↶ Undo {view.undo}" if view.undo else "↶ Undo", interactive=view.undo is not None),
            gr.update(value=f"↷ Redo {view.redo}" if view.redo else "↷ Redo", interactive=view.redo is not None),
            gr.update(choices=list(view.classes), value=None),
            view.version,
            view.message or message,
        )

    def edited(view: EditorView, threshold: float, session: EditSession) -> tuple:
        events = explorer.clip_events(view.clip, threshold, annotator.ground_truth(session))
        return editor_outputs(view, events)

    def show(clip: str, threshold: float, session: EditSession, labels: str, edit: bool) -> tuple:
        try:
            cached = explorer.clip_view(clip, threshold)  # the player, and the whole view without edits
            gt = annotator.ground_truth(session, labels)
            if gt.key == "split" and not edit:  # nothing edited: the explorer's cached view as it is
                version = annotator.version(session, cached.clip)
                outputs = (
                    PlotData(type="plotly", plot=cached.figure_json),
                    cached.scores,
                    cached.events,
                    None,
                    gr.update(value="↶ Undo", interactive=False),
                    gr.update(value="↷ Redo", interactive=False),
                    gr.update(choices=[], value=None),
                    version,
                    "",
                )
            else:
                view = annotator.view(session, cached.clip, threshold=threshold, labels=labels, edit=bool(edit))
                note = (
                    "The original labels are read-only: switch to *corrected* to edit."
                    if edit and labels == "original"
                    else ""
                )
                outputs = editor_outputs(view, explorer.clip_events(cached.clip, threshold, gt), note)
        except (ExplorerError, AnnotatorError) as error:
            return (gr.skip(),) * (len(CLIP_OUTPUT_NAMES) - 1) + (f"{error}. Still showing the last clip.",)
        return cached.clip, cached.video_html, *outputs

    return show, edited


# The clip view's outputs, in the order the handlers above return them; an edit changes EDIT_OUTPUT_NAMES only.
EDIT_OUTPUT_NAMES = ("timeline", "scores", "events", "diff", "undo", "redo", "remove_choice", "version", "message")
CLIP_OUTPUT_NAMES = ("selected", "video", *EDIT_OUTPUT_NAMES)


def _clips_tab(
    gr,
    explorer: Explorer,
    annotator: Annotator,
    threshold: "gr.Slider",
    session: "gr.State",
    first_clip: str,
    api: "gr.Button",
) -> dict:
    """The Clips tab: the list (filters, sort, columns), the player with the clip's scores, the timeline, and the
    label editor (edit switch, original / corrected labels, undo / redo, class rows, changes, downloads)."""
    from gradio.components.plot import PlotData

    compare = explorer.compare
    names = [model.short_name for model in explorer.models]
    sort_default = "most disagreement" if compare else "worst audio-visual F (segment)"
    model_choices = [(f"{name}", index) for index, name in enumerate(names)]
    column_choices = [
        (clip_views.DISPLAY_COLUMNS[column], column)
        for column in clip_views.OPTIONAL_COLUMNS
        if compare or column != "disagreement"
    ]
    show, edited = _clip_outputs_of(gr, explorer, annotator)

    def list_view(query, classes, modality, error, sort, model, columns, threshold_value, session_value, labels_value):
        """The list's frame, whether the empty note and its button show, and the list's clip order."""
        try:
            chosen = explorer.clip_list(
                query=query or "",
                classes=classes or (),
                modality=modality,
                error=error,
                sort=sort,
                model=int(model or 0),
                threshold=threshold_value,
                gt=None if session_value is None else annotator.ground_truth(session_value, labels_value),
            )
            frame = clip_views.display_frame(chosen, sort_key=sort, extra=columns or (), model_names=names)
        except (ExplorerError, AnnotatorError, ValueError) as problem:
            raise gr.Error(str(problem)) from None
        empty = len(frame) == 0
        shown = gr.update(value=frame, column_widths=clip_views.column_widths(frame))
        return shown, gr.update(visible=empty), gr.update(visible=empty), chosen["clip"].tolist()

    with gr.Tab("Clips", id="clips"):
        with gr.Row(elem_id=ui_ids.CLIPS_ROW, elem_classes=ui_ids.COMPARE_CLASS if compare else None):
            with gr.Column(elem_id=ui_ids.LIST_COLUMN):
                query = gr.Textbox(
                    label="Search clip ID or class", placeholder=_search_example(explorer), elem_id=ui_ids.SEARCH
                )
                with gr.Row():
                    error = gr.Dropdown(
                        [(clip_views.ERROR_WORDS[e], e) for e in clip_views.ERROR_FILTERS], value="any", label="Clips"
                    )
                    sort = gr.Dropdown(
                        [k for k in clip_views.SORT_KEYS if compare or k != "most disagreement"],
                        value=sort_default,
                        label="Sort by",
                    )
                model = gr.Radio(
                    model_choices, value=0, label="Errors, classes and sort of", visible=compare, type="value"
                )
                with gr.Accordion("Classes and modality", open=False) as class_filters, gr.Row():
                    classes = gr.Dropdown(
                        [display_name(c) for c in CLASSES],
                        multiselect=True,
                        label="Classes",
                        elem_id=ui_ids.CLASSES_FILTER,
                    )
                    modality = gr.Dropdown(
                        [(clip_views.MODALITY_WORDS[m], m) for m in clip_views.FILTER_MODALITIES],
                        value="any",
                        label="Modality (classes, errors)",
                    )
                with gr.Accordion("More columns", open=False):
                    columns = gr.CheckboxGroup(
                        column_choices, value=[], show_label=False, elem_id=ui_ids.COLUMN_CHOOSER
                    )
                empty_note = gr.Markdown(
                    "**No clip matches these filters.**", visible=False, elem_id=ui_ids.EMPTY_LIST_NOTE
                )
                clear = gr.Button("Clear the filters", visible=False, size="sm", elem_id=ui_ids.CLEAR_FILTERS)
                initial = list_view("", [], "any", "any", sort_default, 0, [], OFFICIAL_THRESHOLD, None, "original")
                clip_list = gr.Dataframe(
                    initial[0]["value"],
                    column_widths=initial[0]["column_widths"],
                    interactive=False,
                    wrap=True,
                    label="Clips (click a row; ↑ / ↓ keys: previous / next)",
                    max_height=520,
                    elem_id=ui_ids.CLIP_LIST,
                )
                order = gr.State(initial[3])  # the list's clips in the shown order, for previous / next
            with gr.Column(elem_id=ui_ids.VIDEO_COLUMN):
                selected = gr.Textbox(
                    value=first_clip, label="Clip (type an ID, press Enter)", elem_id=ui_ids.SELECTED_CLIP
                )
                with gr.Row():
                    previous = gr.Button("↑ previous", size="sm", min_width=80, elem_id=ui_ids.PREVIOUS_CLIP)
                    following = gr.Button("↓ next", size="sm", min_width=80, elem_id=ui_ids.NEXT_CLIP)
                    toggle_list = gr.Button("hide / show list", size="sm", min_width=80, elem_id=ui_ids.TOGGLE_LIST)
                message = gr.Markdown(elem_id=ui_ids.CLIP_MESSAGE)
                open_clip = gr.Button("open", elem_id=ui_ids.OPEN_CLIP, elem_classes=ui_ids.HIDDEN_CLASS)
                video = gr.HTML(elem_id=ui_ids.VIDEO_BOX)
                scores = gr.Dataframe(
                    label="This clip's F-scores (%)",
                    interactive=False,
                    elem_id=ui_ids.CLIP_SCORES,
                    elem_classes=ui_ids.DETAILS_CLASS,
                )
                download = gr.Button(
                    "Download the timeline (HTML, opens offline; PNG: the plot's camera button)",
                    size="sm",
                    elem_id=ui_ids.DOWNLOAD_TIMELINE,
                    elem_classes=ui_ids.DETAILS_CLASS,
                )
                download_text = gr.JSON(visible=False)  # {"name", "text"}: saved by the browser
                with gr.Accordion(
                    "Labels: author, class rows, changes, download / upload",
                    open=False,
                    elem_id=ui_ids.LABELS_PANEL,
                    elem_classes=ui_ids.DETAILS_CLASS,
                ):
                    gr.Markdown(
                        annotator.describe() + " Click or drag a ground-truth lane (Audio, Visual) to set or "
                        "clear segments: a drag from an empty segment paints, from a set one erases."
                    )
                    author = gr.Textbox(
                        label="Your name (recorded with your edits)", max_length=100, elem_id=ui_ids.AUTHOR
                    )
                    with gr.Row():
                        add_choice = gr.Dropdown(
                            class_choices(), value=None, label="Add a class row", elem_id=ui_ids.ADD_CLASS
                        )
                        add = gr.Button("Add the row", size="sm", elem_id=ui_ids.ADD_CLASS_BUTTON)
                    with gr.Row():
                        remove_choice = gr.Dropdown(
                            [], value=None, label="Remove a class row (both lanes)", elem_id=ui_ids.REMOVE_CLASS
                        )
                        remove = gr.Button("Remove the row", size="sm", elem_id=ui_ids.REMOVE_CLASS_BUTTON)
                    diff = gr.Dataframe(
                        label="Changes against the original labels (segments 1-10)",
                        interactive=False,
                        elem_id=ui_ids.DIFF_TABLE,
                    )
                    with gr.Row():
                        download_edits = gr.Button(
                            "Download the labels (zip: corrected eval CSVs, diff, edit history)",
                            size="sm",
                            elem_id=ui_ids.DOWNLOAD_EDITS,
                        )
                        upload_edits = gr.UploadButton(
                            "Upload labels (a downloaded zip)",
                            file_types=[".zip"],
                            type="binary",
                            size="sm",
                            elem_id=ui_ids.UPLOAD_EDITS,
                        )
                    edits_file = gr.JSON(visible=False)  # {"name", "type", "base64"}: saved by the browser
                events = gr.Dataframe(
                    label="Events (ground truth and predicted)", interactive=False, elem_classes=ui_ids.DETAILS_CLASS
                )
            with gr.Column(elem_id=ui_ids.TIMELINE_COLUMN):
                with gr.Row(elem_id=ui_ids.EDIT_BAR):
                    edit = gr.Checkbox(False, label="Edit labels", min_width=100, elem_id=ui_ids.EDIT_TOGGLE)
                    labels = gr.Radio(
                        list(LABEL_CHOICES), value="corrected", show_label=False, elem_id=ui_ids.LABELS_SWITCH
                    )
                    undo = gr.Button("↶ Undo", interactive=False, size="sm", elem_id=ui_ids.UNDO)
                    redo = gr.Button("↷ Redo", interactive=False, size="sm", elem_id=ui_ids.REDO)
                edit_message = gr.Markdown(elem_id=ui_ids.EDIT_MESSAGE)
                timeline = gr.Plot(elem_id=ui_ids.TIMELINE, show_label=False)
                version = gr.State(0)  # the clip version the shown timeline was drawn at
                edit_command = gr.Textbox(
                    elem_id=ui_ids.EDIT_COMMAND, elem_classes=ui_ids.HIDDEN_CLASS, show_label=False
                )
                apply_edit = gr.Button("apply", elem_id=ui_ids.APPLY_EDIT, elem_classes=ui_ids.HIDDEN_CLASS)

    outputs = {
        "selected": selected,
        "video": video,
        "timeline": timeline,
        "scores": scores,
        "events": events,
        "diff": diff,
        "undo": undo,
        "redo": redo,
        "remove_choice": remove_choice,
        "version": version,
    }
    clip_outputs = [outputs[name] if name != "message" else message for name in CLIP_OUTPUT_NAMES]
    edit_outputs = [outputs[name] if name != "message" else edit_message for name in EDIT_OUTPUT_NAMES]
    clip_inputs = [selected, threshold, session, labels, edit]
    filters = [query, classes, modality, error, sort, model, columns, threshold, session, labels]
    list_outputs = [clip_list, empty_note, clear, order]
    clip_group = {"concurrency_id": "clip", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}

    def select_row(threshold_value, session_value, labels_value, edit_value, event: gr.SelectData):
        # evaluated here: Gradio reads the hint; the row's clip (first column), everything at once
        return show(str(event.row_value[0]), threshold_value, session_value, labels_value, edit_value)

    def step(clips: list[str], clip: str, threshold_value, session_value, labels_value, edit_value, offset: int):
        try:
            current = explorer.split.filenames[explorer.index_of(clip)]
        except ExplorerError:
            current = clip
        target = clip_views.neighbour(clips or [], str(current), offset)
        if target is None:
            return (gr.skip(),) * len(CLIP_OUTPUT_NAMES)
        return show(target, threshold_value, session_value, labels_value, edit_value)

    selected.submit(show, clip_inputs, clip_outputs, **clip_group)
    open_clip.click(show, clip_inputs, clip_outputs, **clip_group)  # clicked by the page script
    clip_list.select(select_row, clip_inputs[1:], clip_outputs, **clip_group)
    previous.click(lambda *a: step(*a, -1), [order, *clip_inputs], clip_outputs, **clip_group)
    following.click(lambda *a: step(*a, 1), [order, *clip_inputs], clip_outputs, **clip_group)
    query.change(list_view, filters, list_outputs, **clip_group)  # typed, pasted or cleared
    for control in (classes, modality, error, sort, model, columns):  # by the user (the clear button runs it once)
        control.input(list_view, filters, list_outputs, **clip_group)
    clear.click(lambda: ("", [], "any", "any"), None, [query, classes, modality, error], **clip_group).then(
        list_view, filters, list_outputs, **clip_group
    )
    toggle_list.click(
        None,
        js=f"() => {{ document.getElementById('{ui_ids.CLIPS_ROW}').classList.toggle('{ui_ids.LIST_HIDDEN_CLASS}'); }}",
    )

    def timeline_file(clip: str, threshold_value: float) -> dict[str, str]:
        view = explorer.clip_view(clip, threshold_value)
        return {"name": f"timeline_{view.clip}.html", "text": explorer.timeline_page(view.clip, threshold_value)}

    download.click(_user_error(timeline_file), [selected, threshold], download_text, **clip_group).success(
        None, download_text, None, js=SAVE_TEXT_JS
    )

    # --- the label editor: each edit is one store transaction, then the list (and the dataset view) follow
    edit_group = {"concurrency_id": "edit", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}

    def after(action):
        """An editing handler: ``action(...)`` gives the annotator's view, shown with the corrected labels."""

        def handler(*args):
            try:
                threshold_value, session_value = args[1], args[2]
                view = action(*args)
                return (*edited(view, threshold_value, session_value), True, "corrected")
            except (ExplorerError, AnnotatorError) as problem:
                return (gr.skip(),) * (len(EDIT_OUTPUT_NAMES) - 1) + (f"Not saved: {problem}", gr.skip(), gr.skip())

        handler.__name__ = action.__name__
        return handler

    def apply(command, threshold_value, session_value, author_value):
        annotator.set_author(session_value, author_value)
        return annotator.apply(session_value, command, threshold=threshold_value)

    def undo_edit(clip, threshold_value, session_value, shown_version, author_value):
        annotator.set_author(session_value, author_value)
        return annotator.undo(session_value, clip, shown_version, threshold=threshold_value)

    def redo_edit(clip, threshold_value, session_value, shown_version, author_value):
        annotator.set_author(session_value, author_value)
        return annotator.redo(session_value, clip, shown_version, threshold=threshold_value)

    def add_row(clip, threshold_value, session_value, class_name):
        if not class_name:
            raise AnnotatorError("choose a class to add")
        return annotator.add_class(session_value, clip, class_name, threshold=threshold_value)

    def remove_row(clip, threshold_value, session_value, shown_version, author_value, class_name):
        if not class_name:
            raise AnnotatorError("choose a class row to remove")
        annotator.set_author(session_value, author_value)
        return annotator.remove_class(session_value, clip, class_name, shown_version, threshold=threshold_value)

    edit_targets = [*edit_outputs, edit, labels]
    editing_events = [
        apply_edit.click(
            after(apply), [edit_command, threshold, session, author], edit_targets, **edit_group
        ),  # clicked by the page script (mgn.explore.editor_js) after a click / drag on a ground-truth lane
        undo.click(after(undo_edit), [selected, threshold, session, version, author], edit_targets, **edit_group),
        redo.click(after(redo_edit), [selected, threshold, session, version, author], edit_targets, **edit_group),
        add.click(after(add_row), [selected, threshold, session, add_choice], edit_targets, **edit_group),
        remove.click(
            after(remove_row),
            [selected, threshold, session, version, author, remove_choice],
            edit_targets,
            **edit_group,
        ),
    ]
    for event in editing_events:
        event.then(list_view, filters, list_outputs, **clip_group)
    for control in (edit, labels):  # the switches: the view (and the list under the labels shown) again
        control.input(show, clip_inputs, clip_outputs, **clip_group).then(
            list_view, filters, list_outputs, **clip_group
        )

    def edits_download(session_value):
        return bytes_download(*annotator.edits_archive(session_value))

    download_edits.click(_user_error(edits_download), session, edits_file, **edit_group).success(
        None, edits_file, None, js=SAVE_BYTES_JS
    )

    def edits_upload(data: bytes | None, session_value, author_value):
        if not data:
            raise AnnotatorError("no file was uploaded")
        annotator.set_author(session_value, author_value)
        gr.Info(annotator.import_archive(session_value, data, "the uploaded zip"))

    upload = upload_edits.upload(_user_error(edits_upload), [upload_edits, session, author], None, **edit_group)
    upload.success(show, clip_inputs, clip_outputs, **clip_group).then(list_view, filters, list_outputs, **clip_group)

    # The public API: a clip's view, and the clip list (errors are raised to the caller).
    def show_clip(clip: str, threshold_value: float = OFFICIAL_THRESHOLD) -> tuple:
        view = explorer.clip_view(clip, threshold_value)
        return view.clip, view.video_html, PlotData(type="plotly", plot=view.figure_json), view.scores, view.events

    def list_clips(query, classes, modality, error, sort, model, columns, threshold_value):
        return list_view(query, classes, modality, error, sort, model, columns, threshold_value, None, "original")[0][
            "value"
        ]

    def edit_labels(command: str, threshold_value: float = OFFICIAL_THRESHOLD, session_value=None, author_value=""):
        """Apply one edit command (the JSON the page script sends) as the given author: the clip's timeline, its
        scores under both labels, its changes, and why nothing was saved (a stale version, a derived lane) or ""."""
        annotator.set_author(session_value, author_value)
        view = annotator.apply(session_value, command, threshold=threshold_value)
        return PlotData(type="plotly", plot=view.figure_json), view.scores, view.diff, view.message

    api_group = {"concurrency_id": "clip", "concurrency_limit": READ_CONCURRENCY}
    api.click(
        _user_error(edit_labels),
        [edit_command, threshold, session, author],
        [timeline, scores, diff, edit_message],
        api_name="edit_labels",
        concurrency_id="edit",
        concurrency_limit=READ_CONCURRENCY,
    )
    api.click(
        _user_error(show_clip),
        [selected, threshold],
        [selected, video, timeline, scores, events],
        api_name="show_clip",
        **api_group,
    )
    api.click(list_clips, filters[:8], clip_list, api_name="clips", **api_group)
    return {
        "show": show,
        "clip_inputs": clip_inputs,
        "clip_outputs": clip_outputs,
        "selected": selected,
        "classes": classes,
        "class_filters": class_filters,
        "filters": filters,
        "list_view": list_view,
        "list_outputs": list_outputs,
        "editing_events": editing_events,
        "upload": upload,
        "edit": edit,
        "labels": labels,
        "author": author,
        "edit_message": edit_message,
    }


def _dataset_tab(
    gr,
    explorer: Explorer,
    annotator: Annotator,
    threshold: "gr.Slider",
    session: "gr.State",
    clips: dict,
    export_dir: Path,
) -> dict:
    """The Dataset tab: Table 1 (both models side by side with the differences) under the labels shown, Table 1 under
    the original and the corrected labels with the clips whose labels changed, the per-class chart and the modality
    confusion of a chosen model and class, the predictions downloads."""
    names = explorer.model_names
    labels = clips["labels"]

    def tables(threshold_value: float, session_value: EditSession, labels_value: str):
        """Table 1 under the labels shown; under both labels, per model; the corrected clips' scores."""
        gt = annotator.ground_truth(session_value, labels_value)
        shown = "the corrected labels" if gt.key != "split" else "the original labels"
        label = (
            f"Table 1 on this split, threshold {_threshold_text(explorer.check_threshold(threshold_value))}, "
            f"against {shown}"
        )
        moved = annotator.changed_clips(session_value, 0, threshold_value)
        return (
            gr.update(value=explorer.table1_comparison(threshold_value, gt), label=label),
            annotator.table1(session_value, threshold_value),
            gr.update(value=moved, visible=len(moved) > 0),
        )

    def views(model_name: str, class_name: str, threshold_value: float, session_value, labels_value):
        if model_name not in names:
            raise ExplorerError(f"unknown model {model_name!r}; expected one of {names}")
        index = names.index(model_name)
        chosen = None if class_name in (None, ALL_CLASSES) else class_name
        gt = annotator.ground_truth(session_value, labels_value)
        return (
            *tables(threshold_value, session_value, labels_value),
            dashboard.per_class_figure(explorer.per_class(index, threshold_value, gt)),
            dashboard.confusion_figure(explorer.confusion(index, chosen, threshold_value, gt)),
        )

    with gr.Tab("Dataset", id="dataset"):
        table1 = gr.Dataframe(label="Table 1 on this split", interactive=False, elem_id=ui_ids.TABLE1)
        table1_labels = gr.Dataframe(
            label="Table 1 under the original and the corrected labels (change = corrected - original)",
            interactive=False,
            elem_id=ui_ids.TABLE1_LABELS,
        )
        moved = gr.Dataframe(
            label=f"Clips whose labels were corrected: {names[0]}'s Type@AV under both labels",
            interactive=False,
            visible=False,
            elem_id=ui_ids.CORRECTED_CLIPS,
        )
        with gr.Row():
            model = gr.Radio(names, value=names[0], label="Model (charts)")
            confusion_class = gr.Dropdown(
                [ALL_CLASSES] + [display_name(c) for c in CLASSES], value=ALL_CLASSES, label="Class (confusion view)"
            )
            show_class = gr.Button("Show this class's clips")
        with gr.Row():
            for name, archive in write_prediction_archives(explorer, export_dir).items():
                gr.DownloadButton(  # Gradio copies the file into its cache now: the folder can go
                    f"Download {name}'s predictions (official eval-CSV format, threshold {OFFICIAL_THRESHOLD:g}, zip)",
                    value=str(archive),
                    size="sm",
                    elem_id=ui_ids.PREDICTIONS_PREFIX + file_label(name),
                )
        per_class = gr.Plot(show_label=False)
        confusion = gr.Plot(show_label=False)
    group = {"concurrency_id": "dataset", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}
    inputs = [model, confusion_class, threshold, session, labels]
    outputs = [table1, table1_labels, moved, per_class, confusion]
    for control in (model, confusion_class):
        control.change(_user_error(views), inputs, outputs, **group)
    for event in (*clips["editing_events"], clips["upload"]):  # an edit: the tables follow at once
        event.then(_user_error(tables), [threshold, session, labels], outputs[:3], **group)
    clips["labels"].input(_user_error(views), inputs, outputs, **group)
    return {"views": _user_error(views), "inputs": inputs, "outputs": outputs, "show_class": show_class, "group": group}


def _label_errors_tab(gr, explorer: Explorer, annotator: Annotator, session: "gr.State") -> dict:
    """The Label errors tab: cells where a model is confident against the label (the corrected labels: fixed cells
    leave the list), most likely first; a row opens its clip at that cell, ready to edit."""
    names = explorer.model_names

    def rows(model_name: str, high: float, low: float, calibrated: bool, session_value: EditSession):
        if model_name not in names:
            raise ExplorerError(f"unknown model {model_name!r}; expected one of {names}")
        return annotator.label_errors(
            session_value, model=names.index(model_name), high=float(high), low=float(low), calibrated=bool(calibrated)
        )

    with gr.Tab("Label errors", id="errors") as tab:
        gr.Markdown(
            "**Likely label errors**: (clip, class, modality, segment) cells where the model is confident against "
            "the label — probability at least *high* where the label is 0, at most *low* where it is 1 — most "
            "likely first (with *calibrated*, per class and modality, which finds flipped labels better than a "
            "plain confidence sort: see docs/annotations.md). Cells you corrected leave the list. Click a row to "
            "open its clip, ready to edit."
        )
        with gr.Row():
            model = gr.Radio(names, value=names[0], label="Model")
            high = gr.Slider(0.5, 0.99, value=0.9, step=0.01, label="high: listed when p ≥ this and the label is 0")
            low = gr.Slider(0.01, 0.5, value=0.1, step=0.01, label="low: listed when p ≤ this and the label is 1")
            calibrated = gr.Checkbox(True, label="calibrated")
        table = gr.Dataframe(interactive=False, max_height=640, wrap=True, elem_id=ui_ids.LABEL_ERRORS)
    group = {"concurrency_id": "dataset", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}
    inputs = [model, high, low, calibrated, session]
    tab.select(_user_error(rows), inputs, table, **group)
    for control in (model, high, low, calibrated):
        control.change(_user_error(rows), inputs, table, **group)
    return {"rows": _user_error(rows), "inputs": inputs, "table": table, "group": group}


def _disagreements_tab(gr, explorer: Explorer, threshold: "gr.Slider") -> dict:
    """Compare mode: the Disagreements tab, where one model is right and the other wrong (a row opens its clip)."""
    names = [model.short_name for model in explorer.models]

    def rows(right: int, modality: str, classes: list[str], threshold_value: float):
        try:
            frame = clip_views.filter_disagreements(
                explorer.disagreements(threshold_value),
                right_model=None if right < 0 else right,
                modality=modality,
                classes=classes or (),
            )
        except (ExplorerError, ValueError) as problem:
            raise gr.Error(str(problem)) from None
        return frame[list(clip_views.DISAGREEMENT_COLUMNS)]

    with gr.Tab("Disagreements", id="disagreements"):
        gr.Markdown(
            f"Where **{names[0]}** and **{names[1]}** disagree and one of them is right: runs of segments of a class "
            "in one modality (segments numbered 1 to 10), with what the other model did wrong. Click a row to open "
            "its clip."
        )
        with gr.Row():
            right = gr.Dropdown(
                [("either model", -1)] + [(f"{name} right", index) for index, name in enumerate(names)],
                value=-1,
                label="Right",
            )
            modality = gr.Dropdown(
                [(clip_views.MODALITY_WORDS[m], m) for m in clip_views.FILTER_MODALITIES],
                value="any",
                label="Modality",
            )
            classes = gr.Dropdown([display_name(c) for c in CLASSES], multiselect=True, label="Classes")
        table = gr.Dataframe(
            rows(-1, "any", [], OFFICIAL_THRESHOLD), interactive=False, max_height=640, elem_id=ui_ids.DISAGREEMENTS
        )
    group = {"concurrency_id": "dataset", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}
    inputs = [right, modality, classes, threshold]
    for control in (right, modality, classes):
        control.input(rows, inputs, table, **group)
    return {"rows": rows, "inputs": inputs, "table": table, "group": group}


def _tsne_tab(gr, explorer: Explorer) -> None:
    """The t-SNE tab: MGN's class tokens and class-aware features (computed on first view; scikit-learn then)."""
    names = explorer.model_names

    @_user_error
    def views(model_name: str):
        if model_name not in names:
            raise ExplorerError(f"unknown model {model_name!r}; expected one of {names}")
        index = names.index(model_name)
        tokens, features = explorer.token_points(index), explorer.feature_points(index)
        if tokens is None:
            note = (
                f"**{model_name}** has no class tokens: learnable class tokens and class-aware features are "
                "MGN's. Open an MGN checkpoint (or compare one) to see them."
            )
            return note, None, None
        from mgn.explore import embeddings  # scikit-learn: imported with the first t-SNE

        note = (
            f"t-SNE of **{model_name}**: (a) its 25 audio and 25 visual class tokens; (b) its class-aware audio and "
            f"visual features of the classes present in each clip ({len(features)} points). "
            "Click a point in (b) to open its clip."
        )
        return note, embeddings.token_figure(tokens), embeddings.feature_figure(features)

    with gr.Tab("t-SNE", id="tsne") as tab:
        model = gr.Radio(names, value=names[0], label="Model")
        note = gr.Markdown()
        tokens = gr.Plot(elem_id=ui_ids.TOKENS_PLOT, show_label=False)
        features = gr.Plot(elem_id=ui_ids.FEATURES_PLOT, show_label=False)
    group = {"concurrency_id": "tsne", "concurrency_limit": 1, "api_visibility": "private"}  # one computes, all wait
    tab.select(views, model, [note, tokens, features], **group)
    model.change(views, model, [note, tokens, features], **group)


def _parse_tab(gr, parse: ParseSetup, annotator: Annotator, session: "gr.State", export_dir: Path) -> None:
    """The "Parse a video" tab: upload or pick a video, parse it (queued one at a time, with progress); then
    annotate it from scratch (video-level labels, then segments on its windows' timelines) and download it as an
    LLP-format dataset with its features."""
    from gradio.components.plot import PlotData

    with gr.Tab("Parse a video", id="parse"):
        gr.Markdown(
            f"Parse your own video with **{parse.model_name}**: the official LLP features are computed for "
            f"each 10-s window (up to {parse.max_seconds:g} s of video; files up to "
            f"{parse.max_bytes / 2**20:.0f} MB), then the model parses them. No ground truth is needed: the "
            "timeline shows the predictions alone. Parses run one at a time; the page shows your place in the queue. "
            "The first parse loads the model and the feature networks (downloading their published weights once). "
            "Note: a model trained on the synthetic demo features gives meaningless predictions on real videos; "
            "start the app with an official checkpoint (README) to parse real footage."
        )
        with gr.Row():
            upload = gr.File(label="Upload a video", file_types=["video"], elem_id=ui_ids.PARSE_UPLOAD)
            with gr.Column():
                listed_video = gr.Dropdown(
                    list(parse.listed), value=None, label="... or pick a listed video", elem_id=ui_ids.PARSE_LISTED
                )
                button = gr.Button("Parse", variant="primary", elem_id=ui_ids.PARSE_BUTTON)
        status = gr.Markdown(elem_id=ui_ids.PARSE_STATUS)
        with gr.Row():
            player = gr.Video(label="Video", interactive=False, elem_id=ui_ids.PARSE_VIDEO)
            archive = gr.DownloadButton("Download the features (official layout, zip)", visible=False)
        figure = gr.Plot(show_label=False, elem_id=ui_ids.PARSE_TIMELINE)
        events = gr.Dataframe(label="Predicted events", interactive=False, elem_id=ui_ids.PARSE_EVENTS)
        windows = gr.State([])  # the parsed video's windows (ParsedWindow: features and predictions)
        with gr.Accordion(
            "Annotate this video: a new LLP-format clip per 10-s window", open=False, elem_id=ui_ids.PARSE_ANNOTATE
        ):
            gr.Markdown(
                "1. Choose the classes present in the video (its video-level labels) and declare them. "
                "2. Pick a window and click or drag its Audio and Visual ground-truth lanes to mark where each class "
                "is heard or seen (the model's predictions are shown for reference). "
                "3. Download the annotated windows with their features: a dataset folder `training.train` reads."
            )
            with gr.Row():
                video_labels = gr.Dropdown(
                    class_choices(), multiselect=True, label="Video-level labels", elem_id=ui_ids.PARSE_LABELS
                )
                declare = gr.Button("Declare the labels", size="sm", elem_id=ui_ids.PARSE_DECLARE)
            window = gr.Dropdown([], label="Window", type="index", elem_id=ui_ids.PARSE_WINDOW)
            parse_message = gr.Markdown(elem_id=ui_ids.PARSE_MESSAGE)
            editor = gr.Plot(show_label=False, elem_id=ui_ids.PARSE_EDITOR_PLOT)
            labelled = gr.Dataframe(label="Your labels (events, seconds in the video)", interactive=False)
            download_dataset = gr.Button(
                "Download the annotated windows as an LLP-format dataset (zip with features)",
                size="sm",
                elem_id=ui_ids.PARSE_DOWNLOAD,
            )
            dataset_file = gr.JSON(visible=False)
            parse_command = gr.Textbox(
                elem_id=ui_ids.PARSE_EDIT_COMMAND, elem_classes=ui_ids.HIDDEN_CLASS, show_label=False
            )
            parse_apply = gr.Button("apply", elem_id=ui_ids.PARSE_APPLY_EDIT, elem_classes=ui_ids.HIDDEN_CLASS)

    downloads = Path(tempfile.mkdtemp(prefix="mgn-parse-", dir=export_dir.parent))
    atexit.register(shutil.rmtree, downloads, ignore_errors=True)

    def run(upload_path: str | None, listed_label: str | None, progress=gr.Progress()):
        if not upload_path and not listed_label:
            raise gr.Error("upload a video or pick a listed one first")
        from mgn.explore.video_parser import VideoParseError  # torch: imported with the first parse

        try:
            progress(0.0, desc="loading the model")
            parser = parse.parser()
            if upload_path:
                path, name = Path(upload_path), Path(upload_path).name  # the server's copy; the name is shown only
            else:
                path = parser.resolve_listed(listed_label)
                name = path.name
            result = parser.parse(path, name, on_progress=lambda fraction, message: progress(fraction, desc=message))
        except VideoParseError as error:
            raise gr.Error(str(error)) from None
        zip_path = downloads / f"features_{file_label(Path(name).stem)[:60]}.zip"
        zip_path.write_bytes(result.archive)
        count = len(result.parsed.windows)
        notes = "".join(f"\n- {note}" for note in result.notes)
        summary = (
            f"**{name}**: {result.parsed.duration:.1f} s, {count} window{'s' if count > 1 else ''} of "
            f"{result.parsed.windows[0].length:g} s, {len(result.events)} predicted event(s).{notes}"
        )
        archive_button = gr.DownloadButton(value=str(zip_path), visible=True)
        cut = parsed_windows(result.parsed, parse.model_name)  # the windows to annotate (a state: not in the API)
        return summary, str(path), parser.figure(result), result.events, archive_button, cut

    group = {"concurrency_id": "edit", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}
    button.click(
        run,
        [upload, listed_video],
        [status, player, figure, events, archive, windows],
        api_name="parse_video",
        concurrency_id="parse",
        concurrency_limit=1,
    ).success(
        lambda cut: (gr.update(choices=[(w.title, i) for i, w in enumerate(cut)], value=None), None, None, ""),
        windows,
        [window, editor, labelled, parse_message],
        **group,
    )

    def window_view(cut, index, session_value, message: str = "") -> tuple:
        if index is None or not cut or not 0 <= int(index) < len(cut):
            return None, None, message
        figure_json, _, rows = annotator.parsed_view(session_value, cut[int(index)])
        return PlotData(type="plotly", plot=figure_json), rows, message

    def declare_labels(cut, labels_value, index, session_value):
        message = annotator.declare_parsed(session_value, cut, labels_value or [])
        index = 0 if index is None else index
        return gr.update(value=index), *window_view(cut, index, session_value, message)

    def apply(cut, index, command, session_value):
        if index is None or not cut:
            raise AnnotatorError("pick a window first")
        message = annotator.apply_parsed(session_value, cut[int(index)], command)
        return window_view(cut, index, session_value, message)

    def dataset(cut, session_value):
        return bytes_download(*annotator.parsed_dataset(session_value, cut))

    declare.click(
        _user_error(declare_labels),
        [windows, video_labels, window, session],
        [window, editor, labelled, parse_message],
        **group,
    )
    window.input(
        _user_error(lambda cut, index, s: window_view(cut, index, s)),
        [windows, window, session],
        [editor, labelled, parse_message],
        **group,
    )
    parse_apply.click(
        _user_error(apply), [windows, window, parse_command, session], [editor, labelled, parse_message], **group
    )
    download_dataset.click(_user_error(dataset), [windows, session], dataset_file, **group).success(
        None, dataset_file, None, js=SAVE_BYTES_JS
    )


def _wire_across_tabs(
    gr, demo, explorer: Explorer, tabs, threshold, clips: dict, dataset: dict, disagreements, errors: dict
) -> None:
    """Events that join the tabs: the page load (``?clip=`` / ``?tab=``), the threshold, a class's clips, a
    disagreement's clip, a likely label error's clip."""
    show, clip_outputs, clip_group = clips["show"], clips["clip_outputs"], {"concurrency_id": "clip"}
    clip_inputs = clips["clip_inputs"]
    private = {"concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}

    def on_load(clip, threshold_value, session_value, labels_value, edit_value, request: gr.Request):
        query = request.query_params if request is not None else {}
        wanted, tab = (query.get("clip") or "").strip(), (query.get("tab") or "").strip()
        note = ""
        if wanted:
            try:
                explorer.index_of(wanted)
            except ExplorerError as error:  # the address names no clip of the split: the first clip, and why
                wanted, note = "", f"The address asks for an {error}; showing {clip}."
        shown = show(wanted or clip, threshold_value, session_value, labels_value, edit_value)
        shown = (*shown[:-1], note or shown[-1])
        known = tab in TABS.values() and (tab != "disagreements" or explorer.compare)
        return (*shown, gr.Tabs(selected=tab) if known else gr.skip())  # no ?tab=: the tab the visitor is on

    demo.load(on_load, clip_inputs, [*clip_outputs, tabs], **clip_group, **private)
    demo.load(dataset["views"], dataset["inputs"], dataset["outputs"], **dataset["group"])
    threshold.change(show, clip_inputs, clip_outputs, **clip_group, **private)
    threshold.change(clips["list_view"], clips["filters"], clips["list_outputs"], **clip_group, **private)
    threshold.change(dataset["views"], dataset["inputs"], dataset["outputs"], **dataset["group"])
    dataset["show_class"].click(
        lambda name: ([] if name == ALL_CLASSES else [name], gr.Accordion(open=True), gr.Tabs(selected="clips")),
        dataset["inputs"][1],
        [clips["classes"], clips["class_filters"], tabs],
        **dataset["group"],
    ).then(clips["list_view"], clips["filters"], clips["list_outputs"], **clip_group, **private)
    if disagreements is not None:
        threshold.change(disagreements["rows"], disagreements["inputs"], disagreements["table"], **dataset["group"])

        def open_row(threshold_value, session_value, labels_value, edit_value, event: gr.SelectData):
            shown = show(str(event.row_value[0]), threshold_value, session_value, labels_value, edit_value)
            return (*shown, gr.Tabs(selected="clips"))

        disagreements["table"].select(open_row, clip_inputs[1:], [*clip_outputs, tabs], **clip_group, **private)

    def open_error(threshold_value, session_value, event: gr.SelectData):
        """A likely label error's row: its clip, editable, with the cell's class row shown and named."""
        try:
            target = Annotator.target(_error_row(event.row_value))
        except AnnotatorError as error:
            raise gr.Error(str(error)) from None
        session_value.with_class(target.clip, target.class_name)
        shown = show(target.clip, threshold_value, session_value, "corrected", True)
        note = f"Likely label error: {target.describe()[len('open ') :]}."
        edit_index = len(clip_outputs) - 1
        return (*shown[:edit_index], note, True, "corrected", gr.Tabs(selected="clips"))

    errors["table"].select(
        open_error,
        [threshold, clips["clip_inputs"][2]],
        [*clip_outputs[:-1], clips["edit_message"], clips["edit"], clips["labels"], tabs],
        **clip_group,
        **private,
    ).then(clips["list_view"], clips["filters"], clips["list_outputs"], **clip_group, **private)


def _error_row(values) -> dict:
    """A row of the label-errors table (its columns in :data:`mgn.explore.editing.CANDIDATE_COLUMNS` order)."""
    from mgn.explore.editing import CANDIDATE_COLUMNS

    return dict(zip(CANDIDATE_COLUMNS, values))


def launch_assets() -> dict[str, str]:
    """The page's scripts (the player's and the label editor's) and stylesheet, as ``launch(js=..., css=...)``
    takes them."""
    return {"js": combine_scripts(page_script(TABS), editor_script()), "css": PAGE_CSS}


# ---------------------------------------------------------------------------------------------------------------------
# serving


def video_routes(explorer: Explorer) -> list:
    """The route that serves the split's videos, ``/mgn/video/<ID>.mp4`` (byte ranges too, for seeking).

    Only the split's ``<ID>.mp4`` files that exist are served, looked up by video ID: nothing else of the video
    folder (a CSV beside the videos, another split's video) and no path that the URL could name. Gradio itself is
    given no folder to serve (its file route checks every allowed path per request: 0.1 s with LLP's 1,200 videos).
    """
    from starlette.responses import FileResponse, PlainTextResponse
    from starlette.routing import Route

    files = explorer.video_files()

    async def video(request):
        path = files.get(request.path_params["video_id"])
        if path is None:
            return PlainTextResponse("no such video in this split", status_code=404)
        return FileResponse(path, media_type="video/mp4")

    return [Route(f"/{VIDEO_ROUTE}/{{video_id}}.mp4", video, methods=["GET", "HEAD"])]


def serve(demo: "gr.Blocks", explorer: Explorer, args: argparse.Namespace) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the server cleanly (a SIGTERM ends the process with status 0).

    Of the disk, the server gives out only the split's videos (:func:`video_routes`) and Gradio's own files.

    Raises:
        OSError: the server could not start (e.g. the port was taken since it was checked).
    """
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        demo.queue().launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            app_kwargs={"routes": video_routes(explorer)},  # FastAPI's routes: matched before Gradio's
            max_file_size=args.max_file_size,
            show_error=True,
            enable_monitoring=False,
            ssr_mode=False,  # the page is served by Python, with the video route above
            prevent_thread_lock=True,
            **launch_assets(),
        )
        explorer.clip_view(str(explorer.split.filenames[0]))  # the first page's clip, while the first visitor loads
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        demo.close()
        signal.signal(signal.SIGTERM, previous)


def _one_line(message: str) -> str:
    """A message on one line: its non-empty lines joined with "; " (e.g. a list of mismatched weights)."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``warning: ...`` line each (a cache that could not be used, annotation rows ignored)."""
    print(f"warning: {_one_line(str(message))}", file=sys.stderr)


def _skip_absent_plot_backends() -> None:
    """Make ``import matplotlib`` / ``import bokeh`` fail at once when they are not installed.

    Gradio tries both on every event (its matplotlib backend guard) and for every ``gr.Plot`` of every new session;
    a failed import searches the whole ``sys.path`` again each time, which was a third of the server's time under
    load. A ``None`` in ``sys.modules`` is Python's documented "known to be absent" marker; installed packages are
    left alone.
    """
    for name in ("matplotlib", "bokeh"):
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None


def _local_checkpoint(source: str | None) -> str | None:
    """A checkpoint's local path; an https address is downloaded once into the cache and its SHA-256 printed."""
    if source is None or not is_url(source):
        return source
    from mgn.checkpoint import fetch_checkpoint  # torch comes with it: only for addresses

    fetched = fetch_checkpoint(source)
    verb = "downloaded" if fetched.downloaded else "cached"
    print(f"checkpoint {source}: {verb} at {fetched.path} (sha256 {fetched.sha256})", file=sys.stderr)
    return str(fetched.path)


def _parse_setup(args: argparse.Namespace, explorer: Explorer) -> ParseSetup:
    """The "Parse a video" tab over the first model; the parser (torch, the model) is built on the first parse.

    The listed videos are the ``.mp4`` files of the demo's video folder and of the split's video folder.
    """
    folders = [DEMO_DIR / "video"] + ([explorer.videos_dir] if explorer.videos_dir is not None else [])
    listed = sorted({path.name for folder in folders if folder.is_dir() for path in folder.glob("*.mp4")})
    lock, built = threading.Lock(), []

    def parser() -> "VideoParser":
        with lock:
            if not built:
                from mgn.checkpoint import load_any_checkpoint
                from mgn.explore.video_parser import VideoParser
                from mgn.extract.pipeline import ExtractorConfig, FeatureExtractor

                model = load_any_checkpoint(args.checkpoint, args.arch).to(resolve_device(args.device)).eval()

                def networks() -> FeatureExtractor:
                    return FeatureExtractor.from_published_weights(
                        ExtractorConfig(device=args.device or "auto"), weights_dir=args.weights_dir
                    )

                built.append(
                    VideoParser(
                        model,
                        explorer.models[0].name,
                        networks,
                        max_seconds=args.max_video_seconds,
                        max_bytes=args.max_file_size,
                        listed=folders,
                    )
                )
            return built[0]

    return ParseSetup(explorer.models[0].name, args.max_video_seconds, args.max_file_size, tuple(listed), parser)


def open_app_annotator(args: argparse.Namespace, explorer: Explorer) -> Annotator:
    """Where the page's label edits go: ``--annotations FILE`` (shared by every page); else in hosted mode each
    browser session's own; else the file beside the data (the embedded demo's, which lives in the package: under
    the cache folder, or each session's own when there is no usable cache folder). Prints where, in one line
    (``label edits: ...``)."""
    on_demo = Path(args.data).resolve().is_relative_to(DEMO_DIR.resolve())
    if args.annotations is None and not args.hosted and on_demo and explorer.cache_dir is None:
        annotator = open_annotator(explorer, args.data, hosted=True)  # the line below says so
    else:
        annotator = open_annotator(
            explorer,
            args.data,
            path=args.annotations,
            hosted=args.hosted,
            cache_dir=explorer.cache_dir,
            protected=DEMO_DIR,
        )
    where = "each browser session (download them)" if annotator.store.path is None else str(annotator.store.path)
    print(f"label edits: {where}", file=sys.stderr)
    return annotator


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _skip_absent_plot_backends()
    with warnings.catch_warnings():
        warnings.showwarning = _print_warning
        try:
            check_args(args)
            args.checkpoint, args.compare = (_local_checkpoint(source) for source in (args.checkpoint, args.compare))
            checkpoints = [args.checkpoint] + ([args.compare] if args.compare else [])
            explorer = open_explorer(
                args.data,
                checkpoints,
                labels=[args.label, args.compare_label][: len(checkpoints)],
                split=args.split,
                videos=args.videos,
                cache_dir=args.cache_dir or None,
                device=args.device,
                gate=args.gate,
                arch=args.arch,
            )
            annotator = open_app_annotator(args, explorer)
            demo = build_app(explorer, _parse_setup(args, explorer), annotator)
            serve(demo, explorer, args)
        except (FileNotFoundError, ValueError, OSError) as error:  # user errors, incl. a port taken meanwhile
            print(f"error: {_one_line(str(error))}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
