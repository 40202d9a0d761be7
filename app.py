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
TABS |= {"Parse a video": "parse", "About": "about"}  # tab label -> id (the ?tab= value)
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
    parser.add_argument("--label", help="the model's name in the page (default: architecture, recipe and run folder)")
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
        except ExplorerError as error:
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


def build_app(explorer: Explorer, parse: ParseSetup | None = None) -> "gr.Blocks":
    """The explorer's Blocks; every value comes from ``explorer`` (loaded once, shared read-only).

    Nothing is written per request: clip views come from the explorer's cache, the timeline download is made on
    demand and saved by the browser, and the prediction archives are written once, here, into a temporary folder
    that Gradio copies them from (into its own cache) before the folder is removed. With ``parse``, a "Parse a video"
    tab parses uploaded or listed videos (one at a time, queued). The page script and stylesheet are
    :func:`launch_assets` (``launch(js=..., css=...)``).
    """
    import gradio as gr

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
        with gr.Tabs(selected="clips", overflow_behavior="wrap") as tabs:
            clips = _clips_tab(gr, explorer, threshold, first_clip, api)
            dataset = _dataset_tab(gr, explorer, threshold, Path(export_dir))
            disagreements = _disagreements_tab(gr, explorer, threshold) if explorer.compare else None
            _tsne_tab(gr, explorer)
            if parse is not None:
                _parse_tab(gr, parse, Path(export_dir))
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
        _wire_across_tabs(gr, demo, explorer, tabs, threshold, clips, dataset, disagreements)
    return demo


def _clip_outputs_of(gr, explorer: Explorer):
    """The page's clip handler (used by several tabs): ``(clip, threshold)`` -> the clip view's outputs and a
    message; an unknown clip (or threshold) leaves every shown output as it is and says why, once."""
    from gradio.components.plot import PlotData  # gr.Plot passes it through: the cached JSON is sent as it is

    def show(clip: str, threshold: float) -> tuple:
        try:
            view = explorer.clip_view(clip, threshold)
        except ExplorerError as error:
            return (gr.skip(),) * 5 + (f"{error}. Still showing the last clip.",)
        return view.clip, view.video_html, PlotData(type="plotly", plot=view.figure_json), view.scores, view.events, ""

    return show


