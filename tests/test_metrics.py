"""Evaluation metrics against hand-computed cases."""

from __future__ import annotations

import pytest

from tagger.metrics import evaluate_tags, format_report

GOLD = [["PRON", "VERB", "DET", "NOUN", "PUNCT"], ["NOUN", "NOUN", "-LRB-"]]
PRED = [["PRON", "NOUN", "DET", "NOUN", "PUNCT"], ["NOUN", "VERB", "-LRB-"]]
FORMS = [["I", "saw", "a", "saw", "."], ["cat", "dog", "("]]


def test_hand_computed_case():
    r = evaluate_tags(GOLD, PRED, FORMS, known={"I", "saw", "a", ".", "("})
    assert r["tokens"] == 8
    assert r["accuracy"] == pytest.approx(6 / 8)
    # unknown: "cat" (right) and "dog" (wrong)
    assert r["unknown_tokens"] == 2 and r["unknown_accuracy"] == pytest.approx(0.5)
    noun = r["per_tag"]["NOUN"]
    # NOUN: gold 3 (saw, cat, dog); predicted 3 (saw#1 wrong, saw#2, cat) -> tp 2, P 2/3, R 2/3
    assert noun["precision"] == pytest.approx(2 / 3) and noun["recall"] == pytest.approx(2 / 3)
    assert noun["support"] == 3
    verb = r["per_tag"]["VERB"]
    # VERB: gold 1 (saw#1, predicted NOUN), predicted 1 (dog, wrong) -> P 0, R 0
    assert verb == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # adjacent NOUN NOUN are two chunks, and "-LRB-" keeps its name
    assert r["per_tag"]["-LRB-"]["f1"] == 1.0 and r["per_tag"]["PRON"]["f1"] == 1.0


def test_micro_f1_equals_accuracy():
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    gold = [[f"B-{t}" for t in s] for s in GOLD]
    pred = [[f"B-{t}" for t in s] for s in PRED]
    assert f1_score(gold, pred, mode="strict", scheme=IOB2, average="micro") == pytest.approx(6 / 8)


def test_confusion_matrix_rows_gold_columns_predicted():
    r = evaluate_tags(GOLD, PRED, FORMS, known=set())
    labels, m = r["confusion"]["labels"], r["confusion"]["matrix"]
    assert m[labels.index("VERB")][labels.index("NOUN")] == 1
    assert m[labels.index("NOUN")][labels.index("VERB")] == 1
    assert m[labels.index("NOUN")][labels.index("NOUN")] == 2
    assert sum(map(sum, m)) == 8
    text = format_report(r)
    assert "accuracy          75.00" in text and "-LRB-" in text
