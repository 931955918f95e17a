"""Evaluation: token accuracy (all and unknown words), per-tag P/R/F1 via seqeval, confusion matrix.

seqeval scores chunks; each token is made a one-token chunk `B-<tag>` scored with mode="strict" and
the IOB2 scheme, so per-tag precision/recall/F1 are per-token and micro F1 equals accuracy. Tags are
renamed to `T<i>` for seqeval, since it mangles tag names that contain "-" (e.g. XPOS "-LRB-").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2


def evaluate_tags(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    forms: Sequence[Sequence[str]],
    known: frozenset[str] | set[str],
) -> dict:
    """Scores of predicted against gold tags; `known` holds the forms seen in training."""
    g = [t for s in gold for t in s]
    p = [t for s in pred for t in s]
    f = [w for s in forms for w in s]
    assert len(g) == len(p) == len(f), "gold, predicted and forms must align"
    correct = np.array([a == b for a, b in zip(g, p, strict=True)], dtype=bool)
    unknown = np.array([w not in known for w in f], dtype=bool)
    labels = sorted(set(g) | set(p))
    return {
        "tokens": len(g),
        "accuracy": float(correct.mean()) if len(g) else 0.0,
        "unknown_tokens": int(unknown.sum()),
        "unknown_accuracy": float(correct[unknown].mean()) if unknown.any() else None,
        "per_tag": per_tag_scores(gold, pred, labels),
        "confusion": confusion_matrix(g, p, labels),
    }


def per_tag_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], labels: list[str]) -> dict:
    alias = {t: f"T{i}" for i, t in enumerate(labels)}
    report = classification_report(
        [[f"B-{alias[t]}" for t in s] for s in gold],
        [[f"B-{alias[t]}" for t in s] for s in pred],
        mode="strict",
        scheme=IOB2,
        output_dict=True,
        zero_division=0,
    )
    out = {}
    for tag in labels:
        r = report.get(alias[tag], {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
        out[tag] = {
            "precision": float(r["precision"]),
            "recall": float(r["recall"]),
            "f1": float(r["f1-score"]),
            "support": int(r["support"]),
        }
    return out


def confusion_matrix(gold: list[str], pred: list[str], labels: list[str]) -> dict:
    """Counts with gold tags as rows and predicted tags as columns."""
    index = {t: i for i, t in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(m, ([index[t] for t in gold], [index[t] for t in pred]), 1)
    return {"labels": labels, "matrix": m.tolist()}


def format_report(r: dict) -> str:
    """A human-readable report of `evaluate_tags` output."""
    unk = r["unknown_accuracy"]
    lines = [
        f"tokens            {r['tokens']}",
        f"accuracy          {100 * r['accuracy']:.2f}",
        f"unknown tokens    {r['unknown_tokens']}",
        f"unknown accuracy  {'-' if unk is None else f'{100 * unk:.2f}'}",
        "",
        f"{'tag':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for tag, s in r["per_tag"].items():
        lines.append(
            f"{tag:<12}{100 * s['precision']:>10.2f}{100 * s['recall']:>10.2f}{100 * s['f1']:>10.2f}{s['support']:>10}"
        )
    labels, m = r["confusion"]["labels"], r["confusion"]["matrix"]
    width = max(6, *(len(t) + 1 for t in labels))
    lines += [
        "",
        "confusion matrix (rows: gold, columns: predicted)",
        " " * width + "".join(f"{t:>{width}}" for t in labels),
    ]
    for tag, row in zip(labels, m, strict=True):
        lines.append(f"{tag:<{width}}" + "".join(f"{c:>{width}}" for c in row))
    return "\n".join(lines)
