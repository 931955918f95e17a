"""Distributed data parallel training through Lightning: two CPU processes (gloo) against one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, TINY
from tagger.evaluate import evaluate_file


def train(out, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tagger", "train", "--config", str(ROOT / "configs/hu_szeged.yaml"), *TINY]
    cmd += ["--trainer.max_epochs", "5", "--trainer.accelerator", "cpu", "--output-dir", str(out), *extra]
    # a hang (e.g. ranks waiting on each other at a collective) fails the test instead of blocking CI
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_ddp_processes_train_like_one(tmp_path, szeged):
    train(tmp_path / "one")
    # the same global batch: 2 ranks x 8 sentences against 1 x 16
    two = train(tmp_path / "two", "--trainer.devices", "2", "--trainer.strategy", "ddp", "--data.batch_size", "8")
    assert "distributed_backend=gloo" in two.stderr and "MEMBER: 2/2" in two.stderr
    # only rank 0 reports: one model path on stdout
    assert two.stdout.strip() == str(tmp_path / "two" / "model.safetensors")
    summaries = [json.loads((tmp_path / d / "training.json").read_text()) for d in ("one", "two")]
    assert summaries[0]["epochs"] == summaries[1]["epochs"] == 5
    acc_one, acc_two = (s["best_dev_accuracy"] for s in summaries)
    assert abs(acc_one - acc_two) < 0.03, (acc_one, acc_two)
    # the distributed validation score counts every dev sentence exactly once: it is what the exported
    # (best) model scores on the dev file in one process
    dev = evaluate_file(tmp_path / "two" / "model.safetensors", szeged["dev"])
    assert dev["accuracy"] == pytest.approx(acc_two, abs=1e-6)
