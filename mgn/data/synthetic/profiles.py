"""Statistics of real LLP that the synthetic annotations reproduce (constants only, no code that runs).

Every number here is an aggregate count or share computed from the real LLP annotation CSVs and written down in
``design/llp_stats.md`` (section numbers below refer to it); no clip, filename or row of the real data is stored.

- Label sets (section 2/3): LLP weak labels are "Speech plus 0-3 other classes". A label set is drawn as a cell
  (speech present?, number of non-Speech classes k) of ``TRAIN_LABEL_SET_CELLS`` / ``EVAL_LABEL_SET_CELLS``; then
  one non-Speech class from ``solo_weight`` (no Speech) or ``with_speech_weight`` (Speech + one class), or, for
  k >= 2, a pair from ``CLASS_PAIR_WEIGHTS`` plus ``multi_weight`` draws for k >= 3.
- Modality per (clip, class) (section 7): audible only / visible only / both, from ``audio_only`` / ``visual_only`` /
  ``both`` (counts of val+test pairs; the 1.1 % "none" pairs of real LLP are left out, see docs/synthetic_data.md).
- Event extents per modality (section 10): mean event duration (s) and the share of events that last all 10 s.
- Audio-visual relation of a "both" pair (section 11, per class): identical extents / audio strictly inside visual /
  visual strictly inside audio; the rest overlaps partially.
"""

from __future__ import annotations

from typing import NamedTuple

from mgn.labels import CLASSES

__all__ = [
    "AUDIO_RUNS_PER_PARTIAL_ROW",
    "CLASS_PAIR_WEIGHTS",
    "CLASS_PROFILES",
    "EVAL_LABEL_SET_CELLS",
    "SPEECH",
    "TRAIN_LABEL_SET_CELLS",
    "VISUAL_RUNS_PER_PARTIAL_ROW",
    "ClassProfile",
]

SPEECH = "Speech"  # the class that partners most other classes in LLP label sets


class ClassProfile(NamedTuple):
    """What real LLP says about one class (counts are weights; they need not be normalised)."""

    name: str
    solo_weight: float  # train clips whose label set is exactly {class} (no Speech)
    with_speech_weight: float  # train clips labelled exactly {Speech, class}
    multi_weight: float  # occurrences in train label sets with >= 2 non-Speech classes
    audio_only: float  # val+test (clip, class) pairs audible but never visible
    visual_only: float  # ... visible but never audible
    both: float  # ... audible and visible
    audio_mean_s: float  # mean audio event duration, seconds
    audio_full: float  # share of audio events lasting all 10 s
    visual_mean_s: float  # mean visual event duration, seconds
    visual_full: float  # share of visual events lasting all 10 s
    same_extent: float  # of "both" pairs: audio and visual rows identical
    audio_in_visual: float  # ... audio a strict subset of visual
    visual_in_audio: float  # ... visual a strict subset of audio


_P = ClassProfile  # short alias for the table below

# fmt: off
CLASS_PROFILES: tuple[ClassProfile, ...] = (
    #  name                       solo   +Sp multi A-only V-only both  A mean A full V mean V full same  a<v   v<a
    _P("Speech",                    0,    0,    0,   765,     2,  223,  3.63, 0.10,  3.57, 0.09, 0.69, 0.00, 0.30),
    _P("Car",                     253,  366,    5,     2,    29,  104,  9.12, 0.82,  8.73, 0.73, 0.81, 0.10, 0.09),
    _P("Cheering",                215,  247,   66,    77,     5,   49,  5.44, 0.31,  6.78, 0.49, 0.69, 0.06, 0.24),
    _P("Dog",                      51,  668,   42,    13,    22,  135,  4.21, 0.16,  8.73, 0.78, 0.23, 0.70, 0.03),
    _P("Cat",                      16,  164,   12,     3,    19,   40,  2.62, 0.05,  8.48, 0.73, 0.10, 0.85, 0.00),
    _P("Frying_(food)",           208,  135,    0,     4,     1,   59,  9.49, 0.90,  8.87, 0.80, 0.83, 0.02, 0.14),
    _P("Basketball_bounce",       132,  320,    3,     4,    15,   62,  2.91, 0.04,  2.61, 0.02, 0.65, 0.19, 0.15),
    _P("Fire_alarm",              116,  102,    0,     6,     0,   30,  6.55, 0.38,  7.25, 0.41, 0.17, 0.43, 0.23),
    _P("Chainsaw",                218,   66,   15,     1,     0,   44,  7.92, 0.63,  7.98, 0.60, 0.57, 0.20, 0.18),
    _P("Cello",                    41,   26,  535,    23,     7,   93,  8.86, 0.76,  8.85, 0.78, 0.68, 0.18, 0.14),
    _P("Banjo",                    17,   61,  108,     8,     2,   34,  8.62, 0.74,  9.22, 0.86, 0.68, 0.24, 0.08),
    _P("Singing",                 350,  497,  325,    83,     1,  186,  6.25, 0.32,  5.69, 0.24, 0.85, 0.00, 0.15),
    _P("Chicken_rooster",         228,  204,    5,     7,     5,   86,  5.20, 0.29,  9.19, 0.85, 0.40, 0.51, 0.06),
    _P("Violin_fiddle",           218,  571,  668,    40,     7,  186,  7.99, 0.59,  8.68, 0.76, 0.53, 0.33, 0.12),
    _P("Vacuum_cleaner",          388,  104,    3,     6,     1,   92,  8.79, 0.76,  8.41, 0.72, 0.67, 0.18, 0.13),
    _P("Baby_laughter",            55,   89,    2,     7,     0,   25,  3.98, 0.12,  4.59, 0.19, 0.76, 0.20, 0.00),
    _P("Accordion",               361,   43,   41,    21,     1,   61,  8.88, 0.76,  8.97, 0.83, 0.74, 0.13, 0.10),
    _P("Lawn_mower",              130,   85,    9,     3,     1,   41,  7.24, 0.54,  8.78, 0.76, 0.49, 0.34, 0.15),
    _P("Motorcycle",               76,  312,   23,     4,     9,   71,  8.60, 0.72,  8.30, 0.66, 0.58, 0.23, 0.18),
    _P("Helicopter",              439,  146,    2,     9,     2,   93,  9.06, 0.82,  8.38, 0.71, 0.80, 0.04, 0.15),
    _P("Acoustic_guitar",          58,  227,  218,    13,    17,  131,  7.17, 0.51,  9.13, 0.84, 0.50, 0.39, 0.10),
    _P("Telephone_bell_ringing",   36,   62,    1,     8,     0,   11,  4.60, 0.20,  6.42, 0.33, 0.27, 0.45, 0.18),
    _P("Baby_cry_infant_cry",     174,  251,    5,    13,     1,   62,  6.47, 0.31,  7.43, 0.49, 0.61, 0.27, 0.10),
    _P("Blender",                 213,   78,    0,     0,     1,   55,  5.97, 0.27,  9.28, 0.84, 0.31, 0.65, 0.00),
    _P("Clapping",                 39,   96,   29,    57,     6,   71,  4.84, 0.22,  5.18, 0.28, 0.66, 0.03, 0.27),
)

