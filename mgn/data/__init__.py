"""LLP data: the official on-disk layout, annotations and dense ground truth, features as contiguous arrays.

The CSV download lives in ``mgn.data.download`` and is not imported here, so that reading annotations needs no network
code. Training does not use a torch ``Dataset``: it indexes whole-split tensors (``mgn.inference.split_tensors``).
"""

from mgn.data.llp import (
    DENSE_SPLITS,
    FEATURE_SHAPES,
    FEATURE_STREAMS,
    SPLITS,
    Annotations,
    FeatureCacheWarning,
    FeatureFileError,
    IgnoredRow,
    LLPAnnotationWarning,
    LLPFormatError,
    LLPLayout,
    Split,
    SplitOverlapError,
    check_disjoint_splits,
    load_annotations,
    load_split,
    video_id_of,
)

__all__ = [
    "DENSE_SPLITS",
    "FEATURE_SHAPES",
    "FEATURE_STREAMS",
    "SPLITS",
    "Annotations",
    "FeatureCacheWarning",
    "FeatureFileError",
    "IgnoredRow",
    "LLPAnnotationWarning",
    "LLPFormatError",
    "LLPLayout",
    "Split",
    "SplitOverlapError",
    "check_disjoint_splits",
    "load_annotations",
    "load_split",
    "video_id_of",
]
