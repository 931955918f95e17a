"""Model parts (torch only) and the registry of context encoders.

Every encoder maps x (B, T, input_dim) and mask (B, T) to (B, T, output_dim); the registry turns a
ModelConfig into one, so architectures are swapped by configuration alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from torch import nn

from tagger.models.config import EmbedConfig, ModelConfig, RNNConfig, TransformerConfig, WindowFCConfig
from tagger.models.embeddings import Embedder
from tagger.models.output import TAG_LAYERS
from tagger.models.rnn import RNNEncoder
from tagger.models.tagger import TaggerNet
from tagger.models.transformer import TransformerEncoder
from tagger.models.window_fc import WindowFCEncoder

ENCODERS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {
    "transformer": lambda d, c: TransformerEncoder(d, c.dim, c.n_layers, c.dropout, **asdict(c.transformer)),
    "window_fc": lambda d, c: WindowFCEncoder(d, c.dim, c.n_layers, c.dropout, **asdict(c.window_fc)),
    "rnn": lambda d, c: RNNEncoder(d, c.dim, c.n_layers, c.dropout, **asdict(c.rnn)),
}


def build_model(
    cfg: ModelConfig,
    n_words: int,
    n_chars: int,
    n_tags: int,
    aux_sizes=(),
    char_head: bool = False,
    mask_token: bool = False,
    word_head: bool = False,
) -> TaggerNet:
    """A TaggerNet; the last four arguments add training-only parts (see TaggerNet)."""
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {cfg.encoder!r}; choose one of {', '.join(ENCODERS)}")
    embed = Embedder(n_words, n_chars, cfg.embed)
    encoder = ENCODERS[cfg.encoder](embed.output_dim, cfg)
    return TaggerNet(
        embed, encoder, n_tags, cfg.dropout, TAG_LAYERS[cfg.output](n_tags), aux_sizes, char_head, mask_token, word_head
    )


__all__ = [
    "ENCODERS",
    "EmbedConfig",
    "ModelConfig",
    "RNNConfig",
    "TaggerNet",
    "TransformerConfig",
    "WindowFCConfig",
    "build_model",
]
