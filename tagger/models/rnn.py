"""Bidirectional recurrent encoder (LSTM or GRU) over packed sequences, so padding never enters."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def run_packed(rnn: nn.RNNBase, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A batch-first recurrent layer over the real positions only: x (B, T, D), mask (B, T), True at the
    (left-aligned) real positions -> outputs (B, T, out), zero at padding."""
    lengths = mask.sum(1).clamp(min=1).cpu()  # packing needs lengths on the CPU
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.size(1))
    return out


class RNNEncoder(nn.Module):
    """(B, T, input_dim), mask (B, T) -> (B, T, dim); dim/2 units per direction."""

    def __init__(self, input_dim: int, dim: int, n_layers: int, dropout: float, cell: str = "lstm"):
        super().__init__()
        assert dim % 2 == 0, "rnn dim must be even (two directions)"
        if cell not in CELLS:
            raise ValueError(f"unknown rnn cell {cell!r}; choose lstm or gru")
        self.rnn = CELLS[cell](
            input_dim,
            dim // 2,
            num_layers=n_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.output_dim = dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return run_packed(self.rnn, x, mask)
