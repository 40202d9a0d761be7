"""``mgn.labels``: the evaluation modalities, defined once, and audio-visual = audible AND visible."""

from __future__ import annotations

import numpy as np

from mgn.labels import AUDIO_VISUAL, EVAL_MODALITIES, MODALITY_TITLES, audio_visual
from mgn.metrics import METRIC_TITLES


def test_modalities_and_titles() -> None:
    assert EVAL_MODALITIES == ("audio", "visual", AUDIO_VISUAL)
    assert [MODALITY_TITLES[m] for m in EVAL_MODALITIES] == ["Audio", "Visual", "Audio-Visual"]
    assert all(METRIC_TITLES[m] == MODALITY_TITLES[m] for m in EVAL_MODALITIES)


def test_audio_visual_is_the_official_product_and_keeps_the_dtype() -> None:
    audio = np.array([[1, 1, 0, 0]], dtype=np.uint8)
    visual = np.array([[1, 0, 1, 0]], dtype=np.uint8)
    both = audio_visual(audio, visual)
    assert both.dtype == np.uint8 and both.tolist() == [[1, 0, 0, 0]]
    assert audio_visual(audio > 0, visual > 0).dtype == np.bool_
