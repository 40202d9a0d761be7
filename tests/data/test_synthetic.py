"""mgn.data.synthetic: real-LLP statistics, the official on-disk format, determinism, and learnable features.

Tolerances (also listed in docs/synthetic_data.md) are checked on 20,000 sampled clips per kind; targets are the
real-LLP numbers of design/llp_stats.md (train weak labels; val+test dense annotations).
"""

from __future__ import annotations

import collections
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgn.data.llp import LLPLayout, load_annotations, load_split
from mgn.data.synthetic import (
    META_FILENAME,
    TRUTH_FILENAME,
    SyntheticConfig,
    annotation_statistics,
    generate_dataset,
    read_truth,
    sample_annotations,
    synthesize_splits,
    weak_labels,
)
from mgn.data.synthetic.profiles import CLASS_PROFILES
from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import avvp_scores, binarize

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLED_CLIPS = 20_000

# llp_stats.md §2: % of train clips per class (index order).
TRAIN_CLASS_SHARE = (
    49.9,
    6.2,
    5.3,
    7.6,
    1.9,
    3.4,
    4.5,
    2.2,
    3.0,
    6.0,
    1.9,
    11.7,
    4.4,
    14.6,
    5.0,
    1.5,
    4.5,
    2.2,
    4.1,
    5.9,
    5.0,
    1.0,
    4.3,
    2.9,
    1.6,
)
TRAIN_LABELS_PER_CLIP = {1: 40.3, 2: 58.8, 3: 0.9}  # §3, % of train clips
EVAL_LABELS_PER_CLIP = {1: 33.3, 2: 54.9, 3: 9.4, 4: 2.3}  # §3, val+test; 4 = "4 or more"
TRAIN_TOP_PAIRS = {("Speech", "Dog"), ("Speech", "Violin_fiddle"), ("Cello", "Violin_fiddle"), ("Speech", "Singing")}
# §4.c, §5, §9, §11 (val+test): target, tolerance
EVAL_TARGETS = {
    "events_per_clip audio": (2.206, 0.2),
    "events_per_clip visual": (1.342, 0.15),
    "mean_duration_s audio": (5.56, 0.5),
    "mean_duration_s visual": (7.22, 0.5),
    "mean_duration_s av": (5.89, 0.5),
    "full_length audio": (32.3, 5.0),
    "full_length visual": (55.0, 5.0),
    "onset_at_zero audio": (53.1, 5.0),
    "onset_at_zero visual": (71.5, 5.0),
    "onset_at_zero av": (56.5, 5.0),
    "runs_per_pair audio": (78.4, 4.0),  # % of active (clip, class) rows with a single event
    "runs_per_pair visual": (89.1, 4.0),
    "empty_clips visual": (10.3, 3.0),
    "empty_clips av": (14.4, 3.0),
    "pair_modality audio_only": (34.9, 3.0),
    "pair_modality visual_only": (4.6, 3.0),
    "pair_modality both": (60.6, 3.0),
    "both_identical": (60.4, 5.0),
    "both_mean_iou": (0.827, 0.05),
}
EVAL_DURATION_HISTOGRAM = {  # §4.c, % of events lasting 1..10 s
    "audio": (17.4, 13.5, 10.2, 7.9, 4.9, 3.9, 3.9, 3.1, 2.9, 32.3),
    "visual": (9.0, 8.1, 6.9, 5.8, 3.5, 4.1, 3.0, 2.9, 1.9, 55.0),
}
FREQUENT_PAIRS = 80  # classes with at least this many real val+test (clip, class) pairs get a per-class check


@pytest.fixture(scope="module")
def train_stats():
    return annotation_statistics(*sample_annotations(np.random.default_rng(11), SAMPLED_CLIPS, "train"))


@pytest.fixture(scope="module")
def eval_annotations():
    return sample_annotations(np.random.default_rng(12), SAMPLED_CLIPS, "eval")


