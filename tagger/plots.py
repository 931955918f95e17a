"""Figures of the comparison report and of `tagger attention` (matplotlib, no screen needed)."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib import font_manager, ft2font  # noqa: E402

from tagger.fileutil import atomic_path  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def _curves(
    curves: dict[str, list[tuple[float, float, float]]], path: Path, xlabel: str, title: str, log_x: bool
) -> Path:
    """curves: name -> [(x, mean accuracy, std)], drawn with error bars."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, pts in curves.items():
        x, m, s = (np.array(v) for v in zip(*sorted(pts), strict=True))
        ax.errorbar(x, 100 * m, yerr=100 * s, marker="o", capsize=3, label=name)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    return _save(fig, path)


def learning_curves(curves: dict[str, list[tuple[float, float, float]]], path: Path, title: str) -> Path:
    """curves: variant -> [(fraction, mean accuracy, std)]."""
    percent = {name: [(100 * f, m, s) for f, m, s in pts] for name, pts in curves.items()}
    return _curves(percent, path, "training data used (%, log scale)", title, log_x=True)


def per_tag_f1(scores: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """scores: variant -> tag -> F1; grouped bars per tag."""
    tags = sorted({t for s in scores.values() for t in s})
    fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(tags) * max(1, len(scores)) / 2), 4.5))
    width = 0.8 / max(1, len(scores))
    for i, (name, s) in enumerate(scores.items()):
        ax.bar(np.arange(len(tags)) + i * width, [100 * s.get(t, 0.0) for t in tags], width, label=name)
    ax.set_xticks(np.arange(len(tags)) + 0.4 - width / 2, tags, rotation=60)
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def confusion_heatmap(labels: list[str], matrix: list[list[int]], path: Path, title: str) -> Path:
    """Row-normalised (each gold tag's distribution of predictions), log-scaled colours."""
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(np.log10(norm + 1e-4), cmap="viridis", vmin=-4, vmax=0)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="log10 share of the gold tag's tokens")
    return _save(fig, path)


def accuracy_by_length(series: dict[str, list[float]], bins: list[str], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, accs in series.items():
        ax.plot(bins, [100 * a for a in accs], marker="o", label=name)
    ax.set_xlabel("sentence length (tokens)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def by_parameter(points: list[tuple[float, float, float]], path: Path, xlabel: str, title: str) -> Path:
    """points: (parameter value, mean accuracy, std)."""
    return _curves({"": points}, path, xlabel, title, log_x=False)


@functools.cache
def _charmap(path: str) -> frozenset[int]:
    return frozenset(ft2font.FT2Font(path).get_charmap())


def token_labels(tokens: list[str]) -> tuple[list[str], list[str] | None]:
    """Tick labels an installed font can draw, and the font families to draw them with.

    Matplotlib's default font has no CJK characters (a Chinese sentence would show empty boxes); a
    font that has every character of the tokens is added as a fallback family. Where no installed
    font has them all, the tokens are numbered 1..n instead, and the caller lists them in text.
    """
    chars = {ord(c) for t in tokens for c in t}
    default = font_manager.findfont(font_manager.FontProperties())
    missing = chars - _charmap(default)
    if not missing:
        return tokens, None
    for font in font_manager.fontManager.ttflist:  # "Last Resort" maps every character to a box
        if "last resort" not in font.name.lower() and missing <= _charmap(font.fname):
            return tokens, [*plt.rcParams["font.family"], font.name]
    return [str(i) for i in range(1, len(tokens) + 1)], None


def token_key(tokens: list[str]) -> str | None:
    """ "1 tok, 2 tok, ..." when attention_maps numbers the tokens (no installed font draws them), else None:
    the text to print beside such a figure."""
    if token_labels(tokens)[0] == tokens:
        return None
    return ", ".join(f"{i} {t}" for i, t in enumerate(tokens, 1))


def attention_maps(
    tokens: list[str], weights: np.ndarray, path: Path, title: str, head_ids: list[int] | None = None
) -> Path:
    """weights: (heads, T, T) of one layer; one panel per head, rows are queries."""
    heads = weights.shape[0]
    head_ids = list(range(heads)) if head_ids is None else head_ids
    fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads + 1, 3.4 + 0.12 * len(tokens)), squeeze=False)
    size = 8 if len(tokens) <= 20 else 5
    labels, family = token_labels(tokens)
    font = {"fontsize": size, **({"fontfamily": family} if family else {})}
    numbered = " number" if labels != tokens else ""
    for h, ax in enumerate(axes[0]):
        ax.imshow(weights[h], cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(tokens)), labels, rotation=90, **font)
        ax.set_yticks(range(len(tokens)), labels if h == 0 else [""] * len(tokens), **font)
        ax.set_title(f"head {head_ids[h]}")
        ax.set_xlabel(f"attended token{numbered} (key)")
    axes[0][0].set_ylabel(f"token{numbered} (query)")
    fig.suptitle(title)
    return _save(fig, path)
