"""Parameter counts and sizes of the models: ``python -m mgn.models.summary [--dim D ...]``.

HAN's official state_dict also holds 4,738,048 numbers in modules its forward never calls (REFERENCE.md 3.3); we do
not build them, so the table shows HAN's used parameters and, beside them, the size of the official file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from torch import nn

from mgn.models import HANConfig, MGNConfig, build_model

__all__ = [
    "OFFICIAL_HAN_UNUSED_PARAMETERS",
    "OFFICIAL_HAN_UNUSED_TENSORS",
    "ModelSize",
    "format_sizes",
    "main",
    "model_size",
]

# Numbers in the official MMIL_Net state_dict that belong to never-called modules (checked against
# ../shared/reference/han_state_dict.tsv in the tests).
OFFICIAL_HAN_UNUSED_PARAMETERS = 4_738_048
OFFICIAL_HAN_UNUSED_TENSORS = 44
_BYTES_PER_FLOAT32 = 4


@dataclass(frozen=True)
class ModelSize:
    name: str
    parameters: int
    tensors: int

    @property
    def megabytes(self) -> float:
        """float32 size in MB (10^6 bytes)."""
        return self.parameters * _BYTES_PER_FLOAT32 / 1e6

    @property
    def mebibytes(self) -> float:
        return self.parameters * _BYTES_PER_FLOAT32 / 2**20


def model_size(name: str, model: nn.Module) -> ModelSize:
    return ModelSize(name, sum(p.numel() for p in model.parameters()), len(model.state_dict()))


def format_sizes(sizes: list[ModelSize]) -> str:
    width = max(len(size.name) for size in sizes)
    lines = [f"{'model':<{width}}  {'parameters':>12}  {'tensors':>7}  {'MB (fp32)':>9}  {'MiB':>7}"]
    for size in sizes:
        numbers = f"{size.parameters:>12,}  {size.tensors:>7}  {size.megabytes:>9.2f}  {size.mebibytes:>7.2f}"
        lines.append(f"{size.name:<{width}}  {numbers}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = MGNConfig()
    parser.add_argument("--dim", type=int, default=defaults.dim, help="MGN width (official --dim)")
    parser.add_argument("--depth-aud", type=int, default=defaults.depth_aud)
    parser.add_argument("--depth-vis", type=int, default=defaults.depth_vis)
    parser.add_argument("--depth-av", type=int, default=defaults.depth_av)
    args = parser.parse_args(argv)
    mgn_config = MGNConfig(dim=args.dim, depth_aud=args.depth_aud, depth_vis=args.depth_vis, depth_av=args.depth_av)
    mgn_name = f"MGN (dim {mgn_config.dim}, depths {args.depth_aud}/{args.depth_vis}/{args.depth_av})"
    mgn_size = model_size(mgn_name, build_model("mgn", mgn_config))
    han_size = model_size("HAN (used parameters)", build_model("han", HANConfig()))
    official_han = ModelSize(
        "HAN official MMIL_Net file (incl. unused modules)",
        han_size.parameters + OFFICIAL_HAN_UNUSED_PARAMETERS,
        han_size.tensors + OFFICIAL_HAN_UNUSED_TENSORS,
    )
    print(format_sizes([mgn_size, han_size, official_han]))
    print(
        f"MGN / HAN used parameters: {mgn_size.parameters / han_size.parameters:.3f}; "
        f"MGN / official HAN file: {mgn_size.parameters / official_han.parameters:.3f}"
    )


if __name__ == "__main__":
    main()
