"""R-Drop (optim.rdrop): two passes with independent dropout masks, pulled towards the same tags."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tagger.models import build_model
from tagger.module import OptimConfig, TaggerModule
from test_models import VARIANTS, _two_sentence_batch


def _module(weight: float) -> tuple[TaggerModule, object]:
    vocab, batch = _two_sentence_batch()
    torch.manual_seed(0)
    cfg = dataclasses.replace(VARIANTS["transformer"], dropout=0.3)  # the tiny variant has none
    net = build_model(cfg, vocab.n_words, vocab.n_chars, vocab.n_tags)
    return TaggerModule(net, OptimConfig(rdrop=weight), vocab.n_tags), batch


def _rdrop(module: TaggerModule, batch, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(first pass's loss, R-Drop loss) with the dropout masks drawn from `seed`."""
    torch.manual_seed(seed)
    loss, logits = module._loss(module.net.encode(module.net.embed(batch), batch.mask), batch)
    return loss, module._rdrop_loss(loss, logits, batch)


@pytest.mark.filterwarnings("ignore:You are trying to")  # no Trainer here: logging is a no-op
def test_without_dropout_both_passes_agree_and_the_loss_is_the_plain_one():
    module, batch = _module(5.0)
    module.net.eval()  # no dropout: the second pass repeats the first
    loss, rdrop = _rdrop(module, batch, 0)
    torch.testing.assert_close(rdrop, loss)
    assert OptimConfig().rdrop == 0.0
    torch.testing.assert_close(module._step(batch, "train"), loss)  # the step uses it


def test_with_dropout_the_passes_differ_and_their_divergence_is_added_and_learned_from():
    module, batch = _module(1.0)
    half, _ = _module(0.5)
    half.net.load_state_dict(module.net.state_dict())
    module.net.train(), half.net.train()
    _, full = _rdrop(module, batch, 3)
    loss, halved = _rdrop(half, batch, 3)  # the same masks: only the divergence's weight differs
    kl = 2 * float((full - halved).detach())  # the term is weight x mean KL: 1.0 and 0.5 differ by mean KL / 2
    print(f"first pass {float(loss):.4f}, R-Drop loss {float(full):.4f}, mean KL {kl:.4f}")
    assert kl > 0 and float(full) > float(halved)
    full.backward()
    assert all(p.grad is not None for p in module.net.encoder.parameters() if p.requires_grad)


# End to end, and the error for a negative weight: tests/test_adversarial.py (REGULARISERS).
