"""A simple, documented rule-based tokenizer and sentence splitter for `--input-format raw`.

Tokens (first matching rule wins, scanning left to right):
  1. URLs (http://..., www....) and e-mail addresses;
  2. numbers with inner separators: 3.14, 1,000, 10:30, 1/2;
  3. dotted abbreviations (U.S., e.g.) and a short list of English titles (Mr., Dr., ...);
  4. English negation and clitics split as UD English does: do|n't, I|'m, it|'s, we|'ll ...;
  5. words: letters/digits/underscore with inner hyphens or apostrophes (e-mail, rock'n'roll),
     combining marks staying with their base letter;
  6. "..." and "--" runs;
  7. any other non-space character alone (punctuation, symbols), keeping emoji modifier and
     zero-width-joiner sequences whole.
Sentences end after . ! ? (or 。！？, or a run of them) and any quotes or brackets that follow with no
space between, when the
next token does not start with a lowercase letter. Paragraph breaks (blank lines) always end a
sentence. Languages written without spaces (Chinese, Japanese) need pre-segmented input
(`--input-format tokens`): this tokenizer would keep a run of Han characters as one token.
"""

from __future__ import annotations

import re

# combining marks, variation selectors, emoji skin tones and tag characters: they stay with the character before
_MARKS = (
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f"
    "\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
)
_CLITIC = "(?:[sSmMdD]|ll|LL|re|RE|ve|VE)"
_TITLES = "Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|Inc|Ltd|Co|Corp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
TOKEN_RE = re.compile(
    rf"""
      (?:https?://|www\.)[^\s<>"]*[^\s<>".,;:!?)\]'’]
    | [\w.+-]+@\w+(?:\.\w+)+
    | \d+(?:[.,:/]\d+)+
    | (?:[^\W\d_]\.){{2,}}
    | (?:{_TITLES})\.(?!\w)
    | \w+(?=[nN]['’][tT]\b)
    | [nN]['’][tT]\b
    | ['’]{_CLITIC}\b
    | (?:\w[{_MARKS}]*)+(?:(?:-|['’](?!{_CLITIC}\b))(?:\w[{_MARKS}]*)+)*
    | \.\.\.+ | --+
    | \S[{_MARKS}]*(?:\u200d\S[{_MARKS}]*)*
    """,
    re.VERBOSE,
)
_FINAL = re.compile(r"^(?:[.!?。！？]+|\.\.\.+)$")
_CLOSING = re.compile(r"^[\"'”’)\]}»」』]$")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) for each token of `text`."""
    return [(m.group(), m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


def split_sentences(text: str) -> list[tuple[str, list[str]]]:
    """(sentence text, tokens) for each sentence of `text`, by the rules in the module docstring."""
    out: list[tuple[str, list[str]]] = []
    for para in re.split(r"\n\s*\n", text):
        toks = tokenize(para)
        start = 0
        i = 0
        while i < len(toks):
            end = i + 1
            if _FINAL.match(toks[i][0]):
                # a quote or bracket right after the final mark (no space between) closes the sentence
                while end < len(toks) and _CLOSING.match(toks[end][0]) and toks[end][1] == toks[end - 1][2]:
                    end += 1
                if end == len(toks) or not toks[end][0][0].islower():
                    out.append(_sentence(para, toks[start:end]))
                    start = end
            i = end
        if start < len(toks):
            out.append(_sentence(para, toks[start:]))
    return out


def _sentence(text: str, toks: list[tuple[str, int, int]]) -> tuple[str, list[str]]:
    return text[toks[0][1] : toks[-1][2]], [t for t, _, _ in toks]
