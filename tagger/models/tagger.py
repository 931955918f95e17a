"""The tagger shell: embed -> encode -> linear output layer -> tag layer, the same for every encoder."""

from __future__ import annotations

import torch
from torch import nn

from tagger.models.embeddings import Embedder


class TaggerNet(nn.Module):
    """A batch (see tagger.batch.Batch: word_ids, char_ids, char_index, mask) -> (B, T, n_tags) tag scores:
    the output layer's logits, read by the tag layer (``tag_layer``: per-token softmax, whose scores are
    the logits, or a CRF, whose scores are log marginal probabilities); the argmax is the tag.

    ``aux_sizes``: label counts of auxiliary targets (other CoNLL-U columns), each predicted by its own
    linear layer (``aux_out``) over the same encoder states (``features``); used in training only.
    ``char_head``: a further training-only linear layer (``aux_char``) that reads the tag from each word's
    character-level vector alone (``Embedder.parts``), before any context.
    ``mask_token``: a learned input vector (``mask_vector``, D_in) that training puts in place of masked
    tokens' input vectors; ``word_head``: a training-only linear layer (``aux_word``) that predicts a
    token's word id from its encoder state (the masked-word task, ``OptimConfig.mask_lm``).
    """

    def __init__(
        self,
        embed: Embedder,
        encoder: nn.Module,
        n_tags: int,
        dropout: float,
        tag_layer: nn.Module,
        aux_sizes=(),
        char_head: bool = False,
        mask_token: bool = False,
        word_head: bool = False,
    ):
        super().__init__()
        self.embed, self.encoder = embed, encoder
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(encoder.output_dim, n_tags)
        self.tag_layer = tag_layer
        # Initialised without advancing the global random stream: the rest of the run (dropout masks...)
        # is then the same with or without auxiliary heads, a paired comparison.
        with torch.random.fork_rng(devices=[]):
            self.aux_out = nn.ModuleList(nn.Linear(encoder.output_dim, n) for n in aux_sizes)
            self.aux_char = nn.Linear(embed.char_dim, n_tags) if char_head else None
            self.mask_vector = nn.Parameter(torch.zeros(embed.output_dim)) if mask_token else None
            n_words = embed.words.num_embeddings
            self.aux_word = nn.Linear(encoder.output_dim, n_words) if word_head else None

    def features(self, batch) -> torch.Tensor:
        """The encoder states every output layer reads: (B, T, D)."""
        return self.encode(self.embed(batch), batch.mask)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Input vectors (B, T, D_in), e.g. the embedder's, perhaps perturbed -> encoder states (B, T, D)."""
        return self.dropout(self.encoder(x, mask))

    def forward(self, batch) -> torch.Tensor:
        return self.tag_layer(self.out(self.features(batch)), batch.mask)

    def tagging_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights tagging needs: everything but the training-only heads and mask vector."""
        training_only = ("aux_out.", "aux_char.", "aux_word.", "mask_vector")
        return {k: v for k, v in self.state_dict().items() if not k.startswith(training_only)}
