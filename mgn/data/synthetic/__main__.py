"""Write a synthetic LLP-format dataset (features, CSVs, optionally videos).

    python -m mgn.data.synthetic --out data/synthetic --train 10000 --val 649 --test 1200 --seed 0 [--videos]
    python -m mgn.data.synthetic --stats          # statistics of 20,000 sampled train and val/test annotations

The folder gets the official layout (AVVP_*.csv, feats/{vggish,res152,r2plus1d_18}/<ID>.npy, optionally
LLP_dataset/video/<ID>.mp4) plus synthetic_meta.json and synthetic_truth.npz. It must be empty or a previous
synthetic output (replaced), unless --force.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from mgn.data.synthetic.annotations import sample_annotations
from mgn.data.synthetic.config import SyntheticConfig
from mgn.data.synthetic.dataset import LLP_SIZES, generate_dataset
from mgn.data.synthetic.stats import annotation_statistics, class_table

_STATS_CLIPS = 20_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mgn.data.synthetic",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", help="output folder (LLP layout root); required unless --stats")
    for split, size in LLP_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=size, metavar="N", help=f"{split} clips")
    parser.add_argument("--seed", type=int, default=0, help="random seed (integer >= 0)")
    parser.add_argument("--videos", action="store_true", help="also render one mp4 per clip (about 0.4 s per clip)")
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty folder that is not a previous synthetic output"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--stats",
        action="store_true",
        help=f"print the statistics of {_STATS_CLIPS} sampled clips per annotation kind and exit",
    )
    return parser


def _print_statistics(seed: int) -> None:
    for kind in ("train", "eval"):
        stats = annotation_statistics(*sample_annotations(np.random.default_rng(seed), _STATS_CLIPS, kind))
        print(f"## {kind}\n{stats.summary()}\n\n{class_table(stats)}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 when the output folder is refused or an argument is invalid)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.stats:
        _print_statistics(args.seed)
        return 0
    if args.out is None:
        parser.error("--out is required (or use --stats)")
    sizes = {split: getattr(args, split) for split in LLP_SIZES}
    try:
        result = generate_dataset(
            args.out, SyntheticConfig(), sizes, args.seed, videos=args.videos, force=args.force, progress=not args.quiet
        )
    except (FileExistsError, NotADirectoryError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = sum(result.sizes.values())
    print(
        f"wrote {total} clips ({', '.join(f'{k} {v}' for k, v in result.sizes.items())}) to {result.layout.root}: "
        f"features {result.feature_seconds:.1f} s ({result.clips_per_second:.0f} clips/s)"
        + (f", videos {result.video_seconds:.1f} s" if args.videos else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
