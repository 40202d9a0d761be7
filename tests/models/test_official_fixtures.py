"""Our HAN and MGN reproduce outputs of the official code (../shared/reference/fixtures) to atol 1e-5, rtol 1e-4."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from mgn.models import HAN, MGN, MGNConfig
from mgn.models.layers import fuse_visual_streams
from mgn.models.official import (
    HAN_UNUSED_PREFIXES,
    convert_official_han_state_dict,
    from_official_state_dict,
    official_outputs,
)
from mgn.models.summary import OFFICIAL_HAN_UNUSED_PARAMETERS, OFFICIAL_HAN_UNUSED_TENSORS

ATOL, RTOL = 1e-5, 1e-4
FIXTURES = {"mgn_small_soft": "mgn", "mgn_small_hard": "mgn", "han_default": "han"}


def _read_fixture(fixtures_dir: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = fixtures_dir / f"{name}.safetensors"
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata()
    return load_file(path), metadata


def _official_args(metadata: dict[str, str]) -> dict:
    config = json.loads(metadata["config"])
    return {key: value for key, value in config.items() if key not in ("model", "note")}


def _model_from_fixture(fixtures_dir: Path, name: str):
    tensors, metadata = _read_fixture(fixtures_dir, name)
    state = {key.removeprefix("state."): value for key, value in tensors.items() if key.startswith("state.")}
    model = from_official_state_dict(FIXTURES[name], state, _official_args(metadata))
    inputs = (tensors["input.audio"], tensors["input.visual"], tensors["input.visual_st"])
    return model, inputs, tensors, metadata


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_outputs_match_official(fixtures_dir: Path, name: str) -> None:
    torch.set_num_threads(2)
    model, inputs, tensors, metadata = _model_from_fixture(fixtures_dir, name)
    outputs = official_outputs(model, *inputs)
    assert list(outputs) == json.loads(metadata["outputs"])  # same names, same return order
    for key, value in outputs.items():
        expected = tensors[f"output.{key}"]
        assert value.shape == expected.shape, key
        torch.testing.assert_close(value, expected, atol=ATOL, rtol=RTOL, msg=lambda m, k=key: f"{name}.{k}: {m}")


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_batched_equals_one_clip_at_a_time(fixtures_dir: Path, name: str) -> None:
    model, inputs, _, _ = _model_from_fixture(fixtures_dir, name)
    batched = official_outputs(model, *inputs)
    for index in range(inputs[0].shape[0]):
        single = official_outputs(model, *(x[index : index + 1] for x in inputs))
        for key, value in single.items():
            expected = batched[key] if key.endswith("cls_prob") else batched[key][index : index + 1]
            torch.testing.assert_close(value, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", ["mgn_small_soft", "mgn_small_hard"])
def test_mgn_intermediates_match_official(fixtures_dir: Path, name: str) -> None:
    """The debugging intermediates: input projections, each grouping encoder's groups, grouped segments and maps."""
    model, (audio, visual, visual_st), tensors, _ = _model_from_fixture(fixtures_dir, name)
    assert isinstance(model, MGN)
    with torch.no_grad():
        audio_embed = model.fc_a(audio)
        visual_embed = fuse_visual_streams(visual, visual_st, model.fc_v, model.fc_st, model.fc_fusion)
        visual_out = model.visual_cug(visual_embed, model.visual_token)
        audio_out = model.audio_cug(audio_embed, model.audio_token, other=visual_embed)
        av_out = model.av_mcg(audio_out.groups, visual_out.groups)
    ours = {"x1_0": audio_embed, "x2_0": visual_embed, "audio_cug.han_out": audio_out.grouped_segments}
    hard = model.config.unimodal_assign == "hard"
    for prefix, out, mode_hard in (
        ("visual_cug", visual_out, hard),
        ("audio_cug", audio_out, hard),
        ("av_mcg", av_out, model.config.crossmodal_assign == "hard"),
    ):
        ours[f"{prefix}.x"] = out.groups
        ours[f"{prefix}.x_attn"] = out.grouped_segments
        # The official model reads the map stored under its mode's key; (B, 1, S, L) there, (B, S, L) here.
        ours[f"{prefix}.attn_{'hard' if mode_hard else 'soft'}"] = out.assignment.unsqueeze(1)
    for key, value in ours.items():
        torch.testing.assert_close(
            value, tensors[f"inter.{key}"], atol=ATOL, rtol=RTOL, msg=lambda m, k=key: f"{k}: {m}"
        )


def test_han_intermediates_match_official(fixtures_dir: Path) -> None:
    model, (audio, visual, visual_st), tensors, _ = _model_from_fixture(fixtures_dir, "han_default")
    assert isinstance(model, HAN)
    with torch.no_grad():
        out = model(audio, visual, visual_st)
        audio_embed = model.fc_a(audio)
    torch.testing.assert_close(audio_embed, tensors["inter.x1_0"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out.visual_key, tensors["inter.x2_0"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out.audio_query, tensors["inter.hat_encoder.audio"], atol=ATOL, rtol=RTOL)


def _state_dict_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_mgn_state_dict_equals_official_table(reference_dir: Path) -> None:
    rows = _state_dict_table(reference_dir / "mgn_state_dict.tsv")
    state = MGN(MGNConfig()).state_dict()
    assert [row["key"] for row in rows] == list(state)  # same keys in the same order
    for row in rows:
        assert tuple(int(n) for n in row["shape"].split(",")) == tuple(state[row["key"]].shape), row["key"]
    total = sum(int(row["numel"]) for row in rows)
    assert total == sum(p.numel() for p in MGN().parameters()) == 4_366_065
    summary = json.loads((reference_dir / "state_dict_summary.json").read_text())
    assert summary["MGN_Net"]["parameters"] == total


def test_han_state_dict_equals_official_table_used_part(reference_dir: Path) -> None:
    rows = _state_dict_table(reference_dir / "han_state_dict.tsv")
    official = {row["key"]: torch.zeros(tuple(int(n) for n in row["shape"].split(","))) for row in rows}
    converted, dropped = convert_official_han_state_dict(official)
    used = {row["key"] for row in rows if row["used_in_forward"] == "1"}
    assert set(dropped) == set(official) - used  # exactly the never-used modules are dropped
    assert all(key.startswith(HAN_UNUSED_PREFIXES) for key in dropped)
    ours = HAN().state_dict()
    assert set(converted) == set(ours)
    assert all(tuple(converted[key].shape) == tuple(ours[key].shape) for key in ours)
    used_numel = sum(int(row["numel"]) for row in rows if row["used_in_forward"] == "1")
    assert sum(p.numel() for p in HAN().parameters()) == used_numel == 4_569_675
    unused_numel = sum(int(row["numel"]) for row in rows if row["used_in_forward"] == "0")
    assert (unused_numel, len(dropped)) == (OFFICIAL_HAN_UNUSED_PARAMETERS, OFFICIAL_HAN_UNUSED_TENSORS)
