"""Token masking and the masked-word loss (optim.mask_rate, optim.mask_lm): in training, a fresh fraction of
the real tokens get a learned mask vector for their input, and a training-only head predicts their words
from the encoder states."""

from __future__ import annotations

import pytest
import torch

from conftest import assert_train_refuses, train_tiny
from tagger.batch import pad_batch
from tagger.conllu_io import read_conllu
from tagger.modelfile import read_model_file
from tagger.models import build_model
from tagger.module import OptimConfig, TaggerModule
from tagger.predict import Tagger
from tagger.vocab import UNK_ID, Vocab, VocabConfig
from test_models import VARIANTS


def _szeged_batch(szeged, n: int = 48, min_freq: int = 1):
    """The first n Szeged training sentences as one batch, with a vocabulary built from them."""
    sents = [s for s in read_conllu(szeged["train"]) if len(s)][:n]
    vocab = Vocab.build(((s.forms, s.column("upos")) for s in sents), VocabConfig(min_freq=min_freq))
    forms = [s.forms for s in sents]
    tags = [vocab.encode_tags(s.column("upos")) for s in sents]
    return vocab, pad_batch(vocab.encode_words(forms), vocab.encode_chars(forms), tags)


def _module(vocab, rate: float, weight: float, rdrop: float = 0.0) -> TaggerModule:
    torch.manual_seed(0)
    net = build_model(
        VARIANTS["transformer"], vocab.n_words, vocab.n_chars, vocab.n_tags, mask_token=rate > 0, word_head=weight > 0
    )
    return TaggerModule(
        net.eval(), OptimConfig(mask_rate=rate, mask_lm=weight, rdrop=rdrop), vocab.n_tags
    )  # eval: no dropout


def test_off_by_default_and_the_extra_parts_leave_every_other_weight_as_it_was(szeged):
    vocab, _ = _szeged_batch(szeged)
    plain, masked = _module(vocab, 0.0, 0.0), _module(vocab, 0.15, 0.5)
    assert (OptimConfig().mask_rate, OptimConfig().mask_lm) == (0.0, 0.0)
    assert plain.net.mask_vector is None and plain.net.aux_word is None
    assert masked.net.aux_word.out_features == vocab.n_words
    extra = set(masked.net.state_dict()) - set(plain.net.state_dict())
    assert extra == {"mask_vector", "aux_word.weight", "aux_word.bias"}
    assert all(torch.equal(v, masked.net.state_dict()[k]) for k, v in plain.net.state_dict().items())
    assert set(masked.net.tagging_state_dict()) == set(plain.net.state_dict())


def test_masking_replaces_a_fresh_fraction_of_the_real_tokens_by_the_mask_vector(szeged):
    vocab, batch = _szeged_batch(szeged)
    module = _module(vocab, 0.15, 0.0)
    with torch.no_grad():
        module.net.mask_vector.normal_()
        x = module.net.embed(batch)
    torch.manual_seed(1)
    y, masked = module._mask_tokens(x, batch.mask)
    _, again = module._mask_tokens(x, batch.mask)
    assert not masked[~batch.mask].any() and not torch.equal(masked, again)
    rate = float(masked.sum() / batch.mask.sum())
    print(f"{int(batch.mask.sum())} tokens, {rate:.3f} masked")
    assert 0.11 < rate < 0.19
    assert torch.equal(y[masked], module.net.mask_vector.expand(int(masked.sum()), -1))
    assert torch.equal(y[~masked], x[~masked])


