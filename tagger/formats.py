"""Input and output formats of `tagger predict`.

Input: conllu (every line kept), tokens (one sentence per line, tokens separated by whitespace; a
blank line is an empty sentence), raw (plain text, split by `tagger.tokenize`). Output: conllu (the
input's lines with the label column filled), tsv (token TAB tag, a blank line after each sentence),
jsonl (one JSON object per sentence: tokens, tags, and with --top-k the k best tags with probabilities).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from tagger.conllu_io import Sentence, read_conllu
from tagger.predict import Prediction
from tagger.tokenize import split_sentences

INPUT_FORMATS = ("conllu", "tokens", "raw")
OUTPUT_FORMATS = ("conllu", "tsv", "jsonl")


def read_sentences(stream: io.TextIOBase, fmt: str, name: str) -> Iterator[Sentence]:
    """Sentences of an input stream, one at a time (input is never held in memory as a whole)."""
    if fmt == "conllu":
        yield from read_conllu(stream, name)
    elif fmt == "tokens":
        for line in stream:
            yield Sentence.from_forms(line.split())
    elif fmt == "raw":
        para: list[str] = []
        for line in stream:
            if line.strip():
                para.append(line)
                continue
            yield from _raw_paragraph(para)
            para = []
        yield from _raw_paragraph(para)
    else:
        raise ValueError(f"unknown input format {fmt!r}")


def _raw_paragraph(lines: list[str]) -> Iterator[Sentence]:
    for text, tokens in split_sentences("".join(lines)):
        yield Sentence.from_forms(tokens, text=text)


def format_sentence(sent: Sentence, pred: Prediction, fmt: str, column: str) -> str:
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
