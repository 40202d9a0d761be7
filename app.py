"""mgn explorer: see where audio-visual video parsers (MGN, HAN) go wrong, clip by clip.

``python app.py`` opens the embedded demo (a small synthetic LLP-format split with playable videos and a shipped
MGN checkpoint); ``python app.py --data DIR --checkpoint CKPT [--videos DIR] [--compare CKPT2] [--split test]``
opens real LLP in the official layout. This file is UI wiring only: the content comes from ``mgn.explore``.

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
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry unless the user opts in
# Gradio's queue rebuilds a pandas summary of every recorded event after each event (for its /monitoring page, off
# here): O(events) per request. Refresh it once per 1,000 events instead.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

from mgn.checkpoint import fetch_checkpoint, load_any_checkpoint  # noqa: E402
from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK  # noqa: E402
from mgn.data.llp import DENSE_SPLITS  # noqa: E402
from mgn.device import DEVICE_CHOICES, resolve_device  # noqa: E402
from mgn.download import is_url  # noqa: E402
from mgn.explore import clips as clip_views  # noqa: E402
from mgn.explore import dashboard, embeddings  # noqa: E402
from mgn.explore.player import PLAYER_SYNC_JS, SAVE_TEXT_JS, VIDEO_ROUTE  # noqa: E402
from mgn.explore.state import Explorer, ExplorerError, open_explorer  # noqa: E402
from mgn.explore.video_parser import VideoParseError, VideoParser  # noqa: E402
from mgn.export import write_prediction_archive  # noqa: E402
from mgn.inference import GATES  # noqa: E402
from mgn.labels import CLASSES, display_name  # noqa: E402
from mgn.models import ARCHITECTURES  # noqa: E402

if TYPE_CHECKING:  # gradio is imported when the page is built: a bad flag is reported before its slow import
    import gradio as gr

DEMO_DIR = Path(__file__).resolve().parent / "assets" / "demo"
ALL_CLASSES = "all classes"
CSS = ".mgn-cursor{box-shadow:0 0 4px #e11d48} .mgn-hidden{display:none !important}"
DEFAULT_MAX_FILE_SIZE = "200mb"
DEFAULT_MAX_VIDEO_SECONDS = 60.0
# Gradio's units (gradio.utils.FileSize): binary multiples.
_SIZE_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}
# Requests run at once per group of events. The handlers are pure reads of cached views (GIL-bound Python): more
# threads than cores only fight over the GIL; the t-SNE group is apart so that a slow t-SNE never holds a clip switch.
READ_CONCURRENCY = max(2, os.cpu_count() or 1)
ABOUT = """
### Audio-visual video parsing in one minute
A 10-second video is cut into ten 1-second **segments**. For each segment and each of the 25 LLP classes, a parser
says whether the event is **audible**, **visible**, or both (**audio-visual**) — although training only ever saw
**video-level** labels ("this clip contains a dog and speech somewhere"). The hard parts are *which modality* (a dog
can be heard off-screen) and *when*.

**MGN** (Mo & Tian, NeurIPS 2022) groups segments into 25 learnable **class tokens** per modality, then groups audio
class features with visual ones; **HAN** (Tian et al., ECCV 2020) uses hybrid attention and attentive MIL pooling.

**Reading the timeline**: three panels (Audio, Visual, Audio-Visual = both at once), one row per class in the ground
truth or the prediction. Outlined bars are ground-truth events, filled bars predicted ones; each segment is marked as
a true positive, false positive or false negative; the heat strip shows the model's segment probability. Click the
timeline to seek the video; the red cursor follows playback.

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
        help="a second checkpoint to compare with the first (a path or an https address)",
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
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
    return parser.parse_args(argv)


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
    if not 1 <= args.max_video_seconds <= 3600:
        raise ValueError(f"--max-video-seconds: expected 1 to 3600 seconds, got {args.max_video_seconds:g}")
    if args.weights_dir is not None and not Path(args.weights_dir).is_dir():
        raise ValueError(f"--weights-dir: {args.weights_dir} is not a folder")
    if args.videos is not None and not Path(args.videos).is_dir():
        raise ValueError(f"--videos: {args.videos} is not a folder (expected a folder of <ID>.mp4 files)")
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


