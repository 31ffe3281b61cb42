"""Reading checkpoints: memory-mapped where the format allows, and only the layers that are used."""

from __future__ import annotations

import pytest
import torch

from adain_cli import weights
from adain_cli.model import Encoder, iter_public_keys, load_public_state_dict


@pytest.fixture
def torch_load_calls(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    original = torch.load

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording)
    return calls


@pytest.mark.parametrize("zip_format", [True, False])
def test_an_encoder_file_loads_in_either_format_keeping_only_its_layers(
    tmp_path, public_states, torch_load_calls, zip_format
):
    path = tmp_path / "vgg_normalised.pth"
    torch.save(public_states[0], path, _use_new_zipfile_serialization=zip_format)
    encoder = weights.load_encoder(path)
    assert torch_load_calls == [{"map_location": "cpu", "weights_only": True, "mmap": zip_format}]
    expected = Encoder()
    load_public_state_dict(expected, public_states[0])
    for key, value in expected.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value)


def test_read_state_dict_keeps_what_it_is_asked_for(tmp_path, public_states):
    path = tmp_path / "vgg_normalised.pth"
    torch.save(public_states[0], path)
    needed = {public for public, _ in iter_public_keys(Encoder())}
    assert set(weights.read_state_dict(path, keep=needed)) == needed
    assert "32.weight" in weights.read_state_dict(path)


def test_a_broken_layer_after_relu4_1_does_not_matter(tmp_path, public_states):
    """relu4_2 … relu5_4 are never used, so they are not even checked (a broken used layer still is,
    see test_downloads)."""
    state = dict(public_states[0])
    state["51.weight"] = torch.full_like(state["51.weight"], float("nan"))
    torch.save(state, tmp_path / "vgg.pth")
    encoder = weights.load_encoder(tmp_path / "vgg.pth")  # no error: the broken layer is never read
    expected = Encoder()
    load_public_state_dict(expected, public_states[0])
    loaded = encoder.state_dict()
    assert loaded.keys() == expected.state_dict().keys()  # the layers up to relu4_1, and nothing after
    for key, value in expected.state_dict().items():
        assert torch.equal(loaded[key], value) and loaded[key].isfinite().all(), key