@pytest.fixture(scope="module")
def eval_stats(eval_annotations):
    return annotation_statistics(*eval_annotations)


def _stat(stats, key: str) -> float:
    name, _, part = key.partition(" ")
    value = getattr(stats, name)
    if name == "runs_per_pair":
        return float(value[part][0])
    return float(value[part] if part else value)


# ------------------------------------------------------------------------------------------------------ statistics


def test_train_class_frequencies_within_2_points(train_stats):
    difference = train_stats.class_share - np.array(TRAIN_CLASS_SHARE)
    worst = int(np.abs(difference).argmax())
    assert abs(difference[worst]) <= 2.0, (
        f"{CLASSES[worst]}: {train_stats.class_share[worst]:.1f} % vs real {TRAIN_CLASS_SHARE[worst]} %"
    )


@pytest.mark.parametrize("kind", ["train", "eval"])
def test_labels_per_clip_within_3_points(kind, train_stats, eval_stats):
    stats, targets = (train_stats, TRAIN_LABELS_PER_CLIP) if kind == "train" else (eval_stats, EVAL_LABELS_PER_CLIP)
    assert stats.labels_per_clip[0] == 0  # every clip has a label
    for count, target in targets.items():
        share = stats.labels_per_clip[count:].sum() if count == max(targets) else stats.labels_per_clip[count]
        assert abs(share - target) <= 3.0, f"{kind}: {count} labels in {share:.1f} % of clips, real {target} %"


def test_speech_is_the_usual_partner():
    gt_audio, gt_visual = sample_annotations(np.random.default_rng(13), SAMPLED_CLIPS, "train")
    labels = weak_labels(gt_audio, gt_visual).astype(bool)
    two = labels[labels.sum(1) == 2]
    assert abs(100 * two[:, CLASS_TO_INDEX["Speech"]].mean() - 83.7) <= 5.0  # 4920 of 5879 real 2-label sets
    sets = collections.Counter(tuple(CLASSES[index] for index in np.flatnonzero(row)) for row in two)
    assert {pair for pair, _ in sets.most_common(3)} <= TRAIN_TOP_PAIRS


@pytest.mark.parametrize("key", sorted(EVAL_TARGETS))
def test_dense_statistics_match_llp(eval_stats, key):
    target, tolerance = EVAL_TARGETS[key]
    value = _stat(eval_stats, key)
    assert abs(value - target) <= tolerance, f"{key}: {value:.3f}, real {target} (tolerance {tolerance})"


@pytest.mark.parametrize("modality", ["audio", "visual"])
def test_duration_histogram_within_8_points_total_variation(eval_stats, modality):
    distance = np.abs(eval_stats.duration_histogram[modality] - np.array(EVAL_DURATION_HISTOGRAM[modality])).sum() / 2
    assert distance <= 8.0


def test_modality_shares_per_frequent_class_within_5_points(eval_stats):
    checked = 0
    for index, profile in enumerate(CLASS_PROFILES):
        pairs = profile.audio_only + profile.visual_only + profile.both
        if pairs < FREQUENT_PAIRS:
            continue
        checked += 1
        for name in ("audio_only", "visual_only", "both"):
            target = 100 * getattr(profile, name) / pairs
            value = eval_stats.class_modality[name][index]
            assert abs(value - target) <= 5.0, f"{profile.name} {name}: {value:.1f} %, real {target:.1f} %"
    assert checked >= 12


def test_modality_and_extent_are_not_implied_by_the_label(eval_annotations):
    """The same class is audible only, visible only or both, and full or partial, from clip to clip."""
    gt_audio, gt_visual = eval_annotations
    for name in ("Speech", "Dog", "Violin_fiddle", "Car"):
        index = CLASS_TO_INDEX[name]
        audio, visual = gt_audio[:, index], gt_visual[:, index]  # (N, T)
        present = audio.any(1) | visual.any(1)
        kinds = {(bool(a.any()), bool(v.any())) for a, v in zip(audio[present], visual[present])}
        assert {(True, False), (True, True)} <= kinds, name
        lengths = audio[audio.any(1)].sum(1)
        assert lengths.min() < NUM_SEGMENTS and (lengths == NUM_SEGMENTS).any(), name


