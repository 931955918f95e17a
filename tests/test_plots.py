"""Tick labels of the attention heat maps: tokens the default font cannot draw (e.g. Chinese on a
machine without CJK fonts) get a fallback font, or numbers when no installed font has them."""

from __future__ import annotations

import warnings

import numpy as np

from tagger import plots


def test_tokens_the_default_font_draws_are_kept():
    assert plots.token_labels(["I", "saw", "a", "saw", "."]) == (["I", "saw", "a", "saw", "."], None)
    assert plots.token_key(["I", "saw"]) is None


def test_a_font_that_has_the_characters_is_added_as_fallback(tmp_path):
    tokens = ["arc", "\u2312"]  # in matplotlib's own DejaVu Sans Mono, not in its default DejaVu Sans
    labels, family = plots.token_labels(tokens)
    assert labels == tokens and family is not None and len(family) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would be a UserWarning
        path = plots.attention_maps(tokens, np.full((1, 2, 2), 0.5), tmp_path / "a.png", "t")
    assert path.stat().st_size > 1000


def test_tokens_no_font_draws_are_numbered(tmp_path):
    tokens = ["a", "\u0378x", "b"]  # U+0378 is unassigned: no font has a glyph for it
    assert plots.token_labels(tokens) == (["1", "2", "3"], None)
    assert plots.token_key(tokens) == "1 a, 2 \u0378x, 3 b"  # the text printed beside such a figure
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.attention_maps(tokens, np.full((2, 3, 3), 1 / 3), tmp_path / "b.png", "t")
