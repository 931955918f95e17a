"""Bad input, overlong sentences and unseen text never crash `predict` or lose data."""

from __future__ import annotations

import io
import json
import random

import pytest

from conftest import run
from tagger.conllu_io import read_conllu
from tagger.predict import Tagger, _windows

GOOD = "1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tkutya\tkutya\tNOUN\t_\t_\t0\troot\t_\t_\n\n"


# ------------------------------------------------------------------------------------ malformed CoNLL-U
MALFORMED = {
    "columns": ("1\tkutya\tkutya\n\n", 4, "expected 10 tab-separated columns, found 3"),
    "non-integer id": ("x\tkutya\tkutya\t_\t_\t_\t0\troot\t_\t_\n\n", 4, "x"),
    "repeated id": (
        "1\tA\ta\t_\t_\t_\t0\troot\t_\t_\n1\tB\tb\t_\t_\t_\t1\tdep\t_\t_\n\n",
        5,
        "word ID 1 out of sequence, expected 2",
    ),
    "bad range": (
        "2-3\tdel\t_\t_\t_\t_\t_\t_\t_\t_\n1\tde\t_\t_\t_\t_\t0\troot\t_\t_\n\n",
        4,
        "bad multiword range 2-3",
    ),
    "overlapping ranges": (
        "1-2\tab\t_\t_\t_\t_\t_\t_\t_\t_\n1\ta\t_\t_\t_\t_\t0\troot\t_\t_\n"
        "2-3\tbc\t_\t_\t_\t_\t_\t_\t_\t_\n2\tb\t_\t_\t_\t_\t1\tdep\t_\t_\n3\tc\t_\t_\t_\t_\t1\tdep\t_\t_\n\n",
        6,
        "overlaps the previous range",
    ),
    "space in UPOS": ("1\tkutya\tkutya\tNO UN\t_\t_\t0\troot\t_\t_\n\n", 4, "space in the UPOS column"),
    "no final blank line": ("1\tkutya\tkutya\t_\t_\t_\t0\troot\t_\t_\n", 4, "file ends without a blank line"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_conllu_stops_with_one_line_and_writes_nothing(tiny_model, tmp_path, case):
    text, line, problem = MALFORMED[case]
    bad = tmp_path / "bad.conllu"
    bad.write_text(GOOD + text, encoding="utf-8")
    rc, stdout, stderr = run(["predict", "-m", str(tiny_model), str(bad)])
    assert rc == 1
    assert stdout == ""  # not even the good first sentence: standard output cannot be taken back
    (message,) = stderr.strip().splitlines()
    assert message.startswith(f"tagger: error: {bad}:{line}: ") and problem in message


def test_skip_invalid_tags_the_valid_sentences_and_reports_the_rest(tiny_model, tmp_path):
    bad = tmp_path / "mixed.conllu"
    bad.write_text(GOOD + MALFORMED["columns"][0] + GOOD + MALFORMED["no final blank line"][0], encoding="utf-8")
    rc, stdout, stderr = run(["predict", "-m", str(tiny_model), "--skip-invalid", str(bad)])
    assert rc == 0
    sents = list(read_conllu(io.StringIO(stdout)))
    assert [s.forms for s in sents] == [["A", "kutya"], ["A", "kutya"]]
    assert [[f[2] for f in s.fields] for s in sents] == [["a", "kutya"]] * 2  # other columns kept
    warnings = [line for line in stderr.splitlines() if line.startswith("tagger: warning:")]
    assert warnings == [
        f"tagger: warning: {bad}:4: expected 10 tab-separated columns, found 3 (sentence skipped)",
        f"tagger: warning: {bad}:9: file ends without a blank line after the last sentence (sentence skipped)",
    ]
    assert "skipped 2 malformed sentence(s)" in stderr


# ------------------------------------------------------------------------------ empty and odd input
@pytest.mark.parametrize("fmt", ["conllu", "tokens", "raw"])
@pytest.mark.parametrize("text", ["", "\n\n\n", "  \n\t\n"], ids=["empty", "blank lines", "whitespace"])
def test_empty_input_gives_empty_output(tiny_model, fmt, text):
    rc, out, err = run(["predict", "-m", str(tiny_model), "-i", fmt, "-f", "tsv"], stdin=text)
    assert rc == 0 and out == "", err
    rc, out, _ = run(["predict", "-m", str(tiny_model), "-i", fmt], stdin=text)
    assert rc == 0 and out == (text if fmt == "conllu" else "")  # CoNLL-U keeps its blank lines


def test_empty_sentences_and_double_spaces_in_tokens_input(tiny_model):
    rc, out, _ = run(["predict", "-m", str(tiny_model), "-i", "tokens", "-f", "jsonl"], stdin="A  kutya\n\n  \tJó\n")
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["tokens"] for r in records] == [["A", "kutya"], [], ["Jó"]]
    assert [len(r["tags"]) for r in records] == [2, 0, 1]


def test_tokens_made_of_spaces_in_conllu(tiny_model):
    text = "1\t \t_\t_\t_\t_\t0\troot\t_\t_\n2\ta b\t_\t_\t_\t_\t1\tdep\t_\t_\n3\t\u3000\t_\t_\t_\t_\t1\tdep\t_\t_\n\n"
    rc, out, _ = run(["predict", "-m", str(tiny_model), "-f", "tsv"], stdin=text)
    assert rc == 0
    rows = [line.split("\t") for line in out.splitlines() if line]
    assert [r[0] for r in rows] == [" ", "a b", "\u3000"]
    assert all(r[1] in Tagger.load(tiny_model).tags for r in rows)


# ------------------------------------------------------------------------------------------ encodings
def test_bom_and_crlf_are_kept(tiny_model, tmp_path):
    src = tmp_path / "bom.conllu"
    src.write_bytes(("\ufeff# sent_id = 1\r\n" + GOOD.replace("\n", "\r\n")).encode("utf-8"))
    dest = tmp_path / "out.conllu"
    assert run(["predict", "-m", str(tiny_model), str(src), "-o", str(dest)])[0] == 0
    raw_in, raw_out = src.read_bytes(), dest.read_bytes()
    assert raw_out.startswith(b"\xef\xbb\xbf# sent_id = 1\r\n") and raw_out.count(b"\r\n") == raw_in.count(b"\r\n")
    assert b"\n" not in raw_out.replace(b"\r\n", b"")
    for a, b in zip(raw_in.split(b"\r\n")[1:3], raw_out.split(b"\r\n")[1:3], strict=True):
        assert a.split(b"\t")[:3] == b.split(b"\t")[:3]


def test_emoji_and_combining_characters(tiny_model):
    text = "Jó 👍🏽 idő! Ne\u0301zd a 👨‍👩‍👧 családot.\n"
    rc, out, _ = run(["predict", "-m", str(tiny_model), "-i", "raw", "-f", "jsonl"], stdin=text)
    assert rc == 0
    tokens = [json.loads(line)["tokens"] for line in out.splitlines()]
    assert tokens == [["Jó", "👍🏽", "idő", "!"], ["Ne\u0301zd", "a", "👨‍👩‍👧", "családot", "."]]
    rc, out, _ = run(["predict", "-m", str(tiny_model), "-i", "tokens", "-f", "tsv"], stdin=" ".join(tokens[1]))
    assert [line.split("\t")[0] for line in out.splitlines() if line] == tokens[1]


@pytest.mark.parametrize("fmt", ["conllu", "tokens", "raw"])
def test_invalid_utf8_names_line_and_byte_offset(tiny_model, tmp_path, fmt):
    head = GOOD.encode("utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(head + b"1\tk\xe9tya\t_\t_\t_\t_\t0\troot\t_\t_\n\n")  # Latin-1 "é" in a UTF-8 file
    dest = tmp_path / "out"
    rc, stdout, stderr = run(["predict", "-m", str(tiny_model), "-i", fmt, str(bad), "-o", str(dest)])
    assert rc == 1 and stdout == "" and not dest.exists()
    offset = len(head) + 3
    assert stderr.strip() == f"tagger: error: {bad}:4: invalid UTF-8 at byte {offset} (invalid continuation byte)"
    rc, _, stderr = run(["predict", "-m", str(tiny_model), "-i", fmt], stdin=b"\xff\n")
    assert rc == 1 and stderr.strip() == "tagger: error: <stdin>:1: invalid UTF-8 at byte 0 (invalid start byte)"


# -------------------------------------------------------------------------- unseen words and scripts
def test_unseen_words_characters_and_scripts(tiny_model):
    tagger = Tagger.load(tiny_model)  # trained on Hungarian only
    sents = [["我们", "喜欢", "学习", "中文", "。"], ["Ωμέγα", "ἀρχή", "∮", "𝔘𝔫𝔦"], ["xqzwv", "Kutyákkal"]]
    preds = tagger.predict(sents, probs=True)
    assert [len(p.tags) for p in preds] == [5, 4, 2]
    assert all(t in tagger.tags for p in preds for t in p.tags)
    assert all(0 < x <= 1 for p in preds for x in p.probs)


# ---------------------------------------------------------------------------------- overlong sentences
@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 200, 1000])
@pytest.mark.parametrize(("max_length", "context"), [(64, 8), (64, 0), (10, 4)])
def test_windows_cover_each_token_once_with_context(n, max_length, context):
    windows = _windows(n, max_length, context)
    kept = [i for _, _, a, b in windows for i in range(a, b)]
    assert kept == list(range(n))
    for start, end, a, b in windows:
        assert end - start <= max_length
        assert start == max(0, a - context) and end == min(n, b + context)


