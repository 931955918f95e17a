"""CoNLL-U reading, validation and byte-identical writing."""

from __future__ import annotations

import io

import pytest

from tagger.conllu_io import Sentence, TokenSentence, read_conllu, write_conllu
from tagger.errors import TaggerError

SAMPLE = (
    "# sent_id = 1\n"
    "# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\tCase=Nom\t3\tnsubj\t_\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t0\troot\t_\t_\n"
    "3.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t0:root\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t3\tobj\t_\tSpaceAfter=No\n"
    "5\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n"
    "\n"
    "# sent_id = 2\n"
    "1\tNew York\tNew York\tPROPN\tNNP\t_\t0\troot\t_\t_\n"
    "\n"
)


def parse(text: str, name: str = "x.conllu") -> list[Sentence]:
    return list(read_conllu(io.StringIO(text, newline=""), name))


def roundtrip(text: str) -> str:
    out = io.StringIO(newline="")
    write_conllu(parse(text), out)
    return out.getvalue()


def test_words_exclude_ranges_and_empty_nodes():
    s1, s2 = parse(SAMPLE)
    assert s1.forms == ["I", "do", "n't", "know", "."]
    assert s1.column("upos") == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert s1.column("xpos") == ["PRP", "VBP", "RB", "VB", "."]
    assert s2.forms == ["New York"]
    assert s1.first_line == 1 and s2.first_line == 11


@pytest.mark.parametrize("variant", ["lf", "crlf", "bom", "extra_blank_lines"])
def test_roundtrip_inline_variants(variant):
    text = {
        "lf": SAMPLE,
        "crlf": SAMPLE.replace("\n", "\r\n"),
        "bom": "\ufeff" + SAMPLE,
        "extra_blank_lines": SAMPLE + "\n\n# trailing comment\n\n",
    }[variant]
    assert roundtrip(text) == text


@pytest.mark.parametrize(
    "folder,name",
    [
        ("UD_English-EWT", "en_ewt-ud-test.conllu"),
        ("UD_Hungarian-Szeged", "hu_szeged-ud-test.conllu"),
        ("UD_Chinese-GSD", "zh-ud-test.conllu"),
    ],
)
def test_roundtrip_real_treebanks_byte_identical(folder, name):
    from conftest import treebank_file

    path = treebank_file(folder, name)
    raw = path.read_bytes()
    out = io.StringIO(newline="")
    write_conllu(read_conllu(path), out)
    assert out.getvalue().encode("utf-8") == raw


def test_render_changes_only_the_label_column():
    s1, _ = parse(SAMPLE)
    new = s1.render("upos", ["X", "Y", "Z", "W", "V"]).splitlines()
    old = s1.text.splitlines()
    assert len(new) == len(old)
    changed = [(o, n) for o, n in zip(old, new, strict=True) if o != n]
    assert len(changed) == 5  # the five word rows; comments, range and empty node untouched
    for o, n in changed:
        o_cols, n_cols = o.split("\t"), n.split("\t")
        assert o_cols[:3] == n_cols[:3] and o_cols[4:] == n_cols[4:]
    assert s1.render("xpos", ["a"] * 5).splitlines()[2].split("\t")[4] == "a"


@pytest.mark.parametrize(
    "text,line,message",
    [
        ("1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\n\n", 1, "expected 10 tab-separated columns, found 9"),
        (
            "# c\n1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n3\tx\tx\tX\tX\t_\t1\tdep\t_\t_\n\n",
            3,
            "word ID 3 out of sequence",
        ),
        ("x\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n\n", 1, "not a valid ID"),
        ("1\tI\tI\tPR ON\tPRP\t_\t0\troot\t_\t_\n\n", 1, "space in the UPOS column"),
        ("1-1\tI\t_\t_\t_\t_\t_\t_\t_\t_\n1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n\n", 1, "bad multiword range"),
        ("1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n", 1, "file ends without a blank line"),
        ("1\tI\tI\tPRON\tPRP\t_\tx\troot\t_\t_\n\n", 1, "bad HEAD column"),
    ],
)
def test_malformed_lines_name_file_and_line(text, line, message):
    with pytest.raises(TaggerError) as err:
        parse(text, "bad.conllu")
    assert str(err.value).startswith(f"bad.conllu:{line}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_a_tagger_error(tmp_path):
    with pytest.raises(TaggerError, match="no such file"):
        list(read_conllu(tmp_path / "missing.conllu"))


@pytest.mark.parametrize("column", ["upos", "xpos"])
def test_token_sentences_render_valid_conllu(column):
    s = TokenSentence(["I", "saw", "a", "saw", "."], "I saw  a saw.")
    tags = ["PRON", "VERB", "DET", "NOUN", "PUNCT"]
    (back,) = parse(s.render(column, tags))
    assert back.forms == s.forms and back.column(column) == tags and back.lines[0] == "# text = I saw a saw.\n"
    assert back.column("upos" if column == "xpos" else "xpos") == ["_"] * 5
    (plain,) = parse(s.text)
    assert plain.column("upos") == ["_"] * 5
    assert TokenSentence([]).text == ""


def test_double_spaces_inside_form_and_lemma_are_kept():
    # the conllu package's parse_line also splits at two spaces; FORM and LEMMA may contain them
    text = "1\tNew  York\tNew  York\tPROPN\t_\t_\t0\troot\t_\t_\n\n"
    (s,) = parse(text)
    assert s.forms == ["New  York"] and s.text == text
