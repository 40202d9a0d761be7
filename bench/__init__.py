"""Benchmarks (scripts run as ``python bench/<name>.py``) and the restatements of official code that they and the
tests share (``official_metrics``, ``official_order``): a package, so that ``bench.<module>`` imports from the
repository root."""
