"""Adversarial training (optim.adversarial): the loss on input vectors pushed along the loss gradient;
end to end, with the other regularisers that add a training pass: R-Drop (optim.rdrop) and
sharpness-aware minimisation (optim.sam)."""

from __future__ import annotations

import pytest
import torch

from conftest import ROOT, run, train_tiny
from tagger.modelfile import read_model_file
from tagger.models import build_model
from tagger.module import OptimConfig, TaggerModule
from test_models import VARIANTS, _two_sentence_batch


def _module(eps: float) -> tuple[TaggerModule, object]:
    vocab, batch = _two_sentence_batch()
    torch.manual_seed(0)
    net = build_model(VARIANTS["transformer"], vocab.n_words, vocab.n_chars, vocab.n_tags).eval()  # no dropout
    return TaggerModule(net, OptimConfig(adversarial=eps), vocab.n_tags), batch


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_the_perturbation_raises_the_loss_more_than_a_random_one_of_the_same_size(eps):
    module, batch = _module(eps)
    x = module.net.embed(batch)
    clean, _ = module._loss(module.net.encode(x, batch.mask), batch)
    adv = module._adversarial_loss(x, clean, batch)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    r = eps * x.detach().norm(dim=-1, keepdim=True) * torch.nn.functional.normalize(noise, dim=-1)
    rand, _ = module._loss(module.net.encode(x + r, batch.mask), batch)
    clean_, rand_, adv_ = (float(v.detach()) for v in (clean, rand, adv))
    print(f"eps {eps}: clean {clean_:.4f}, random {rand_:.4f}, adversarial {adv_:.4f}")
    assert adv_ > rand_ and adv_ > clean_
    # the weights learn from the perturbed loss: it has a gradient for them
    adv.backward()
    assert module.net.out.weight.grad is not None and float(module.net.out.weight.grad.abs().sum()) > 0


@pytest.mark.filterwarnings("ignore:You are trying to")  # no Trainer here: logging is a no-op
def test_off_by_default_and_the_step_loss_adds_the_adversarial_term():
    plain, batch = _module(0.0)
    adv, _ = _module(0.1)
    assert OptimConfig().adversarial == 0.0
    clean = plain._step(batch, "val").detach()  # validation never perturbs
    assert torch.equal(adv._step(batch, "val").detach(), clean)
    # training: the clean loss plus the perturbed one, which is larger
    assert float(adv._step(batch, "train").detach()) > 2 * float(clean)
    torch.testing.assert_close(plain._step(batch, "train").detach(), clean)


# The regularisers that add a training-time pass (adversarial training, R-Drop: tests/test_rdrop.py, and
# sharpness-aware minimisation: tests/test_sam.py)
REGULARISERS = [("adversarial", "0.1"), ("rdrop", "1.0"), ("sam", "0.05")]


@pytest.mark.parametrize(("option", "value"), REGULARISERS)
def test_the_regulariser_trains_end_to_end_and_changes_the_model(tmp_path, option, value):
    plain, _ = train_tiny(tmp_path / "plain")
    other, _ = train_tiny(tmp_path / option, f"--optim.{option}", value)
    (a, _), (b, _) = read_model_file(plain), read_model_file(other)
    assert set(a) == set(b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) > 1e-3


@pytest.mark.parametrize(("option", "value"), REGULARISERS)
def test_a_negative_weight_is_an_error_naming_the_option(tmp_path, option, value):
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), f"--optim.{option}", f"-{value}",
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert rc == 1 and f"optim.{option}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # rejected before anything is written
