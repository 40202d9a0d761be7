"""LLP-format synthetic data: annotations with real-LLP statistics, features from a documented generative model.

``python -m mgn.data.synthetic --out DIR`` writes a dataset that ``mgn.data.llp.load_split`` reads like real LLP.
See docs/synthetic_data.md for the model, the statistics it matches and the tolerances that the tests check.

Modules: ``profiles`` (real-LLP statistics, constants), ``annotations`` (label sets and dense rows),
``features`` (signatures and per-clip features), ``dataset`` (IDs, seeds, files), ``stats`` (statistics of any
ground truth), ``__main__`` (the CLI).
"""

from __future__ import annotations

from mgn.data.synthetic.annotations import sample_annotations, weak_labels
from mgn.data.synthetic.config import GENERATOR_VERSION, SyntheticConfig
from mgn.data.synthetic.dataset import (
    LLP_SIZES,
    META_FILENAME,
    TRUTH_FILENAME,
    GeneratedDataset,
    SyntheticSplit,
    generate_dataset,
    read_truth,
    synthesize_splits,
)
from mgn.data.synthetic.features import ClipFeatures, Signatures, draw_signatures, synthesize_clip_features
from mgn.data.synthetic.stats import AnnotationStats, annotation_statistics

__all__ = [
    "GENERATOR_VERSION",
    "LLP_SIZES",
    "META_FILENAME",
    "TRUTH_FILENAME",
    "AnnotationStats",
    "ClipFeatures",
    "GeneratedDataset",
    "Signatures",
    "SyntheticConfig",
    "SyntheticSplit",
    "annotation_statistics",
    "draw_signatures",
    "generate_dataset",
    "read_truth",
    "sample_annotations",
    "synthesize_clip_features",
    "synthesize_splits",
    "weak_labels",
]