def _user_error(function):
    """Turn the explorer's request errors into messages in the page instead of tracebacks."""
    import gradio as gr

    def wrapped(*args):
        try:
            return function(*args)
        except ExplorerError as error:
            raise gr.Error(str(error)) from None

    wrapped.__name__ = function.__name__
    return wrapped


def _file_label(name: str) -> str:
    """A model name as part of a file name: ``MGN (1)`` -> ``MGN_1``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")


def build_app(explorer: Explorer, video_parser: VideoParser | None = None) -> "gr.Blocks":
    """The explorer's Blocks; every value comes from ``explorer`` (loaded once, shared read-only).

    Nothing is written per request: clip views come from the explorer's cache, the timeline download is made on
    demand and saved by the browser, and the prediction archives are written once, here, into a temporary folder
    that Gradio copies them from (into its own cache) before the folder is removed. With ``video_parser``, a
    "Parse a video" tab parses uploaded or listed videos (one at a time, queued).
    """
    import gradio as gr
    from gradio.components.plot import PlotData  # gr.Plot passes it through: the cached JSON is sent as it is

    model_names = [model.name for model in explorer.models]
    compare = len(explorer.models) == 2
    sort_default = "most disagreement" if compare else "worst audio-visual F (segment)"
    summary = " · ".join(
        f"**{m.name}** ({m.checkpoint.name}): segment Type@AV {m.scores.segment.type:.1f}, "
        f"event Type@AV {m.scores.event.type:.1f}"
        for m in explorer.models
    )

    @_user_error
    def show_clip(clip: str):
        view = explorer.clip_view(clip)
        return view.clip, view.video_html, PlotData(type="plotly", plot=view.figure_json), view.scores, view.events

    def select_row(event: gr.SelectData):  # evaluated here (no postponed annotations): Gradio reads the hint
        return show_clip(str(event.row_value[0]))  # the row's clip (first column) and everything about it, at once

    @_user_error
    def timeline_file(clip: str) -> dict[str, str]:
        view = explorer.clip_view(clip)
        return {"name": f"timeline_{view.clip}.html", "text": explorer.timeline_page(view.clip)}

    @_user_error
    def update_list(query, classes, modality, error, sort):
        try:
            chosen = clip_views.filter_clips(
                explorer.table, query=query or "", classes=classes or (), modality=modality, error=error
            )
            return clip_views.display_frame(clip_views.sort_clips(chosen, sort))
        except ValueError as problem:
            raise ExplorerError(str(problem)) from None

    @_user_error
    def dataset_views(model_name: str, class_name: str):
        if model_name not in model_names:
            raise ExplorerError(f"unknown model {model_name!r}; expected one of {model_names}")
        index = model_names.index(model_name)
        chosen = None if class_name in (None, ALL_CLASSES) else class_name
        return (
            explorer.table1(index),
            dashboard.per_class_figure(explorer.per_class(index)),
            dashboard.confusion_figure(explorer.confusion(index, chosen)),
        )

    @_user_error
    def embedding_views(model_name: str):
        if model_name not in model_names:
            raise ExplorerError(f"unknown model {model_name!r}; expected one of {model_names}")
        index = model_names.index(model_name)
        tokens, features = explorer.token_points(index), explorer.feature_points(index)
        if tokens is None:
            note = (
                f"**{model_name}** has no class tokens: learnable class tokens and class-aware features are "
                "MGN's. Open an MGN checkpoint (or compare one) to see them."
            )
            return note, None, None
        note = (
            f"t-SNE of **{model_name}**: (a) its 25 audio and 25 visual class tokens; (b) its class-aware audio and "
            f"visual features of the classes present in each clip ({len(features)} points). "
            "Click a point in (b) to open its clip."
        )
        return note, embeddings.token_figure(tokens), embeddings.feature_figure(features)

    first_clip = str(explorer.table.iloc[0]["clip"])
    explorer.clip_view(first_clip)  # the first page's clip, rendered before the first request (warms plotly too)
    with (
        tempfile.TemporaryDirectory(prefix="mgn-explorer-") as export_dir,
        gr.Blocks(title="mgn explorer — audio-visual video parsing", analytics_enabled=False) as demo,
    ):
        gr.Markdown(
            f"## Audio-visual video parsing explorer\n{explorer.split.name} split, {len(explorer.split)} clips · "
            f"{summary}"
        )
        with gr.Tabs(selected="clips") as tabs:
            with gr.Tab("Clips", id="clips"):
                with gr.Row():
                    with gr.Column(scale=2):
                        query = gr.Textbox(
                            label="Search clip ID or class", placeholder="e.g. dog, -2syn", elem_id="mgn-search"
                        )
                        with gr.Row():
                            classes = gr.Dropdown([display_name(c) for c in CLASSES], multiselect=True, label="Classes")
                            modality = gr.Dropdown(list(clip_views.FILTER_MODALITIES), value="any", label="Modality")
                        with gr.Row():
                            error = gr.Dropdown(list(clip_views.ERROR_FILTERS), value="any", label="Errors")
                            sort = gr.Dropdown(
                                [k for k in clip_views.SORT_KEYS if compare or k != "most disagreement"],
                                value=sort_default,
                                label="Sort by",
                            )
                        clip_list = gr.Dataframe(
                            update_list("", [], "any", "any", sort_default),
                            interactive=False,
                            label="Clips (click a row)",
                            elem_id="mgn-clip-list",
                        )
                    with gr.Column(scale=3):
                        selected = gr.Textbox(
                            value=first_clip, label="Clip (type an ID and press Enter)", elem_id="mgn-selected-clip"
                        )
                        open_clip = gr.Button("open", elem_id="mgn-open-clip", elem_classes="mgn-hidden")
                        video = gr.HTML(elem_id="mgn-video-box")
                        timeline = gr.Plot(elem_id="mgn-timeline", show_label=False)
                        scores = gr.Dataframe(label="This clip's F-scores (%)", interactive=False)
                        events = gr.Dataframe(label="Events (ground truth and predicted)", interactive=False)
                        timeline_download = gr.Button(
                            "Download this timeline (HTML; PNG: the plot's camera button)",
                            elem_id="mgn-download-timeline",
                        )
                        timeline_export = gr.JSON(visible=False)  # {"name", "text"}: saved by the browser
            with gr.Tab("Dataset", id="dataset"):
                with gr.Row():
                    dataset_model = gr.Radio(model_names, value=model_names[0], label="Model")
                    confusion_class = gr.Dropdown(
                        [ALL_CLASSES] + [display_name(c) for c in CLASSES],
                        value=ALL_CLASSES,
                        label="Class (confusion view)",
                    )
                    show_class = gr.Button("Show this class's clips")
                table1 = gr.Dataframe(label="Table 1 on this split", interactive=False)
                with gr.Row():
                    for model in explorer.models:
                        archive = Path(export_dir) / f"predictions_{_file_label(model.name)}.zip"
                        write_prediction_archive(archive, explorer.split.filenames, model.pred_audio, model.pred_visual)
                        gr.DownloadButton(  # Gradio copies the file into its cache now: the folder can go
                            f"Download {model.name}'s predictions (official eval-CSV format, zip)",
                            value=str(archive),
                            elem_id=f"mgn-predictions-{_file_label(model.name)}",
                        )
                per_class = gr.Plot(show_label=False)
                confusion = gr.Plot(show_label=False)
            with gr.Tab("t-SNE", id="tsne") as tsne_tab:
                embedding_model = gr.Radio(model_names, value=model_names[0], label="Model")
                embedding_note = gr.Markdown()
                tokens = gr.Plot(elem_id="mgn-tokens", show_label=False)
                features = gr.Plot(elem_id="mgn-features", show_label=False)
            if video_parser is not None:
                parse_components = _parse_tab(gr, video_parser)
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)

        clip_outputs = [selected, video, timeline, scores, events]
        filters = [query, classes, modality, error, sort]
        clip_group = {"concurrency_id": "clip", "concurrency_limit": READ_CONCURRENCY}
        private = {"api_visibility": "private"}
        # Public API first (the names "show_clip" and "clips" are then theirs), then the page's private events.
        selected.submit(show_clip, selected, clip_outputs, api_name="show_clip", **clip_group)
        query.submit(update_list, filters, clip_list, api_name="clips", **clip_group)
        for control in filters:
            control.change(update_list, filters, clip_list, **clip_group, **private)
        clip_list.select(select_row, None, clip_outputs, **clip_group, **private)
        open_clip.click(show_clip, selected, clip_outputs, **clip_group, **private)  # clicked by the page script
        demo.load(show_clip, selected, clip_outputs, **clip_group, **private)
        timeline_download.click(timeline_file, selected, timeline_export, **clip_group, **private).success(
            None, timeline_export, None, js=SAVE_TEXT_JS
        )
        dataset_group = {"concurrency_id": "dataset", "concurrency_limit": READ_CONCURRENCY, **private}
        dataset_outputs = [table1, per_class, confusion]
        for control in (dataset_model, confusion_class):
            control.change(dataset_views, [dataset_model, confusion_class], dataset_outputs, **dataset_group)
        demo.load(dataset_views, [dataset_model, confusion_class], dataset_outputs, **dataset_group)
        show_class.click(
            lambda name: ([] if name == ALL_CLASSES else [name], gr.Tabs(selected="clips")),
            confusion_class,
            [classes, tabs],
            **dataset_group,
        )
        tsne_group = {"concurrency_id": "tsne", "concurrency_limit": 1, **private}  # memoised: one computes, all wait
        tsne_outputs = [embedding_note, tokens, features]
        tsne_tab.select(embedding_views, embedding_model, tsne_outputs, **tsne_group)
        embedding_model.change(embedding_views, embedding_model, tsne_outputs, **tsne_group)
        if video_parser is not None:
            _wire_parse_tab(gr, video_parser, parse_components, Path(export_dir))
    return demo


def _parse_tab(gr, video_parser: VideoParser) -> dict:
    """The "Parse a video" tab's components."""
    listed = list(video_parser.listed_videos())
    with gr.Tab("Parse a video", id="parse"):
        gr.Markdown(
            f"Parse your own video with **{video_parser.model_name}**: the official LLP features are computed for "
            f"each 10-s window (up to {video_parser.max_seconds:g} s of video; files up to "
            f"{video_parser.max_bytes / 2**20:.0f} MB), then the model parses them. No ground truth is needed: the "
            "timeline shows the predictions alone. Parses run one at a time; the page shows your place in the queue. "
            "The first parse loads the feature networks (downloading their published weights once). "
            "Note: a model trained on the synthetic demo features gives meaningless predictions on real videos; "
            "start the app with an official checkpoint (README) to parse real footage."
        )
        with gr.Row():
            upload = gr.File(label="Upload a video", file_types=["video"], elem_id="mgn-parse-upload")
            with gr.Column():
                listed_video = gr.Dropdown(
                    listed, value=None, label="... or pick a listed video", elem_id="mgn-parse-listed"
                )
                parse_button = gr.Button("Parse", variant="primary", elem_id="mgn-parse-button")
        status = gr.Markdown(elem_id="mgn-parse-status")
        with gr.Row():
            player = gr.Video(label="Video", interactive=False, elem_id="mgn-parse-video")
            archive = gr.DownloadButton("Download the features (official layout, zip)", visible=False)
        figure = gr.Plot(show_label=False, elem_id="mgn-parse-timeline")
        events = gr.Dataframe(label="Predicted events", interactive=False, elem_id="mgn-parse-events")
    return {
        "inputs": [upload, listed_video],
        "button": parse_button,
        "outputs": [status, player, figure, events, archive],
    }


