"""Likely label errors: segment cells where a model is confident against the ground truth.

Layouts (N clips, T = 10 segments, C = 25 classes): probabilities are ``(N, T, C)`` float in [0, 1], as the models
output them (``Predictions.a_frame_prob`` / ``v_frame_prob``); labels are ``(N, C, T)`` 0/1 ``[clip, class,
segment]``, as ``load_annotations`` gives them. A *cell* is one (clip, class, modality, segment).

``rank_label_errors`` (the ranking):

1. recalibrates the probabilities per (modality, class): Platt scaling ``sigmoid(a * logit(p) + b)`` fitted to the
   labels being checked (a few errors among many cells barely move two parameters), shrunk towards the identity
   (``a = 1, b = 0``) by ``prior_strength`` pseudo-cells. A segment-level model trained from video-level labels is
   miscalibrated in class-specific ways (a rare class is never very probable, a frequent one often is); raw
   probabilities therefore flag whole classes rather than cells;
2. keeps the cells where the calibrated model is confident against the label: ``p >= high`` with label 0
   (``kind = "missing"``: the model hears / sees the class there) and ``p <= low`` with label 1 (``"spurious"``);
3. sorts them by ``score = |p - label|`` (calibrated ``p``), most likely error first.

``rank_by_confidence`` is the plain baseline: every cell by ``|p - label|`` of the raw probabilities, no calibration
and no threshold. ``precision_recall_at_k`` scores a ranking against a known set of wrong cells
(``python -m mgn.annotations measure`` flips known cells of a synthetic split; see ``mgn.annotations.measure``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mgn.annotations.validation import EDITABLE_MODALITIES
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = [
    "RANKING_COLUMNS",
    "apply_platt",
    "calibrate",
    "calibration_parameters",
    "precision_recall_at_k",
    "rank_by_confidence",
    "platt_parameters",
    "rank_label_errors",
]

RANKING_COLUMNS = ("filename", "class", "modality", "segment", "label", "prob", "calibrated", "score", "kind")
_EPSILON = 1e-6  # probabilities are clipped to [eps, 1 - eps] before the logit
_NEWTON_STEPS = 50
_NEWTON_TOLERANCE = 1e-9
_LINE_SEARCH_HALVINGS = 30


def _check_inputs(
    prob_audio: object,
    prob_visual: object,
    gt_audio: object,
    gt_visual: object,
    filenames: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> probabilities ``(M, N, C, T)`` float64, labels ``(M, N, C, T)`` uint8, filenames ``(N,)``."""
    names = np.asarray(filenames, dtype=object)
    count = len(names)
    if names.ndim != 1 or count == 0 or len(set(names.tolist())) != count:
        raise ValueError(f"filenames must be a non-empty flat sequence of unique clip names (got {names.shape})")
    probabilities, labels = [], []
    for modality, prob, gt in (("audio", prob_audio, gt_audio), ("visual", prob_visual, gt_visual)):
        prob = np.asarray(prob)
        gt = np.asarray(gt)
        if prob.shape != (count, NUM_SEGMENTS, NUM_CLASSES):
            raise ValueError(
                f"prob_{modality} has shape {prob.shape}; expected (N, T, C) = ({count}, {NUM_SEGMENTS}, "
                f"{NUM_CLASSES}) segment probabilities, one row per filename"
            )
        if gt.shape != (count, NUM_CLASSES, NUM_SEGMENTS):
            raise ValueError(
                f"gt_{modality} has shape {gt.shape}; expected (N, C, T) = ({count}, {NUM_CLASSES}, {NUM_SEGMENTS})"
            )
        if (
            not np.issubdtype(prob.dtype, np.floating)
            or not np.isfinite(prob).all()
            or prob.min() < 0
            or prob.max() > 1
        ):
            raise ValueError(f"prob_{modality} must hold finite floating-point probabilities in [0, 1]")
        if not np.isin(gt, (0, 1)).all():
            raise ValueError(f"gt_{modality} must hold 0/1 labels")
        probabilities.append(prob.transpose(0, 2, 1).astype(np.float64))  # (N, C, T)
        labels.append(gt.astype(np.uint8))
    return np.stack(probabilities), np.stack(labels), names


