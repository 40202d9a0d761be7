"""Annotation statistics in the terms of ``design/llp_stats.md``, for any dense ground truth (synthetic or real).

Used by the tests (synthetic vs the real-LLP targets) and by ``python -m mgn.data.synthetic --stats`` for the tables
in docs/synthetic_data.md. All shares are percentages. An "event" is a maximal run of 1s in one (clip, class, modality)
row, as in the official event-level metric; a "pair" is a (clip, class) with a 1 in either modality.

Notation: N clips, C = 25 classes, T = 10 one-second segments.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from mgn.events import find_events
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = ["AnnotationStats", "annotation_statistics", "class_table"]

_MAX_LABELS = 7  # histogram bins of labels per clip: 0..7


@dataclass(frozen=True)
class AnnotationStats:
    """Statistics of a ``(N, C, T)`` audio / visual ground-truth pair (percentages unless stated)."""

    num_clips: int
    class_share: np.ndarray  # (C,) clips whose weak label holds the class
    labels_per_clip: np.ndarray  # (8,) clips with 0..7 weak labels
    mean_labels: float  # weak labels per clip (count)
    events_per_clip: dict[str, float]  # modality -> mean events per clip (count); modalities audio, visual, av
    mean_duration_s: dict[str, float]  # modality -> mean event duration, seconds
    full_length: dict[str, float]  # modality -> events lasting all 10 s
    onset_at_zero: dict[str, float]  # modality -> events starting at segment 0
    duration_histogram: dict[str, np.ndarray]  # modality -> (10,) events lasting 1..10 s
    runs_per_pair: dict[str, np.ndarray]  # modality -> (5,) active (clip, class) rows with 1..5 events
    pair_modality: dict[str, float]  # audio_only / visual_only / both: shares of all pairs
    class_modality: dict[str, np.ndarray]  # audio_only / visual_only / both -> (C,) shares of the class's pairs
    class_pairs: np.ndarray  # (C,) number of pairs per class (count)
    both_identical: float  # of "both" pairs: audio row == visual row
    both_mean_iou: float  # of "both" pairs: mean segment IoU (0..1)
    visual_within_audio: float  # of "both" pairs: visual row a subset of the audio row
    audio_within_visual: float  # of "both" pairs: audio row a subset of the visual row
    empty_clips: dict[str, float]  # modality -> clips without any event

    def summary(self) -> str:
        """Multi-line human-readable digest of the aggregate numbers (not the per-class arrays)."""
        lines = [
            f"clips: {self.num_clips}, labels/clip {self.mean_labels:.3f}, "
            f"labels 1/2/3/4+: {'/'.join(f'{v:.1f}' for v in self.labels_per_clip[1:4])}/"
            f"{self.labels_per_clip[4:].sum():.1f} %"
        ]
        for modality in ("audio", "visual", "av"):
            lines.append(
                f"{modality:6s} events/clip {self.events_per_clip[modality]:.3f}, mean dur "
                f"{self.mean_duration_s[modality]:.2f} s, 10 s {self.full_length[modality]:.1f} %, onset 0 "
                f"{self.onset_at_zero[modality]:.1f} %, empty clips {self.empty_clips[modality]:.1f} %, runs/pair "
                f"1..5 {'/'.join(f'{share:.1f}' for share in self.runs_per_pair[modality])} %"
            )
        lines.append("pairs: " + ", ".join(f"{name} {share:.1f} %" for name, share in self.pair_modality.items()))
        lines.append(
            f"both pairs: identical {self.both_identical:.1f} %, mean IoU {self.both_mean_iou:.3f}, visual within "
            f"audio {self.visual_within_audio:.1f} %, audio within visual {self.audio_within_visual:.1f} %"
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly dict (arrays as lists)."""

        def plain(value: object) -> object:
            if isinstance(value, np.ndarray):
                return value.tolist()
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            return value

        return {field.name: plain(getattr(self, field.name)) for field in fields(self)}


def _percent(count: np.ndarray | float, total: np.ndarray | float) -> np.ndarray | float:
    return 100.0 * np.asarray(count, dtype=np.float64) / np.maximum(total, 1)


