"""A scalar mix of the self-attention encoder's layers (model.transformer.layer_mix): the output layers read
gamma * sum_l softmax(w)_l norm(h_l) over the projected input and every block's output instead of the top
block alone. Off by default, so older model files load unchanged."""

from __future__ import annotations

import pytest
import torch

from conftest import option_in_older_model_file, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.transformer import TransformerEncoder
from tagger.predict import Tagger


def encoders(n_layers: int = 2) -> tuple[TransformerEncoder, TransformerEncoder]:
    """A plain encoder and one with the mix, with the same weights (the mix's own aside), in eval mode."""
    torch.manual_seed(0)
    plain = TransformerEncoder(12, 16, n_layers=n_layers, dropout=0.1, n_heads=2).eval()
    torch.manual_seed(0)
    mixed = TransformerEncoder(12, 16, n_layers=n_layers, dropout=0.1, n_heads=2, layer_mix=True).eval()
    return plain, mixed


def layer_states(enc: TransformerEncoder, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """The normalised states of every layer, computed here block by block."""
    h = enc.position(enc.proj(x))
    bias, keep = enc.mask_bias(mask), mask[..., None].to(x.dtype)
    states = [h]
    for block in enc.blocks:
        h = block(h, bias, keep)
        states.append(h)
    return [enc.norm(s) for s in states]


def test_the_mix_adds_one_weight_per_layer_and_a_scale_and_draws_no_random_numbers():
    plain, mixed = encoders(n_layers=3)
    extra = {k: v.shape for k, v in mixed.state_dict().items() if k not in plain.state_dict()}
    assert extra == {"mix.weights": torch.Size([4]), "mix.gamma": torch.Size([1])}
    # same seed, same weights everywhere else: the mix's parameters took nothing from the random stream
    assert all(torch.equal(v, mixed.state_dict()[k]) for k, v in plain.state_dict().items())


def test_output_is_the_weighted_mix_of_every_layer():
    _, mixed = encoders()
    x, mask = torch.randn(2, 5, 12), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        mixed.mix.weights.copy_(torch.tensor([0.3, -1.0, 2.0]))
        mixed.mix.gamma.fill_(1.7)
        w = torch.softmax(torch.tensor([0.3, -1.0, 2.0]), dim=0)
        by_hand = 1.7 * sum(wi * s for wi, s in zip(w, layer_states(mixed, x, mask), strict=True))
        assert torch.allclose(mixed(x, mask), by_hand, atol=1e-5)


@pytest.mark.parametrize(("layer", "expected"), [(2, "plain"), (0, "input")])
def test_all_weight_on_one_layer_reads_that_layer_alone(layer, expected):
    plain, mixed = encoders()
    x, mask = torch.randn(2, 5, 12), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        mixed.mix.weights.fill_(-1e4)
        mixed.mix.weights[layer] = 1e4
        target = plain(x, mask) if expected == "plain" else plain.norm(plain.position(plain.proj(x)))
        assert torch.allclose(mixed(x, mask), target, atol=1e-5)
        # at its initial weights the mix is the layers' mean, which is neither
        assert not torch.allclose(encoders()[1](x, mask), target, atol=1e-3)


def test_train_with_layer_mix_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(tmp_path / "mix", "--model.transformer.layer_mix", "true")
    state, meta = read_model_file(model)
    assert meta["config"]["model"]["transformer"]["layer_mix"] is True
    weights = state["encoder.mix.weights"]
    assert weights.shape == (2,)  # the tiny model's one block and its projected input
    assert weights.abs().max() > 0  # training moved them from the equal start
    tagged = Tagger.load(model).tag([["Ez", "egy", "mondat", "."], ["Igen", "."]])
    assert [len(t) for t in tagged] == [4, 2]
    # a model file from before the option has no layer_mix in its config: it loads reading the top block
    assert option_in_older_model_file(tiny_model, "transformer", "layer_mix") is False
    assert not any(k.startswith("encoder.mix.") for k in read_model_file(tiny_model)[0])
