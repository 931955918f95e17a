"""Killed work loses nothing, resumed training is exact, and predicting a large input streams in bounded
memory. These run the real command in subprocesses, as a user (or a scheduler's SIGKILL) would."""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import ROOT, TINY, run
from tagger.conllu_io import read_conllu

TAGGER = [sys.executable, "-m", "tagger"]


# `tagger` that reports its own peak memory on exit. (wait4's ru_maxrss of a child also counts the parent's
# memory at fork, which Linux carries over at exec: a big pytest process would be counted.)
MEASURED = [
    sys.executable,
    "-c",
    "import atexit, sys; from tagger.fileutil import peak_rss_mb; "
    "atexit.register(lambda: print(f'peak_rss_mb={peak_rss_mb():.0f}', file=sys.stderr)); "
    "from tagger.cli import main; sys.exit(main(sys.argv[1:]))",
]


def peak_mib(stderr: bytes) -> float:
    (line,) = [x for x in stderr.decode().splitlines() if x.startswith("peak_rss_mb=")]
    return float(line.split("=")[1])


def token_lines(path: Path, n_lines: int, words_per_line: int, seed: int = 0) -> list[str]:
    words = [f for s in read_conllu(path) for f in s.forms]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=words_per_line)) + "\n" for _ in range(n_lines)]


# -------------------------------------------------------------------------------------- train + resume
def train_argv(out: Path) -> list[str]:
    config = str(ROOT / "configs/hu_szeged.yaml")
    return ["train", "--config", config, *TINY, "--trainer.max_epochs", "6", "--output-dir", str(out)]


def kill_training(argv: list[str], ready) -> None:
    """Run `tagger` with argv in a subprocess and SIGKILL it a moment after ready() first holds."""
    proc = subprocess.Popen([*TAGGER, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "training ended before it could be killed"


def test_sigkill_mid_training_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_model):
    rc, _, err = run(train_argv(tmp_path / "whole"))
    assert rc == 0, err[-2000:]
    assert json.loads((tmp_path / "whole/training.json").read_text())["stopped_by"] == "max_epochs"

    out = tmp_path / "killed"
    out.mkdir()
    shutil.copy(tiny_model, out / "model.safetensors")  # a model file from an earlier run must survive the kill
    old = (out / "model.safetensors").read_bytes()
    last = out / "checkpoints" / "last.ckpt"
    kill_training(train_argv(out), last.exists)
    assert (out / "model.safetensors").read_bytes() == old

    rc, stdout, err = run([*train_argv(out), "--resume"])
    assert rc == 0, err[-2000:]
    assert "Restored all states from the checkpoint" in err or stdout.strip().endswith("model.safetensors")
    whole, resumed = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(out / "model.safetensors"))
    # Weights, optimiser, schedule, loop counters, callbacks and random generators are restored and batch
    # order is a function of (seed, epoch): the resumed run is the uninterrupted one, bit for bit.
    assert whole.keys() == resumed.keys() and all((whole[k] == resumed[k]).all() for k in whole)


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    rc, _, err = run([*train_argv(tmp_path / "new"), "--resume"])
    assert rc == 1 and err.strip().endswith("nothing to resume: no checkpoints/last.ckpt")


# ------------------------------------------------------------------------------------- predict output
def test_sigkill_during_predict_leaves_the_old_or_the_complete_file(tmp_path, tiny_model, szeged):
    src = tmp_path / "in.txt"
    src.write_text("".join(token_lines(szeged["train"], 8000, 20)), encoding="utf-8")
    argv = [*TAGGER, "predict", "-m", str(tiny_model), "-i", "tokens", "--threads", "1", str(src)]
    t0 = time.monotonic()
    expected = subprocess.run(argv, capture_output=True, check=True, timeout=300).stdout
    duration = time.monotonic() - t0
    dest = tmp_path / "out.conllu"
    seen = set()
    # Kills at fractions of the measured run time, then one as soon as the temporary file appears: the
    # fractions alone can all miss the writing window when the machine's load changes between runs.
    for fraction in (0.3, 0.5, 0.7, 0.85, 0.95, 1.5, None):
        dest.write_bytes(b"old output\n")
        proc = subprocess.Popen([*argv, "-o", str(dest)], stderr=subprocess.DEVNULL)
        if fraction is None:
            while proc.poll() is None and not any(tmp_path.glob(".out.conllu.*")):
                time.sleep(0.005)
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=duration * fraction)
        proc.send_signal(signal.SIGKILL)  # nothing, if it has ended
        proc.wait()
        content = dest.read_bytes()
        assert content in (b"old output\n", expected)
        seen.add("old" if content == b"old output\n" else "new")
        was_writing = any(p.name.startswith(".out.conllu.") for p in tmp_path.iterdir())
        seen.add("killed while writing" if was_writing else "not writing")
        for p in tmp_path.glob(".out.conllu.*"):
            p.unlink()  # what a SIGKILL leaves: a stray temporary file beside the output, never a torn output
    assert {"old", "new", "killed while writing"} <= seen


