"""Position information for self-attention: absolute encodings added to the input, or a relative bias
added to the attention scores. Each option is a pair (absolute, relative) with an inert half."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalPosition(nn.Module):
    """Adds the fixed sin/cos encoding of Vaswani et al.; defined for any length."""

    def __init__(self, dim: int):
        super().__init__()
        assert dim % 2 == 0, "sinusoidal encoding needs an even width"
        inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float) * (-math.log(10000.0) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.size(1), device=x.device, dtype=self.inv_freq.dtype)
        angles = pos[:, None] * self.inv_freq[None, :]  # (T, D/2)
        pe = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (T, D), interleaved sin/cos
        return x + pe.to(x.dtype)


class LearnedPosition(nn.Module):
    """Adds a learned vector per absolute position; positions >= max_len share the last one."""

    def __init__(self, dim: int, max_len: int):
        super().__init__()
        self.table = nn.Embedding(max_len, dim)
        self.max_len = max_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.size(1), device=x.device).clamp(max=self.max_len - 1)
        return x + self.table(pos)


class RelativePositionBias(nn.Module):
    """A learned score bias per head for each signed distance j - i, clipped to +-max_distance.

    Signed, so the model can tell left from right context (direction-aware). With `keys`, also a
    content-dependent term q_i . r_(j-i) (Shaw et al., 2018): a query can look for, say, a
    determiner one to its left.
    """

    def __init__(self, n_heads: int, d_head: int, max_distance: int, keys: bool, scale: float | None = None):
        super().__init__()
        self.max_distance = max_distance
        self.bias = nn.Embedding(2 * max_distance + 1, n_heads)
        nn.init.zeros_(self.bias.weight)
        self.keys = nn.Embedding(2 * max_distance + 1, d_head) if keys else None
        if self.keys is not None:
            nn.init.normal_(self.keys.weight, std=d_head**-0.5)
        self.scale = d_head**-0.5 if scale is None else scale  # as the q.k scores

    def forward(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """`bias` (B, 1, T, T) plus the relative-position scores: (B, H, T, T)."""
        b, h, t, _ = q.shape  # q: (B, H, T, dk)
        pos = torch.arange(t, device=q.device)
        rel = (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance) + self.max_distance
        table = self.bias(rel).permute(2, 0, 1)[None]  # (1, H, T, T)
        if self.keys is None:
            return bias + table
        by_distance = (q @ self.keys.weight.T) * self.scale  # (B, H, T, 2D + 1)
        # in place on the fresh gathered tensor: two fewer (B, H, T, T) tensors per layer
        return by_distance.gather(-1, rel.expand(b, h, t, t)).add_(table).add_(bias)


class NoBias(nn.Module):
    def forward(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return bias


def positional_pair(kind: str, dim: int, n_heads: int, max_len: int, max_distance: int, scale: float | None = None):
    """(absolute module applied to the input, factory of per-layer relative bias modules)."""
    d_head = dim // n_heads
    if kind == "sinusoidal":
        return SinusoidalPosition(dim), NoBias
    if kind == "learned":
        return LearnedPosition(dim, max_len), NoBias
    if kind == "relative":
        return nn.Identity(), lambda: RelativePositionBias(n_heads, d_head, max_distance, keys=False)
    if kind == "relative_key":
        return nn.Identity(), lambda: RelativePositionBias(n_heads, d_head, max_distance, keys=True, scale=scale)
    if kind == "none":
        return nn.Identity(), NoBias
    raise ValueError(
        f"unknown positional encoding {kind!r}; choose sinusoidal, learned, relative, relative_key or none"
    )
