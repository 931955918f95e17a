"""Word/character vocabularies built with tokenizers."""

from __future__ import annotations

import json

from tagger.vocab import BOW_ID, EOW_ID, UNK_ID, Vocab, VocabConfig

SENTS = [
    (["New York", "is", "big", "."], ["PROPN", "AUX", "ADJ", "PUNCT"]),
    (["e-mail", "is", "big", "!"], ["NOUN", "AUX", "ADJ", "PUNCT"]),
]


def test_one_id_per_word_even_with_spaces_and_hyphens():
    v = Vocab.build(SENTS, VocabConfig(min_freq=1))
    ids = v.encode_words([["New York", "e-mail", "is", "unseen-word", ""]])[0]
    assert len(ids) == 5
    assert ids[0] != UNK_ID and ids[1] != UNK_ID and ids[2] != UNK_ID
    assert ids[3] == UNK_ID and ids[4] == UNK_ID
    assert v.tags == ["ADJ", "AUX", "NOUN", "PROPN", "PUNCT"]


def test_min_freq_and_max_size():
    v = Vocab.build(SENTS, VocabConfig(min_freq=2))
    assert v.encode_words([["is", "big", "New York"]])[0][2] == UNK_ID
    assert v.encode_words([["is", "big"]])[0][0] != UNK_ID
    assert v.n_words == 2 + 2  # <pad>, <unk>, "is", "big"
    v1 = Vocab.build(SENTS, VocabConfig(min_freq=1, max_size=1))
    assert v1.n_words == 3
    assert "New York" in v.known  # known = every training form, regardless of min_freq


def test_lowercase_words_but_not_chars():
    v = Vocab.build(SENTS, VocabConfig(min_freq=1, lowercase=True))
    assert v.encode_words([["IS"]])[0][0] == v.encode_words([["is"]])[0][0] != UNK_ID
    assert v.encode_chars([["Is"]])[0][0] != v.encode_chars([["is"]])[0][0]


def test_chars_have_boundaries_unknowns_and_middle_truncation():
    v = Vocab.build(SENTS, VocabConfig(min_freq=1, max_word_chars=6))
    (chars,) = v.encode_chars([["is", "z", "abcdefghijkl"]])
    assert chars[0][0] == BOW_ID and chars[0][-1] == EOW_ID and len(chars[0]) == 4
    assert chars[1][1] == UNK_ID
    long = chars[2]
    assert len(long) == 6 + 2  # first 3 and last 3 characters kept, plus boundaries


def test_tags_unseen_in_training_get_the_extra_id():
    v = Vocab.build(SENTS, VocabConfig())
    assert v.encode_tags(["ADJ", "INTJ"]) == [0, v.n_tags]


def test_roundtrip_through_json():
    v = Vocab.build(SENTS, VocabConfig(min_freq=1))
    w = Vocab.from_dict(json.loads(json.dumps(v.to_dict())))
    sents = [["New York", "is", "x", "e-mail"]]
    assert w.encode_words(sents) == v.encode_words(sents)
    assert w.encode_chars(sents) == v.encode_chars(sents)
    assert w.tags == v.tags and w.known == v.known


def test_fast_batch_equals_the_reference_encoding(ewt_dev):
    import torch

    from tagger.batch import pad_batch
    from tagger.conllu_io import read_conllu

    sents = [s for s in read_conllu(ewt_dev) if len(s)]
    v = Vocab.build(((s.forms, s.column("upos")) for s in sents[:500]), VocabConfig(max_word_chars=8))
    forms = [s.forms for s in sents[400:700]]  # known and unseen words, long words truncated
    for _ in range(2):  # the second time every form comes from the memo
        fast, ref = v.batch(forms), pad_batch(v.encode_words(forms), v.encode_chars(forms))
        assert torch.equal(fast.word_ids, ref.word_ids) and torch.equal(fast.mask, ref.mask)
        # rows may be ordered differently; the characters each token points at must be the same
        assert torch.equal(fast.char_ids[fast.char_index][ref.mask], ref.char_ids[ref.char_index][ref.mask])
    assert v.batch([[], []]).mask.shape == (2, 1) and not v.batch([[]]).mask.any()


def test_characters_encode_as_the_tokenizer_does_word_by_word(ewt_dev):
    """Vocab encodes all words' characters in one tokenizer call; the ids equal encoding word by word,
    also for words where characters and tokenizer pieces do not line up (a run of line breaks)."""
    from tagger.conllu_io import read_conllu

    sents = [s for s in read_conllu(ewt_dev) if len(s)]
    v = Vocab.build(((s.forms, s.column("upos")) for s in sents[:300]), VocabConfig(max_word_chars=50))
    words = [f for s in sents[300:600] for f in s.forms] + ["", "😀x", "e\u0301", "日本語"]
    assert v._char_ids(words) == [e.ids for e in v.chars.encode_batch(words)]
    odd = ["a\n\nb", "c", "\r\n"]
    assert v._char_ids(odd) == [e.ids for e in v.chars.encode_batch(odd)]
