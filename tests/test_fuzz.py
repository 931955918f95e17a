"""Property-based tests: any input to the CoNLL-U reader and the raw-text tokenizer either works or raises
the project's own error; valid CoNLL-U is written back byte for byte."""

from __future__ import annotations

import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagger.conllu_io import read_conllu
from tagger.errors import TaggerError
from tagger.tokenize import split_sentences, tokenize

# TAGGER_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py for a deeper search than the default suite's
FUZZ = settings(
    max_examples=int(os.environ.get("TAGGER_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# characters that matter to the format, plus any others
CONLLU_CHARS = st.sampled_from(list("\t\n\r#0123456789-._ =|aé\ufeff")) | st.characters()


def read_all(data: bytes | str) -> list:
    stream = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
    try:
        return list(read_conllu(stream, "fuzz.conllu"))
    except TaggerError as e:
        assert str(e).startswith("fuzz.conllu") and "\n" not in str(e)
        return []


@FUZZ
@given(st.text(CONLLU_CHARS, max_size=400))
def test_any_text_parses_or_raises_tagger_error(text):
    read_all(text)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_tagger_error(data):
    read_all(data)


# Lines made of plausible columns reach the deeper checks (IDs, ranges, empty nodes) far more often.
ID = st.sampled_from(["1", "2", "3", "4", "0", "1-2", "2-3", "1-1", "3-2", "1.1", "2.1", "1.0", "x", "-1", "01"])
VALUE = st.sampled_from(["_", "a", "a b", "NOUN", "0", "1", "Case=Nom", "Case=", "=", "|", "root", "2:nsubj", ""])
LINE = st.one_of(
    st.builds(lambda i, cols: "\t".join([i, *cols]), ID, st.lists(VALUE, min_size=7, max_size=11)),
    st.sampled_from(["", " ", "# text = a", "#", "\ufeff# x"]),
)


@FUZZ
@given(st.lists(LINE, max_size=20), st.sampled_from(["\n", "\r\n"]))
def test_column_shaped_lines_parse_or_raise_tagger_error(lines, eol):
    read_all(eol.join(lines) + eol)


# ------------------------------------------------------------------------------ valid files round trip
FORM = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=6).filter(
    lambda s: "\t" not in s and s.strip() == s and s != ""
)
WORD = st.tuples(
    FORM,  # form
    FORM | st.just("_"),  # lemma
    st.sampled_from(["NOUN", "VERB", "PUNCT", "_"]),
    st.sampled_from(["NN", "VBD", "_"]),
    st.sampled_from(["_", "Case=Nom", "Case=Nom|Number=Sing"]),
    st.sampled_from(["0", "1", "_"]),
    st.sampled_from(["root", "nsubj", "_"]),
    st.sampled_from(["_", "0:root"]),
    st.sampled_from(["_", "SpaceAfter=No"]),
)


@st.composite
def sentence(draw) -> list[str]:
    lines = [f"# {c}" for c in draw(st.lists(FORM, max_size=2))]
    words = draw(st.lists(WORD, min_size=1, max_size=8))
    i = 1
    while i <= len(words):
        span = 2 if i < len(words) and draw(st.booleans()) else 1
        if span == 2:  # a multiword token over words i and i+1
            lines.append(f"{i}-{i + 1}\t{words[i - 1][0]}\t_\t_\t_\t_\t_\t_\t_\t_")
        for j in range(i, i + span):
            lines.append("\t".join([str(j), *words[j - 1]]))
            if draw(st.integers(0, 3)) == 0:  # an empty node after word j
                lines.append(f"{j}.1\tgap\t_\t_\t_\t_\t_\t_\t_\t_")
        i += span
    return lines


@FUZZ
@given(
    st.lists(sentence(), max_size=4),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.lists(st.integers(1, 2), min_size=4, max_size=4),
)
def test_valid_files_round_trip_byte_for_byte(sentences, eol, bom, gaps):
    text = "".join(eol.join(lines) + eol * (1 + gap) for lines, gap in zip(sentences, gaps, strict=False))
    text = ("\ufeff" if bom else "") + text
    data = text.encode("utf-8")
    parsed = list(read_conllu(io.BytesIO(data), "valid.conllu"))
    assert "".join(s.text for s in parsed).encode("utf-8") == data
    # filling the label column with what it already holds changes nothing either
    assert "".join(s.render("upos", s.column("upos")) if len(s) else s.text for s in parsed) == text
    assert sum(len(s) for s in parsed) == sum(
        1 for lines in sentences for line in lines if line.split("\t")[0].isdigit()
    )


# ----------------------------------------------------------------------------------------- tokenizer
PIECE = st.sampled_from([" ", "\n", "\n\n", "\t", ".", "!", "?", "'", '"', "-", ",", ":", "/", "@", "n't", "'s", "Mr."])
PIECE |= st.sampled_from(["U.S.", "http://x.y", "a@b.c", "3.14", "e\u0301", "\u200d", "👍🏽", "。"]) | st.text(
    max_size=3
)


@FUZZ
@given(st.lists(PIECE, max_size=60).map("".join))
def test_tokenizer_keeps_every_non_space_character_in_order(text):
    tokens = tokenize(text)
    assert all(tok and not any(c.isspace() for c in tok) and text[a:b] == tok for tok, a, b in tokens)
    assert "".join(t for t, _, _ in tokens) == "".join(text.split())
    assert all(tokens[i][2] <= tokens[i + 1][1] for i in range(len(tokens) - 1))
    sentences = split_sentences(text)
    assert all(toks for _, toks in sentences)
    assert "".join(t for _, toks in sentences for t in toks) == "".join(text.split())