def _clips_tab(gr, explorer: Explorer, threshold: "gr.Slider", first_clip: str, api: "gr.Button") -> dict:
    """The Clips tab: the list (filters, sort, columns), the player with the clip's scores, the timeline."""
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
    show = _clip_outputs_of(gr, explorer)

    def list_view(query, classes, modality, error, sort, model, columns, threshold_value):
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
            )
            frame = clip_views.display_frame(chosen, sort_key=sort, extra=columns or (), model_names=names)
        except (ExplorerError, ValueError) as problem:
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
                initial = list_view("", [], "any", "any", sort_default, 0, [], OFFICIAL_THRESHOLD)
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
                    label="This clip's F-scores (%)", interactive=False, elem_classes=ui_ids.DETAILS_CLASS
                )
                download = gr.Button(
                    "Download the timeline (HTML, opens offline; PNG: the plot's camera button)",
                    size="sm",
                    elem_id=ui_ids.DOWNLOAD_TIMELINE,
                    elem_classes=ui_ids.DETAILS_CLASS,
                )
                download_text = gr.JSON(visible=False)  # {"name", "text"}: saved by the browser
                events = gr.Dataframe(
                    label="Events (ground truth and predicted)", interactive=False, elem_classes=ui_ids.DETAILS_CLASS
                )
            with gr.Column(elem_id=ui_ids.TIMELINE_COLUMN):
                timeline = gr.Plot(elem_id=ui_ids.TIMELINE, show_label=False)

    clip_outputs = [selected, video, timeline, scores, events, message]
    filters = [query, classes, modality, error, sort, model, columns, threshold]
    list_outputs = [clip_list, empty_note, clear, order]
    clip_group = {"concurrency_id": "clip", "concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}

    def select_row(threshold_value: float, event: gr.SelectData):  # evaluated here: Gradio reads the hint
        return show(str(event.row_value[0]), threshold_value)  # the row's clip (first column), everything at once

    def step(clips: list[str], clip: str, threshold_value: float, offset: int) -> tuple:
        try:
            current = explorer.split.filenames[explorer.index_of(clip)]
        except ExplorerError:
            current = clip
        target = clip_views.neighbour(clips or [], str(current), offset)
        return show(target, threshold_value) if target is not None else (gr.skip(),) * 6

    selected.submit(show, [selected, threshold], clip_outputs, **clip_group)
    open_clip.click(show, [selected, threshold], clip_outputs, **clip_group)  # clicked by the page script
    clip_list.select(select_row, threshold, clip_outputs, **clip_group)
    previous.click(lambda *a: step(*a, -1), [order, selected, threshold], clip_outputs, **clip_group)
    following.click(lambda *a: step(*a, 1), [order, selected, threshold], clip_outputs, **clip_group)
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

    # The public API: a clip's view, and the clip list (errors are raised to the caller).
    def show_clip(clip: str, threshold_value: float = OFFICIAL_THRESHOLD) -> tuple:
        view = explorer.clip_view(clip, threshold_value)
        return view.clip, view.video_html, PlotData(type="plotly", plot=view.figure_json), view.scores, view.events

    def list_clips(query, classes, modality, error, sort, model, columns, threshold_value):
        return list_view(query, classes, modality, error, sort, model, columns, threshold_value)[0]["value"]

    api_group = {"concurrency_id": "clip", "concurrency_limit": READ_CONCURRENCY}
    api.click(_user_error(show_clip), [selected, threshold], clip_outputs[:5], api_name="show_clip", **api_group)
    api.click(list_clips, filters, clip_list, api_name="clips", **api_group)
    return {
        "show": show,
        "clip_outputs": clip_outputs,
        "selected": selected,
        "classes": classes,
        "class_filters": class_filters,
        "filters": filters,
        "list_view": list_view,
        "list_outputs": list_outputs,
    }


def _dataset_tab(gr, explorer: Explorer, threshold: "gr.Slider", export_dir: Path) -> dict:
    """The Dataset tab: Table 1 (both models side by side with the differences), the per-class chart and the
    modality confusion of a chosen model and class, the predictions downloads."""
    names = explorer.model_names

    def views(model_name: str, class_name: str, threshold_value: float):
        if model_name not in names:
            raise ExplorerError(f"unknown model {model_name!r}; expected one of {names}")
        index = names.index(model_name)
        chosen = None if class_name in (None, ALL_CLASSES) else class_name
        table1 = explorer.table1_comparison(threshold_value)
        label = f"Table 1 on this split, threshold {_threshold_text(explorer.check_threshold(threshold_value))}"
        return (
            gr.update(value=table1, label=label),
            dashboard.per_class_figure(explorer.per_class(index, threshold_value)),
            dashboard.confusion_figure(explorer.confusion(index, chosen, threshold_value)),
        )

    with gr.Tab("Dataset", id="dataset"):
        table1 = gr.Dataframe(label="Table 1 on this split", interactive=False, elem_id=ui_ids.TABLE1)
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
    inputs, outputs = [model, confusion_class, threshold], [table1, per_class, confusion]
    for control in (model, confusion_class):
        control.change(_user_error(views), inputs, outputs, **group)
    return {"views": _user_error(views), "inputs": inputs, "outputs": outputs, "show_class": show_class, "group": group}


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


def _parse_tab(gr, parse: ParseSetup, export_dir: Path) -> None:
    """The "Parse a video" tab: upload or pick a video, parse it (queued one at a time, with progress)."""
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
        windows = len(result.parsed.windows)
        notes = "".join(f"\n- {note}" for note in result.notes)
        summary = (
            f"**{name}**: {result.parsed.duration:.1f} s, {windows} window{'s' if windows > 1 else ''} of "
            f"{result.parsed.windows[0].length:g} s, {len(result.events)} predicted event(s).{notes}"
        )
        archive_button = gr.DownloadButton(value=str(zip_path), visible=True)
        return summary, str(path), parser.figure(result), result.events, archive_button

    button.click(
        run,
        [upload, listed_video],
        [status, player, figure, events, archive],
        api_name="parse_video",
        concurrency_id="parse",
        concurrency_limit=1,
    )


def _wire_across_tabs(gr, demo, explorer: Explorer, tabs, threshold, clips: dict, dataset: dict, disagreements) -> None:
    """Events that join the tabs: the page load (``?clip=`` / ``?tab=``), the threshold, a class's clips, a
    disagreement's clip."""
    show, clip_outputs, clip_group = clips["show"], clips["clip_outputs"], {"concurrency_id": "clip"}
    private = {"concurrency_limit": READ_CONCURRENCY, "api_visibility": "private"}

    def on_load(clip: str, threshold_value: float, request: gr.Request):
        query = request.query_params if request is not None else {}
        wanted, tab = (query.get("clip") or "").strip(), (query.get("tab") or "").strip()
        note = ""
        if wanted:
            try:
                explorer.index_of(wanted)
            except ExplorerError as error:  # the address names no clip of the split: the first clip, and why
                wanted, note = "", f"The address asks for an {error}; showing {clip}."
        shown = show(wanted or clip, threshold_value)
        shown = (*shown[:-1], note or shown[-1])
        known = tab in TABS.values() and (tab != "disagreements" or explorer.compare)
        return (*shown, gr.Tabs(selected=tab) if known else gr.skip())  # no ?tab=: the tab the visitor is on

    demo.load(on_load, [clips["selected"], threshold], [*clip_outputs, tabs], **clip_group, **private)
    demo.load(dataset["views"], dataset["inputs"], dataset["outputs"], **dataset["group"])
    threshold.change(show, [clips["selected"], threshold], clip_outputs, **clip_group, **private)
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

        def open_row(threshold_value: float, event: gr.SelectData):
            return (*show(str(event.row_value[0]), threshold_value), gr.Tabs(selected="clips"))

        disagreements["table"].select(open_row, threshold, [*clip_outputs, tabs], **clip_group, **private)


def launch_assets() -> dict[str, str]:
    """The page's script and stylesheet, as ``launch(js=..., css=...)`` takes them."""
    return {"js": page_script(TABS), "css": PAGE_CSS}


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
            demo = build_app(explorer, _parse_setup(args, explorer))
            serve(demo, explorer, args)
        except (FileNotFoundError, ValueError, OSError) as error:  # user errors, incl. a port taken meanwhile
            print(f"error: {_one_line(str(error))}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