def _check_threshold(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _objective(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, strength: float) -> np.ndarray:
    """Penalised negative log-likelihood per group. a, b (G,); x, y (G, S) -> (G,)."""
    z = a[:, None] * x + b[:, None]  # (G, S)
    return (np.logaddexp(0.0, z) - y * z).sum(1) + 0.5 * strength * ((a - 1.0) ** 2 + b**2)


def _logit(prob: np.ndarray) -> np.ndarray:
    return np.log(np.clip(prob, _EPSILON, 1 - _EPSILON)) - np.log(np.clip(1 - prob, _EPSILON, 1 - _EPSILON))


def platt_parameters(prob: np.ndarray, labels: np.ndarray, prior_strength: float = 1.0) -> np.ndarray:
    """Fit Platt scaling ``sigmoid(a * logit(p) + b)`` to each group of cells.

    Args:
        prob: ``(G, S)`` probabilities (a group = one (modality, class); S = its cells, e.g. N * T).
        labels: ``(G, S)`` 0/1.
        prior_strength: weight of the Gaussian prior pulling (a, b) towards (1, 0), in cells; keeps groups without
            positives (or without negatives) finite and close to the model's own probabilities.

    Returns:
        ``(G, 2)`` float64: (a, b) per group. Deterministic (damped Newton, at most 50 steps).
    """
    x = _logit(prob)  # (G, S)
    y = labels.astype(np.float64)
    groups = x.shape[0]
    a, b = np.ones(groups), np.zeros(groups)
    loss = _objective(a, b, x, y, prior_strength)
    for _ in range(_NEWTON_STEPS):
        z = a[:, None] * x + b[:, None]
        p = 1.0 / (1.0 + np.exp(-z))  # (G, S)
        w = p * (1 - p)
        grad_a = ((p - y) * x).sum(1) + prior_strength * (a - 1)  # (G,)
        grad_b = (p - y).sum(1) + prior_strength * b
        h_aa = (w * x * x).sum(1) + prior_strength
        h_ab = (w * x).sum(1)
        h_bb = w.sum(1) + prior_strength
        determinant = h_aa * h_bb - h_ab**2  # > 0: the prior makes the Hessian positive definite
        step_a = (h_bb * grad_a - h_ab * grad_b) / determinant
        step_b = (h_aa * grad_b - h_ab * grad_a) / determinant
        scale = np.ones(groups)
        for _ in range(_LINE_SEARCH_HALVINGS):  # damp the groups whose loss would go up
            trial = _objective(a - scale * step_a, b - scale * step_b, x, y, prior_strength)
            worse = trial > loss + 1e-12
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        a, b = a - scale * step_a, b - scale * step_b
        loss = _objective(a, b, x, y, prior_strength)
        if max(np.abs(scale * step_a).max(), np.abs(scale * step_b).max()) < _NEWTON_TOLERANCE:
            break
    return np.stack([a, b], axis=1)


def apply_platt(prob: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    """``(G, S)`` probabilities, ``(G, 2)`` (a, b) -> ``(G, S)`` calibrated probabilities (float64)."""
    return 1.0 / (1.0 + np.exp(-(parameters[:, :1] * _logit(prob) + parameters[:, 1:])))


def calibrate(prob: np.ndarray, labels: np.ndarray, prior_strength: float = 1.0) -> np.ndarray:
    """Platt-scale each group of cells against its labels (``platt_parameters`` then ``apply_platt``).

    Args:
        prob: ``(G, S)`` probabilities. labels: ``(G, S)`` 0/1. prior_strength: see ``platt_parameters``.

    Returns:
        ``(G, S)`` calibrated probabilities (float64).
    """
    return apply_platt(prob, platt_parameters(prob, labels, prior_strength))


def _groups(array: np.ndarray) -> np.ndarray:
    """``(M, N, C, T)`` -> ``(M * C, N * T)``: one row per (modality, class)."""
    modalities, count = array.shape[:2]
    return array.transpose(0, 2, 1, 3).reshape(modalities * NUM_CLASSES, count * NUM_SEGMENTS)


def calibration_parameters(
    prob_audio: np.ndarray,
    prob_visual: np.ndarray,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    filenames: Sequence[str],
    *,
    prior_strength: float = 1.0,
) -> np.ndarray:
    """The per-(modality, class) calibration that ``rank_label_errors`` fits, fitted once to be reused
    (``calibration=``): ``(M, C, 2)`` float64 (a, b), M = 2 (audio, visual). Arguments as ``rank_label_errors``.

    A few corrected labels barely move two parameters fitted on thousands of cells: an editor fits this once with
    the original labels and then ranks the corrected ones at the cost of the thresholding alone.
    """
    prob, labels, _ = _check_inputs(prob_audio, prob_visual, gt_audio, gt_visual, filenames)
    fitted = platt_parameters(_groups(prob), _groups(labels), prior_strength)  # (M * C, 2)
    return fitted.reshape(len(EDITABLE_MODALITIES), NUM_CLASSES, 2)


def _frame(
    names: np.ndarray, labels: np.ndarray, prob: np.ndarray, calibrated: np.ndarray, score: np.ndarray, keep: np.ndarray
) -> pd.DataFrame:
    """Cells where ``keep`` (all ``(M, N, C, T)``), sorted by score descending; ties in cell order."""
    modality, clip, class_index, segment = np.nonzero(keep)  # cell order: modality, clip, class, segment
    cell = (modality, clip, class_index, segment)
    order = np.argsort(-score[cell], kind="stable")
    label = labels[cell][order]
    return pd.DataFrame(
        {
            "filename": names[clip[order]].astype(str),
            "class": np.asarray(CLASSES, dtype=object)[class_index[order]],
            "modality": np.asarray(EDITABLE_MODALITIES, dtype=object)[modality[order]],
            "segment": segment[order],  # 0..9: the one-second segment [segment, segment + 1)
            "label": label,
            "prob": prob[cell][order],
            "calibrated": calibrated[cell][order],
            "score": score[cell][order],
            "kind": np.where(label == 1, "spurious", "missing"),
        },
        columns=list(RANKING_COLUMNS),
    )


def rank_label_errors(
    prob_audio: np.ndarray,
    prob_visual: np.ndarray,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    filenames: Sequence[str],
    *,
    high: float = 0.9,
    low: float = 0.1,
    calibrated: bool = True,
    prior_strength: float = 1.0,
    calibration: np.ndarray | None = None,
) -> pd.DataFrame:
    """Cells where the (calibrated) model is confident against the label, most likely error first.

    Args:
        prob_audio, prob_visual: ``(N, T, C)`` segment probabilities in [0, 1].
        gt_audio, gt_visual: ``(N, C, T)`` 0/1 labels to check.
        filenames: ``(N,)`` the clips' LLP filenames.
        high: a label-0 cell is flagged when its probability is at least ``high``.
        low: a label-1 cell is flagged when its probability is at most ``low``.
        calibrated: recalibrate per (modality, class) first (see the module docstring); False uses raw probabilities.
        prior_strength: the calibration's pull towards the model's own probabilities, in cells.
        calibration: ``(M, C, 2)`` parameters from ``calibration_parameters`` to use instead of fitting them to these
            labels (with ``calibrated``); None fits them here.

    Returns:
        DataFrame with ``RANKING_COLUMNS``: filename, class, modality ('audio' / 'visual'), segment (0..9), label
        (0/1), prob (raw), calibrated (the probability the thresholds and score use), score (``|calibrated -
        label|``), kind ('missing': label 0, 'spurious': label 1); one row per flagged cell.

    Raises:
        ValueError: shapes, values or thresholds out of range, naming the argument.
    """
    prob, labels, names = _check_inputs(prob_audio, prob_visual, gt_audio, gt_visual, filenames)
    high, low = _check_threshold(high, "high"), _check_threshold(low, "low")
    if calibrated:
        modalities, count = prob.shape[:2]
        if calibration is None:
            parameters = platt_parameters(_groups(prob), _groups(labels), prior_strength)  # (M * C, 2)
        else:
            parameters = np.asarray(calibration, dtype=np.float64)
            if parameters.shape != (modalities, NUM_CLASSES, 2) or not np.isfinite(parameters).all():
                raise ValueError(
                    f"calibration has shape {parameters.shape}; expected finite (M, C, 2) = ({modalities}, "
                    f"{NUM_CLASSES}, 2) parameters from calibration_parameters"
                )
            parameters = parameters.reshape(modalities * NUM_CLASSES, 2)
        fitted = apply_platt(_groups(prob), parameters)  # (M * C, N * T)
        confidence = fitted.reshape(modalities, NUM_CLASSES, count, NUM_SEGMENTS).transpose(0, 2, 1, 3)  # (M, N, C, T)
    else:
        confidence = prob
    flagged = ((labels == 0) & (confidence >= high)) | ((labels == 1) & (confidence <= low))
    return _frame(names, labels, prob, confidence, np.abs(confidence - labels), flagged)


def rank_by_confidence(
    prob_audio: np.ndarray,
    prob_visual: np.ndarray,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    filenames: Sequence[str],
) -> pd.DataFrame:
    """The baseline: every cell, sorted by ``|p - label|`` of the raw probabilities (no calibration, no threshold).
    Same arguments and columns as ``rank_label_errors`` (``calibrated`` = ``prob``)."""
    prob, labels, names = _check_inputs(prob_audio, prob_visual, gt_audio, gt_visual, filenames)
    return _frame(names, labels, prob, prob, np.abs(prob - labels), np.ones(prob.shape, dtype=bool))


def precision_recall_at_k(
    ranking: pd.DataFrame, errors: Iterable[tuple[str, str, str, int]], ks: Iterable[int]
) -> dict[int, dict[str, float]]:
    """Precision and recall of the top ``k`` rows of a ranking against the known wrong cells.

    A ranking shorter than ``k`` counts its missing rows as misses (precision = hits / k).

    Args:
        ranking: rows with filename, class, modality, segment (``rank_label_errors`` / ``rank_by_confidence``).
        errors: the wrong cells as (filename, class, modality, segment) tuples.
        ks: cut-offs (integers >= 1).

    Returns:
        ``{k: {"precision": ..., "recall": ..., "hits": ...}}``.
    """
    wrong = set(errors)
    keys = zip(ranking["filename"], ranking["class"], ranking["modality"], ranking["segment"].astype(int))
    hit = np.fromiter((key in wrong for key in keys), dtype=bool, count=len(ranking))
    cumulative = np.concatenate([[0], np.cumsum(hit)])  # hits among the first i rows
    results = {}
    for k in ks:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        hits = int(cumulative[min(int(k), len(ranking))])
        results[int(k)] = {
            "precision": hits / k,
            "recall": hits / len(wrong) if wrong else 0.0,
            "hits": hits,
        }
    return results
