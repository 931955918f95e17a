"""The LightningModule: loss, accuracy, optimiser and learning-rate schedule around a TaggerNet."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Literal

import lightning as L
import numpy as np
import torch
from torchmetrics.classification import MulticlassAccuracy

from tagger.batch import Batch
from tagger.models import TaggerNet
from tagger.models.embeddings import UNK_ID
from tagger.models.output import soft_cross_entropy, token_cross_entropy


@dataclass
class OptimConfig:
    """AdamW with linear warm-up, then decay.

    Args:
        lr: peak learning rate.
        weight_decay: AdamW decay on weight matrices (not on biases, norms, embeddings or CRF transitions).
        betas: AdamW betas.
        warmup_steps: steps of linear warm-up from 0 to lr.
        schedule: after warm-up: cosine or linear decay to min_lr_ratio * lr over the run, or constant.
        min_lr_ratio: final learning rate as a fraction of lr.
        label_smoothing: cross-entropy label smoothing.
        aux_weight: weight of each auxiliary column's loss (data.aux_columns) beside the main loss.
        distill_weight: with data.teachers, the main loss is (1 - w) * cross-entropy with the gold tags
            + w * cross-entropy with the teachers' distributions.
        distill_temperature: softens (> 1) or sharpens (< 1) both distributions in the distillation term.
        adversarial: adversarial training (Goodfellow et al. 2015; for tagging, Yasunaga et al. 2018): each
            training step also takes the loss on the input vectors (word + character embedding of each
            token) moved in the direction that raises the loss most, by this fraction of each token
            vector's L2 norm, and adds it to the loss; 0: off. Costs about one more forward and two more
            backward passes per step.
        rdrop: R-Drop (Liang et al. 2021): each training step runs the batch twice, with independent
            dropout and word-dropout masks, takes the mean of the two losses and adds this weight times
            the mean of the two KL divergences between the passes' tag distributions (UPOS, per token;
            with model.output crf the softmax of the tag scores; auxiliary targets only by their
            losses), so the model learns to give the same tags whichever units dropout removes; 0: off.
            Costs about one more forward and backward pass per step.
        char_aux: weight of an auxiliary loss on the tag read from each word's character-level vector
            alone (character encoder and affixes, before any context) by a linear head used in training
            only: it asks the characters to carry the tag on their own, which is all an unknown word
            has; 0: off. Needs a character encoder or affixes.
        mask_rate: token masking: in each training pass this fraction of the real tokens, drawn afresh,
            have their whole input vector (word and characters, after embedding dropout) replaced by one
            learned mask vector, so their tags must be read from the context alone; the tag losses still
            count them; 0: off.
        mask_lm: weight of a masked-word loss (a cloze task, as BERT's masked language model, here on the
            treebank's own training sentences only): a training-only linear head predicts each masked
            token's word id (words of the vocabulary; unknown ones are not targets) from its encoder state,
            asking the encoder to model which word fits the context; 0: off. Needs mask_rate > 0.
        sam: sharpness-aware minimisation (Foret et al. 2021): each training step first takes the gradient
            g of the tag losses (main, distillation and auxiliary; no adversarial, R-Drop, character-only
            or masked-word term, no token masking) at the weights w, then learns from the whole training
            loss at w + sam * g / |g| (|g| the L2 norm over every weight), to first order the highest loss
            within that radius, so training prefers weights whose neighbourhood has a low loss too. The
            update is applied to w; the logged training loss and accuracy are those at the moved weights.
            0: off. Costs about one more forward and backward pass per step.
    """

    lr: float = 3e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 300
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    min_lr_ratio: float = 0.05
    label_smoothing: float = 0.0
    aux_weight: float = 0.5
    distill_weight: float = 0.5
    distill_temperature: float = 1.0
    adversarial: float = 0.0
    rdrop: float = 0.0
    char_aux: float = 0.0
    mask_rate: float = 0.0
    mask_lm: float = 0.0
    sam: float = 0.0


def tail_first_step(start: float, total: float) -> float:
    """The first optimiser step (0-based) of the tail that begins at fraction `start` of `total` steps
    (inf when the run has no step limit: then there is no tail)."""
    return math.ceil(start * total) if math.isfinite(total) else math.inf


def cycle_end(step: int, first: float, cycle: int) -> bool:
    """Whether optimiser step `step` ends one of the learning-rate cycles of `cycle` steps from `first` on."""
    return cycle > 0 and step >= first and (step - first) % cycle == cycle - 1


def lr_factor(
    step: int, warmup: int, total: float, schedule: str, min_ratio: float, cycle_from: float = math.inf, cycle: int = 0
) -> float:
    """The learning-rate multiplier at `step` (total may be inf when the run has no step limit). From step
    `cycle_from` on, cycles of `cycle` steps scale it down linearly to min_ratio at each cycle's last step."""
    if step < warmup:
        return (step + 1) / warmup
    factor = 1.0
    if schedule != "constant" and math.isfinite(total) and total > warmup:
        progress = min(1.0, (step - warmup) / (total - warmup))
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1 - progress
        factor = min_ratio + (1 - min_ratio) * decay
    if cycle > 0 and step >= cycle_from:
        factor *= 1 - (1 - min_ratio) * ((step - cycle_from) % cycle + 1) / cycle
    return factor


class TaggerModule(L.LightningModule):
    def __init__(self, net: TaggerNet, optim: OptimConfig, n_tags: int, lr_cycle: tuple[float, int] | None = None):
        """lr_cycle: (start, steps): learning-rate cycles of that many steps from fraction `start` of the
        run's steps on (train's swa_start and swa_cycle; see lr_factor)."""
        super().__init__()
        self.net, self.optim, self.n_tags = net, optim, n_tags
        self.lr_cycle = lr_cycle
        # Gold tags unseen in training have id n_tags: never predicted, so counted wrong.
        self.acc = torch.nn.ModuleDict(
            {
                f"{s}_acc": MulticlassAccuracy(n_tags + 1, average="micro", ignore_index=-100)
                for s in ("train", "val", "test")
            }
        )
        self._t0: float | None = None

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.net(batch)

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        w, chars = self.net.embed.parts(batch)
        x = self.net.embed.combine(w, chars)  # (B, T, D_in)
        masked = None
        if stage == "train" and self.optim.mask_rate > 0:
            x, masked = self._mask_tokens(x, batch.mask)
        h = self.net.encode(x, batch.mask)
        loss, logits = self._loss(h, batch)
        train_loss = loss
        if stage == "train" and self.optim.rdrop > 0:  # logged: the first pass's loss, comparable across runs
            train_loss = self._rdrop_loss(loss, logits, batch)
        if masked is not None and self.optim.mask_lm > 0:  # the masked words from their context (not logged)
            train_loss = train_loss + self.optim.mask_lm * self._masked_word_loss(h, masked, batch.word_ids)
        if stage == "train" and self.optim.char_aux > 0:  # the tag from the characters alone (not logged)
            train_loss = train_loss + self.optim.char_aux * token_cross_entropy(self.net.aux_char(chars), batch.labels)
        labels, mask = batch.labels, batch.mask
        n = batch.n_tokens
        metric = self.acc[f"{stage}_acc"]
        with torch.no_grad():  # the tags tagging would give (the CRF: from its marginals)
            metric(self.net.tag_layer(logits, mask).argmax(-1)[mask], labels[mask])
        sync = stage != "train"
        self.log(f"{stage}/loss", loss, batch_size=n, prog_bar=True, sync_dist=sync, on_epoch=True, on_step=not sync)
        self.log(f"{stage}/acc", metric, batch_size=n, prog_bar=True, on_epoch=True, on_step=False)
        if stage == "train" and self.optim.adversarial > 0:  # logged: the clean loss, comparable across runs
            return train_loss + self._adversarial_loss(x, loss, batch)
        return train_loss

    def _loss(self, h: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, tag logits (B, T, n_tags)) from encoder states h (B, T, D)."""
        logits = self.net.out(h)
        labels, mask = batch.labels, batch.mask
        smoothing = self.optim.label_smoothing
        loss = self.net.tag_layer.loss(logits, labels, mask, smoothing)
        if batch.soft_labels is not None:  # distillation (training batches only carry the teachers' targets)
            w = self.optim.distill_weight
            soft = soft_cross_entropy(logits, batch.soft_labels, mask, self.optim.distill_temperature)
            loss = (1 - w) * loss + w * soft
        if batch.aux_labels is not None:  # auxiliary targets: one softmax head per column, on the same states
            for head, aux_labels in zip(self.net.aux_out, batch.aux_labels, strict=True):
                loss = loss + self.optim.aux_weight * token_cross_entropy(head(h), aux_labels, smoothing)
        return loss, logits

    def _mask_tokens(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D_in) with a fresh draw of mask_rate of the real tokens replaced by the mask vector, and
        which tokens those are (B, T)."""
        masked = (torch.rand(mask.shape, device=x.device) < self.optim.mask_rate) & mask
        return torch.where(masked[..., None], self.net.mask_vector.to(x.dtype), x), masked

    def _masked_word_loss(self, h: torch.Tensor, masked: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the masked tokens' word ids (the unknown-word id excluded) from their states h."""
        targets = word_ids[masked]
        return token_cross_entropy(self.net.aux_word(h[masked]), targets.masked_fill(targets == UNK_ID, -100))

    def _rdrop_loss(self, loss: torch.Tensor, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The mean loss of this pass and a second one with fresh dropout masks (and token masks, with
        mask_rate), plus rdrop times the mean of the two KL divergences between their tag distributions,
        averaged over the real tokens."""
        x2 = self.net.embed(batch)
        if self.optim.mask_rate > 0:
            x2, _ = self._mask_tokens(x2, batch.mask)
        loss2, logits2 = self._loss(self.net.encode(x2, batch.mask), batch)
        p, q = logits[batch.mask].log_softmax(-1), logits2[batch.mask].log_softmax(-1)  # (N, n_tags)
        kl = torch.nn.functional.kl_div(p, q, log_target=True, reduction="batchmean")  # KL(q || p)
        kl = kl + torch.nn.functional.kl_div(q, p, log_target=True, reduction="batchmean")  # + KL(p || q)
        return (loss + loss2) / 2 + self.optim.rdrop * kl / 2

    def _adversarial_loss(self, x: torch.Tensor, loss: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The loss with each token's input vector x_t (B, T, D_in) moved by eps * |x_t| along the loss
        gradient's direction at that token (a constant: the weights learn from x + r as from x)."""
        (g,) = torch.autograd.grad(loss, x, retain_graph=True)
        scale = self.optim.adversarial * x.detach().norm(dim=-1, keepdim=True)  # (B, T, 1)
        r = scale * torch.nn.functional.normalize(g, dim=-1)  # zero at padding: no gradient reaches it
        adv, _ = self._loss(self.net.encode(x + r, batch.mask), batch)
        return adv

    def _sharpness_aware_step(self, batch: Batch) -> torch.Tensor:
        """The training loss at the weights moved by optim.sam along the tag losses' gradient (normalised
        over all weights); its gradient with respect to the unmoved weights is the gradient there."""
        params = {n: p for n, p in self.net.named_parameters() if p.requires_grad}
        ascent, _ = self._loss(self.net.encode(self.net.embed(batch), batch.mask), batch)
        grads = torch.autograd.grad(ascent, list(params.values()), allow_unused=True)  # None: weights unused here
        used = {n: g for n, g in zip(params, grads, strict=True) if g is not None}
        scale = self.optim.sam / torch.nn.utils.get_total_norm(used.values()).clamp_min(1e-12)
        moved = {f"module.net.{n}": params[n] + scale * g for n, g in used.items()}
        return torch.func.functional_call(_TrainingLoss(self), moved, (batch,))

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self._sharpness_aware_step(batch) if self.optim.sam > 0 else self._step(batch, "train")
        self._log_throughput(batch.n_tokens)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_throughput(self, n_tokens: int) -> None:
        now = time.perf_counter()
        if self._t0 is not None:
            self.log("train/tokens_per_s", n_tokens / max(now - self._t0, 1e-9), batch_size=1, on_step=True)
        self._t0 = now

    def on_train_epoch_start(self) -> None:
        self._t0 = None  # do not count validation time as a training step

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Lightning restores weights, optimiser, schedule, loops and callbacks on resume, not the
        # random generators; saving them makes a resumed run draw the same dropout masks as an
        # uninterrupted one. (Batch order needs nothing: it is a function of seed and epoch.)
        checkpoint["rng_states"] = _rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            _set_rng_states(checkpoint["rng_states"])

    @property
    def _mixed_precision(self) -> bool:
        return "mixed" in str(self.trainer.precision)

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.net.named_parameters():
            # weight matrices; not embeddings, biases, norms, or the CRF's transition scores (biases between tags)
            kind = name.rsplit(".", 1)[-1]
            is_matrix = p.ndim >= 2 and "embed" not in name and "tag_layer" not in name and "bias" not in kind
            (decay if is_matrix else no_decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.optim.lr,
            betas=self.optim.betas,
            # fused: one kernel for all parameters, ~40% faster steps on CPU than the per-tensor loop. Not
            # under mixed precision: a fused AdamW unscales gradients itself, and Lightning's mixed
            # precision plugin then refuses to clip them.
            fused=not self._mixed_precision,
        )
        total = float(self.trainer.estimated_stepping_batches)
        o = self.optim
        first, cycle = (tail_first_step(self.lr_cycle[0], total), self.lr_cycle[1]) if self.lr_cycle else (math.inf, 0)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(step, o.warmup_steps, total, o.schedule, o.min_lr_ratio, first, cycle)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _TrainingLoss(torch.nn.Module):
    """A TaggerModule's training loss as a module's forward, so that torch.func.functional_call can
    compute it with some of the module's weights replaced (sharpness-aware minimisation)."""

    def __init__(self, module: TaggerModule):
        super().__init__()
        self.module = module

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.module._step(batch, "train")


def _rng_states() -> dict:
    """Python, numpy and torch CPU generator states, as types `torch.load(weights_only=True)` accepts."""
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    return {"python": random.getstate(), "numpy": np_state, "torch": torch.get_rng_state()}


def _set_rng_states(states: dict) -> None:
    random.setstate(_tuples(states["python"]))
    np_state = dict(states["numpy"])
    np_state["state"] = {**np_state["state"], "key": np.asarray(np_state["state"]["key"], dtype=np.uint32)}
    np.random.set_state(np_state)
    torch.set_rng_state(states["torch"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x
