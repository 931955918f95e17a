"""Model files: every architecture saves and loads to identical predictions; bad files fail clearly."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from tagger.errors import TaggerError
from tagger.modelfile import FORMAT_VERSION, read_model_file, save_model_file
from tagger.models import build_model
from tagger.predict import Tagger
from tagger.vocab import Vocab, VocabConfig
from test_models import TWO_SENTENCES, VARIANTS


def save_untrained(path, name: str) -> Vocab:
    vocab = Vocab.build(TWO_SENTENCES, VocabConfig(min_freq=1))
    torch.manual_seed(0)
    cfg = VARIANTS[name]
    net = build_model(cfg, vocab.n_words, vocab.n_chars, vocab.n_tags)
    meta = {"config": {"model": dataclasses.asdict(cfg)}, "label_column": "upos", "vocab": vocab.to_dict()}
    save_model_file(path, net.state_dict(), meta)
    return net.eval()


@pytest.mark.parametrize("name", VARIANTS)
def test_save_load_gives_identical_predictions(tmp_path, name):
    net = save_untrained(tmp_path / "m.safetensors", name)
    tagger = Tagger.load(tmp_path / "m.safetensors")
    sents = [["I", "saw", "the", "saw", "."], ["unseen", "words", "!"]]
    from tagger.batch import pad_batch

    batch = pad_batch(tagger.vocab.encode_words(sents), tagger.vocab.encode_chars(sents))
    with torch.no_grad():
        expected = net(batch)
        got = tagger.net(batch)
    assert torch.equal(expected, got)
    assert tagger.tag(sents) == [
        tagger.vocab.decode_tags(row[: len(s)]) for row, s in zip(expected.argmax(-1), sents, strict=True)
    ]


def test_metadata_records_versions(tmp_path):
    save_untrained(tmp_path / "m.safetensors", "rnn")
    _, meta = read_model_file(tmp_path / "m.safetensors")
    assert meta["format_version"] == FORMAT_VERSION and meta["tagger_version"]


def test_future_format_version_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save_untrained(path, "rnn")
    tensors, meta = read_model_file(path)
    meta["format_version"] = FORMAT_VERSION + 1
    save_file(tensors, str(path), metadata={"tagger": json.dumps(meta)})
    with pytest.raises(TaggerError, match="newer than this tagger"):
        Tagger.load(path)


@pytest.mark.parametrize("damage", ["truncated", "foreign", "text"])
def test_damaged_or_foreign_files_are_clear_errors(tmp_path, damage):
    path = tmp_path / "m.safetensors"
    save_untrained(path, "window_fc")
    if damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "foreign":
        save_file({"w": torch.zeros(2)}, str(path))
    else:
        path.write_text("hello")
    with pytest.raises(TaggerError) as err:
        Tagger.load(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
