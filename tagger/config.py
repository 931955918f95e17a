"""Training configuration: dataclasses read by jsonargparse (YAML files + dotted command-line overrides,
type-checked, unknown keys rejected by name), plus Lightning's own Trainer arguments under `trainer`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import yaml
from jsonargparse import ActionConfigFile, ArgumentParser

from tagger.data import DataConfig
from tagger.errors import TaggerError
from tagger.models import ENCODERS, ModelConfig
from tagger.module import OptimConfig
from tagger.vocab import VocabConfig


@dataclass
class TrainConfig:
    """Everything a training run needs besides the Trainer arguments.

    Args:
        seed: seeds Python, numpy and torch (lightning.seed_everything) and the batch order.
        output_dir: where the resolved config, logs, checkpoints and the model file go.
        patience: early stopping: validation epochs without dev-accuracy gain before stopping.
        ema_decay: keep an exponential moving average of the weights with this decay (e.g. 0.999) and
            validate, select and export it (Lightning's EMAWeightAveraging); None: off.
        swa_start: stochastic weight averaging (Izmailov et al. 2018): from this fraction of the training
            steps on (e.g. 0.5: the second half), keep the equally weighted average of the weights after
            every step, and validate, select and export it once it exists; None: off.
        swa_cycle: with swa_start, cyclical averaging (Izmailov et al. 2018): over the averaged tail the
            learning rate runs in cycles of this many optimiser steps, each falling linearly from the
            schedule's rate to optim.min_lr_ratio of it, and the average takes only the weights at each
            cycle's end (the lowest rate); 0: every step at the schedule's rate.
    """

    data: DataConfig = field(default_factory=DataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 42
    output_dir: str = "runs/default"
    patience: int = 10
    ema_decay: float | None = None
    swa_start: float | None = None
    swa_cycle: int = 0


# Trainer arguments the train command owns (it builds the callbacks, loggers and output layout).
TRAINER_SKIP = {
    "callbacks",
    "logger",
    "plugins",
    "profiler",
    "default_root_dir",
    "enable_checkpointing",
    "model_registry",
    "use_distributed_sampler",  # our length-bucketed batch sampler shards itself (tagger.data)
}
TRAINER_DEFAULTS = {"max_epochs": 30, "gradient_clip_val": 1.0, "log_every_n_steps": 50, "num_sanity_val_steps": 0}


def train_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="tagger train",
        exit_on_error=False,
        allow_abbrev=False,  # --model.n_layer must not silently mean --model.n_layers
        description="Train a tagger. Options come from --config YAML files and dotted overrides "
        "(e.g. --model.n_layers 2 --trainer.max_epochs 3); later ones win.",
    )
    p.add_argument("--config", action=ActionConfigFile, help="YAML config file (only what differs from defaults)")
    p.add_class_arguments(TrainConfig, as_group=False)
    p.add_class_arguments(L.Trainer, "trainer", skip=TRAINER_SKIP, instantiate=False)
    p.set_defaults({f"trainer.{k}": v for k, v in TRAINER_DEFAULTS.items()})
    p.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoints/last.ckpt")
    return p


def one_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return "; ".join(lines) or type(e).__name__


def parse_train_args(argv: list[str]) -> tuple[TrainConfig, dict, dict, bool]:
    """(config, Trainer kwargs, resolved config as a plain dict, resume) from command-line arguments."""
    argv = ["--output_dir" if a == "--output-dir" else a for a in argv]
    argv = [("--output_dir=" + a.split("=", 1)[1]) if a.startswith("--output-dir=") else a for a in argv]
    for i, a in enumerate(argv[:-1]):
        if a == "--config" and not Path(argv[i + 1]).is_file():
            raise TaggerError("config file not found", argv[i + 1])
    p = train_parser()
    try:
        ns = p.parse_args(argv)
    except (argparse.ArgumentError, ValueError, KeyError, TypeError) as e:
        configs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"]
        where = f" (config {', '.join(configs)})" if configs else ""
        raise TaggerError(f"bad train options{where}: {one_line(e)}") from None
    resume = bool(ns.pop("resume"))
    resolved = yaml.safe_load(p.dump(ns, skip_none=False))
    resolved.pop("config", None)
    trainer_kwargs = ns.pop("trainer").as_dict()  # Lightning builds its own Trainer later
    ns.pop("config", None)
    init = p.instantiate(ns)
    cfg = TrainConfig(**{k: init[k] for k in TrainConfig.__dataclass_fields__})
    if cfg.model.encoder not in ENCODERS:
        raise TaggerError(f"bad train options: model.encoder {cfg.model.encoder!r} is not one of {', '.join(ENCODERS)}")
    for name in ("adversarial", "rdrop", "sam"):
        if getattr(cfg.optim, name) < 0:
            raise TaggerError(f"bad train options: optim.{name} {getattr(cfg.optim, name)} is negative (0: off)")
    if cfg.swa_start is not None and not 0 <= cfg.swa_start < 1:
        raise TaggerError(f"bad train options: swa_start {cfg.swa_start} is not a fraction of the training in [0, 1)")
    if cfg.swa_cycle < 0:
        raise TaggerError(f"bad train options: swa_cycle {cfg.swa_cycle} is negative (0: off)")
    if cfg.swa_cycle and cfg.swa_start is None:
        raise TaggerError(f"bad train options: swa_cycle {cfg.swa_cycle} cycles the averaged tail; it needs swa_start")
    if cfg.swa_start is not None and cfg.ema_decay is not None:
        raise TaggerError("bad train options: swa_start and ema_decay both average the weights; choose one")
    if cfg.model.output == "crf" and cfg.optim.label_smoothing:
        raise TaggerError("bad train options: optim.label_smoothing has no counterpart with model.output crf")
    return cfg, trainer_kwargs, resolved, resume
