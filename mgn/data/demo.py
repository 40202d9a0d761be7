"""Build the explorer's embedded demo: a small split pack, its playable videos, a trained MGN and a comparison model.

The shipped ``assets/demo`` is reproduced by these six commands (also in the README)::

    python -m mgn.data.synthetic --out data/demo --train 3000 --val 300 --test 40 --seed 2026
    python -m training.train --model mgn --recipe mgn-localise --data data/demo --out runs/demo model.dim=64 epochs=20
    python -m training.refine_labels --checkpoint runs/demo/best.safetensors --data data/demo \
        --out runs/demo_labels.npz
    python -m training.train --model mgn --recipe mgn-localise --data data/demo --out runs/demo_r \
        --refined-labels runs/demo_labels.npz model.dim=64 epochs=20
    python -m training.train --model han --data data/demo --out runs/demo_han model.dim=256 epochs=12
    python -m mgn.data.demo --data data/demo --checkpoint runs/demo_r/best.safetensors \
        --compare-checkpoint runs/demo_han/best.safetensors --out assets/demo

The MGN is MGN-L+R: the ``mgn-localise`` recipe (segment predictions that vary within a clip;
``training.config.RECIPES``) retrained on MA's refined labels (R) of a first ``mgn-localise`` run, at width 64; HAN,
the comparison model, is the official recipe at width 256, so that every shipped file stays under 10 MB; all for
fewer epochs than the official 40 (their validation scores had levelled off). Videos are rendered from
the clips' dense ground truth (``mgn.data.render``), so they show exactly the events the annotations describe.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mgn.data.llp import DENSE_SPLITS, LLPLayout, load_split
from mgn.data.pack import save_split_pack
from mgn.data.synthetic.dataset import META_FILENAME
from mgn.io import write_text_atomic

__all__ = [
    "DEMO_CHECKPOINT",
    "DEMO_COMPARE_CHECKPOINT",
    "DEMO_MANIFEST",
    "DEMO_PACK",
    "DEMO_VIDEOS",
    "build_demo_assets",
    "main",
]

DEMO_PACK = "demo_split.npz"
DEMO_CHECKPOINT = "mgn_demo.safetensors"  # the demo's main model (MGN-L+R: recipe mgn-localise, refined labels)
DEMO_COMPARE_CHECKPOINT = "han_demo.safetensors"  # the model it is compared with (HAN, official recipe)
DEMO_VIDEOS = "video"
DEMO_MANIFEST = "demo.json"


def build_demo_assets(
    data_root: str | Path,
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    compare_checkpoint: str | Path | None = None,
    split: str = "test",
    clips: int = 40,
    progress: bool = True,
) -> dict:
    """Pack the first ``clips`` clips of ``split``, render their videos and copy the checkpoint (and the comparison
    checkpoint, if any, as :data:`DEMO_COMPARE_CHECKPOINT`) into ``out_dir``.

    Returns the manifest written to ``out_dir/demo.json``: file names (``compare_checkpoint`` None without one),
    clip count, split, sizes in bytes.
    """
    from mgn.data.render import render_clip  # moviepy is only needed here

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    compare = None if compare_checkpoint is None else Path(compare_checkpoint)
    if compare is not None and not compare.is_file():
        raise FileNotFoundError(f"comparison checkpoint not found: {compare}")
    data = load_split(LLPLayout(root=Path(data_root)), split, pooled_visual=True, progress=progress)
    if clips < 1 or clips > len(data):
        raise ValueError(f"clips must be between 1 and the {len(data)} clips of split {split!r}, got {clips}")
    subset = data.subset(np.arange(clips))
    out_dir = Path(out_dir)
    videos = out_dir / DEMO_VIDEOS
    videos.mkdir(parents=True, exist_ok=True)
    synthetic_meta = Path(data_root) / META_FILENAME  # how the data was generated (seed, sizes), not where it lies
    generator = json.loads(synthetic_meta.read_text()) if synthetic_meta.is_file() else None
    save_split_pack(out_dir / DEMO_PACK, subset, meta={"source_split": split, "synthetic": generator})
    shutil.copyfile(checkpoint, out_dir / DEMO_CHECKPOINT)
    if compare is not None:
        shutil.copyfile(compare, out_dir / DEMO_COMPARE_CHECKPOINT)
    else:  # a comparison model left by an earlier build would not match this manifest
        (out_dir / DEMO_COMPARE_CHECKPOINT).unlink(missing_ok=True)
    for index in tqdm(range(clips), desc="rendering demo videos", unit="clip", disable=not progress):
        render_clip(
            videos / f"{subset.video_ids[index]}.mp4",
            subset.gt_audio[index],
            subset.gt_visual[index],
            title=str(subset.filenames[index]),
        )
    models = [DEMO_CHECKPOINT] + ([DEMO_COMPARE_CHECKPOINT] if compare is not None else [])
    files = [out_dir / DEMO_PACK, *(out_dir / name for name in models), *sorted(videos.glob("*.mp4"))]
    manifest = {
        "pack": DEMO_PACK,
        "checkpoint": DEMO_CHECKPOINT,
        "compare_checkpoint": DEMO_COMPARE_CHECKPOINT if compare is not None else None,
        "videos": DEMO_VIDEOS,
        "clips": clips,
        "split": split,
        "bytes": {str(path.relative_to(out_dir)): path.stat().st_size for path in files},
    }
    write_text_atomic(out_dir / DEMO_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mgn.data.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="synthetic dataset root (from python -m mgn.data.synthetic)")
    parser.add_argument("--checkpoint", required=True, help="the trained model to ship (.safetensors)")
    parser.add_argument("--compare-checkpoint", help="a second trained model to ship for comparison (.safetensors)")
    parser.add_argument("--out", required=True, help="target folder, e.g. assets/demo")
    parser.add_argument("--split", default="test", choices=DENSE_SPLITS)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        manifest = build_demo_assets(
            args.data,
            args.checkpoint,
            args.out,
            compare_checkpoint=args.compare_checkpoint,
            split=args.split,
            clips=args.clips,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    largest = max(manifest["bytes"].items(), key=lambda item: item[1])
    print(f"wrote {manifest['clips']} clips to {args.out}; largest file {largest[0]} ({largest[1] / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
