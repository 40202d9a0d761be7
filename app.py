"""mgn explorer: see where audio-visual video parsers (MGN, HAN) go wrong, clip by clip.

``python app.py`` opens the embedded demo (a small synthetic LLP-format split with playable videos and a shipped
MGN checkpoint); ``python app.py --data DIR --checkpoint CKPT [--videos DIR] [--compare CKPT2] [--split test]``
opens real LLP in the official layout. This file is UI wiring only: the content comes from ``mgn.explore``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry unless the user opts in

import gradio as gr  # noqa: E402

from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK  # noqa: E402
from mgn.explore import clips as clip_views  # noqa: E402
from mgn.explore import dashboard, embeddings  # noqa: E402
from mgn.explore.player import PLAYER_SYNC_JS, video_html  # noqa: E402
from mgn.explore.state import Explorer, ExplorerError, open_explorer  # noqa: E402
from mgn.explore.timeline import timeline_html  # noqa: E402
from mgn.export import write_prediction_csvs  # noqa: E402
from mgn.io import write_text_atomic  # noqa: E402
from mgn.labels import CLASSES, display_name  # noqa: E402

DEMO_DIR = Path(__file__).resolve().parent / "assets" / "demo"
ALL_CLASSES = "all classes"
CSS = ".mgn-cursor{box-shadow:0 0 4px #e11d48} .mgn-hidden{display:none !important}"
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

**Metrics** (official): F-scores per clip over the classes present, averaged over clips, at the segment level and the
event level (IoU ≥ 0.5); Type@AV is the mean of Audio, Visual and Audio-Visual; Event@AV pools audio and visual.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(DEMO_DIR / DEMO_PACK),
        help="LLP-format folder (official layout) or a .npz split pack (default: the embedded demo)",
    )
    parser.add_argument("--checkpoint", default=str(DEMO_DIR / DEMO_CHECKPOINT), help="model (.safetensors)")
    parser.add_argument("--compare", help="a second checkpoint to compare with the first")
    parser.add_argument("--videos", help="folder of <ID>.mp4 files (default: beside the data)")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--gate", default="global", choices=("global", "modality"))
    parser.add_argument(
        "--cache-dir",
        default=str(Path.home() / ".cache" / "mgn"),
        help="predictions and t-SNE results are cached here ('' to disable)",
    )
    parser.add_argument("--device", help="cuda or cpu (default: the GPU when there is one)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    return parser.parse_args(argv)


def _user_error(function):
    """Turn the explorer's request errors into messages in the page instead of tracebacks."""

    def wrapped(*args):
        try:
            return function(*args)
        except ExplorerError as error:
            raise gr.Error(str(error)) from None

    wrapped.__name__ = function.__name__
    return wrapped


def _prediction_archives(explorer: Explorer, export_dir: Path) -> dict[str, Path]:
    """One zip per model with its predictions in the official eval-CSV format."""
    archives = {}
    for model in explorer.models:
        folder = export_dir / f"predictions_{model.name.replace(' ', '_')}"
        paths = write_prediction_csvs(folder, explorer.split.filenames, model.pred_audio, model.pred_visual)
        archive = export_dir / f"{folder.name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in paths.values():
                bundle.write(path, path.name)
        archives[model.name] = archive
    return archives


