"""What the explorer shows for a parsed video (no ground truth): a timeline over the whole video, an event table,
and the features in the official layout as a download.

The timeline has three panels sharing the time axis in seconds (Audio, Visual, Audio-Visual = audio AND visual),
one row per class predicted somewhere in the video (or, when nothing is predicted, the classes with the highest
segment probability, so the reader sees what the model almost said). A row holds a probability strip (audio and
visual panels) and the predicted events as bars at their real times. Segment ``k`` of the stitched timeline covers
``segment_bounds[k]`` seconds (1 s for windows of a video of 10 s or more). MGN's segment scores can exceed 1 (its
soft assignment is 1 + softmax): the colour scale stops at 1 and the hover says so.

Pure functions of a :class:`mgn.parse_video.ParsedVideo`-like record (numpy arrays), no gradio, no torch.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mgn.events import find_events
from mgn.labels import CLASS_COLORS, CLASSES, EVAL_MODALITIES, MODALITY_TITLES, audio_visual, display_name

__all__ = ["ParsedView", "features_archive", "parsed_events", "parsed_figure"]

_FALLBACK_ROWS = 3  # classes shown when nothing is predicted
_ROW_HEIGHT_PX = 34
_PANEL_GAP = 0.06
_FEATURE_DIRS = {"audio": "feats/vggish", "visual": "feats/res152", "visual_st": "feats/r2plus1d_18"}


@dataclass(frozen=True)
class ParsedView:
    """The arrays the view needs (a parsed video's, or a test's).

    Attributes:
        name: the video's display name.
        segment_bounds: (S, 2) start and end of each segment in seconds.
        prob_audio, prob_visual: (C, S) segment probabilities (MGN's can exceed 1).
        pred_audio, pred_visual: (C, S) 0/1 predictions.
    """

    name: str
    segment_bounds: np.ndarray
    prob_audio: np.ndarray
    prob_visual: np.ndarray
    pred_audio: np.ndarray
    pred_visual: np.ndarray

    def __post_init__(self) -> None:
        bounds = np.asarray(self.segment_bounds, dtype=float)
        if bounds.ndim != 2 or bounds.shape[1] != 2 or len(bounds) == 0 or not (bounds[:, 1] > bounds[:, 0]).all():
            raise ValueError(f"segment_bounds: expected (S, 2) increasing [start, end) seconds, found {bounds.shape}")
        shape = (len(CLASSES), len(bounds))
        for name in ("prob_audio", "prob_visual", "pred_audio", "pred_visual"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name}: expected (C, S) = {shape}, found {np.shape(getattr(self, name))}")

    def predictions(self) -> dict[str, np.ndarray]:
        """``{modality: (C, S) bool}`` for audio, visual and audio-visual."""
        audio, visual = np.asarray(self.pred_audio) > 0, np.asarray(self.pred_visual) > 0
        return {"audio": audio, "visual": visual, "audio_visual": audio_visual(audio, visual)}

    def probabilities(self) -> dict[str, np.ndarray]:
        return {"audio": np.asarray(self.prob_audio, float), "visual": np.asarray(self.prob_visual, float)}


def _rows(view: ParsedView) -> list[int]:
    """Classes shown: predicted in any modality, in class order; else the most probable few."""
    predicted = np.flatnonzero(view.predictions()["audio"].any(1) | view.predictions()["visual"].any(1))
    if len(predicted):
        return predicted.tolist()
    peak = np.maximum(view.probabilities()["audio"].max(1), view.probabilities()["visual"].max(1))  # (C,)
    return sorted(np.argsort(-peak, kind="stable")[:_FALLBACK_ROWS].tolist())


def parsed_events(view: ParsedView) -> pd.DataFrame:
    """Predicted events: modality, class, onset (s), offset (s), peak segment probability; time order."""
    bounds = np.asarray(view.segment_bounds, float)
    rows = []
    for modality, matrix in view.predictions().items():
        classes, onsets, offsets = find_events(matrix)
        for cls, onset, offset in zip(classes.tolist(), onsets.tolist(), offsets.tolist()):
            if modality == "audio_visual":
                peak = np.minimum(view.prob_audio[cls, onset:offset], view.prob_visual[cls, onset:offset]).max()
            else:
                peak = view.probabilities()[modality][cls, onset:offset].max()
            rows.append(
                {
                    "modality": MODALITY_TITLES[modality],
                    "class": display_name(cls),
                    "onset (s)": round(float(bounds[onset, 0]), 2),
                    "offset (s)": round(float(bounds[offset - 1, 1]), 2),
                    "peak score": round(float(peak), 3),
                }
            )
    frame = pd.DataFrame(rows, columns=["modality", "class", "onset (s)", "offset (s)", "peak score"])
    return frame.sort_values(["onset (s)", "modality", "class"], kind="stable", ignore_index=True)


def parsed_figure(view: ParsedView) -> go.Figure:
    """The three-panel timeline of a parsed video (see the module docstring)."""
    classes = _rows(view)
    bounds = np.asarray(view.segment_bounds, float)
    starts, ends = bounds[:, 0], bounds[:, 1]
    centres, widths = (starts + ends) / 2, ends - starts
    predictions, probabilities = view.predictions(), view.probabilities()
    panel_height = 1.0 / len(EVAL_MODALITIES)
    figure = go.Figure()
    layout: dict = {}
    for panel, modality in enumerate(EVAL_MODALITIES):
        axis = "" if panel == 0 else str(panel + 1)
        top = 1.0 - panel * panel_height
        layout[f"yaxis{axis}"] = {
            "domain": [top - panel_height + _PANEL_GAP / 2, top - _PANEL_GAP / 2],
            "tickvals": list(range(len(classes))),
            "ticktext": [display_name(c) for c in classes],
            "range": [len(classes) - 0.5, -0.5],
            "title": {"text": MODALITY_TITLES[modality]},
            "fixedrange": True,
        }
        layout[f"xaxis{axis}"] = {
            "range": [0, float(ends[-1])],
            "anchor": f"y{axis}",
            "showticklabels": panel == len(EVAL_MODALITIES) - 1,
            "title": {"text": "time (s)"} if panel == len(EVAL_MODALITIES) - 1 else None,
            "matches": None if panel == 0 else "x",
        }
        for row, cls in enumerate(classes):
            if modality in probabilities:
                scores = probabilities[modality][cls]
                above_one = " (MGN's scores can exceed 1)" if scores.max() > 1 else ""
                figure.add_trace(
                    go.Bar(
                        x=centres.tolist(),
                        y=[0.8] * len(centres),
                        base=[row - 0.4] * len(centres),
                        width=widths.tolist(),
                        marker={"color": np.clip(scores, 0, 1).tolist(), "colorscale": "Greys", "cmin": 0, "cmax": 1},
                        opacity=0.35,
                        customdata=[[display_name(cls), s, e, float(p)] for s, e, p in zip(starts, ends, scores)],
                        hovertemplate="%{customdata[0]} · %{customdata[1]:.1f}–%{customdata[2]:.1f} s<br>"
                        f"segment score %{{customdata[3]:.3f}}{above_one}<extra></extra>",
                        xaxis=f"x{axis}",
                        yaxis=f"y{axis}",
                        showlegend=False,
                        meta={"role": "prob", "modality": modality, "class": CLASSES[cls]},
                    )
                )
            _, onsets, offsets = find_events(predictions[modality][cls][None])
            if len(onsets):
                figure.add_trace(
                    go.Bar(
                        x=((starts[onsets] + ends[offsets - 1]) / 2).tolist(),
                        y=[0.5] * len(onsets),
                        base=[row - 0.25] * len(onsets),
                        width=(ends[offsets - 1] - starts[onsets]).tolist(),
                        marker={"color": CLASS_COLORS[cls], "line": {"color": "#222", "width": 1}},
                        customdata=[[display_name(cls), starts[a], ends[b - 1]] for a, b in zip(onsets, offsets)],
                        hovertemplate="%{customdata[0]} · predicted %{customdata[1]:.1f}–%{customdata[2]:.1f} s"
                        "<extra></extra>",
                        xaxis=f"x{axis}",
                        yaxis=f"y{axis}",
                        showlegend=False,
                        meta={"role": "pred", "modality": modality, "class": CLASSES[cls]},
                    )
                )
    figure.update_layout(
        **layout,
        barmode="overlay",
        height=max(320, 3 * _ROW_HEIGHT_PX * len(classes) + 160),
        margin={"l": 150, "r": 20, "t": 40, "b": 40},
        title={"text": f"{view.name}: predictions (no ground truth)", "font": {"size": 14}},
        template="plotly_white",
        meta={"video": view.name, "rows": [CLASSES[c] for c in classes]},
    )
    return figure


def features_archive(ids: Sequence[str], features: Sequence[dict[str, np.ndarray]], manifest_csv: str) -> bytes:
    """A zip of the features in the official layout (``feats/vggish/<ID>.npy`` ...) plus ``videos.csv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for video_id, streams in zip(ids, features, strict=True):
            for stream, folder in _FEATURE_DIRS.items():
                array = io.BytesIO()
                np.save(array, np.asarray(streams[stream], dtype=np.float32))
                bundle.writestr(f"{folder}/{video_id}.npy", array.getvalue())
        bundle.writestr("videos.csv", manifest_csv)
    return buffer.getvalue()
