"""The fast tagging path computes the model's function: per-form character vectors kept across batches."""

from __future__ import annotations

import torch

import tagger.predict as predict
from tagger.conllu_io import read_conllu
from tagger.predict import Tagger


def test_kept_character_vectors_give_the_plain_forward_pass(tiny_model, szeged):
    tagger = Tagger.load(tiny_model)
    sents = [s.forms for s in read_conllu(szeged["test"]) if len(s)][:120]
    first, second = sents[:60], sents[60:]  # the second half repeats many forms of the first
    for part in (first, second):
        batch = tagger._batch(part)
        with torch.inference_mode():  # the plain forward pass: the character encoder on the batch's words
            reference = tagger.net(batch)
        kept = tagger._scores(part, False)
        assert torch.allclose(kept[batch.mask], reference[batch.mask], atol=1e-5)
    assert len(tagger._char_rows) == len({f for s in sents for f in s})  # each distinct form encoded once
    tagger.forget()
    assert not tagger._char_rows


def test_character_vectors_survive_the_memo_limit(tiny_model, szeged, monkeypatch):
    """When the kept vectors would pass the limit they are dropped and rebuilt; tags do not change."""
    sents = [s.forms for s in read_conllu(szeged["dev"]) if len(s)][:200]
    expected = Tagger.load(tiny_model).tag(sents)
    monkeypatch.setattr(predict, "MEMO_SIZE", 150)
    tagger = Tagger.load(tiny_model)
    assert tagger.tag(sents, batch_size=4) == expected  # ~50 forms a batch: kept, dropped at 150, rebuilt
    assert 0 < len(tagger._char_rows) <= 150
    assert tagger.tag(sents, batch_size=64) == expected  # more forms in a batch than may be kept
