"""The self-attention encoder: N blocks of multi-head attention and a position-wise feed-forward layer,
each sub-layer wrapped in a residual connection and layer norm (pre- or post-norm)."""

from __future__ import annotations

import math

import torch
from torch import nn

from tagger.models.attention import MultiHeadAttention
from tagger.models.positional import positional_pair


class FeedForward(nn.Module):
    """Position-wise: each token on its own. Every feed-forward layer takes keep (B, T, 1), 1.0 at real
    tokens and 0.0 at padding; only the convolutional one, which looks at neighbours, needs it."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GatedFeedForward(nn.Module):
    """GEGLU feed-forward (Shazeer 2020): GELU(x W) * (x V), then the output projection. W and V are one
    (dim, 2 * hidden) projection split in two, so a block costs one larger matrix multiply, not two."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.inp, self.out, self.drop = nn.Linear(dim, 2 * hidden), nn.Linear(hidden, dim), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        gate, value = self.inp(x).chunk(2, dim=-1)
        return self.out(self.drop(nn.functional.gelu(gate) * value))


class ConvFeedForward(nn.Module):
    """The feed-forward layer with its input projection widened to a window of `kernel` tokens (a 1-D
    convolution over the sentence, as in FastSpeech's feed-forward blocks): each token's hidden layer sees
    its kernel // 2 neighbours on either side, a local n-gram feature beside attention's global view. Padding
    is zeroed first, so a sentence's output does not depend on what it is batched with.

    The convolution is one linear layer over the window's token vectors side by side (left neighbour first),
    not nn.Conv1d: on one CPU thread its forward and backward at the accurate configurations' sizes take
    what the plain layer's do and 0.6-0.8x those of the same layer through nn.Conv1d (docs/accuracy_push.md,
    fortieth session)."""

    def __init__(self, dim: int, hidden: int, dropout: float, kernel: int):
        super().__init__()
        assert kernel >= 3 and kernel % 2 == 1, "ConvFeedForward needs an odd kernel >= 3 (use FeedForward for 1)"
        self.kernel = kernel
        self.inp, self.out, self.drop = nn.Linear(kernel * dim, hidden), nn.Linear(hidden, dim), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        t, half = x.size(1), self.kernel // 2
        padded = nn.functional.pad(x * keep, (0, 0, half, half))  # (B, T + kernel - 1, D)
        window = torch.cat([padded[:, k : k + t] for k in range(self.kernel)], dim=-1)  # (B, T, kernel * D)
        return self.out(self.drop(nn.functional.gelu(self.inp(window))))


def feed_forward(dim: int, hidden: int, dropout: float, gated: bool, kernel: int) -> nn.Module:
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"ff_kernel must be odd and >= 1, got {kernel}")
    if gated and kernel > 1:
        raise ValueError("ff_gated and ff_kernel > 1 do not combine; choose one")
    if kernel > 1:
        return ConvFeedForward(dim, hidden, dropout, kernel)
    return (GatedFeedForward if gated else FeedForward)(dim, hidden, dropout)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016), per sentence: in training, each sentence of the batch skips the
    residual branch with probability p (its output is zeroed, the kept ones scaled by 1/(1-p)); identity
    in evaluation. A block without stochastic depth uses nn.Identity instead, which draws no random numbers."""

    def __init__(self, p: float):
        super().__init__()
        assert 0 < p < 1, "DropPath needs 0 < p < 1 (use nn.Identity for 0)"
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = x.new_empty(x.size(0), *(1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class ScalarMix(nn.Module):
    """A learned mix of n layers' states (Peters et al. 2018): gamma * sum_l softmax(w)_l h_l. The weights
    start equal (w = 0) and gamma at 1, so training starts from the layers' mean; no random numbers drawn."""

    def __init__(self, n: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n))
        self.gamma = nn.Parameter(torch.ones(1))

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        w = torch.softmax(self.weights, dim=0)
        return self.gamma * sum(w[i] * h for i, h in enumerate(states))


