"""Lines of UTF-8 input with their line endings kept, and invalid UTF-8 reported by line and byte offset."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tagger.errors import TaggerError

_LONE_CR = re.compile(r"(?<=\r)(?!\n)(?=.)", re.DOTALL)  # split after a CR that neither ends the line nor is CRLF


def text_lines(stream: Iterable[bytes] | Iterable[str], path: str) -> Iterator[str]:
    """The lines of a binary or text stream, each with its own line ending (LF, CRLF or CR).

    A binary stream is decoded here, line by line, so that an invalid byte is reported as
    `FILE:LINE: invalid UTF-8 at byte OFFSET (reason)` (0-based offset into the stream) after every
    line before it was handed out. UTF-8 never uses the byte 0x0A inside a character, so splitting
    the bytes at LF before decoding is safe.
    """
    offset = 0
    lineno = 0
    for raw in stream:
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise TaggerError(f"invalid UTF-8 at byte {offset + e.start} ({e.reason})", path, lineno + 1) from None
            offset += len(raw)
        else:
            text = raw
        lines = _LONE_CR.split(text) if "\r" in text[:-2] else (text,)
        lineno += len(lines)
        yield from lines
