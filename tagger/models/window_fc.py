"""Windowed fully connected encoder: an MLP over a token and its k neighbours on each side."""

from __future__ import annotations

import torch
from torch import nn


class WindowFCEncoder(nn.Module):
    """(B, T, input_dim), mask (B, T) -> (B, T, dim).

    Positions beyond the sentence edge (and padding) are a learned edge vector, so a word at the
    start of a sentence looks the same whatever the batch's padding.
    """

    def __init__(self, input_dim: int, dim: int, n_layers: int, dropout: float, k: int = 2):
        super().__init__()
        assert k >= 0 and n_layers >= 1, "window_fc needs k >= 0 and at least one hidden layer"
        self.k = k
        self.edge = nn.Parameter(torch.zeros(input_dim))
        layers: list[nn.Module] = []
        width = (2 * k + 1) * input_dim
        for _ in range(n_layers):
            layers += [nn.Linear(width, dim), nn.GELU(), nn.Dropout(dropout)]
            width = dim
        self.mlp = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        edge = self.edge.to(x.dtype)
        x = torch.where(mask[..., None], x, edge)
        side = edge.expand(b, self.k, d)
        x = torch.cat([side, x, side], dim=1)  # (B, T + 2k, D)
        windows = x.unfold(1, 2 * self.k + 1, 1)  # (B, T, D, 2k + 1)
        return self.mlp(windows.transpose(2, 3).reshape(b, t, (2 * self.k + 1) * d))
