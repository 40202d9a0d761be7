"""Sane limits for configs read from files, and the shape table of a config computed without allocating weights."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
import torch

from mgn.models import (
    CONFIG_LIMITS,
    HANConfig,
    MGNConfig,
    build_model,
    check_config_limits,
    expected_state_dict_shapes,
)


@pytest.mark.parametrize("config_class", [HANConfig, MGNConfig])
def test_every_field_has_a_limit_and_the_defaults_pass(config_class: type) -> None:
    assert set(CONFIG_LIMITS[config_class]) == {field.name for field in fields(config_class)}
    check_config_limits(config_class())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            MGNConfig(depth_av=100_000),
            r"MGNConfig.depth_av=100000 is outside the accepted range: .* \[1, 64\]",
        ),
        (MGNConfig(dim=200_000), r"MGNConfig.dim=200000 is outside the accepted range: an integer in \[1, 8192\]"),
        (MGNConfig(mlp_ratio=0.0), r"mlp_ratio=0.0 .* a finite number in \(0, 16\]"),
        (MGNConfig(dim=8, token_mlp_ratio=0.1), "token_mlp_ratio=0.1 x dim=8 gives an MLP of width 0"),
        (MGNConfig(gumbel_tau=float("inf")), "gumbel_tau=inf"),
        (MGNConfig(assign_eps=-1.0), "assign_eps"),
        (MGNConfig(zero_init_class_tokens=1), "zero_init_class_tokens=1 .* true or false"),
        (MGNConfig(segment_head="yes"), "segment_head='yes' .* true or false"),
        (MGNConfig(mlp_ratio=True), "mlp_ratio=True"),
        (HANConfig(ffn_dim=100_000), r"HANConfig.ffn_dim=100000 .* \[1, 32768\]"),
        (HANConfig(visual_dim=2048.0), "visual_dim=2048.0 .* an integer"),
        (HANConfig(num_classes=10_000), "num_classes=10000"),
    ],
)
def test_values_outside_the_limits(config, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_config_limits(config)


def test_limits_accept_integers_for_float_fields() -> None:
    check_config_limits(MGNConfig(mlp_ratio=4, drop_path=0, assign_eps=0))


@pytest.mark.parametrize(
    ("arch", "config"),
    [
        ("mgn", MGNConfig(dim=24, depth_aud=2, depth_vis=1, depth_av=3, num_heads=4, num_segments=7)),
        ("mgn", MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1, unimodal_assign="hard", mlp_ratio=2.5)),
        ("mgn", MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1, segment_head=True)),
        ("han", HANConfig(dim=32, ffn_dim=8, num_heads=2, num_classes=5)),
    ],
)
def test_expected_shapes_are_the_real_ones(arch: str, config) -> None:
    expected = {key: tuple(value.shape) for key, value in build_model(arch, config).state_dict().items()}
    assert expected_state_dict_shapes(arch, config) == expected
    assert list(expected_state_dict_shapes(arch, config)) == list(expected)  # same order


def test_expected_shapes_of_the_largest_config_allocate_nothing() -> None:
    """At the limits the weights would need terabytes; on the meta device the table costs only the module count."""
    widest = replace(MGNConfig(), dim=8192, depth_aud=64, depth_vis=64, depth_av=64, mlp_ratio=16.0)
    check_config_limits(widest)
    shapes = expected_state_dict_shapes("mgn", widest)
    assert shapes["fc_a.weight"] == (8192, 128) and shapes["av_mcg.blocks.63.mlp.fc1.weight"] == (131072, 8192)
    assert torch.get_default_device().type == "cpu"  # the meta device was only the default inside the call
