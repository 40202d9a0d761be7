"""PyTorch access to an in-memory LLP ``Split`` (a test helper: training indexes whole-split tensors instead): a plain
``Dataset`` with the official sample keys, and a fast batch gatherer that indexes the contiguous arrays directly.

Sample / batch keys follow the official dataloader: ``audio``, ``video_s`` (2D visual), ``video_st`` (3D visual),
``label``; plus ``index``, the row in the split. Notation: B batch, T = 10 segments, F = 80 frames, C = 25 classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mgn.data.llp import Split

__all__ = ["LLPDataset", "batch_from_split"]


def _tensor(array: np.ndarray, copy: bool = True) -> torch.Tensor:
    """A float32 tensor on its own memory: split arrays may be read-only memory maps, so views are copied."""
    return torch.from_numpy(np.array(array, dtype=np.float32, copy=copy or None))


class LLPDataset(Dataset):
    """One item per clip of a ``Split``.

    ``dataset[i]`` is a dict of float32 tensors ``audio`` (T, 128), ``video_s`` (F, 2048) or (T, 2048) when the
    split was loaded with pooled visual frames, ``video_st`` (T, 512), ``label`` (C,) video-level 0/1, and
    ``index`` (int), the clip's row in the split.
    """

    def __init__(self, split: Split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        count = len(self.split)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for split {self.split.name!r} with {count} clips")
        index = int(index) % count
        return {
            "audio": _tensor(self.split.audio[index]),  # (T, 128)
            "video_s": _tensor(self.split.visual[index]),  # (F, 2048) or (T, 2048)
            "video_st": _tensor(self.split.visual_st[index]),  # (T, 512)
            "label": _tensor(self.split.labels[index]),  # (C,)
            "index": index,
        }


def batch_from_split(split: Split, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
    """Gather a batch by fancy indexing the split's arrays (no per-item Python work).

    Returns:
        ``audio`` (B, T, 128), ``video_s`` (B, F or T, 2048), ``video_st`` (B, T, 512), ``label`` (B, C) float32, and
        ``index`` (B,) int64, in the order of ``indices``.
    """
    rows = np.asarray(indices, dtype=np.int64)  # (B,)
    return {  # fancy indexing already copies
        "audio": _tensor(split.audio[rows], copy=False),
        "video_s": _tensor(split.visual[rows], copy=False),
        "video_st": _tensor(split.visual_st[rows], copy=False),
        "label": _tensor(split.labels[rows], copy=False),
        "index": torch.from_numpy(rows.copy()),
    }
