"""Gated feed-forward layers (model.transformer.ff_gated): GEGLU, GELU(x W) * (x V), in place of GELU(x W)
in every self-attention block; off by default, so older model files load unchanged."""

from __future__ import annotations

import torch

from conftest import assert_train_refuses, option_in_older_model_file, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.transformer import FeedForward, GatedFeedForward, TransformerEncoder
from tagger.predict import Tagger


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_gated_layer_is_gelu_of_one_half_times_the_other():
    torch.manual_seed(0)
    ff = GatedFeedForward(6, 10, dropout=0.0).eval()
    x = torch.randn(3, 4, 6)
    w, b = ff.inp.weight, ff.inp.bias
    gate = x @ w[:10].T + b[:10]
    value = x @ w[10:].T + b[10:]
    by_hand = (0.5 * gate * (1 + torch.erf(gate / 2**0.5)) * value) @ ff.out.weight.T + ff.out.bias
    keep = torch.ones(3, 4, 1)
    assert torch.allclose(ff(x, keep), by_hand, atol=1e-6)
    # the gate matters: a value half of zeros gives zeros before the output projection
    with torch.no_grad():
        ff.inp.weight[10:] = 0
        ff.inp.bias[10:] = 0
    assert torch.allclose(ff(x, keep), ff.out.bias.expand(3, 4, 6))


def test_encoder_uses_it_in_every_block_with_one_and_a_half_times_the_weights():
    plain = TransformerEncoder(12, 16, n_layers=3, dropout=0.0, n_heads=2)
    gated = TransformerEncoder(12, 16, n_layers=3, dropout=0.0, n_heads=2, ff_gated=True)
    assert all(isinstance(b.ff, FeedForward) for b in plain.blocks)
    assert all(isinstance(b.ff, GatedFeedForward) for b in gated.blocks)
    plain_ff, gated_ff = _n_params(plain.blocks[0].ff), _n_params(gated.blocks[0].ff)
    # dim 16, hidden 32: plain 16*32+32 + 32*16+16; gated has a second 16x32 input projection
    assert (plain_ff, gated_ff) == (1072, 1072 + 16 * 32 + 32)
    assert _n_params(gated) - _n_params(plain) == 3 * (16 * 32 + 32)
    x, mask = torch.randn(2, 5, 12), torch.ones(2, 5, dtype=torch.bool)
    assert gated(x, mask).shape == plain(x, mask).shape == (2, 5, 16)


def test_train_with_gated_ff_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(tmp_path / "gated", "--model.transformer.ff_gated", "true")
    state, meta = read_model_file(model)
    assert meta["config"]["model"]["transformer"]["ff_gated"] is True
    assert any(k.endswith("ff.inp.weight") for k in state)
    tagged = Tagger.load(model).tag([["Ez", "egy", "mondat", "."]])[0]
    assert len(tagged) == 4
    # a model file from before the option has no ff_gated in its config: it loads with it off
    assert option_in_older_model_file(tiny_model, "transformer", "ff_gated") is False


def test_ff_gated_that_is_not_a_boolean_is_a_one_line_error(tmp_path):
    assert_train_refuses(tmp_path / "out", ["--model.transformer.ff_gated", "maybe"], "ff_gated")