@pytest.mark.filterwarnings("ignore:You are trying to")  # no Trainer here: logging is a no-op
@pytest.mark.parametrize("rdrop", [0.0, 1.0])
def test_the_training_step_adds_the_weighted_word_loss_and_validation_masks_nothing(szeged, rdrop):
    vocab, batch = _szeged_batch(szeged)
    plain = _module(vocab, 0.0, 0.0, rdrop)
    tokens_only, masked_lm = _module(vocab, 0.15, 0.0, rdrop), _module(vocab, 0.15, 0.5, rdrop)
    # the same draws of masked tokens (R-Drop's second pass draws its own): the same loss from the tags, and
    # the first pass's word loss on top
    torch.manual_seed(2)
    tags_only = tokens_only._step(batch, "train").detach()
    torch.manual_seed(2)
    total = masked_lm._step(batch, "train").detach()
    torch.manual_seed(2)
    x, masked = masked_lm._mask_tokens(masked_lm.net.embed(batch), batch.mask)
    h = masked_lm.net.encode(x, batch.mask)
    word_loss = masked_lm._masked_word_loss(h, masked, batch.word_ids).detach()
    assert word_loss > 0
    torch.testing.assert_close(total, tags_only + 0.5 * word_loss)
    # masking changes the training loss; validation sees every token as it is
    assert not torch.equal(tags_only, plain._step(batch, "train").detach())
    assert torch.equal(masked_lm._step(batch, "val").detach(), plain._step(batch, "val").detach())


def test_unknown_words_are_not_targets(szeged):
    vocab, batch = _szeged_batch(szeged, min_freq=2)
    module = _module(vocab, 0.15, 0.5)
    h = module.net.encode(module.net.embed(batch), batch.mask)
    unknown = batch.word_ids == UNK_ID
    assert unknown.any() and (batch.mask & ~unknown).any()
    assert float(module._masked_word_loss(h, unknown & batch.mask, batch.word_ids).detach()) == 0.0
    only_known = batch.mask & ~unknown
    both = module._masked_word_loss(h, batch.mask, batch.word_ids)
    torch.testing.assert_close(both, module._masked_word_loss(h, only_known, batch.word_ids))


def test_the_head_learns_masked_words_from_their_context(szeged):
    """Trained on the masked-word loss alone, the encoder and head name masked words of these sentences
    far more often than the most frequent word's share: the context carries them."""
    vocab, batch = _szeged_batch(szeged, n=32)
    module = _module(vocab, 0.15, 1.0)
    net = module.net.train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(200):
        opt.zero_grad()
        x, masked = module._mask_tokens(net.embed(batch), batch.mask)
        module._masked_word_loss(net.encode(x, batch.mask), masked, batch.word_ids).backward()
        opt.step()
    assert net.mask_vector.grad.abs().sum() > 0
    net.eval()
    torch.manual_seed(3)
    hits = total = 0
    with torch.no_grad():
        for _ in range(10):
            x, masked = module._mask_tokens(net.embed(batch), batch.mask)
            pred = net.aux_word(net.encode(x, batch.mask)[masked]).argmax(-1)
            hits, total = hits + int((pred == batch.word_ids[masked]).sum()), total + int(masked.sum())
    words = batch.word_ids[batch.mask]
    acc, majority = hits / total, float(words.bincount().max() / len(words))
    print(f"{total} masked tokens: word from context {acc:.3f}, most frequent word {majority:.3f}")
    assert acc > majority + 0.2


def test_trains_end_to_end_and_the_model_file_holds_no_mask_vector_or_head(tmp_path, tiny_run):
    plain = tiny_run[1]
    masked, _ = train_tiny(tmp_path / "masked", "--optim.mask_rate", "0.15", "--optim.mask_lm", "0.5")
    (a, _), (b, meta) = read_model_file(plain), read_model_file(masked)
    assert set(a) == set(b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) > 1e-3  # the masking changed the model
    assert (meta["config"]["optim"]["mask_rate"], meta["config"]["optim"]["mask_lm"]) == (0.15, 0.5)
    assert len(Tagger.load(masked).tag([["Ez", "egy", "mondat", "."]])[0]) == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--optim.mask_rate", "1.0"], "optim.mask_rate must be in [0, 1)"),
        (["--optim.mask_lm", "-1"], "optim.mask_lm at least 0"),
        (["--optim.mask_lm", "0.5"], "optim.mask_lm needs masked tokens"),
    ],
)
def test_bad_settings_are_one_line_errors_before_anything_is_written(tmp_path, extra, message):
    assert_train_refuses(tmp_path / "out", extra, message)
