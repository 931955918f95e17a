"""Word dropout: uniform (model.embed.word_dropout) and frequency-aware (model.embed.word_dropout_alpha),
which needs the training counts of each word id."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from conftest import ROOT, run, train_tiny
from tagger.conllu_io import read_conllu
from tagger.modelfile import read_model_file
from tagger.models.embeddings import WordDropout
from tagger.vocab import PAD_ID, UNK_ID, Vocab, VocabConfig


def test_word_counts_add_up_forms_that_share_an_id(ewt_dev):
    sents = [s for s in read_conllu(ewt_dev) if len(s)][:500]
    v = Vocab.build(((s.forms, s.column("upos")) for s in sents), VocabConfig(min_freq=2, lowercase=True))
    counts = v.word_counts()
    tokens = Counter(f.lower() for s in sents for f in s.forms)
    assert tokens["the"] > Counter(f for s in sents for f in s.forms)["the"]  # "The" is there too
    the = v.encode_words([["the"]])[0][0]
    assert counts[the] == tokens["the"]
    ids = v.encode_words([s.forms for s in sents])
    assert counts.sum() == sum(i != UNK_ID for row in ids for i in row)  # every token of a kept word, once
    assert counts[PAD_ID] == counts[UNK_ID] == 0 and (counts[2:] >= 2).all()  # min_freq 2
    with pytest.raises(ValueError, match="built from training data"):
        Vocab.from_dict(v.to_dict()).word_counts()  # a model file's vocabulary has no counts


@pytest.mark.parametrize(("p", "alpha"), [(0.0, 1.0), (0.4, 1.0), (0.0, 0.25)])
def test_rare_words_are_dropped_more_often_than_frequent_ones(p, alpha):
    counts = torch.tensor([0, 0, 1, 3, 1000])
    drop = WordDropout(p, alpha)
    drop.set_counts(counts)
    ids = torch.arange(5).repeat(40_000, 1)  # (N, 5): pad, unknown and three words
    mask = ids != PAD_ID
    torch.manual_seed(0)
    out = drop.train()(ids, mask)
    rate = (out != ids).double().mean(0)
    assert rate[PAD_ID] == rate[UNK_ID] == 0  # padding stays padding; an unknown word has nothing to drop
    for i in (2, 3, 4):
        want = 1 - (1 - p) * counts[i] / (alpha + counts[i])
        assert abs(rate[i] - want) < 0.01, (i, float(rate[i]), float(want))
    assert ((out == ids) | (out == UNK_ID)).all()
    assert torch.equal(drop.eval()(ids, mask), ids)  # tagging drops nothing


def test_frequency_aware_dropout_needs_the_counts():
    drop = WordDropout(0.1, 1.0).train()
    ids = torch.tensor([[2, 3]])
    with pytest.raises(RuntimeError, match="set_counts"):
        drop(ids, ids > 0)
    assert torch.equal(drop.eval()(ids, ids > 0), ids)


def test_trains_end_to_end_and_the_model_file_holds_no_counts(tmp_path, tiny_run):
    plain = tiny_run[1]
    other, _ = train_tiny(tmp_path / "alpha", "--model.embed.word_dropout_alpha", "1.0")
    (a, _), (b, _) = read_model_file(plain), read_model_file(other)
    assert set(a) == set(b) and not any("keep" in k for k in b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) > 1e-3
    rc, out, err = run(["predict", "-m", str(other), "-i", "tokens", "-f", "tsv"], stdin="A kutya ugat .\n")
    assert rc == 0 and len(out.strip().splitlines()) == 4, err


@pytest.mark.parametrize(("option", "value"), [("word_dropout_alpha", "-0.5"), ("word_dropout", "1.0")])
def test_an_out_of_range_setting_is_a_one_line_error(tmp_path, option, value):
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), f"--model.embed.{option}", value,
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert rc == 1 and f"model.embed.{option}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
