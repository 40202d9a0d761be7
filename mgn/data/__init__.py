"""LLP data: the official on-disk layout, annotations and dense ground truth, features as contiguous arrays.

The torch ``Dataset`` lives in ``mgn.data.dataset`` and the CSV download in ``mgn.data.download``; they are not
imported here, so that reading annotations needs neither torch nor the network.
"""

from mgn.data.llp import (
    DENSE_SPLITS,
    FEATURE_SHAPES,
    SPLITS,
    Annotations,
    FeatureFileError,
    IgnoredRow,
    LLPAnnotationWarning,
    LLPFormatError,
    LLPLayout,
    Split,
    load_annotations,
    load_split,
    video_id_of,
)

__all__ = [
    "DENSE_SPLITS",
    "FEATURE_SHAPES",
    "SPLITS",
    "Annotations",
    "FeatureFileError",
    "IgnoredRow",
    "LLPAnnotationWarning",
    "LLPFormatError",
    "LLPLayout",
    "Split",
    "load_annotations",
    "load_split",
    "video_id_of",
]
