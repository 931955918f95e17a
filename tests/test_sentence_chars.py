"""The sentence-level character model (model.embed.sentence_chars): a BiLSTM over the characters of the
whole sentence, read at each token's first and last character; 0 (the default) is none, so older model
files load unchanged."""

from __future__ import annotations

import torch

from conftest import assert_train_refuses, option_in_older_model_file, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.embeddings import SentenceChars
from tagger.predict import Tagger

SENTENCES = [[[2, 5, 6, 3], [2, 7, 3]], [[2, 9, 9, 9, 9, 3]], [[2, 4, 3], [2, 5, 5, 8, 3], [2, 6, 3]]]


def padded(sentences) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, L) char ids and mask (B, T) of sentences given as lists of words' char-id lists."""
    t, length = max(map(len, sentences)), max(len(w) for s in sentences for w in s)
    chars, mask = (
        torch.zeros(len(sentences), t, length, dtype=torch.long),
        torch.zeros(len(sentences), t, dtype=torch.bool),
    )
    for i, sentence in enumerate(sentences):
        for j, word in enumerate(sentence):
            chars[i, j, : len(word)], mask[i, j] = torch.tensor(word), True
    return chars, mask


def test_it_is_the_lstm_over_the_sentence_characters_end_to_end():
    torch.manual_seed(0)
    model = SentenceChars(n_chars=20, char_dim=8, out=12).eval()
    out = model(*padded(SENTENCES))
    assert out.shape == (3, 3, 12)
    for i, sentence in enumerate(SENTENCES):
        # by hand: one sentence alone, its words' characters laid end to end without padding
        h = model.lstm(model.embed(torch.tensor([c for w in sentence for c in w])[None]))[0][0]
        end = 0
        for j, word in enumerate(sentence):
            start, end = end, end + len(word)
            by_hand = torch.cat([h[end - 1, :6], h[start, 6:]])  # forward at its last, backward at its first
            assert torch.allclose(out[i, j], by_hand, atol=1e-6)
        assert (out[i, len(sentence) :] == 0).all()  # padding tokens


def test_a_token_reads_its_neighbours_characters():
    torch.manual_seed(0)
    model = SentenceChars(n_chars=20, char_dim=8, out=12).eval()
    sentence = SENTENCES[2]
    changed = [sentence[0], sentence[1], [2, 11, 12, 3]]  # only the last word differs
    a, b = model(*padded([sentence])), model(*padded([changed]))
    moved = (a - b).abs().amax(-1)[0]
    assert (moved[:2] > 1e-4).all()  # the words before it see it through the backward direction
    # the forward half of the first two words has not read the changed word yet
    assert torch.allclose(a[0, :2, :6], b[0, :2, :6], atol=1e-6)


def test_its_dropout_acts_in_training_only():
    torch.manual_seed(0)
    model = SentenceChars(n_chars=20, char_dim=8, out=12, dropout=0.5)
    chars, mask = padded(SENTENCES)
    assert not torch.allclose(model(chars, mask), model(chars, mask))  # two draws of the dropout mask
    model.eval()
    assert torch.equal(model(chars, mask), model(chars, mask))


def test_train_with_sentence_chars_end_to_end(tmp_path, tiny_model):
    model, _ = train_tiny(
        tmp_path / "sc", "--model.embed.sentence_chars", "16", "--model.embed.sentence_chars_dropout", "0.2"
    )
    state, meta = read_model_file(model)
    assert meta["config"]["model"]["embed"]["sentence_chars"] == 16
    assert state["embed.sentence_chars.lstm.weight_ih_l0"].shape[0] == 4 * 8
    tagger = Tagger.load(model)
    sentences = [["Ez", "egy", "mondat", "."], ["Igen", ",", "ez", "is", "egy", "mondat", "."]]
    together = tagger.tag(sentences)
    # tagging keeps the per-word character vectors from batch to batch; the sentence model must still
    # read each sentence afresh, so a sentence gets the same tags alone as beside another
    assert [len(t) for t in together] == [4, 7]
    assert [tagger.tag([s])[0] for s in sentences] == together
    # a model file from before the option has no sentence_chars in its config: it loads without it
    assert option_in_older_model_file(tiny_model, "embed", "sentence_chars") == 0
    assert option_in_older_model_file(tiny_model, "embed", "sentence_chars_dropout") == 0.0


def test_an_odd_width_or_a_dropout_of_one_is_a_one_line_error(tmp_path):
    assert_train_refuses(tmp_path / "odd", ["--model.embed.sentence_chars", "15"], "sentence_chars")
    assert_train_refuses(
        tmp_path / "drop",
        ["--model.embed.sentence_chars", "16", "--model.embed.sentence_chars_dropout", "1"],
        "sentence_chars_dropout",
    )
