"""The tagger shell: embed -> encode -> linear output layer, the same for every encoder."""

from __future__ import annotations

import torch
from torch import nn

from tagger.models.embeddings import Embedder


class TaggerNet(nn.Module):
    """A batch (see tagger.batch.Batch: word_ids, char_ids, char_index, mask) -> (B, T, n_tags) logits."""

    def __init__(self, embed: Embedder, encoder: nn.Module, n_tags: int, dropout: float):
        super().__init__()
        self.embed, self.encoder = embed, encoder
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(encoder.output_dim, n_tags)

    def forward(self, batch) -> torch.Tensor:
        x = self.embed(batch)  # (B, T, E)
        h = self.encoder(x, batch.mask)  # (B, T, D)
        return self.out(self.dropout(h))
