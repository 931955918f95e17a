"""Sharpness-aware minimisation (optim.sam): each step learns from the loss at weights moved a fixed
distance along the tag losses' gradient. End to end and the error for a negative radius:
tests/test_adversarial.py (REGULARISERS)."""

from __future__ import annotations

import copy

import pytest
import torch

from tagger.models import build_model
from tagger.module import OptimConfig, TaggerModule
from test_models import VARIANTS, _two_sentence_batch


def _module(**optim) -> tuple[TaggerModule, object]:
    vocab, batch = _two_sentence_batch()
    torch.manual_seed(0)
    net = build_model(VARIANTS["transformer"], vocab.n_words, vocab.n_chars, vocab.n_tags).eval()  # no dropout
    return TaggerModule(net, OptimConfig(**optim), vocab.n_tags), batch


def _grads(module: TaggerModule) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.net.named_parameters() if p.grad is not None}


@pytest.mark.filterwarnings("ignore:You are trying to")  # no Trainer here: logging is a no-op
@pytest.mark.parametrize("adversarial", [0.0, 0.1])
def test_the_step_learns_from_the_whole_loss_at_the_weights_moved_along_the_tag_gradient(adversarial):
    rho = 0.5
    module, batch = _module(sam=rho, adversarial=adversarial)
    before = copy.deepcopy(module.net.state_dict())
    # by hand: the tag losses' gradient at w, a copy of the net moved by rho along it, the step's loss there
    tag_loss, _ = module._loss(module.net.encode(module.net.embed(batch), batch.mask), batch)
    tag_loss.backward()
    g = _grads(module)
    norm = torch.linalg.vector_norm(torch.stack([v.norm() for v in g.values()]))
    moved_net = copy.deepcopy(module.net)
    with torch.no_grad():
        for n, p in moved_net.named_parameters():
            p += rho * g[n] / norm
    moved = TaggerModule(moved_net, OptimConfig(adversarial=adversarial), module.n_tags)
    expected_loss = moved._step(batch, "train")
    expected_loss.backward()
    module.net.zero_grad()
    unmoved = module._step(batch, "train")  # the whole loss at w, as a step without sam learns from it
    unmoved.backward()
    at_w = _grads(module)
    module.net.zero_grad()
    loss = module.training_step(batch, 0)
    loss.backward()
    print(
        f"tag loss at w {float(tag_loss.detach()):.4f}, training loss at the moved weights {float(loss.detach()):.4f}"
    )
    torch.testing.assert_close(loss, expected_loss)
    assert float(loss.detach()) > float(unmoved.detach())  # the move raised the loss
    got, want = _grads(module), _grads(moved)
    assert set(got) == set(want) == set(g)
    for n in want:
        torch.testing.assert_close(got[n], want[n], msg=n)
    # not the gradient at w; and the step leaves the weights where they were (the optimiser moves them)
    assert max(float((got[n] - at_w[n]).abs().max()) for n in g) > 1e-4
    for n, v in module.net.state_dict().items():
        assert torch.equal(v, before[n]), n


@pytest.mark.filterwarnings("ignore:You are trying to")
def test_off_by_default_and_a_tiny_radius_gives_the_plain_gradient():
    assert OptimConfig().sam == 0.0
    plain, batch = _module()
    tiny, _ = _module(sam=1e-6)
    plain.training_step(batch, 0).backward()
    tiny.training_step(batch, 0).backward()
    a, b = _grads(plain), _grads(tiny)
    assert set(a) == set(b)
    for n in a:
        torch.testing.assert_close(b[n], a[n], rtol=1e-3, atol=1e-5, msg=n)
