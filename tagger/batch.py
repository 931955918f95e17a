"""Padded batches of encoded sentences, shared by training and prediction (numpy and torch only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """A padded batch. Lightning moves dataclasses of tensors between devices as they are."""

    word_ids: torch.Tensor  # (B, T) int64, 0 = padding
    char_ids: torch.Tensor  # (B, T, L) int64, 0 = padding
    mask: torch.Tensor  # (B, T) bool, True = real token
    labels: torch.Tensor | None = None  # (B, T) int64, -100 = padding

    @property
    def n_tokens(self) -> int:
        return int(self.mask.sum())


def pad_batch(
    word_ids: list[list[int]], char_ids: list[list[list[int]]], labels: list[list[int]] | None = None
) -> Batch:
    """Pad encoded sentences into a Batch (vectorised: one numpy scatter per field)."""
    lengths = np.fromiter((len(w) for w in word_ids), dtype=np.int64, count=len(word_ids))
    t = max(int(lengths.max(initial=0)), 1)
    mask = np.arange(t)[None, :] < lengths[:, None]  # (B, T)
    words = np.zeros(mask.shape, dtype=np.int64)
    flat_words = [i for sent in word_ids for i in sent]
    words[mask] = flat_words
    flat_chars = [w for sent in char_ids for w in sent]
    char_lens = np.fromiter((len(c) for c in flat_chars), dtype=np.int64, count=len(flat_chars))
    n_chars = max(int(char_lens.max(initial=0)), 1)
    chars_flat = np.zeros((len(flat_chars), n_chars), dtype=np.int64)
    chars_flat[np.arange(n_chars)[None, :] < char_lens[:, None]] = [i for w in flat_chars for i in w]
    chars = np.zeros((*mask.shape, n_chars), dtype=np.int64)
    chars[mask] = chars_flat
    batch = Batch(torch.from_numpy(words), torch.from_numpy(chars), torch.from_numpy(mask))
    if labels is not None:
        lab = np.full(mask.shape, -100, dtype=np.int64)
        lab[mask] = [i for sent in labels for i in sent]
        batch.labels = torch.from_numpy(lab)
    return batch
