"""Stochastic depth (model.transformer.drop_path): in training each sentence skips a block's residual
branches with a probability that grows linearly with depth; evaluation and the model file are unchanged."""

from __future__ import annotations

import pytest
import torch

from conftest import assert_train_refuses, option_in_older_model_file, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.transformer import DropPath, TransformerEncoder
from tagger.predict import Tagger


def _encoder(drop_path: float, n_layers: int = 2, seed: int = 0) -> TransformerEncoder:
    torch.manual_seed(seed)
    return TransformerEncoder(12, 16, n_layers=n_layers, dropout=0.0, n_heads=2, drop_path=drop_path)


def test_drop_path_adds_no_weights_and_changes_no_initial_weight():
    plain, deep = _encoder(0.0), _encoder(0.3)
    assert plain.state_dict().keys() == deep.state_dict().keys()
    assert all(torch.equal(v, deep.state_dict()[k]) for k, v in plain.state_dict().items())


def test_rates_grow_linearly_with_depth_and_zero_is_no_module():
    assert [b.skip.p for b in _encoder(0.3, n_layers=4).blocks] == pytest.approx([0.075, 0.15, 0.225, 0.3])
    assert all(isinstance(b.skip, torch.nn.Identity) for b in _encoder(0.0).blocks)


def test_each_sentence_is_kept_or_skipped_whole_and_the_kept_are_rescaled():
    torch.manual_seed(0)
    x = torch.ones(4000, 5, 3)
    y = DropPath(0.25).train()(x)
    per_sentence = y.flatten(1)
    assert torch.all(per_sentence == per_sentence[:, :1])  # one draw per sentence
    assert torch.unique(per_sentence[:, 0]).tolist() == pytest.approx([0.0, 4 / 3])
    kept = (per_sentence[:, 0] > 0).float().mean().item()
    assert kept == pytest.approx(0.75, abs=0.03)
    assert y.mean().item() == pytest.approx(1.0, abs=0.04)  # the expectation is the identity's
    assert torch.equal(DropPath(0.25).eval()(x), x)


def test_evaluation_is_the_plain_network_and_training_varies_per_sentence():
    plain, deep = _encoder(0.0).eval(), _encoder(0.5).eval()
    torch.manual_seed(1)
    x, mask = torch.randn(1, 6, 12).expand(512, 6, 12), torch.ones(512, 6, dtype=torch.bool)
    assert torch.allclose(plain(x, mask), deep(x, mask))
    deep.train()
    torch.manual_seed(2)
    out = deep(x, mask)  # the same sentence 512 times; dropout 0, so only stochastic depth differs
    distinct = torch.unique(out.round(decimals=4).flatten(1), dim=0)
    assert 2 <= len(distinct) <= 16  # 2 blocks x 2 branches, each kept or skipped
    skipped_all = deep.norm(deep.position(deep.proj(x[:1])))
    assert any(torch.allclose(o, skipped_all[0], atol=1e-5) for o in out)
    same = plain.train()(x, mask)  # without it (and dropout 0), training gives every copy the same output
    assert torch.allclose(same, same[:1].expand_as(same))


def test_train_with_drop_path_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(tmp_path / "deep", "--model.n_layers", "2", "--model.transformer.drop_path", "0.2")
    _, meta = read_model_file(model)
    assert meta["config"]["model"]["transformer"]["drop_path"] == 0.2
    tagged = Tagger.load(model).tag([["Ez", "egy", "mondat", "."]])[0]
    assert len(tagged) == 4
    # a model file from before the option has no drop_path in its config: it loads with it off
    assert option_in_older_model_file(tiny_model, "transformer", "drop_path") == 0.0


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_drop_path_outside_0_1_is_a_one_line_error(tmp_path, value):
    assert_train_refuses(tmp_path / "out", ["--model.transformer.drop_path", value], "model.transformer.drop_path")
