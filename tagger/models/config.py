"""Model settings: one dataclass per part. Shared knobs sit on ModelConfig, the rest per encoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EmbedConfig:
    """Word and character input representation, shared by every encoder.

    Args:
        word_dim: width of the word embedding.
        char_encoder: character-level word representation: cnn, bilstm or none.
        char_dim: width of the character embedding.
        char_out: width of the character-level word vector.
        char_kernel: CNN kernel width in characters.
        char_dropout: dropout on the character vectors the per-word character encoder (cnn or bilstm) reads
            (0: none); training only, so tagging's per-form memo of character vectors is unaffected.
        word_dropout: training-time probability of replacing a word id by the unknown-word id.
        word_dropout_alpha: frequency-aware word dropout (Kiperwasser and Goldberg 2016): a word seen c times
            in training is also replaced with probability alpha / (alpha + c), independently of
            `word_dropout`, so rare words, the most like unknown ones, are dropped most (0: off).
        dropout: dropout on the concatenated word+character vector.
        affixes: learned prefix and suffix embeddings of 1..affixes characters (0: none), hashed into
            `affix_buckets` rows, each affix `affix_dim` wide; the word vector grows by 2 * affixes * affix_dim.
        affix_dim: width of one affix's embedding.
        affix_buckets: rows of the hashed affix table (each affix sums two rows, so collisions rarely coincide).
        sentence_chars: width of a sentence-level character model's token vectors, added to the word's
            (0: none): a BiLSTM over the whole sentence's characters (Bohnet et al. 2018), read at each token's
            first and last character, so a token's character features see its neighbours' characters too.
        sentence_chars_dropout: dropout on the character vectors the sentence-level model reads.
    """

    word_dim: int = 100
    char_encoder: Literal["cnn", "bilstm", "none"] = "cnn"
    char_dim: int = 32
    char_out: int = 100
    char_kernel: int = 3
    char_dropout: float = 0.0
    word_dropout: float = 0.1
    word_dropout_alpha: float = 0.0
    dropout: float = 0.15
    affixes: int = 0
    affix_dim: int = 16
    affix_buckets: int = 20_000
    sentence_chars: int = 0
    sentence_chars_dropout: float = 0.0


@dataclass
class TransformerConfig:
    """Self-attention encoder settings.

    Args:
        n_heads: attention heads; `dim` must be divisible by it.
        ff_mult: the feed-forward layer is ff_mult * dim wide.
        positional: sinusoidal | learned | relative (a learned bias per head and signed distance) |
            relative_key (that bias plus a query-dependent term q.r_(j-i), Shaw et al. 2018) | none.
        max_len: positions of the learned table (later positions share the last entry).
        max_distance: relative distances are clipped to +-max_distance.
        scoring: scaled_dot (q.k/sqrt(d_k)) or additive (v.tanh(q+k)).
        window: local attention: attend only to positions within `window` tokens (None: the whole sentence).
        norm: layer norm before (pre) or after (post) each residual sub-layer.
        attn_dropout: dropout on attention weights (off by default: it costs ~30% of CPU training speed).
        attn_scale: multiply q.k scores by this (None: 1/sqrt(d_k); 1.0: unscaled, sharper attention).
        drop_path: stochastic depth: in training each sentence skips a block's attention and feed-forward
            branches with probability drop_path * l / n_layers in block l = 1..n_layers (0: off).
        ff_gated: a gated feed-forward layer (GEGLU: GELU(x W) * x V, both ff_mult * dim wide) instead of
            GELU(x W); it has 1.5x the feed-forward weights of the plain layer of the same width.
        ff_kernel: tokens the feed-forward layer's input projection sees (odd; 1: position-wise). Above 1 it
            is a 1-D convolution over the sentence (kernel x the input weights), so each block adds local
            n-gram features to attention's; does not combine with ff_gated.
        layer_mix: the output layers read a learned mix of every layer's states (a scalar mix, Peters et al.
            2018: gamma * sum_l softmax(w)_l h_l over the projected input and each block's output, each
            through the final layer norm) instead of the top block's alone.
    """

    n_heads: int = 4
    ff_mult: int = 2
    positional: Literal["sinusoidal", "learned", "relative", "relative_key", "none"] = "relative_key"
    max_len: int = 512
    max_distance: int = 8
    scoring: Literal["scaled_dot", "additive"] = "scaled_dot"
    window: int | None = None
    norm: Literal["pre", "post"] = "pre"
    attn_dropout: float = 0.0
    attn_scale: float | None = None
    drop_path: float = 0.0
    ff_gated: bool = False
    ff_kernel: int = 1
    layer_mix: bool = False


@dataclass
class RNNConfig:
    """Recurrent encoder settings.

    Args:
        cell: lstm or gru; the encoder is bidirectional with dim/2 units per direction.
    """

    cell: Literal["lstm", "gru"] = "lstm"


@dataclass
class WindowFCConfig:
    """Windowed fully connected encoder settings.

    Args:
        k: neighbours on each side in the window (0: the token alone).
    """

    k: int = 2


@dataclass
class ModelConfig:
    """A tagger: embeddings -> encoder -> linear output layer -> tag layer.

    Args:
        encoder: transformer, window_fc or rnn (see `tagger.models.ENCODERS`).
        dim: encoder width (transformer d_model, BiRNN output, MLP hidden layers).
        n_layers: transformer blocks, RNN layers or MLP hidden layers.
        dropout: dropout inside the encoder and before the output layer.
        output: softmax (each token's tag on its own) or crf (a linear-chain CRF: learned label
            transitions, trained on the sentence's tag sequence, tags read from its marginals).
    """

    encoder: str = "transformer"
    dim: int = 256
    n_layers: int = 2
    dropout: float = 0.2
    output: Literal["softmax", "crf"] = "softmax"
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    rnn: RNNConfig = field(default_factory=RNNConfig)
    window_fc: WindowFCConfig = field(default_factory=WindowFCConfig)