def build_app(explorer: Explorer, export_dir: Path) -> gr.Blocks:
    """The explorer's Blocks; every value comes from ``explorer`` (loaded once, shared read-only)."""
    archives = _prediction_archives(explorer, export_dir)
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
        clip = explorer.split.filenames[explorer.index_of(clip)]
        figure = explorer.timeline(clip)
        page = export_dir / f"timeline_{clip}.html"
        # concurrent requests for one clip each write their own temporary file; PNG: the plot's camera button
        write_text_atomic(page, timeline_html(figure, include_plotlyjs="cdn"))
        video = video_html(clip, explorer.video_path(clip), explorer.expected_video_path(clip))
        return clip, video, figure, explorer.clip_scores(clip), explorer.clip_events(clip), str(page)

    def select_row(frame, event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        return show_clip(str(frame.iloc[row]["Clip"]))  # one round trip: the row's clip and everything about it

    @_user_error
    def update_list(query, classes, modality, error, sort):
        try:
            chosen = clip_views.filter_clips(
                explorer.table, query=query or "", classes=classes or (), modality=modality, error=error
            )
            return clip_views.display_frame(clip_views.sort_clips(chosen, sort))
        except ValueError as problem:
            raise ExplorerError(str(problem)) from None

    def dataset_views(model_name: str, class_name: str):
        index = model_names.index(model_name)
        chosen = None if class_name in (None, ALL_CLASSES) else class_name
        return (
            explorer.table1(index),
            dashboard.per_class_figure(explorer.per_class(index)),
            dashboard.confusion_figure(explorer.confusion(index, chosen)),
            str(archives[model_name]),
        )

    @_user_error
    def embedding_views(model_name: str):
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
    explorer.timeline(first_clip)  # warm plotly's lazy imports before the first request (about 0.2 s once)
    with gr.Blocks(title="mgn explorer — audio-visual video parsing", analytics_enabled=False) as demo:
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
                        timeline_file = gr.DownloadButton(
                            "Download this timeline (HTML; PNG: the plot's camera button)"
                        )
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
                predictions_file = gr.DownloadButton(
                    "Download this model's predictions (official eval-CSV format)", value=str(archives[model_names[0]])
                )
                per_class = gr.Plot(show_label=False)
                confusion = gr.Plot(show_label=False)
            with gr.Tab("t-SNE", id="tsne") as tsne_tab:
                embedding_model = gr.Radio(model_names, value=model_names[0], label="Model")
                embedding_note = gr.Markdown()
                tokens = gr.Plot(elem_id="mgn-tokens", show_label=False)
                features = gr.Plot(elem_id="mgn-features", show_label=False)
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)

        clip_outputs = [selected, video, timeline, scores, events, timeline_file]
        filters = [query, classes, modality, error, sort]
        # Public API first (the names "show_clip" and "clips" are then theirs), then the page's private events; all
        # handlers are read-only, so they run concurrently.
        selected.submit(show_clip, selected, clip_outputs, concurrency_limit=None, api_name="show_clip")
        query.submit(update_list, filters, clip_list, concurrency_limit=None, api_name="clips")
        internal = {"concurrency_limit": None, "api_visibility": "private"}
        for control in filters:
            control.change(update_list, filters, clip_list, **internal)
        clip_list.select(select_row, clip_list, clip_outputs, **internal)
        open_clip.click(show_clip, selected, clip_outputs, **internal)  # clicked by the page script (t-SNE)
        demo.load(show_clip, selected, clip_outputs, **internal)
        dataset_outputs = [table1, per_class, confusion, predictions_file]
        for control in (dataset_model, confusion_class):
            control.change(dataset_views, [dataset_model, confusion_class], dataset_outputs, **internal)
        demo.load(dataset_views, [dataset_model, confusion_class], dataset_outputs, **internal)
        show_class.click(
            lambda name: ([] if name == ALL_CLASSES else [name], gr.Tabs(selected="clips")),
            confusion_class,
            [classes, tabs],
            **internal,
        )
        tsne_tab.select(embedding_views, embedding_model, [embedding_note, tokens, features], **internal)
        embedding_model.change(embedding_views, embedding_model, [embedding_note, tokens, features], **internal)
    return demo


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    checkpoints = [args.checkpoint] + ([args.compare] if args.compare else [])
    explorer = open_explorer(
        args.data,
        checkpoints,
        split=args.split,
        videos=args.videos,
        cache_dir=args.cache_dir or None,
        device=args.device,
        gate=args.gate,
    )
    export_dir = Path(tempfile.mkdtemp(prefix="mgn-explorer-"))
    demo = build_app(explorer, export_dir)
    allowed = [str(explorer.videos_dir.resolve())] if explorer.videos_dir is not None else []
    try:
        demo.queue(default_concurrency_limit=None).launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            allowed_paths=allowed,
            js=PLAYER_SYNC_JS,
            css=CSS,
            show_error=True,
        )
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
