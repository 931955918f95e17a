"""Score a model file on a gold CoNLL-U file."""

from __future__ import annotations

import os

from tagger.conllu_io import read_conllu
from tagger.metrics import evaluate_tags
from tagger.predict import Tagger


def evaluate_file(model: str | os.PathLike | Tagger, data: str | os.PathLike, batch_size: int = 256) -> dict:
    """evaluate_tags() of the model's predictions against the gold label column of `data`."""
    tagger = model if isinstance(model, Tagger) else Tagger.load(model)
    sentences = [s for s in read_conllu(data) if len(s)]
    forms = [s.forms for s in sentences]
    gold = [s.column(tagger.label_column) for s in sentences]
    pred = tagger.tag(forms, batch_size=batch_size)
    result = evaluate_tags(gold, pred, forms, tagger.vocab.known)
    result["label_column"] = tagger.label_column
    result["data"] = str(data)
    return result
