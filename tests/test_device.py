"""``mgn.device.resolve_device``: one rule for the command lines and the explorer."""

from __future__ import annotations

import pytest
import torch

from mgn.device import resolve_device


def test_auto_and_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["gpu", "tpu:0", "mps"])
def test_unknown_or_unsupported_device(name: str) -> None:
    with pytest.raises(ValueError, match=repr(name)):
        resolve_device(name)
