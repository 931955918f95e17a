"""Tag layers on top of the output logits: independent per-token softmax, or a linear-chain CRF whose
label-transition scores tie each tag to its neighbours'.

Both map logits (B, T, K) and mask (B, T) to per-token scores whose argmax is the tag (the CRF: log
marginal probabilities, i.e. posterior decoding, which maximises the expected number of correct tags)
and give the training loss per real token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over the tokens with a trainable label; ids outside [0, K) (padding -100, or tags
    seen only outside training) are ignored."""
    trainable = (labels >= 0) & (labels < logits.shape[-1])
    if not trainable.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[trainable].float(), labels[trainable], label_smoothing=label_smoothing)


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Mean over real tokens of the cross-entropy from target distributions (B, T, K) to softmax(logits /
    temperature), the targets tempered the same way (p^(1/t), renormalised) and the loss scaled by t^2
    so that its gradients keep their size whatever the temperature (Hinton et al., 2015)."""
    log_q = F.log_softmax(logits[mask].float() / temperature, -1)  # (N, K)
    p = targets[mask]
    if temperature != 1.0:
        p = p.clamp_min(1e-12).pow(1.0 / temperature)
        p = p / p.sum(-1, keepdim=True)
    return -(p * log_q).sum(-1).mean() * temperature**2


class Independent(nn.Module):
    """Each token's tag on its own: the logits are the scores, cross-entropy the loss."""

    def __init__(self, n_tags: int):  # the tag count, as every tag layer takes it; nothing to learn here
        super().__init__()

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return logits

    def loss(
        self, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, label_smoothing: float = 0.0
    ) -> torch.Tensor:
        return token_cross_entropy(logits, labels, label_smoothing)


class LinearChainCRF(nn.Module):
    """p(tags | sentence) proportional to exp(sum_t logits[t, y_t] + trans[y_{t-1}, y_t] + start[y_0] + end[y_n]).

    Tokens whose label is unknown to the model (an id outside [0, K)) are left free: the loss is then the
    negative log probability of every tag path that agrees with the known labels. Sentences are
    right-padded (mask True on a prefix of each row)."""

    def __init__(self, n_tags: int):
        super().__init__()
        self.n_tags = n_tags
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))  # (from, to)
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))

    def _alphas(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Forward log-scores per position (each (B, K); padding carries the last real one) and log Z (B,)."""
        alpha = self.start + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.size(1)):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
            alphas.append(alpha)
        return alphas, torch.logsumexp(alpha + self.end, dim=-1)

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log marginal probability of each tag at each real token: (B, T, K)."""
        emissions = logits.float()
        alphas, log_z = self._alphas(emissions, mask)
        beta = self.end.expand_as(alphas[-1])
        betas = [beta]
        for t in range(emissions.size(1) - 2, -1, -1):
            step = torch.logsumexp(self.transitions + (emissions[:, t + 1] + beta).unsqueeze(1), dim=2)
            beta = torch.where(mask[:, t + 1, None], step, self.end)  # t is a sentence's last token: end
            betas.append(beta)
        return torch.stack(alphas, 1) + torch.stack(betas[::-1], 1) - log_z[:, None, None]

    def loss(
        self, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, label_smoothing: float = 0.0
    ) -> torch.Tensor:
        assert label_smoothing == 0.0, "label smoothing with a CRF"
        emissions = logits.float()
        known = (labels >= 0) & (labels < self.n_tags) & mask
        if not known.any():
            return emissions.sum() * 0.0
        # the gold paths: known tokens allow only their label, the others every tag
        allowed = F.one_hot(labels.clamp(0, self.n_tags - 1), self.n_tags).bool() | ~known[..., None]
        _, log_z = self._alphas(emissions, mask)
        _, log_gold = self._alphas(emissions.masked_fill(~allowed, float("-inf")), mask)
        return (log_z - log_gold).sum() / known.sum()


TAG_LAYERS = {"softmax": Independent, "crf": LinearChainCRF}
