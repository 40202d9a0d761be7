"""``python -m mgn.extract --videos DIR --out DATA_DIR``: LLP-format features for a folder of videos.

Writes ``DATA_DIR/feats/{vggish,res152,r2plus1d_18}/<ID>.npy`` (float32; (10, 128), (80, 2048), (10, 512)) and
``DATA_DIR/videos.csv`` (ID, file, duration, audio). Reruns skip finished videos; bad videos are listed at the end and
make the exit code 1. Weights: the published files, downloaded once into the cache (``--cache-dir``), or taken from
``--weights-dir``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from mgn.device import DEVICE_CHOICES
from mgn.extract.folder import extract_folder
from mgn.extract.pipeline import ExtractorConfig, FeatureExtractor, Precision
from mgn.extract.weights import WeightsHashError, WeightsUnavailable

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mgn.extract", description=__doc__.splitlines()[0])
    parser.add_argument("--videos", required=True, help="folder of videos (.mp4, .mkv, .webm, .avi, .mov, ...)")
    parser.add_argument("--out", required=True, help="dataset root to write feats/ and videos.csv into")
    parser.add_argument("--weights-dir", help="folder holding the published weight files (fine-tuned ones too)")
    parser.add_argument("--cache-dir", help="where downloaded weights are kept (default: ~/.cache/mgn/weights)")
    parser.add_argument("--no-download", action="store_true", help="never download weights; fail if missing")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--batch-size", type=int, default=ExtractorConfig.batch_size, help="ResNet-152 images per pass")
    parser.add_argument("--precision", default="fp32", choices=get_args(Precision), help="fp32 (default) or bf16")
    parser.add_argument(
        "--vggish", default="postprocessed", choices=("postprocessed", "raw"), help="VGGish PCA + 8-bit postprocess"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, extractor: FeatureExtractor | None = None) -> int:
    """Run the command; ``extractor`` replaces the published networks (tests pass small stand-ins)."""
    args = parse_args(argv)
    try:
        if not Path(args.videos).is_dir():
            raise FileNotFoundError(f"--videos: folder not found: {args.videos}")
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise NotADirectoryError(f"--out: {args.out} exists and is not a folder")
        config = ExtractorConfig(
            device=args.device,
            batch_size=args.batch_size,
            precision=args.precision,
            vggish_postprocess=args.vggish == "postprocessed",
        )
        if extractor is None:
            extractor = FeatureExtractor.from_published_weights(
                config,
                weights_dir=args.weights_dir,
                cache_dir=args.cache_dir,
                download=not args.no_download,
                progress=not args.no_progress,
            )
        report = extract_folder(args.videos, args.out, extractor, progress=not args.no_progress)
    except (OSError, ValueError, WeightsUnavailable, WeightsHashError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished videos are kept; run the same command again to continue", file=sys.stderr)
        return 130
    print(report.summary(), file=sys.stderr if report.failed else sys.stdout)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
