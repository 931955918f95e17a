"""Dropout on the character vectors the per-word character encoder reads (model.embed.char_dropout): training
only; 0 (the default) is none and draws no random numbers, so older model files and runs are unchanged."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from conftest import assert_train_refuses, option_in_older_model_file, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.config import EmbedConfig
from tagger.models.embeddings import CharBiLSTM, CharCNN
from tagger.predict import Tagger

CHARS = torch.tensor([[2, 5, 6, 7, 3], [2, 9, 3, 0, 0], [2, 4, 4, 3, 0]])


def encoder(kind, p: float) -> nn.Module:
    torch.manual_seed(0)
    return kind(20, dataclasses.replace(EmbedConfig(), char_dim=8, char_out=12, char_dropout=p))


@pytest.mark.parametrize("kind", [CharCNN, CharBiLSTM])
def test_it_drops_character_vectors_in_training_only(kind):
    plain, dropped = encoder(kind, 0.0), encoder(kind, 0.5)
    assert isinstance(plain.char_dropout, nn.Identity)  # none at 0: no random numbers drawn
    plain.eval(), dropped.eval()
    assert torch.equal(plain(CHARS), dropped(CHARS))  # same weights; evaluation does not drop
    dropped.train()
    torch.manual_seed(1)
    a = dropped(CHARS)
    torch.manual_seed(2)
    b = dropped(CHARS)
    assert not torch.allclose(a, b)  # each training pass draws its own mask
    # by hand: the embedding's vectors under the mask this seed draws, through the rest of the encoder
    seen = []
    hook = dropped.char_dropout.register_forward_hook(lambda m, args, out: seen.append((args[0], out)))
    torch.manual_seed(1)
    dropped(CHARS)
    hook.remove()
    before, after = seen[0]
    zeroed = after == 0
    assert 0.3 < zeroed.float().mean() < 0.7
    assert torch.allclose(after[~zeroed], 2 * before[~zeroed])  # kept ones scaled by 1 / (1 - p)


def test_train_with_char_dropout_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(tmp_path / "drop", "--model.embed.char_dropout", "0.3")
    state, meta = read_model_file(model)
    assert meta["config"]["model"]["embed"]["char_dropout"] == 0.3
    tiny_state = read_model_file(tiny_model)[0]
    assert state.keys() == tiny_state.keys()  # no weights of its own
    assert any(not torch.equal(v, tiny_state[k]) for k, v in state.items())  # but it reached training
    tagged = Tagger.load(model).tag([["Ez", "egy", "mondat", "."], ["Igen", "."]])
    assert [len(t) for t in tagged] == [4, 2]
    assert option_in_older_model_file(tiny_model, "embed", "char_dropout") == 0.0


def test_a_rate_outside_0_1_is_a_one_line_error(tmp_path):
    assert_train_refuses(tmp_path / "one", ["--model.embed.char_dropout", "1.0"], "char_dropout")
