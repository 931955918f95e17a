"""Label-wise token replacement (data.tag_substitution): in training batches a token may become another
training word with the same tag and auxiliary targets; 0 (the default) leaves the batches as they were."""

from __future__ import annotations

import math

import torch

from conftest import assert_train_refuses, train_tiny
from tagger.data import DataConfig, TaggerDataModule, TagSubstitution, collate
from tagger.modelfile import read_model_file
from tagger.vocab import VocabConfig


def datamodule(p: float) -> TaggerDataModule:
    cfg = DataConfig(treebank="hu_szeged", batch_size=16, tag_substitution=p, aux_columns=["feats"])
    dm = TaggerDataModule(cfg, VocabConfig())
    dm.prepare_data()
    dm.setup("fit")
    return dm


Token = tuple[int, tuple[int, ...], tuple[int, ...]]  # word id, characters, targets (tag, then FEATS)


def training_words(dm: TaggerDataModule) -> set[Token]:
    """Every training token."""
    return set(tokens(collate(dm.encoded["train"][:])))


def tokens(batch) -> list[Token]:
    """Each real token of a batch, in order."""
    chars = batch.char_ids[batch.char_index[batch.mask]]
    targets = torch.cat([batch.labels[None], batch.aux_labels])[:, batch.mask].T
    return [
        (int(w), tuple(int(c) for c in row if c), tuple(t.tolist()))
        for w, row, t in zip(batch.word_ids[batch.mask], chars, targets, strict=True)
    ]


def test_substitutes_are_training_words_with_the_same_targets(szeged):
    dm = datamodule(0.5)
    known = training_words(dm)
    columns = dm.encoded["train"].select(range(64))[:]
    torch.manual_seed(0)
    batch = dm.substitution(columns)
    plain = collate(columns)
    before, after = tokens(plain), tokens(batch)
    assert len(before) == len(after) and torch.equal(plain.mask, batch.mask)
    assert torch.equal(plain.labels, batch.labels) and torch.equal(plain.aux_labels, batch.aux_labels)
    # each a real training word, with its own word id, that had this token's tag and FEATS
    assert all(token in known for token in after)
    changed = sum(a[:2] != b[:2] for a, b in zip(before, after, strict=True)) / len(before)
    # half the tokens are drawn (sd 0.015 over ~1,000 tokens); a draw of the token's own word leaves it
    assert 0.4 < changed < 0.55
    torch.manual_seed(0)
    again = dm.substitution(columns)  # the same draws from the same seed
    assert tokens(again) == after


def test_draws_are_uniform_over_the_words_with_those_targets(szeged):
    sub = TagSubstitution(datamodule(0.0).encoded["train"], 0.99)
    key = max(sub.pools, key=lambda k: len(sub.pools[k][0]))  # the targets with most distinct words
    ids, chars = sub.pools[key]
    torch.manual_seed(0)
    n = 5000
    columns = {"word_ids": [[0] * n], "char_ids": [[[1]] * n], "labels": [[key[0]] * n], "aux_labels": [[[key[1]] * n]]}
    drawn = tokens(sub(columns))
    rows = {tuple(c): i for i, c in enumerate(chars)}
    # the ~1% of tokens not drawn keep their made-up characters (1,), in no pool
    counts = torch.bincount(torch.tensor([rows[c] for _, c, _ in drawn if c in rows]), minlength=len(ids))
    assert int(counts.sum()) > 0.98 * n
    # hundreds of words, none drawn much more than n / len(ids) (~6) times (frequency-weighted draws of a
    # Zipfian vocabulary would give the commonest word hundreds), and as many of them drawn at least once
    # as uniform draws would reach: 1 - exp(-n / len(ids)) of them
    expected = (1 - math.exp(-n / len(ids))) * len(ids)
    assert len(ids) > 500 and int(counts.max()) <= 20 and int((counts > 0).sum()) > 0.95 * expected


def test_off_by_default_and_only_in_training(szeged):
    dm = datamodule(0.0)
    assert dm.substitution is None and dm.train_dataloader().collate_fn is collate
    dm = datamodule(0.3)
    assert dm.train_dataloader().collate_fn is dm.substitution and dm.val_dataloader().collate_fn is collate


def test_train_with_substitution_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(tmp_path / "sub", "--data.tag_substitution", "0.2")
    # the same seed and options as the session's tiny model, which a rerun reproduces bit for bit
    # (tests/test_interrupt.py): other weights, so the replaced words reached the training batches
    state, plain = read_model_file(model)[0], read_model_file(tiny_model)[0]
    assert state.keys() == plain.keys() and not torch.equal(state["embed.words.weight"], plain["embed.words.weight"])
    assert_train_refuses(tmp_path / "one", ["--data.tag_substitution", "1"], "data.tag_substitution")