class PreNormBlock(nn.Module):
    def __init__(self, dim: int, attn: MultiHeadAttention, ff: nn.Module, dropout: float, drop_path: float = 0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn, self.ff, self.drop = attn, ff, nn.Dropout(dropout)
        self.skip = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, bias: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.skip(self.drop(self.attn(self.ln1(x), bias)))
        return x + self.skip(self.drop(self.ff(self.ln2(x), keep)))


class PostNormBlock(PreNormBlock):
    def forward(self, x: torch.Tensor, bias: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.skip(self.drop(self.attn(x, bias))))
        return self.ln2(x + self.skip(self.drop(self.ff(x, keep))))


BLOCKS = {"pre": PreNormBlock, "post": PostNormBlock}


class TransformerEncoder(nn.Module):
    """(B, T, input_dim), mask (B, T) -> (B, T, dim)."""

    def __init__(
        self,
        input_dim: int,
        dim: int,
        n_layers: int,
        dropout: float,
        n_heads: int = 4,
        ff_mult: int = 2,
        positional: str = "relative_key",
        max_len: int = 512,
        max_distance: int = 8,
        scoring: str = "scaled_dot",
        window: int | None = None,
        norm: str = "pre",
        attn_dropout: float = 0.0,
        attn_scale: float | None = None,
        drop_path: float = 0.0,
        ff_gated: bool = False,
        ff_kernel: int = 1,
        layer_mix: bool = False,
    ):
        super().__init__()
        if norm not in BLOCKS:
            raise ValueError(f"unknown norm {norm!r}; choose pre or post")
        assert window is None or window >= 0, "window must be >= 0 or None"
        assert 0 <= drop_path < 1, "drop_path must be in [0, 1)"
        self.proj = nn.Linear(input_dim, dim)
        self.position, rel_bias = positional_pair(positional, dim, n_heads, max_len, max_distance, attn_scale)
        self.blocks = nn.ModuleList(
            BLOCKS[norm](
                dim,
                MultiHeadAttention(dim, n_heads, scoring, attn_dropout, rel_bias(), attn_scale),
                feed_forward(dim, ff_mult * dim, dropout, ff_gated, ff_kernel),
                dropout,
                drop_path * (i + 1) / n_layers,  # stochastic depth grows linearly to drop_path at the top
            )
            for i in range(n_layers)
        )
        # Pre-norm leaves the residual stream un-normalised; normalise once at the end.
        self.norm = nn.LayerNorm(dim) if norm == "pre" else nn.Identity()
        # The output layers read every layer (the projected input and each block's output) through that
        # norm, mixed, instead of the top block alone.
        self.mix = ScalarMix(n_layers + 1) if layer_mix else None
        self.window = window if window is not None else math.inf  # unlimited: every distance is within it
        self.output_dim = dim

    def mask_bias(self, mask: torch.Tensor) -> torch.Tensor:
        """Additive score bias (B, 1, T, T): 0 where query i may attend to key j, -inf elsewhere.

        A query may see real keys within the window. Every position may also see itself, so that a
        padding row is never fully masked (which would make NaNs that leak through 0 * NaN).
        """
        t = mask.size(1)
        pos = torch.arange(t, device=mask.device)
        dist = (pos[None, :] - pos[:, None]).abs()  # (T, T)
        allowed = (mask[:, None, None, :] & (dist <= self.window)) | (dist == 0)  # (B, 1, T, T)
        return torch.zeros(allowed.shape, device=mask.device).masked_fill(~allowed, float("-inf"))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.position(self.proj(x))  # (B, T, D)
        bias, keep = self.mask_bias(mask), mask[..., None].to(x.dtype)
        states = [x]
        for block in self.blocks:
            x = block(x, bias, keep)
            states.append(x)
        if self.mix is None:
            return self.norm(x)
        return self.mix([self.norm(h) for h in states])

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, the attention weights (B, H, T, T) of a forward pass on x."""
        inputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        hooks = [
            b.attn.register_forward_hook(lambda m, args, out: inputs.append((args[0], args[1]))) for b in self.blocks
        ]
        try:
            self.forward(x, mask)
        finally:
            for h in hooks:
                h.remove()
        return [b.attn.weights(a, bias) for b, (a, bias) in zip(self.blocks, inputs, strict=True)]
