"""Knowledge distillation: the tag distributions of trained models (e.g. several seeds of one
configuration, trained on the same train split) become a second, soft training target for a new model.

The teachers tag each training sentence once, when the training set is encoded; their mean distribution
is stored beside the gold labels in the Arrow cache, keyed by the teacher files' content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError
from tagger.treebanks import sha256_file


class Teacher:
    """The mean tag distribution of one or more model files, over a student's tag set (teacher tags the
    student does not know are dropped and the rest renormalised; student tags the teachers do not know
    get probability 0)."""

    def __init__(self, paths: Sequence[str | Path], tags: Sequence[str], label_column: str):
        from tagger.predict import load  # the tagging side, only when distilling

        paths = [Path(p) for p in paths]
        for p in paths:
            if not p.is_file():
                raise TaggerError("no such teacher model file (data.teachers)", p)
        self.tagger = load(paths)
        if self.tagger.label_column != label_column:
            raise TaggerError(
                f"teacher tags the {self.tagger.label_column} column, this run trains {label_column}", paths[0]
            )
        self.n_tags = len(tags)
        position = {t: i for i, t in enumerate(tags)}
        # each teacher tag's column in the student's distribution; the student's tag count (one spare
        # column, cut off afterwards) for tags the student does not know
        self._column = {t: position.get(t, self.n_tags) for t in self.tagger.tags}
        if all(c == self.n_tags for c in self._column.values()):
            raise TaggerError("teacher shares no tag with the training data", paths[0])
        sums = "|".join(sha256_file(p) for p in paths)
        self.fingerprint = hashlib.sha256(sums.encode()).hexdigest()

    def __call__(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per sentence, a (tokens, tags) float32 array of the teachers' mean probabilities, rows summing to 1."""
        out = []
        for pred in self.tagger.predict(sentences, top_k=len(self.tagger.tags)):
            columns = np.array([[self._column[tag] for tag, _ in pairs] for pairs in pred.top])  # (n, teacher tags)
            probs = np.array([[p for _, p in pairs] for pairs in pred.top], dtype=np.float32)
            dist = np.zeros((len(pred.tags), self.n_tags + 1), dtype=np.float32)
            np.put_along_axis(dist, columns, probs, axis=1)
            dist = dist[:, : self.n_tags]
            out.append(dist / np.maximum(dist.sum(-1, keepdims=True), 1e-12))
        return out