def _wire_parse_tab(gr, video_parser: VideoParser, components: dict, export_dir: Path) -> None:
    """Parse on click: queued with a concurrency limit of 1, with progress; errors become one message."""
    downloads = Path(tempfile.mkdtemp(prefix="mgn-parse-", dir=export_dir.parent))
    atexit.register(shutil.rmtree, downloads, ignore_errors=True)

    def parse(upload_path: str | None, listed_label: str | None, progress=gr.Progress()):
        try:
            if upload_path:
                path, name = Path(upload_path), Path(upload_path).name  # the server's copy; the name is shown only
            elif listed_label:
                path = video_parser.resolve_listed(listed_label)
                name = path.name
            else:
                raise VideoParseError("upload a video or pick a listed one first")
            result = video_parser.parse(
                path, name, on_progress=lambda fraction, message: progress(fraction, desc=message)
            )
        except VideoParseError as error:
            raise gr.Error(str(error)) from None
        zip_path = downloads / f"features_{re.sub(r'[^A-Za-z0-9.-]+', '_', Path(name).stem)[:60]}.zip"
        zip_path.write_bytes(result.archive)
        windows = len(result.parsed.windows)
        notes = "".join(f"\n- {note}" for note in result.notes)
        summary = (
            f"**{name}**: {result.parsed.duration:.1f} s, {windows} window{'s' if windows > 1 else ''} of "
            f"{result.parsed.windows[0].length:g} s, {len(result.events)} predicted event(s).{notes}"
        )
        return (
            summary,
            str(path),
            video_parser.figure(result),
            result.events,
            gr.DownloadButton(value=str(zip_path), visible=True),
        )

    components["button"].click(
        parse,
        components["inputs"],
        components["outputs"],
        api_name="parse_video",
        concurrency_id="parse",
        concurrency_limit=1,
    )


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
            js=PLAYER_SYNC_JS,
            css=CSS,
            show_error=True,
            enable_monitoring=False,
            ssr_mode=False,  # the page is served by Python, with the video route above
            prevent_thread_lock=True,
        )
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
    fetched = fetch_checkpoint(source)
    verb = "downloaded" if fetched.downloaded else "cached"
    print(f"checkpoint {source}: {verb} at {fetched.path} (sha256 {fetched.sha256})", file=sys.stderr)
    return str(fetched.path)


def _video_parser(args: argparse.Namespace, explorer: Explorer) -> VideoParser:
    """The "Parse a video" service over the first model; its feature networks are built on the first parse."""
    from mgn.extract.pipeline import ExtractorConfig, FeatureExtractor

    model = load_any_checkpoint(args.checkpoint, args.arch).to(resolve_device(args.device)).eval()

    def networks() -> FeatureExtractor:
        return FeatureExtractor.from_published_weights(
            ExtractorConfig(device=args.device or "auto"), weights_dir=args.weights_dir
        )

    listed = [DEMO_DIR / "video"] + ([explorer.videos_dir] if explorer.videos_dir is not None else [])
    return VideoParser(
        model,
        explorer.models[0].name,
        networks,
        max_seconds=args.max_video_seconds,
        max_bytes=args.max_file_size,
        listed=listed,
    )


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
                split=args.split,
                videos=args.videos,
                cache_dir=args.cache_dir or None,
                device=args.device,
                gate=args.gate,
                arch=args.arch,
            )
            demo = build_app(explorer, _video_parser(args, explorer))
            serve(demo, explorer, args)
        except (FileNotFoundError, ValueError, OSError) as error:  # user errors, incl. a port taken meanwhile
            print(f"error: {_one_line(str(error))}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