def test_profiles_match_real_llp(llp_dir):
    """The per-class tables of profiles.py are what the real val+test annotations say."""
    layout = LLPLayout(root=llp_dir)
    splits = [load_annotations(layout, split, warn=False) for split in ("val", "test")]
    real = annotation_statistics(
        np.concatenate([s.gt_audio for s in splits]), np.concatenate([s.gt_visual for s in splits])
    )
    for index, profile in enumerate(CLASS_PROFILES):
        pairs = profile.audio_only + profile.visual_only + profile.both
        assert real.class_pairs[index] == pairs, profile.name
        assert abs(real.class_modality["both"][index] - 100 * profile.both / pairs) < 0.1, profile.name
    for key, (target, tolerance) in EVAL_TARGETS.items():
        assert abs(_stat(real, key) - target) <= max(0.02 * tolerance, 0.006), key
    train = load_annotations(layout, "train", warn=False)
    assert np.allclose(100 * train.labels.mean(0), TRAIN_CLASS_SHARE, atol=0.051)


# ---------------------------------------------------------------------------------------------------------- on disk

SIZES = {"train": 6, "val": 4, "test": 5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate_dataset(root, SyntheticConfig(), SIZES, seed=5, progress=False)
    return root


def _digests(root: Path, patterns=("*.csv", "feats/*/*.npy", TRUTH_FILENAME, META_FILENAME)) -> dict[str, str]:
    files = sorted(path for pattern in patterns for path in root.glob(pattern))
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def test_csv_format_matches_llp(dataset):
    layout = LLPLayout(root=dataset)
    filename_pattern = re.compile(r"^[A-Za-z0-9_-]{11}_(\d+)_(\d+)$")
    weak = {}
    for split in SIZES:
        text = layout.split_csv(split).read_text()
        assert text.startswith("filename\tevent_labels\n") and text.endswith("\n") and "\r" not in text
        frame = pd.read_csv(layout.split_csv(split), sep="\t", dtype=str)
        assert len(frame) == SIZES[split]
        for filename, labels in zip(frame["filename"], frame["event_labels"]):
            start, end = map(int, filename_pattern.match(filename).groups())
            assert end == start + NUM_SEGMENTS
            assert labels and " " not in labels and set(labels.split(",")) <= set(CLASSES)
        weak[split] = frame
    ids = [name[:11] for frame in weak.values() for name in frame["filename"]]
    assert len(set(ids)) == len(ids)  # unique within and across splits
    full = pd.read_csv(layout.resolve(layout.full_csv), sep="\t", dtype=str)
    assert full.equals(pd.concat(list(weak.values()), ignore_index=True))
    for modality in ("audio", "visual"):
        assert layout.eval_csv(modality).read_text().startswith("filename\tonset\toffset\tevent_labels\n")
        dense = pd.read_csv(layout.eval_csv(modality), sep="\t")
        assert set(dense["filename"]) <= set(weak["val"]["filename"]) | set(weak["test"]["filename"])
        assert ((0 <= dense["onset"]) & (dense["onset"] < dense["offset"]) & (dense["offset"] <= 10)).all()


def test_load_split_reads_back_the_truth_and_features(dataset):
    layout = LLPLayout(root=dataset)
    truth = read_truth(dataset / TRUTH_FILENAME)
    in_memory = synthesize_splits(SIZES, seed=5)
    for split in SIZES:
        loaded = load_split(layout, split, progress=False)
        expected = in_memory[split]
        assert list(loaded.filenames) == list(truth[split]["filenames"]) == list(expected.filenames)
        assert np.array_equal(loaded.labels, weak_labels(truth[split]["gt_audio"], truth[split]["gt_visual"]))
        if split != "train":  # dense rows round-trip exactly; weak label = union of the dense rows
            assert np.array_equal(loaded.gt_audio, truth[split]["gt_audio"])
            assert np.array_equal(loaded.gt_visual, truth[split]["gt_visual"])
        for modality in ("audio", "visual", "visual_st"):
            array = getattr(loaded, modality)
            assert array.dtype == np.float32 and np.isfinite(array).all()
            assert np.array_equal(array, getattr(expected, modality)), (split, modality)
        assert loaded.visual.min() >= 0 and loaded.visual_st.min() >= 0 and loaded.audio.min() < 0


def test_same_seed_same_bytes_and_videos_change_nothing(dataset, tmp_path):
    again = tmp_path / "again"
    generate_dataset(again, SyntheticConfig(), SIZES, seed=5, progress=False)
    assert _digests(again) == _digests(dataset)
    small = {"train": 2, "val": 1, "test": 1}
    plain, with_videos = tmp_path / "plain", tmp_path / "videos"
    generate_dataset(plain, SyntheticConfig(), small, seed=6, progress=False)
    generate_dataset(with_videos, SyntheticConfig(), small, seed=6, videos=True, progress=False)
    assert _digests(with_videos, ("*.csv", "feats/*/*.npy", TRUTH_FILENAME)) == _digests(
        plain, ("*.csv", "feats/*/*.npy", TRUTH_FILENAME)
    )
    videos = sorted((with_videos / LLPLayout().video_dir).glob("*.mp4"))
    assert len(videos) == sum(small.values()) and all(path.stat().st_size > 10_000 for path in videos)


def test_other_seed_other_data_and_splits_independent_of_train_size():
    base = synthesize_splits({"train": 3, "val": 3, "test": 3}, seed=5, features=False)
    other_seed = synthesize_splits({"train": 3, "val": 3, "test": 3}, seed=6, features=False)
    assert not np.array_equal(base["test"].filenames, other_seed["test"].filenames)
    bigger_train = synthesize_splits({"train": 9, "val": 3, "test": 3}, seed=5)
    for split in ("val", "test"):
        assert np.array_equal(bigger_train[split].filenames, base[split].filenames)
        assert np.array_equal(bigger_train[split].gt_audio, base[split].gt_audio)
    assert np.array_equal(bigger_train["val"].audio, synthesize_splits({"val": 3}, seed=5)["val"].audio)


def test_refuses_foreign_non_empty_folder_unless_forced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--force"):
        generate_dataset(tmp_path, SyntheticConfig(), {"val": 1}, seed=0, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    generate_dataset(tmp_path, SyntheticConfig(), {"val": 1}, seed=0, force=True, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / META_FILENAME).is_file()


def test_regenerating_replaces_the_previous_output_only(tmp_path):
    generate_dataset(tmp_path, SyntheticConfig(), {"train": 4, "val": 2}, seed=0, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    generate_dataset(tmp_path, SyntheticConfig(), {"train": 1, "val": 1}, seed=1, progress=False)
    assert len(list((tmp_path / "feats" / "vggish").glob("*.npy"))) == 2  # no stale clips of the first run
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cli_writes_a_dataset_and_refuses_foreign_folders(tmp_path):
    command = [
        sys.executable,
        "-m",
        "mgn.data.synthetic",
        "--out",
        str(tmp_path / "out"),
        "--train",
        "2",
        "--val",
        "1",
        "--test",
        "1",
        "--seed",
        "3",
        "--quiet",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote 4 clips" in done.stdout
    assert len(pd.read_csv(tmp_path / "out" / "AVVP_dataset_full.csv", sep="\t")) == 4
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x").write_text("")
    command[command.index("--out") + 1] = str(tmp_path / "foreign")
    refused = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="audio_snr"):
        SyntheticConfig(audio_snr=-1.0)
    with pytest.raises(ValueError, match="unknown SyntheticConfig fields"):
        SyntheticConfig.from_dict({"snr": 1})
    with pytest.raises(ValueError, match="unknown split names"):
        synthesize_splits({"validation": 2}, seed=0)
    with pytest.raises(ValueError, match="seed"):
        synthesize_splits({"val": 2}, seed=-1)


# -------------------------------------------------------------------------------------------------------- features


def _segment_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, keep: int | None) -> np.ndarray:
    """One-vs-rest logistic regression per class on standardised segment features, optionally on the ``keep``
    dimensions with the largest ANOVA F for that class. ``(S, D)``, ``(S, C)``, ``(S', D)`` -> ``(S', C)``."""
    from sklearn.feature_selection import f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    probabilities = np.zeros((len(test_x), NUM_CLASSES), dtype=np.float32)
    for index in range(NUM_CLASSES):
        target = train_y[:, index]
        if target.min() == target.max():
            continue
        columns = slice(None) if keep is None else np.argsort(-np.nan_to_num(f_classif(train_x, target)[0]))[:keep]
        model = LogisticRegression(max_iter=300).fit(train_x[:, columns], target)
        probabilities[:, index] = model.predict_proba(test_x[:, columns])[:, 1]
    return probabilities


def test_linear_probe_beats_weak_label_oracle_which_beats_all_zero(capsys):
    clips = 300
    splits = synthesize_splits({"val": clips, "test": clips}, seed=2, pooled_visual=True)
    fit, scored = splits["val"], splits["test"]

    def segments(array: np.ndarray) -> np.ndarray:
        return array.reshape(-1, array.shape[-1])  # (N, T, X) -> (N * T, X)

    def visual(split) -> np.ndarray:
        return np.concatenate([segments(split.visual), segments(split.visual_st)], axis=1)  # (N * T, 2560)

    audio_prob = _segment_probe(
        segments(fit.audio), segments(fit.gt_audio.transpose(0, 2, 1)), segments(scored.audio), keep=None
    ).reshape(clips, NUM_SEGMENTS, NUM_CLASSES)
    visual_prob = _segment_probe(
        visual(fit), segments(fit.gt_visual.transpose(0, 2, 1)), visual(scored), keep=64
    ).reshape(clips, NUM_SEGMENTS, NUM_CLASSES)
    video_prob = np.maximum(audio_prob.max(1), visual_prob.max(1))  # (N, C): the probe's own video-level gate
    probe = avvp_scores(*binarize(video_prob, audio_prob, visual_prob), scored.gt_audio, scored.gt_visual)
    oracle_rows = np.repeat(scored.labels[:, :, None], NUM_SEGMENTS, axis=2).astype(np.uint8)
    oracle = avvp_scores(oracle_rows, oracle_rows, scored.gt_audio, scored.gt_visual)
    zeros = np.zeros_like(oracle_rows)
    zero = avvp_scores(zeros, zeros, scored.gt_audio, scored.gt_visual)
    with capsys.disabled():
        for name, scores in (("probe", probe), ("oracle", oracle), ("zero", zero)):
            print(
                f"\n{name:6s} "
                + "  ".join(
                    f"{level}: " + " ".join(f"{key} {value:.1f}" for key, value in scores.to_json()[level].items())
                    for level in ("segment", "event")
                ),
                end="",
            )
        print()
    type_av = {name: scores.segment.type for name, scores in (("probe", probe), ("oracle", oracle), ("zero", zero))}
    assert type_av["probe"] >= type_av["oracle"] + 5
    assert type_av["oracle"] >= type_av["zero"] + 20
    assert type_av["probe"] < 95  # learnable, not trivially separable


def test_cli_prints_statistics(capsys):
    from mgn.data.synthetic.__main__ import main

    assert main(["--stats", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "## train" in printed and "## eval" in printed and "| Speech |" in printed
