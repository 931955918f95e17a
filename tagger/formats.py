"""Input and output formats of `tagger predict`.

Input: conllu (every line kept), tokens (one sentence per line, tokens separated by whitespace; a
blank line is an empty sentence), raw (plain text, split by `tagger.tokenize`). Output: conllu (the
input's lines with the label column filled), tsv (token TAB tag, a blank line after each sentence),
jsonl (one JSON object per sentence: tokens, tags, and with --top-k the k best tags with probabilities).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

from tagger.conllu_io import BOM, Sentence, TokenSentence, read_conllu
from tagger.errors import TaggerError
from tagger.predict import Prediction
from tagger.textio import text_lines
from tagger.tokenize import split_sentences

INPUT_FORMATS = ("conllu", "tokens", "raw")
OUTPUT_FORMATS = ("conllu", "tsv", "jsonl")


def read_sentences(
    stream: io.IOBase, fmt: str, name: str, on_error: Callable[[TaggerError], None] | None = None
) -> Iterator[Sentence | TokenSentence]:
    """Sentences of a binary (or text) input stream, one at a time (input is never held in memory as a
    whole). `on_error` as in `read_conllu` (only CoNLL-U input has malformed sentences to skip)."""
    if fmt == "conllu":
        yield from read_conllu(stream, name, on_error)
        return
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {fmt!r}")
    lines = _without_bom(text_lines(stream, name))
    if fmt == "tokens":
        for line in lines:
            yield TokenSentence(line.split())
        return
    para: list[str] = []
    for line in lines:
        if line.strip():
            para.append(line)
            continue
        yield from _raw_paragraph(para)
        para = []
    yield from _raw_paragraph(para)


def _without_bom(lines: Iterator[str]) -> Iterator[str]:
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix(BOM)
    yield from lines


def _raw_paragraph(lines: list[str]) -> Iterator[Sentence | TokenSentence]:
    for text, tokens in split_sentences("".join(lines)):
        yield TokenSentence(tokens, text)


def format_sentence(sent: Sentence | TokenSentence, pred: Prediction, fmt: str, column: str) -> str:
    if fmt == "conllu":
        return sent.render(column, pred.tags) if len(sent) else sent.text
    if fmt == "tsv":
        return "".join(f"{w}\t{t}\n" for w, t in zip(sent.forms, pred.tags, strict=True)) + "\n" if len(sent) else ""
    if fmt == "jsonl":
        record: dict = {"tokens": sent.forms, "tags": pred.tags}
        if pred.top is not None:
            record["top_k"] = [[{"tag": t, "prob": round(p, 6)} for t, p in top] for top in pred.top]
        return json.dumps(record, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown output format {fmt!r}")
