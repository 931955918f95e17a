"""Convolutional feed-forward layers (model.transformer.ff_kernel): the input projection of every
self-attention block's feed-forward layer sees a window of tokens; 1 (the default) is position-wise, so
older model files load unchanged."""

from __future__ import annotations

import torch

from conftest import assert_train_refuses, option_in_older_model_file, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.transformer import ConvFeedForward, FeedForward, TransformerEncoder
from tagger.predict import Tagger


def test_each_token_sees_its_neighbours_and_zeros_beyond_the_sentence():
    torch.manual_seed(0)
    ff = ConvFeedForward(4, 6, dropout=0.0, kernel=3).eval()
    x, keep = torch.randn(1, 5, 4), torch.ones(1, 5, 1)
    w, b = ff.inp.weight, ff.inp.bias  # (hidden, 3 x dim): the left neighbour's columns first, the right's last
    padded = torch.cat([torch.zeros(1, 1, 4), x, torch.zeros(1, 1, 4)], dim=1)
    h = sum(padded[:, k : k + 5] @ w[:, 4 * k : 4 * (k + 1)].T for k in range(3)) + b
    by_hand = (0.5 * h * (1 + torch.erf(h / 2**0.5))) @ ff.out.weight.T + ff.out.bias
    assert torch.allclose(ff(x, keep), by_hand, atol=1e-5)
    # changing token 2 moves tokens 1..3 and leaves tokens 0 and 4, two away, as they were
    y = x.clone()
    y[0, 2] += 1.0
    moved = (ff(x, keep) - ff(y, keep)).abs().amax(dim=-1)[0]
    assert (moved[1:4] > 1e-4).all() and (moved[[0, 4]] < 1e-6).all()


def test_padding_does_not_reach_the_last_real_token():
    torch.manual_seed(0)
    ff = ConvFeedForward(4, 6, dropout=0.0, kernel=5).eval()
    x = torch.randn(1, 6, 4)
    keep = torch.tensor([1.0, 1, 1, 1, 0, 0])[None, :, None]
    garbage = x.clone()
    garbage[0, 4:] = 100.0
    alone = ff(x[:, :4], torch.ones(1, 4, 1))
    assert torch.allclose(ff(garbage, keep)[:, :4], alone, atol=1e-5)


def test_encoder_uses_it_in_every_block_with_kernel_times_the_input_weights():
    plain = TransformerEncoder(12, 16, n_layers=2, dropout=0.0, n_heads=2)
    conv = TransformerEncoder(12, 16, n_layers=2, dropout=0.0, n_heads=2, ff_kernel=3)
    assert all(isinstance(b.ff, FeedForward) for b in plain.blocks)
    assert all(isinstance(b.ff, ConvFeedForward) and b.ff.inp.in_features == 3 * 16 for b in conv.blocks)
    n = sum(p.numel() for p in conv.parameters()) - sum(p.numel() for p in plain.parameters())
    assert n == 2 * (2 * 16 * 32)  # per block two more (dim, hidden) taps
    x, mask = torch.randn(2, 5, 12), torch.ones(2, 5, dtype=torch.bool)
    assert conv(x, mask).shape == (2, 5, 16)


def test_train_with_conv_ff_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(tmp_path / "conv", "--model.transformer.ff_kernel", "3")
    state, meta = read_model_file(model)
    assert meta["config"]["model"]["transformer"]["ff_kernel"] == 3
    assert next(v for k, v in state.items() if k.endswith("ff.inp.weight")).shape[1] == 3 * 32
    tagged = Tagger.load(model).tag([["Ez", "egy", "mondat", "."], ["Igen", "."]])
    assert [len(t) for t in tagged] == [4, 2]
    # a model file from before the option has no ff_kernel in its config: it loads position-wise
    assert option_in_older_model_file(tiny_model, "transformer", "ff_kernel") == 1


def test_an_even_kernel_or_one_with_gating_is_a_one_line_error(tmp_path):
    assert_train_refuses(tmp_path / "even", ["--model.transformer.ff_kernel", "2"], "ff_kernel")
    assert_train_refuses(
        tmp_path / "both", ["--model.transformer.ff_kernel", "3", "--model.transformer.ff_gated", "true"], "ff_gated"
    )
