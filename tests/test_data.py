"""The datasets-backed corpus cache, batching and the DataModule, on real data."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tagger.batch import pad_batch
from tagger.conllu_io import read_conllu
from tagger.data import BucketBatchSampler, DataConfig, TaggerDataModule, fraction_subset, load_corpus
from tagger.errors import TaggerError
from tagger.vocab import UNK_ID, VocabConfig


def test_corpus_is_cached_and_keyed_by_content(tmp_path, szeged):
    path = tmp_path / "train.conllu"
    shutil.copy(szeged["dev"], path)
    a = load_corpus(path, tmp_path / "cache")
    b = load_corpus(path, tmp_path / "cache")
    assert a.cache_files[0]["filename"] == b.cache_files[0]["filename"]  # built once
    assert len(a) == 441
    # edit the file in place: the next load must parse it again, not serve the old rows
    text = path.read_text(encoding="utf-8")
    first_form = a[0]["forms"][0]
    path.write_text(text.replace(f"1\t{first_form}\t", "1\tEDITED\t", 1), encoding="utf-8")
    c = load_corpus(path, tmp_path / "cache")
    assert c[0]["forms"][0] == "EDITED"
    assert c.cache_files[0]["filename"] != a.cache_files[0]["filename"]


def test_malformed_training_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n\n1\tx\n\n", encoding="utf-8")
    with pytest.raises(TaggerError, match=r"bad.conllu:3: expected 10 tab-separated columns"):
        load_corpus(bad, tmp_path / "cache")


def test_bucketing_limits_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=2000)
    bucketed = BucketBatchSampler(lengths, 32, shuffle=True, seed=1)
    batches = list(bucketed)
    assert sorted(i for b in batches for i in b) == list(range(2000))  # every sentence once
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_padded = sum(32 * lengths[rng.permutation(2000)[:32]].max() for _ in range(len(batches)))
    assert padded < 0.6 * random_padded
    bucketed.set_epoch(1)
    assert list(bucketed) != batches  # reshuffled per epoch
    eval_batches = list(BucketBatchSampler(lengths, 32, shuffle=False))
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in eval_batches)


def test_pad_batch_layout():
    b = pad_batch([[5, 6, 7], [8]], [[[2, 9, 3], [2, 3], [2, 4, 4, 3]], [[2, 5, 3]]], [[1, 2, 3], [4]])
    assert b.word_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b.mask.tolist() == [[True, True, True], [True, False, False]]
    assert b.char_ids.shape == (4, 4)  # 4 distinct words, longest 4 characters
    assert b.char_ids[b.char_index[0, 2]].tolist() == [2, 4, 4, 3]
    assert b.char_ids[b.char_index[1, 0]].tolist() == [2, 5, 3, 0]
    b2 = pad_batch([[5, 5]], [[[2, 9, 3], [2, 9, 3]]])
    assert b2.char_ids.shape == (1, 3) and b2.char_index.tolist() == [[0, 0]]  # a repeated word is encoded once
    assert b.labels.tolist() == [[1, 2, 3], [4, -100, -100]]


def test_fractions_are_nested_and_fixed(szeged):
    corpus = load_corpus(szeged["train"])
    small, large = fraction_subset(corpus, 0.1), fraction_subset(corpus, 0.5)
    assert len(small) == 91 and len(large) == 455
    small_forms = {tuple(f) for f in small["forms"]}
    assert small_forms <= {tuple(f) for f in large["forms"]}
    assert small["forms"] == fraction_subset(corpus, 0.1)["forms"]
    with pytest.raises(TaggerError, match="train_fraction"):
        fraction_subset(corpus, 0.0)


def test_datamodule_builds_vocab_from_train_and_batches(szeged):
    dm = TaggerDataModule(DataConfig(treebank="hu_szeged", batch_size=8), VocabConfig(min_freq=1))
    dm.prepare_data()
    dm.setup("fit")
    assert dm.vocab.n_tags == len(set(t for s in load_corpus(szeged["train"])["upos"] for t in s))
    batch = next(iter(dm.train_dataloader()))
    assert batch.word_ids.shape == batch.mask.shape == batch.labels.shape
    assert (batch.labels[~batch.mask] == -100).all() and (batch.labels[batch.mask] >= 0).all()
    n_dev = sum(b.n_tokens for b in dm.val_dataloader())
    assert n_dev == sum(len(f) for f in load_corpus(szeged["dev"])["forms"])


def test_xpos_label_column(szeged):
    dm = TaggerDataModule(DataConfig(treebank="hu_szeged", label_column="xpos"), VocabConfig())
    dm.setup("fit")
    upos = TaggerDataModule(DataConfig(treebank="hu_szeged"), VocabConfig())
    upos.setup("fit")
    assert set(dm.vocab.tags) != set(upos.vocab.tags)


def test_several_training_files_are_one_corpus_with_one_vocabulary(szeged):
    from tagger.treebanks import sha256_file

    files = [szeged["train"], szeged["dev"]]
    cfg = DataConfig(treebank=None, train=[str(f) for f in files], dev=str(szeged["dev"]))
    dm = TaggerDataModule(cfg, VocabConfig(min_freq=1))
    dm.setup("fit")
    sents = [[s for s in read_conllu(f) if len(s)] for f in files]
    assert len(dm.encoded["train"]) == sum(map(len, sents))
    assert dm.checksums == {"train": [sha256_file(f) for f in files], "dev": sha256_file(szeged["dev"])}
    assert {f for s in sents[1] for f in s.forms} <= dm.vocab.known  # words of the second file are known
    only_second = {f.lower() for s in sents[1] for f in s.forms} - {f.lower() for s in sents[0] for f in s.forms}
    assert all(dm.vocab.encode_words([[w]])[0][0] != UNK_ID for w in list(only_second)[:50])


def test_several_treebanks_from_the_command_line(tmp_path):
    from conftest import train_tiny

    path, _ = train_tiny(tmp_path / "multi", "--data.treebank", "[hu_szeged, zh_gsd]", "--trainer.max_steps", "10")
    from tagger.modelfile import read_model_file

    _, meta = read_model_file(path)
    assert len(meta["data_sha256"]["train"]) == 2 and meta["config"]["data"]["treebank"] == ["hu_szeged", "zh_gsd"]
    tags = set(meta["vocab"]["tags"])
    assert "CONJ" in tags and "CCONJ" in tags  # Chinese-GSD is UD 1.4 (CONJ), Szeged UD 2 (CCONJ)
