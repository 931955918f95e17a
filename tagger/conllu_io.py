"""Read and write CoNLL-U, validated line by line and parsed with the `conllu` package.

On output every line is kept byte-for-byte (comments, multiword-token ranges, empty nodes, line
endings) except the label column of word lines. The module is not called `conllu.py` so that it
never shadows the package it builds on.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike

from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELD_PARSERS, DEFAULT_FIELDS, parse_id_value

from tagger.errors import TaggerError
from tagger.textio import text_lines

COLUMNS = DEFAULT_FIELDS  # ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
LABEL_COLUMNS = ("upos", "xpos", "feats", "deprel")
_SPACES_ALLOWED = {1, 2}  # FORM and LEMMA may contain spaces, no other column may
BOM = "\ufeff"


def column_index(name: str) -> int:
    if name not in LABEL_COLUMNS:
        raise TaggerError(f"unknown label column {name!r}; choose one of {', '.join(LABEL_COLUMNS)}")
    return COLUMNS.index(name)


def _eol(raw: str) -> str:
    return raw[len(raw.rstrip("\r\n")) :]


@dataclass
class Sentence:
    """One sentence block: its raw lines (each with its own line ending) and its word rows."""

    lines: list[str] = field(default_factory=list)
    first_line: int = 1  # 1-based number of lines[0] in its file
    word_rows: list[int] = field(default_factory=list)  # indices into `lines` of rows with integer IDs
    fields: list[list[str]] = field(default_factory=list)  # the 10 columns of each word row

    def __len__(self) -> int:
        return len(self.word_rows)

    @property
    def forms(self) -> list[str]:
        return [f[1] for f in self.fields]

    @property
    def lemmas(self) -> list[str]:
        return [f[2] for f in self.fields]

    @property
    def heads(self) -> list[str]:
        return [f[6] for f in self.fields]

    def column(self, name: str) -> list[str]:
        i = column_index(name)
        return [f[i] for f in self.fields]

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def render(self, column: str, labels: list[str]) -> str:
        """The block as text with `column` of each word row set to `labels`; all else unchanged."""
        assert len(labels) == len(self.word_rows), (len(labels), len(self.word_rows))
        i = column_index(column)
        lines = list(self.lines)
        for row, fields, label in zip(self.word_rows, self.fields, labels, strict=True):
            new = list(fields)
            new[i] = label
            raw = lines[row]
            prefix = BOM if raw.startswith(BOM) else ""
            lines[row] = prefix + "\t".join(new) + _eol(raw)
        return "".join(lines)


@dataclass
class TokenSentence:
    """A sentence known only by its tokens (tokens or raw input), written out as CoNLL-U with ID, FORM and
    the label column filled. It holds nothing per token but the form, so a million-token line stays small."""

    forms: list[str]
    raw_text: str | None = None  # written as a `# text = ...` comment

    def __len__(self) -> int:
        return len(self.forms)

    @property
    def text(self) -> str:
        return self.render("upos", ["_"] * len(self.forms))

    def render(self, column: str, labels: list[str]) -> str:
        """The sentence as a CoNLL-U block (empty if it has no tokens) with `column` set to `labels`."""
        assert len(labels) == len(self.forms), (len(labels), len(self.forms))
        if not self.forms:
            return ""
        i = column_index(column)
        before, after = "\t_" * (i - 2), "\t_" * (9 - i)
        head = "" if self.raw_text is None else f"# text = {' '.join(self.raw_text.split())}\n"
        rows = (
            f"{n}\t{form}{before}\t{label}{after}\n"
            for n, (form, label) in enumerate(zip(self.forms, labels, strict=True), 1)
        )
        return head + "".join(rows) + "\n"


class _Block:
    """Accumulates and validates the lines of one sentence."""

    def __init__(self, path: str, first_line: int):
        self.path = path
        self.sent = Sentence(first_line=first_line)
        self.has_tokens = False
        self.next_word = 1
        self.range_end = 0  # last word covered by a multiword range
        self.last_word_line = 0

    def error(self, lineno: int, message: str) -> TaggerError:
        return TaggerError(message, self.path, lineno)

    def add_blank(self, raw: str) -> None:
        self.sent.lines.append(raw)

    def add_comment(self, raw: str, lineno: int) -> None:
        if self.has_tokens:
            raise self.error(lineno, "comment line inside a sentence (comments must precede its tokens)")
        self.sent.lines.append(raw)

    def add_token(self, raw: str, text: str, lineno: int) -> None:
        cols = text.split("\t")
        if len(cols) != 10:
            raise self.error(lineno, f"expected 10 tab-separated columns, found {len(cols)}")
        for i, value in enumerate(cols):
            if value == "":
                raise self.error(lineno, f"empty {COLUMNS[i].upper()} column (use '_' for no value)")
            if i not in _SPACES_ALLOWED and (" " in value or "\u00a0" in value):
                raise self.error(lineno, f"space in the {COLUMNS[i].upper()} column: {value!r}")
        try:
            token_id = parse_id_value(cols[0])
            # conllu's own column parsers, on our tab split (its parse_line also splits at double
            # spaces, which FORM and LEMMA may contain)
            for i, name in enumerate(COLUMNS):
                if name in DEFAULT_FIELD_PARSERS:
                    try:
                        DEFAULT_FIELD_PARSERS[name](cols, i)
                    except ParseException as e:
                        raise ParseException(f"bad {name.upper()} column: {e}") from None
        except ParseException as e:
            raise self.error(lineno, str(e)) from None
        self._check_id(token_id, cols[0], lineno)
        self.has_tokens = True
        if isinstance(token_id, int):
            self.sent.word_rows.append(len(self.sent.lines))
            self.sent.fields.append(cols)
            self.last_word_line = lineno
        self.sent.lines.append(raw)

    def _check_id(self, token_id, text: str, lineno: int) -> None:
        if isinstance(token_id, int):
            if token_id != self.next_word:
                raise self.error(lineno, f"word ID {token_id} out of sequence, expected {self.next_word}")
            self.next_word += 1
        elif token_id[1] == "-":
            start, end = token_id[0], token_id[2]
            if start != self.next_word or end <= start:
                raise self.error(
                    lineno, f"bad multiword range {text}: must start at word {self.next_word} and end after it"
                )
            if start <= self.range_end:
                raise self.error(lineno, f"multiword range {text} overlaps the previous range")
            self.range_end = end
        else:  # empty node a.b comes after word a
            if token_id[0] != self.next_word - 1 or token_id[2] < 1:
                raise self.error(lineno, f"empty node {text} out of sequence (after word {self.next_word - 1})")

    def finish(self, lineno: int) -> Sentence:
        if self.range_end >= self.next_word:
            raise self.error(lineno, f"multiword range ends at word {self.range_end}, beyond the last word")
        return self.sent


def read_conllu(
    source: str | PathLike | io.IOBase, name: str | None = None, on_error: Callable[[TaggerError], None] | None = None
) -> Iterator[Sentence]:
    """Yield the sentences of a CoNLL-U file (path, binary or text stream) one at a time.

    Blank lines that do not end a sentence (e.g. a run of them) are kept in the next block, and a
    trailing block without words is yielded as a sentence with no words, so that writing every
    sentence back reproduces the file exactly.

    Args:
        on_error: None: the first malformed line raises. Otherwise each malformed sentence is passed
            over (up to its ending blank line) and its error handed to `on_error`.

    Raises:
        TaggerError: `FILE:LINE: problem` for the first malformed line (or invalid UTF-8).
    """
    if isinstance(source, (str, PathLike)):
        path = str(source)
        try:
            with open(path, "rb") as f:
                yield from _read(f, name or path, on_error)
        except FileNotFoundError:
            raise TaggerError("no such file", path) from None
        except IsADirectoryError:
            raise TaggerError("is a directory, not a CoNLL-U file", path) from None
    else:
        yield from _read(source, name or getattr(source, "name", "<stream>"), on_error)


def _read(stream: io.IOBase, path: str, on_error: Callable[[TaggerError], None] | None) -> Iterator[Sentence]:
    block = _Block(path, 1)
    skipping = False  # inside a malformed sentence, passing over it to its blank line
    lineno = 0
    for lineno, raw in enumerate(text_lines(stream, path), start=1):
        text = raw.rstrip("\r\n")
        if lineno == 1 and text.startswith(BOM):
            text = text[1:]
        blank = text.strip() == ""
        if skipping:
            if blank:
                skipping, block = False, _Block(path, lineno + 1)
            continue
        done = None
        try:
            if blank:
                block.add_blank(raw)
                if block.has_tokens:
                    done = block.finish(lineno)
            elif text.startswith("#"):
                block.add_comment(raw, lineno)
            else:
                block.add_token(raw, text, lineno)
        except TaggerError as e:
            if on_error is None:
                raise
            on_error(e)
            skipping = not blank
            block = _Block(path, lineno + 1)
            continue
        if done is not None:
            yield done
            block = _Block(path, lineno + 1)
    if block.has_tokens and not skipping:
        e = TaggerError("file ends without a blank line after the last sentence", path, lineno)
        if on_error is None:
            raise e
        on_error(e)
    elif block.sent.lines and not skipping:
        yield block.finish(lineno)


def write_conllu(sentences: Iterable[Sentence], stream: io.TextIOBase) -> None:
    for s in sentences:
        stream.write(s.text)