def test_window_fc_tags_long_sentences_in_chunks_exactly(tmp_path):
    from test_modelfile import save_untrained

    save_untrained(tmp_path / "m.safetensors", "window_fc")  # k=2 neighbours, so 8 tokens of context suffice
    tagger = Tagger.load(tmp_path / "m.safetensors")
    rng = random.Random(0)
    words = ["I", "saw", "the", "saw", ".", "unseen", "words", "!"]
    long = [rng.choice(words) for _ in range(2000)]
    chunked = tagger.predict([long, long[:10]], max_length=64, context=8, probs=True)
    whole = tagger.predict([long, long[:10]], max_length=4096, context=8, probs=True)
    assert len(chunked[0].tags) == 2000
    assert [p.tags for p in chunked] == [p.tags for p in whole]
    assert chunked[0].probs == pytest.approx(whole[0].probs, abs=1e-5)


def test_transformer_tags_2000_token_sentence_in_full(tiny_model, szeged):
    tagger = Tagger.load(tiny_model)
    forms = [f for s in read_conllu(szeged["test"]) for f in s.forms][:2000]
    chunked = tagger.tag([forms])[0]
    whole = tagger.predict([forms], max_length=4096, context=0)[0].tags
    assert len(chunked) == len(whole) == 2000
    # windows keep 32 tokens of context; the tiny model attends within +-8 positions per layer
    agreement = sum(a == b for a, b in zip(chunked, whole, strict=True)) / 2000
    assert agreement > 0.97


# ---------------------------------------------------------------------------------------- model files
def test_model_file_records_version_data_checksums_and_config(tiny_run, szeged):
    import yaml

    from tagger import __version__
    from tagger.modelfile import read_model_file
    from tagger.treebanks import sha256_file

    out, path, _ = tiny_run
    _, meta = read_model_file(path)
    assert meta["tagger_version"] == __version__
    assert meta["data_sha256"] == {"train": sha256_file(szeged["train"]), "dev": sha256_file(szeged["dev"])}
    assert meta["config"] == yaml.safe_load((out / "config.yaml").read_text())
