"""A training run: data, model, Lightning Trainer with checkpoints/early stopping/loggers, and the
export of the best weights to one self-describing model file."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from operator import attrgetter
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint, Timer, WeightAveraging
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tagger.config import TrainConfig
from tagger.data import TaggerDataModule
from tagger.errors import TaggerError
from tagger.fileutil import atomic_path, atomic_write, peak_rss_mb
from tagger.modelfile import save_model_file
from tagger.models import build_model
from tagger.module import TaggerModule, cycle_end, tail_first_step

log = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"


class TailWeightAveraging(WeightAveraging):
    """Stochastic weight averaging over the tail of the run: the equally weighted average (Lightning's
    WeightAveraging with its default averaging) of the weights after every optimiser step from `start`
    (a fraction of the run's steps) on, or with `cycle` steps only of those at the end of each
    learning-rate cycle (TaggerModule's lr_cycle). Lightning's callback swaps the average in for
    validation and checkpoints from the first epoch; before any step has been averaged that would be the
    initial weights, so here the current weights stand until the average exists."""

    def __init__(self, start: float, cycle: int = 0):
        super().__init__()
        self.start, self.cycle = start, cycle
        self._first_step: float = float("inf")

    def on_fit_start(self, trainer, pl_module) -> None:
        self._first_step = tail_first_step(self.start, float(trainer.estimated_stepping_batches))

    def should_update(self, step_idx=None, epoch_idx=None) -> bool:
        if step_idx is None:
            return False
        return cycle_end(step_idx, self._first_step, self.cycle) if self.cycle else step_idx >= self._first_step

    def averaging(self) -> bool:
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    # No optimiser step falls inside a validation epoch, so its start and end agree on averaging()
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.averaging():
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self.averaging():
            super().on_validation_epoch_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if self.averaging():
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if "averaging_state" in checkpoint:  # else saved before averaging began: nothing to restore
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.averaging():
            super().on_train_end(trainer, pl_module)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file beside the checkpoint that is renamed
    into place. (Lightning stages a checkpoint in $TMPDIR and moves it, and a move to another
    filesystem is a copy that a kill can cut short, leaving a torn last.ckpt to resume from.)"""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


def stopped_by(trainer: L.Trainer) -> str:
    """Why fitting ended: the schedule ran out (max_epochs, max_steps), dev accuracy stopped improving
    (early_stopping), or trainer.max_time cut the run short (max_time)."""
    if trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        return "max_steps"
    if trainer.max_epochs not in (None, -1) and trainer.current_epoch >= trainer.max_epochs:
        return "max_epochs"
    if any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks):
        return "early_stopping"
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    left = timer.time_remaining() if timer is not None else None
    return "max_time" if left is not None and left <= 0 else "other"


def _loggers(out: Path) -> list:
    loggers = [CSVLogger(out, name="logs")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(out, name="tensorboard"))
    return loggers


# options that are a probability below 1 (a one-line error otherwise)
FRACTIONS = (
    "data.tag_substitution",
    "model.transformer.drop_path",
    "model.embed.sentence_chars_dropout",
    "model.embed.char_dropout",
)


def train(cfg: TrainConfig, trainer_kwargs: dict, resolved: dict, resume: bool = False) -> Path | None:
    """Train as configured; returns the path of the model file written into cfg.output_dir (None on
    the other processes of a distributed run: only global rank 0 writes and reports)."""
    if cfg.data.teachers:
        if cfg.model.output != "softmax":
            raise TaggerError("data.teachers: distilling needs model.output softmax (a CRF has no tag distributions)")
        if not (0 <= cfg.optim.distill_weight <= 1 and cfg.optim.distill_temperature > 0):
            raise TaggerError("optim.distill_weight must be in [0, 1] and optim.distill_temperature above 0")
    if not (0 <= cfg.model.embed.word_dropout < 1 and cfg.model.embed.word_dropout_alpha >= 0):
        raise TaggerError("model.embed.word_dropout must be in [0, 1) and model.embed.word_dropout_alpha at least 0")
    for name in FRACTIONS:
        if not 0 <= (value := attrgetter(name)(cfg)) < 1:
            raise TaggerError(f"{name} must be in [0, 1), got {value}")
    if cfg.optim.char_aux < 0:
        raise TaggerError(f"optim.char_aux must be at least 0, got {cfg.optim.char_aux}")
    if cfg.optim.char_aux > 0 and cfg.model.embed.char_encoder == "none" and not cfg.model.embed.affixes:
        raise TaggerError("optim.char_aux needs a character-level word vector: model.embed.char_encoder or affixes")
    if not (0 <= cfg.optim.mask_rate < 1 and cfg.optim.mask_lm >= 0):
        raise TaggerError("optim.mask_rate must be in [0, 1) and optim.mask_lm at least 0")
    if cfg.optim.mask_lm > 0 and cfg.optim.mask_rate == 0:
        raise TaggerError("optim.mask_lm needs masked tokens to predict: set optim.mask_rate above 0")
    kernel = cfg.model.transformer.ff_kernel
    if not (kernel >= 1 and kernel % 2 == 1):
        raise TaggerError(f"model.transformer.ff_kernel must be an odd number >= 1, got {kernel}")
    if kernel > 1 and cfg.model.transformer.ff_gated:
        raise TaggerError("model.transformer.ff_kernel above 1 does not combine with ff_gated; choose one")
    sentence_chars = cfg.model.embed.sentence_chars
    if not (sentence_chars >= 0 and sentence_chars % 2 == 0):
        raise TaggerError(f"model.embed.sentence_chars must be an even number >= 0 (a BiLSTM), got {sentence_chars}")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "config.yaml") as f:
        yaml.safe_dump(resolved, f, sort_keys=False)
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    dm = TaggerDataModule(cfg.data, cfg.vocab, seed=cfg.seed)
    dm.prepare_data()
    dm.setup("fit")
    vocab = dm.vocab
    aux_sizes = [len(vocab.aux_tags[c]) for c in dm.aux_columns]
    o = cfg.optim
    net = build_model(
        cfg.model, vocab.n_words, vocab.n_chars, vocab.n_tags, aux_sizes,
        char_head=o.char_aux > 0, mask_token=o.mask_rate > 0, word_head=o.mask_lm > 0,
    )  # fmt: skip
    if cfg.model.embed.word_dropout_alpha:
        net.embed.word_dropout.set_counts(torch.from_numpy(vocab.word_counts()))
    lr_cycle = (cfg.swa_start, cfg.swa_cycle) if cfg.swa_cycle else None  # swa_cycle needs swa_start (config)
    module = TaggerModule(net, cfg.optim, vocab.n_tags, lr_cycle)
    n_params = sum(p.numel() for p in net.parameters())
    log.info("model: %s encoder, %d parameters", cfg.model.encoder, n_params)

    has_dev = "dev" in dm.encoded
    ckpt = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor="val/acc" if has_dev else None,
        mode="max",
        save_last=True,
        enable_version_counter=False,
    )
    callbacks: list = [ckpt]
    if has_dev:
        # strict=False: a run shorter than one validation interval simply has no dev score
        callbacks.append(EarlyStopping(monitor="val/acc", mode="max", patience=cfg.patience, strict=False))
    if cfg.ema_decay is not None:
        # Checkpoints then hold the averaged weights as their state_dict, so "best" is the best average.
        callbacks.append(EMAWeightAveraging(decay=cfg.ema_decay, update_starting_at_step=cfg.optim.warmup_steps))
    if cfg.swa_start is not None:
        callbacks.append(TailWeightAveraging(cfg.swa_start, cfg.swa_cycle))
    trainer = L.Trainer(
        **trainer_kwargs,
        default_root_dir=out,
        callbacks=callbacks,
        logger=_loggers(out),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
    )

    last = out / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise TaggerError("nothing to resume: no checkpoints/last.ckpt", out)
    t0 = time.perf_counter()
    # weights_only: resuming unpickles nothing but tensors and plain containers
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None, weights_only=True)
    seconds = time.perf_counter() - t0
    stop = stopped_by(trainer)
    if stop == "max_time":
        # The learning-rate schedule is laid out over max_epochs: a cut run never reached its end.
        log.info(
            "training: trainer.max_time %s stopped the run at step %d, in epoch %d of %d",
            trainer_kwargs.get("max_time"), trainer.global_step, trainer.current_epoch, trainer.max_epochs,
        )  # fmt: skip

    if ckpt.best_model_path:
        # Our own checkpoint, written moments ago: weights_only keeps loading free of pickled code.
        state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    best = ckpt.best_model_score
    summary = {
        "encoder": cfg.model.encoder,
        "parameters": n_params,
        "epochs": trainer.current_epoch,
        "global_steps": trainer.global_step,
        "stopped_by": stop,
        "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),  # what train_seconds was measured with (OMP_NUM_THREADS, --jobs)
        "best_dev_accuracy": None if best is None else float(best),
        "best_checkpoint": ckpt.best_model_path or None,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    path = out / MODEL_FILE
    if trainer.is_global_zero:
        meta = {
            "config": resolved,
            "label_column": cfg.data.label_column,
            "vocab": vocab.to_dict(),
            "data_sha256": dm.checksums,
            "training": summary,
        }
        save_model_file(path, module.net.tagging_state_dict(), meta)
        with atomic_write(out / "training.json") as f:
            json.dump(summary, f, indent=2)
        log.info("training summary: %s", json.dumps(summary))
        return path
    return None