# Share (%) of clips per (Speech in the label set?, number of non-Speech classes): train (AVVP_train.csv) and the
# richer val+test label sets (AVVP_val_pd.csv + AVVP_test_pd.csv), rounded to 0.1 % and summing to 100.
TRAIN_LABEL_SET_CELLS: tuple[tuple[bool, int, float], ...] = (
    (False, 1, 40.3), (False, 2, 9.6), (False, 3, 0.2),
    (True, 1, 49.2), (True, 2, 0.7),
)
EVAL_LABEL_SET_CELLS: tuple[tuple[bool, int, float], ...] = (
    (False, 1, 32.8), (False, 2, 10.6), (False, 3, 2.4), (False, 4, 0.6),
    (True, 0, 0.5), (True, 1, 44.4), (True, 2, 7.0), (True, 3, 1.6), (True, 4, 0.1),
)

# Non-Speech class pairs in train label sets with >= 2 non-Speech classes (count >= 4 of 1,090 pairs); the remaining
# mass is drawn as two independent classes from `solo_weight` (the `None` entry).
CLASS_PAIR_WEIGHTS: tuple[tuple[tuple[str, str] | None, float], ...] = (
    (("Cello", "Violin_fiddle"), 516), (("Acoustic_guitar", "Singing"), 137),
    (("Acoustic_guitar", "Violin_fiddle"), 64),
    (("Banjo", "Singing"), 58), (("Cheering", "Singing"), 48), (("Banjo", "Violin_fiddle"), 48),
    (("Singing", "Violin_fiddle"), 42), (("Accordion", "Singing"), 22), (("Accordion", "Violin_fiddle"), 14),
    (("Cheering", "Clapping"), 14), (("Cello", "Singing"), 13), (("Clapping", "Singing"), 12),
    (("Acoustic_guitar", "Banjo"), 12), (("Chainsaw", "Motorcycle"), 11), (("Cat", "Dog"), 11),
    (("Accordion", "Cello"), 7), (("Dog", "Singing"), 7), (("Acoustic_guitar", "Cello"), 7),
    (("Lawn_mower", "Motorcycle"), 5), (("Chicken_rooster", "Dog"), 5), (("Car", "Motorcycle"), 5),
    (("Baby_cry_infant_cry", "Dog"), 4),
    (None, 28),
)

# Number of events (maximal runs) in a (clip, class) row that is not one full 10 s event: 1, 2, 3, 4 runs
# (section 9, val+test, after removing the full-length rows).
AUDIO_RUNS_PER_PARTIAL_ROW: tuple[float, ...] = (0.635, 0.291, 0.065, 0.009)
VISUAL_RUNS_PER_PARTIAL_ROW: tuple[float, ...] = (0.712, 0.244, 0.038, 0.006)
# fmt: on

assert tuple(profile.name for profile in CLASS_PROFILES) == CLASSES, "CLASS_PROFILES must follow mgn.labels.CLASSES"
