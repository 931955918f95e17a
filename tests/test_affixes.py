"""Hashed prefix and suffix embeddings (model.embed.affixes): which words share rows, and the whole path."""

from __future__ import annotations

import torch

from conftest import train_tiny
from tagger.batch import pad_batch
from tagger.conllu_io import read_conllu
from tagger.modelfile import read_model_file
from tagger.models.embeddings import Affixes
from tagger.predict import Tagger
from tagger.vocab import Vocab, VocabConfig

WORDS = ["running", "jumping", "singing", "rung", "ring", "unhappy", "undone", "is", "his", "ing"]


def _rows(words: list[str], n: int = 3) -> dict[str, torch.Tensor]:
    """Each word's table rows (2 sides, 2 hashes, n lengths), with a character vocabulary of these words."""
    vocab = Vocab.build([(WORDS, ["X"] * len(WORDS))], VocabConfig(min_freq=1))
    chars = pad_batch([[0] * len(words)], vocab.encode_chars([words])).char_ids
    rows = Affixes(n, 4, 50_000).hashes(chars)
    return {w: rows[i] for i, w in enumerate(dict.fromkeys(words))}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool((a == b).all())


def test_words_share_the_rows_of_the_affixes_they_share():
    r = _rows(WORDS, n=4)
    prefix, suffix = 0, 1
    for a, b in (("running", "jumping"), ("running", "singing")):
        assert _same(r[a][suffix, :, :3], r[b][suffix, :, :3])  # -g, -ng, -ing
        assert not _same(r[a][suffix, :, 3], r[b][suffix, :, 3])  # -ning vs -ping, -ging
    assert not _same(r["running"][prefix, :, 0], r["jumping"][prefix, :, 0])  # r- vs j-
    assert _same(r["running"][prefix, :, :3], r["rung"][prefix, :, :3])  # r-, ru-, run-
    assert not _same(r["running"][prefix, :, 3], r["rung"][prefix, :, 3])  # runn- vs rung-
    assert _same(r["rung"][suffix, :, :2], r["ring"][suffix, :, :2])  # -g, -ng
    assert not _same(r["rung"][suffix, :, 2], r["ring"][suffix, :, 2])  # -ung vs -ing
    assert _same(r["unhappy"][prefix, :, :2], r["undone"][prefix, :, :2])  # u-, un-


def test_words_shorter_than_an_affix_get_one_of_their_own():
    """A three-letter word has a three-letter suffix (itself), a two-letter word a three-letter "suffix"
    that is the whole word with both boundary marks, shared by no longer word."""
    r = _rows(WORDS)
    assert _same(r["ing"][1], r["running"][1])  # -g, -ng, -ing
    assert _same(r["is"][1, :, :2], r["his"][1, :, :2])  # -s, -is
    assert not _same(r["is"][1, :, 2], r["his"][1, :, 2])
    assert not _same(r["ing"][0], r["ing"][1])  # prefix and suffix of the same letters hash apart


def test_few_affixes_collide(szeged):
    """Every affix of Szeged's training words: distinct affixes almost never share both rows."""
    forms = sorted({f for s in read_conllu(szeged["train"]) for f in s.forms})
    vocab = Vocab.build([(forms, ["X"] * len(forms))], VocabConfig(min_freq=1))
    chars = pad_batch([[0] * len(forms)], vocab.encode_chars([forms])).char_ids
    rows = Affixes(4, 4, 5_000).hashes(chars)  # (N, side, hash, length)
    affixes, pairs = set(), set()
    for i, f in enumerate(forms):
        for side in (0, 1):
            for n in range(1, 5):
                key = (side, n, f[:n] if side == 0 else f[-n:], len(f) >= n)
                if key not in affixes:
                    affixes.add(key)
                    pairs.add((int(rows[i, side, 0, n - 1]), int(rows[i, side, 1, n - 1])))
    assert len(affixes) > 10_000  # more affixes than rows: single rows must be shared
    assert len(pairs) >= 0.999 * len(affixes)  # but pairs of rows almost never


def test_affix_model_trains_tags_and_loads(tmp_path, szeged):
    """End to end on Szeged: the affix table learns, the model file keeps it, and the tagging path (kept
    per-form vectors, batches of any size) computes the same function as the plain forward pass."""
    path, _ = train_tiny(tmp_path / "affix", "--model.embed.affixes", "3", "--model.embed.affix_buckets", "5000")
    weights, meta = read_model_file(path)
    assert weights["embed.affixes.table.weight"].shape == (5000, 16)
    assert meta["config"]["model"]["embed"]["affixes"] == 3
    tagger = Tagger.load(path)
    assert tagger.net.embed.output_dim == 16 + 16 + 2 * 3 * 16  # words, characters (TINY), affixes
    sents = [s.forms for s in read_conllu(szeged["test"]) if len(s)][:80]
    batch = tagger._batch(sents)
    with torch.inference_mode():
        reference = tagger.net(batch)
    assert torch.allclose(tagger._scores(sents, False)[batch.mask], reference[batch.mask], atol=1e-5)
    assert tagger.tag(sents, batch_size=256) == [tagger.tag([s], batch_size=1)[0] for s in sents[:20]] + tagger.tag(
        sents[20:]
    )
