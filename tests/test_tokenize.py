"""The raw-text tokenizer and sentence splitter."""

from __future__ import annotations

import pytest

from tagger.tokenize import split_sentences


@pytest.mark.parametrize(
    "text,expected",
    [
        ("I saw a saw.", [["I", "saw", "a", "saw", "."]]),
        ("I don't know. She's here!", [["I", "do", "n't", "know", "."], ["She", "'s", "here", "!"]]),
        ("Mr. Smith went to the U.S. in 2019.", [["Mr.", "Smith", "went", "to", "the", "U.S.", "in", "2019", "."]]),
        ("It costs $1,000.50, i.e. a lot.", [["It", "costs", "$", "1,000.50", ",", "i.e.", "a", "lot", "."]]),
        ('He said "stop." Then left.', [["He", "said", '"', "stop", ".", '"'], ["Then", "left", "."]]),
        (
            "Mail a.b@c.org or see https://x.org/a?b=1.",
            [["Mail", "a.b@c.org", "or", "see", "https://x.org/a?b=1", "."]],
        ),
        ("e-mail me... ok", [["e-mail", "me", "...", "ok"]]),
        ("Cafe\u0301 👍🏽 done", [["Cafe\u0301", "👍🏽", "done"]]),
        ("One\n\nTwo", [["One"], ["Two"]]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_sentences(text, expected):
    assert [toks for _, toks in split_sentences(text)] == expected


def test_sentence_text_is_the_original_span():
    (s1, _), (s2, _) = split_sentences("  I  saw it.   Then  I left. ")
    assert s1 == "I  saw it." and s2 == "Then  I left."