# --------------------------------------------------------------------------------- streaming, memory
def test_a_million_tokens_stream_through_in_bounded_memory(tiny_model, szeged):
    lines = token_lines(szeged["train"], 50_000, 20)  # 1,000,000 tokens
    proc = subprocess.Popen(
        [*MEASURED, "predict", "-m", str(tiny_model), "-i", "tokens", "-f", "tsv"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    go_on = threading.Event()

    def feed():
        proc.stdin.write("".join(lines[:5000]).encode())
        proc.stdin.flush()
        go_on.wait(timeout=300)
        for i in range(5000, len(lines), 5000):
            proc.stdin.write("".join(lines[i : i + 5000]).encode())
        proc.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    # Output arrives while 45,000 of the 50,000 sentences have not even been written: results are not
    # held back to the end of the input.
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    assert ready and not go_on.is_set(), "no output while only the first 5,000 sentences were given"
    first = proc.stdout.readline()
    go_on.set()
    rows = 1 + sum(1 for line in proc.stdout if line.strip())
    rc = proc.wait()
    rss = peak_mib(proc.stderr.read())
    assert rc == 0 and first.split(b"\t")[0] == lines[0].split()[0].encode()
    assert rows == 1_000_000
    assert rss < 1024, f"peak RSS {rss:.0f} MiB"


def test_a_million_token_line_is_tagged_in_full(tiny_model, szeged, tmp_path):
    src = tmp_path / "line.txt"
    src.write_text(token_lines(szeged["train"], 1, 1_000_000)[0], encoding="utf-8")
    dest = tmp_path / "line.tsv"
    proc = subprocess.run(
        [*MEASURED, "predict", "-m", str(tiny_model), "-i", "tokens", "-f", "tsv", str(src), "-o", str(dest)],
        stderr=subprocess.PIPE,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rss = peak_mib(proc.stderr)
    with open(dest, encoding="utf-8") as f:
        forms = [line.split("\t")[0] for line in f if line.strip()]
    assert forms == src.read_text(encoding="utf-8").split()
    assert rss < 1024, f"peak RSS {rss:.0f} MiB"


@pytest.mark.parametrize("fmt", ["conllu", "tsv", "jsonl"])
def test_broken_pipe_is_quiet(tiny_model, szeged, fmt):
    """`tagger predict ... | head` ends without a traceback."""
    proc = subprocess.Popen(
        [*TAGGER, "predict", "-m", str(tiny_model), "-f", fmt, str(szeged["test"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err


@pytest.mark.parametrize("writer", ["AtomicCheckpointIO", "TorchCheckpointIO"])
def test_a_checkpoint_write_cut_short_leaves_the_previous_checkpoint(tmp_path, monkeypatch, writer):
    import errno

    import torch
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from tagger.train import AtomicCheckpointIO

    io_ = AtomicCheckpointIO() if writer == "AtomicCheckpointIO" else TorchCheckpointIO()
    path = tmp_path / "last.ckpt"
    io_.save_checkpoint({"step": torch.tensor(1)}, path)

    # Lightning stages checkpoints in $TMPDIR and moves them; when that is another filesystem the move
    # is a copy, and here the copy is cut short as by a kill.
    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def torn_copy(src, dst, *, follow_symlinks=True):
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read(100))
        raise OSError("killed mid-copy")

    monkeypatch.setattr(os, "rename", cross_device)
    monkeypatch.setattr(shutil, "copyfile", torn_copy)
    with pytest.raises(OSError, match="killed mid-copy"):
        io_.save_checkpoint({"step": torch.tensor(2), "big": torch.zeros(10**5)}, path)
    monkeypatch.undo()
    try:
        intact = torch.load(path, weights_only=True)["step"] == 1
    except Exception:
        intact = False
    # ours keeps the previous checkpoint; Lightning's own writer is shown to need the fix
    assert intact == (writer == "AtomicCheckpointIO")
    if intact:
        assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
