"""The tagger shell: embed -> encode -> linear output layer, the same for every encoder."""

from __future__ import annotations

import torch
from torch import nn

from tagger.models.embeddings import Embedder


class TaggerNet(nn.Module):
    """(B, T) word ids, (B, T, L) char ids, (B, T) mask -> (B, T, n_tags) logits."""

    def __init__(self, embed: Embedder, encoder: nn.Module, n_tags: int, dropout: float):
        super().__init__()
        self.embed, self.encoder = embed, encoder
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(encoder.output_dim, n_tags)

    def forward(self, word_ids: torch.Tensor, char_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(word_ids, char_ids, mask)  # (B, T, E)
        h = self.encoder(x, mask)  # (B, T, D)
        return self.out(self.dropout(h))
