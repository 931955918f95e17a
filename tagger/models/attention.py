"""Multi-head self-attention with a choice of scoring function.

`bias` (broadcastable to (B, H, T, T)) carries the key-padding mask, the local window (-inf where a
key is not allowed) and any relative-position bias; it is added to the scores before the softmax.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotScore(nn.Module):
    """q.k * scale, by default scale = 1/sqrt(d_k); attention runs through F.scaled_dot_product_attention."""

    def __init__(self, n_heads: int, d_head: int, scale: float | None = None):
        super().__init__()
        self.scale = 1.0 / math.sqrt(d_head) if scale is None else scale

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return (q @ k.transpose(-1, -2)) * self.scale  # (B, H, T, T)

    def attend(self, q, k, v, bias: torch.Tensor, dropout: float) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout, scale=self.scale)


class AdditiveScore(nn.Module):
    """Bahdanau-style v . tanh(q_i + k_j) per head, on the already projected queries and keys."""

    def __init__(self, n_heads: int, d_head: int, scale: float | None = None):
        super().__init__()  # `scale` does not apply: the tanh bounds the scores
        self.v = nn.Parameter(torch.randn(n_heads, d_head) / math.sqrt(d_head))

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(q[:, :, :, None, :] + k[:, :, None, :, :])  # (B, H, T, T, dk)
        return torch.einsum("bhijd,hd->bhij", h, self.v)

    def attend(self, q, k, v, bias: torch.Tensor, dropout: float) -> torch.Tensor:
        w = torch.softmax(self.scores(q, k) + bias, dim=-1)
        return F.dropout(w, dropout, self.training) @ v


SCORERS = {"scaled_dot": ScaledDotScore, "additive": AdditiveScore}


class MultiHeadAttention(nn.Module):
    """h heads, each projecting into a dim/h subspace; outputs concatenated and projected back."""

    def __init__(
        self, dim: int, n_heads: int, scoring: str, dropout: float, rel_bias: nn.Module, scale: float | None = None
    ):
        super().__init__()
        assert dim % n_heads == 0, f"dim {dim} must be divisible by n_heads {n_heads}"
        if scoring not in SCORERS:
            raise ValueError(f"unknown attention scoring {scoring!r}; choose one of {', '.join(SCORERS)}")
        self.n_heads, self.d_head = n_heads, dim // n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.score = SCORERS[scoring](n_heads, self.d_head, scale)
        self.rel_bias = rel_bias
        self.dropout = dropout

    def _qkv(self, x: torch.Tensor):
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]  # each (B, H, T, dk)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self._qkv(x)
        bias = self.rel_bias(q, bias)
        y = self.score.attend(q, k, v, bias, self.dropout if self.training else 0.0)  # (B, H, T, dk)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))

    def weights(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The attention distribution for input x: (B, H, T_query, T_key); for inspection and plots."""
        q, k, _ = self._qkv(x)
        return torch.softmax(self.score.scores(q, k) + self.rel_bias(q, bias), dim=-1)
