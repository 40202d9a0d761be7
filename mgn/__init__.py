"""mgn: weakly-supervised audio-visual video parsing (HAN and MGN) on LLP."""

__version__ = "0.1.0"
