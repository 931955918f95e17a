"""Padded batches of encoded sentences, shared by training and prediction (numpy and torch only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """A padded batch. Lightning moves dataclasses of tensors between devices as they are.

    Characters are stored once per distinct word of the batch (`char_ids`), and `char_index` points
    each token at its row: the character encoder then runs on ~60% of the tokens of an EWT batch.
    """

    word_ids: torch.Tensor  # (B, T) int64, 0 = padding
    char_ids: torch.Tensor  # (U, L) int64, one row per distinct word, 0 = padding
    char_index: torch.Tensor  # (B, T) int64, row of char_ids for each token (0 for padding)
    mask: torch.Tensor  # (B, T) bool, True = real token
    labels: torch.Tensor | None = None  # (B, T) int64, -100 = padding
    aux_labels: torch.Tensor | None = None  # (A, B, T) int64: auxiliary training targets, -100 = padding
    soft_labels: torch.Tensor | None = None  # (B, T, K) float32: teachers' tag distributions, 0 = padding
    # Tagging only: the form of each char_ids row, and the character encoder's vectors for those rows
    # when already known (tagger.predict keeps them per form; the embedder then skips the encoder).
    forms: list[str] | None = None
    char_vectors: torch.Tensor | None = None  # (U, Dc)

    @property
    def n_tokens(self) -> int:
        return int(self.mask.sum())


def pad_batch(
    word_ids: list[list[int]],
    char_ids: list[list[list[int]]],
    labels: list[list[int]] | None = None,
    aux_labels: list[list[list[int]]] | None = None,
    soft_labels: list[list[list[float]]] | None = None,
) -> Batch:
    """Pad encoded sentences into a Batch (vectorised: one numpy scatter per field)."""
    lengths = np.fromiter((len(w) for w in word_ids), dtype=np.int64, count=len(word_ids))
    t = max(int(lengths.max(initial=0)), 1)
    mask = np.arange(t)[None, :] < lengths[:, None]  # (B, T)
    words = np.zeros(mask.shape, dtype=np.int64)
    words[mask] = [i for sent in word_ids for i in sent]

    rows: dict[tuple[int, ...], int] = {}
    index = [rows.setdefault(tuple(w), len(rows)) for sent in char_ids for w in sent]
    uniq = list(rows) or [()]
    char_lens = np.fromiter(map(len, uniq), dtype=np.int64, count=len(uniq))
    n_chars = max(int(char_lens.max(initial=0)), 1)
    chars = np.zeros((len(uniq), n_chars), dtype=np.int64)
    chars[np.arange(n_chars)[None, :] < char_lens[:, None]] = [i for w in uniq for i in w]
    char_index = np.zeros(mask.shape, dtype=np.int64)
    char_index[mask] = index

    batch = Batch(*(torch.from_numpy(a) for a in (words, chars, char_index, mask)))
    if labels is not None:
        lab = np.full(mask.shape, -100, dtype=np.int64)
        lab[mask] = [i for sent in labels for i in sent]
        batch.labels = torch.from_numpy(lab)
    n_aux = len(aux_labels[0]) if aux_labels else 0  # per sentence: one label list per auxiliary column
    if n_aux:
        aux = np.full((n_aux, *mask.shape), -100, dtype=np.int64)
        for a in range(n_aux):
            aux[a][mask] = [i for sent in aux_labels for i in sent[a]]
        batch.aux_labels = torch.from_numpy(aux)
    if soft_labels:  # per sentence, per token, one probability per tag
        flat = np.concatenate([np.asarray(s, dtype=np.float32).reshape(len(s), -1) for s in soft_labels])
        soft = np.zeros((*mask.shape, flat.shape[-1]), dtype=np.float32)
        soft[mask] = flat
        batch.soft_labels = torch.from_numpy(soft)
    return batch
