"""Stochastic weight averaging (swa_start): the equally weighted average of the weights over the run's
tail, validated and exported once it exists, the current weights before; with swa_cycle, learning-rate
cycles over the tail and the average of the weights at their ends."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run, train_tiny
from tagger.data import DataConfig, TaggerDataModule
from tagger.modelfile import read_model_file
from tagger.models import build_model
from tagger.module import OptimConfig, TaggerModule, lr_factor
from tagger.train import TailWeightAveraging
from tagger.vocab import VocabConfig
from test_interrupt import kill_training, train_argv
from test_models import VARIANTS


class Recorder(L.Callback):
    """The weights after every optimiser step, the learning rate of each, and the weights each validation sees."""

    def __init__(self):
        self.steps: list[dict] = []
        self.validated: list[dict] = []
        self.rates: list[float] = []

    @staticmethod
    def _copy(module) -> dict:
        return {k: v.detach().clone() for k, v in module.net.state_dict().items()}

    def on_train_batch_start(self, trainer, module, *args) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.steps.append(self._copy(module))

    def on_validation_epoch_start(self, trainer, module) -> None:
        self.validated.append(self._copy(module))


def _mean(states: list[dict]) -> dict:
    return {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}


def _close(a: dict, b: dict) -> bool:
    return all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def _fit_12_steps(tmp_path, optim: OptimConfig, cycle: int = 0) -> tuple[TaggerModule, Recorder]:
    """A small Szeged model trained 12 steps, averaged from the seventh, validated after every fourth."""
    dm = TaggerDataModule(DataConfig(treebank="hu_szeged", batch_size=16, cache_dir=None), VocabConfig())
    dm.setup("fit")
    torch.manual_seed(0)
    net = build_model(VARIANTS["transformer"], dm.vocab.n_words, dm.vocab.n_chars, dm.vocab.n_tags)
    module = TaggerModule(net, optim, dm.vocab.n_tags, lr_cycle=(0.5, cycle) if cycle else None)
    recorder = Recorder()
    trainer = L.Trainer(
        max_steps=12, val_check_interval=4, limit_val_batches=1, callbacks=[TailWeightAveraging(0.5, cycle), recorder],
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    return module, recorder


def test_the_average_of_the_tail_is_validated_once_it_exists_and_kept(tmp_path):
    module, recorder = _fit_12_steps(tmp_path, OptimConfig(warmup_steps=2))
    steps = recorder.steps
    assert len(steps) == 12 and len(recorder.validated) == 3
    # Steps 1-6 are the first half: at step 4 validation sees the current weights, not the initial ones
    assert _close(recorder.validated[0], steps[3]) and not _close(steps[3], steps[2])
    # from the seventh step on the average: at step 8 of steps 7-8, at step 12 of steps 7-12
    assert _close(recorder.validated[1], _mean(steps[6:8]))
    assert _close(recorder.validated[2], _mean(steps[6:12]))
    assert not _close(recorder.validated[2], steps[-1])
    # training ends with the average in the model (what the checkpoint selection then picks from)
    assert _close(module.net.state_dict(), _mean(steps[6:12]))


def test_cycles_fall_to_the_lowest_rate_and_restart():
    # constant schedule, warm-up 2 steps, cycles of 5 steps from step 10 of 20; min_lr_ratio 0.05
    factors = [lr_factor(s, 2, 20, "constant", 0.05, 10, 5) for s in range(20)]
    expected = [0.5, 1.0] + [1.0] * 8 + [0.81, 0.62, 0.43, 0.24, 0.05] * 2
    assert factors == pytest.approx(expected)
    # under a cosine decay the cycle scales the decayed rate; without cycles the schedule is untouched
    assert lr_factor(14, 2, 20, "cosine", 0.05, 10, 5) == pytest.approx(0.05 * lr_factor(14, 2, 20, "cosine", 0.05))
    assert lr_factor(14, 2, 20, "cosine", 0.05, 10, 0) == lr_factor(14, 2, 20, "cosine", 0.05)


def test_cyclical_averaging_takes_the_weights_at_the_cycles_ends(tmp_path):
    optim = OptimConfig(warmup_steps=2, schedule="constant")
    module, recorder = _fit_12_steps(tmp_path, optim, cycle=3)
    steps = recorder.steps
    assert len(steps) == 12 and len(recorder.validated) == 3
    # warm-up, the constant rate, then two cycles of three steps (7-9, 10-12) falling to 5% of it
    low = 1 - 0.95 / 3
    expected = [0.5, 1, 1, 1, 1, 1, low, 1 - 2 * 0.95 / 3, 0.05, low, 1 - 2 * 0.95 / 3, 0.05]
    assert recorder.rates == pytest.approx([optim.lr * f for f in expected])
    # at step 8 no cycle has ended: the current weights; at step 12 the average of steps 9 and 12 only
    assert _close(recorder.validated[1], steps[7])
    assert _close(recorder.validated[2], _mean([steps[8], steps[11]]))
    assert not _close(recorder.validated[2], _mean(steps[6:12]))
    assert _close(module.net.state_dict(), _mean([steps[8], steps[11]]))


def test_the_exported_model_is_the_best_checkpoint_of_the_averaged_run(tmp_path):
    path, _ = train_tiny(tmp_path / "swa", "--swa_start", "0.5")
    plain, _ = train_tiny(tmp_path / "plain")
    last = torch.load(tmp_path / "swa/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert int(last["averaging_state"]["n_averaged"]) == 20  # steps 21-40 of 40
    assert any(not torch.equal(v, last["current_model_state"][k]) for k, v in last["state_dict"].items())
    best = torch.load(tmp_path / "swa/checkpoints/best.ckpt", map_location="cpu", weights_only=True)
    (exported, _), (other, _) = read_model_file(path), read_model_file(plain)
    for name, value in exported.items():
        torch.testing.assert_close(value, best["state_dict"][f"net.{name}"])
    assert max(float((exported[k] - other[k]).abs().max()) for k in exported) > 1e-4


def _averaged_steps(last) -> int:
    try:
        state = torch.load(last, map_location="cpu", weights_only=True).get("averaging_state")
    except (FileNotFoundError, EOFError, RuntimeError):  # not written yet
        return 0
    return int(state["n_averaged"]) if state else 0


def test_a_run_killed_while_averaging_resumes_to_the_uninterrupted_one(tmp_path):
    def argv(out):
        return [*train_argv(out), "--swa_start", "0.5"]  # 6 epochs, averaged from the fourth on

    rc, _, err = run(argv(tmp_path / "whole"))
    assert rc == 0, err[-2000:]

    out = tmp_path / "killed"
    last = out / "checkpoints" / "last.ckpt"
    kill_training(argv(out), lambda: _averaged_steps(last) > 0)
    assert _averaged_steps(last) > 0  # the checkpoint resumed from holds a running average

    rc, _, err = run([*argv(out), "--resume"])
    assert rc == 0, err[-2000:]
    # The average, its count and the current weights under it are restored with the rest of the state:
    # the resumed run exports the uninterrupted one's model, bit for bit.
    whole, resumed = load_file(str(tmp_path / "whole/model.safetensors")), load_file(str(out / "model.safetensors"))
    assert whole.keys() == resumed.keys() and all((whole[k] == resumed[k]).all() for k in whole)
    final = torch.load(out / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    reference = torch.load(tmp_path / "whole/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert int(final["averaging_state"]["n_averaged"]) == int(reference["averaging_state"]["n_averaged"])
    assert all(torch.equal(v, reference["state_dict"][k]) for k, v in final["state_dict"].items())


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--swa_start", "1.5"], "swa_start 1.5"),
        (["--swa_start", "0.5", "--ema_decay", "0.999"], "choose one"),
        (["--swa_start", "0.5", "--swa_cycle", "-1"], "swa_cycle -1 is negative"),
        (["--swa_cycle", "5"], "swa_cycle 5 cycles the averaged tail; it needs swa_start"),
    ],
)
def test_bad_averaging_options_are_one_line_errors(tmp_path, options, problem):
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), *options,
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert rc == 1 and problem in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
