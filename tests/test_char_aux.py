"""The character-only auxiliary tag loss (optim.char_aux): a training-only head reads each token's tag
from its word's character-level vector alone, before any context."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import assert_train_refuses, train_tiny
from tagger.batch import pad_batch
from tagger.conllu_io import read_conllu
from tagger.modelfile import read_model_file
from tagger.models import build_model
from tagger.models.output import token_cross_entropy
from tagger.module import OptimConfig, TaggerModule
from tagger.predict import Tagger
from tagger.vocab import UNK_ID, Vocab, VocabConfig
from test_models import VARIANTS


def _szeged_batch(szeged, n: int = 48):
    """The first n Szeged training sentences as one batch, with a vocabulary built from them."""
    sents = [s for s in read_conllu(szeged["train"]) if len(s)][:n]
    vocab = Vocab.build(((s.forms, s.column("upos")) for s in sents), VocabConfig(min_freq=1))
    forms = [s.forms for s in sents]
    tags = [vocab.encode_tags(s.column("upos")) for s in sents]
    return vocab, pad_batch(vocab.encode_words(forms), vocab.encode_chars(forms), tags)


def _module(vocab, weight: float) -> TaggerModule:
    torch.manual_seed(0)
    net = build_model(VARIANTS["char-bilstm"], vocab.n_words, vocab.n_chars, vocab.n_tags, char_head=weight > 0)
    return TaggerModule(net.eval(), OptimConfig(char_aux=weight), vocab.n_tags)  # eval: no dropout


@pytest.mark.filterwarnings("ignore:You are trying to")  # no Trainer here: logging is a no-op
def test_the_training_step_adds_the_weighted_character_loss_and_validation_is_unchanged(szeged):
    vocab, batch = _szeged_batch(szeged)
    plain, aux = _module(vocab, 0.0), _module(vocab, 0.5)
    assert OptimConfig().char_aux == 0.0 and plain.net.aux_char is None
    # the head is drawn outside the random stream: every other weight is the same with or without it
    shared = plain.net.state_dict()
    assert all(torch.equal(v, aux.net.state_dict()[k]) for k, v in shared.items())
    _, chars = aux.net.embed.parts(batch)
    char_loss = token_cross_entropy(aux.net.aux_char(chars), batch.labels)
    clean = plain._step(batch, "train").detach()
    torch.testing.assert_close(aux._step(batch, "train").detach(), clean + 0.5 * char_loss.detach())
    assert torch.equal(aux._step(batch, "val").detach(), plain._step(batch, "val").detach())


def test_the_character_vector_ignores_the_word_id_and_the_context(szeged):
    vocab, batch = _szeged_batch(szeged)
    net = _module(vocab, 1.0).net
    _, chars = net.embed.parts(batch)
    assert not chars[~batch.mask].any()  # zero at padding
    # every occurrence of a form has one vector, whatever its sentence
    index = batch.char_index[batch.mask]
    rows = chars[batch.mask]
    first = {}
    for i, row in zip(index.tolist(), rows, strict=True):
        first.setdefault(i, row)
        torch.testing.assert_close(row, first[i])
    assert len(first) < len(rows)  # some forms do occur more than once
    # and it does not see the word embedding: every word unknown, the same vectors
    unknown = dataclasses.replace(batch, word_ids=batch.word_ids.masked_fill(batch.mask, UNK_ID))
    torch.testing.assert_close(net.embed.parts(unknown)[1], chars)


def test_its_gradient_reaches_the_characters_only_and_the_head_learns_tags_from_them(szeged):
    vocab, batch = _szeged_batch(szeged)
    net = _module(vocab, 1.0).net.train()
    _, chars = net.embed.parts(batch)
    token_cross_entropy(net.aux_char(chars), batch.labels).backward()
    assert all(p.grad is None for p in net.encoder.parameters()) and net.embed.words.weight.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.embed.chars.parameters())
    # trained on the character loss alone, the head tags these tokens from their characters far above
    # the most frequent tag (forms seen here; an unknown word has nothing else)
    opt = torch.optim.Adam([*net.embed.chars.parameters(), *net.aux_char.parameters()], lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        _, chars = net.embed.parts(batch)
        token_cross_entropy(net.aux_char(chars), batch.labels).backward()
        opt.step()
    gold = batch.labels[batch.mask]
    with torch.no_grad():
        pred = net.aux_char(net.eval().embed.parts(batch)[1]).argmax(-1)[batch.mask]
    acc, majority = float((pred == gold).double().mean()), float(gold.bincount().max() / len(gold))
    print(f"{len(gold)} tokens: head from characters {acc:.3f}, most frequent tag {majority:.3f}")
    assert acc > majority + 0.4


def test_trains_end_to_end_and_the_model_file_holds_no_head(tmp_path, tiny_run):
    plain = tiny_run[1]
    aux, _ = train_tiny(tmp_path / "aux", "--optim.char_aux", "0.5")
    (a, _), (b, meta) = read_model_file(plain), read_model_file(aux)
    assert set(a) == set(b) and not any(k.startswith("aux_char") for k in b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) > 1e-3  # the extra loss changed the model
    assert meta["config"]["optim"]["char_aux"] == 0.5
    tags = Tagger.load(aux).tag([["Ez", "egy", "mondat", "."]])
    assert len(tags[0]) == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--optim.char_aux", "-0.5"], "optim.char_aux must be at least 0"),
        (["--optim.char_aux", "0.5", "--model.embed.char_encoder", "none"], "optim.char_aux needs a character"),
    ],
)
def test_bad_settings_are_one_line_errors_before_anything_is_written(tmp_path, extra, message):
    assert_train_refuses(tmp_path / "out", extra, message)