def _event_stats(gt: np.ndarray) -> tuple[float, float, float, float, np.ndarray, np.ndarray]:
    num_clips = gt.shape[0]
    clip, class_index, onset, offset = find_events(gt)
    durations = offset - onset
    num_events = len(durations)
    runs = np.bincount(clip * NUM_CLASSES + class_index, minlength=num_clips * NUM_CLASSES)
    runs = runs[runs > 0]
    return (
        num_events / max(num_clips, 1),
        float(durations.mean()) if num_events else 0.0,
        float(_percent((durations == NUM_SEGMENTS).sum(), num_events)),
        float(_percent((onset == 0).sum(), num_events)),
        _percent(np.bincount(durations, minlength=NUM_SEGMENTS + 1)[1:], num_events),
        _percent(np.bincount(np.minimum(runs, 5), minlength=6)[1:], len(runs)),
    )


def annotation_statistics(gt_audio: np.ndarray, gt_visual: np.ndarray) -> AnnotationStats:
    """Statistics of dense ground truth ``(N, C, T)`` 0/1 arrays ``[clip, class, segment]``.

    The weak label of a clip is taken to be the classes with any event (true for synthetic data; for real LLP val/test
    this ignores the 38 weak-only pairs).
    """
    gt_audio = np.asarray(gt_audio, dtype=bool)
    gt_visual = np.asarray(gt_visual, dtype=bool)
    if gt_audio.shape != gt_visual.shape or gt_audio.shape[1:] != (NUM_CLASSES, NUM_SEGMENTS):
        raise ValueError(
            f"expected two (N, {NUM_CLASSES}, {NUM_SEGMENTS}) arrays, got {gt_audio.shape} and {gt_visual.shape}"
        )
    num_clips = gt_audio.shape[0]
    audible, visible = gt_audio.any(-1), gt_visual.any(-1)  # (N, C)
    labelled = audible | visible
    labels = labelled.sum(1)
    per_modality = {"audio": gt_audio, "visual": gt_visual, "av": gt_audio & gt_visual}
    event_stats = {name: _event_stats(gt) for name, gt in per_modality.items()}

    both = audible & visible  # (N, C)
    categories = {"audio_only": audible & ~visible, "visual_only": visible & ~audible, "both": both}
    class_pairs = labelled.sum(0)
    both_audio, both_visual = gt_audio[both], gt_visual[both]  # (P, T)
    union = (both_audio | both_visual).sum(1)
    iou = (both_audio & both_visual).sum(1) / np.maximum(union, 1)
    num_both = len(both_audio)
    return AnnotationStats(
        num_clips=num_clips,
        class_share=_percent(labelled.sum(0), num_clips),
        labels_per_clip=_percent(np.bincount(np.minimum(labels, _MAX_LABELS), minlength=_MAX_LABELS + 1), num_clips),
        mean_labels=float(labels.mean()) if num_clips else 0.0,
        events_per_clip={name: stats[0] for name, stats in event_stats.items()},
        mean_duration_s={name: stats[1] for name, stats in event_stats.items()},
        full_length={name: stats[2] for name, stats in event_stats.items()},
        onset_at_zero={name: stats[3] for name, stats in event_stats.items()},
        duration_histogram={name: stats[4] for name, stats in event_stats.items()},
        runs_per_pair={name: stats[5] for name, stats in event_stats.items()},
        pair_modality={name: float(_percent(mask.sum(), labelled.sum())) for name, mask in categories.items()},
        class_modality={name: _percent(mask.sum(0), class_pairs) for name, mask in categories.items()},
        class_pairs=class_pairs,
        both_identical=float(_percent((both_audio == both_visual).all(1).sum(), num_both)),
        both_mean_iou=float(iou.mean()) if num_both else 0.0,
        visual_within_audio=float(_percent((both_visual <= both_audio).all(1).sum(), num_both)),
        audio_within_visual=float(_percent((both_audio <= both_visual).all(1).sum(), num_both)),
        empty_clips={name: float(_percent((~gt.any((1, 2))).sum(), num_clips)) for name, gt in per_modality.items()},
    )


def class_table(stats: AnnotationStats) -> str:
    """Markdown table: per class, % of clips labelled, number of pairs, and the audio / visual / both shares."""
    rows = ["| class | clips % | pairs | A-only % | V-only % | both % |", "|---|---|---|---|---|---|"]
    for index, name in enumerate(CLASSES):
        rows.append(
            f"| {name} | {stats.class_share[index]:.1f} | {stats.class_pairs[index]} | "
            f"{stats.class_modality['audio_only'][index]:.1f} | {stats.class_modality['visual_only'][index]:.1f} | "
            f"{stats.class_modality['both'][index]:.1f} |"
        )
    return "\n".join(rows)
