"""Shared fixtures: the treebank mirror (../shared/treebanks), a per-session cache, tiny configs."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("TAGGER_TREEBANK_MIRROR") or ROOT.parent / "shared" / "treebanks")

# A tiny, fast model for tests that train (real data, few steps).
TINY = [
    "--model.dim", "32",
    "--model.n_layers", "1",
    "--model.embed.word_dim", "16",
    "--model.embed.char_dim", "8",
    "--model.embed.char_out", "16",
    "--model.transformer.n_heads", "2",
    "--data.batch_size", "16",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]  # fmt: skip


def treebank_file(folder: str, name: str) -> Path:
    path = MIRROR / folder / name
    if not path.is_file():
        pytest.skip(f"treebank mirror not found: {path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def _environment(tmp_path_factory):
    """Every test reads treebanks from the mirror and caches into a fresh per-session directory."""
    old = {k: os.environ.get(k) for k in ("TAGGER_TREEBANK_MIRROR", "TAGGER_CACHE")}
    os.environ["TAGGER_TREEBANK_MIRROR"] = str(MIRROR)
    os.environ["TAGGER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def ewt_dev() -> Path:
    return treebank_file("UD_English-EWT", "en_ewt-ud-dev.conllu")


@pytest.fixture(scope="session")
def szeged() -> dict[str, Path]:
    return {s: treebank_file("UD_Hungarian-Szeged", f"hu_szeged-ud-{s}.conllu") for s in ("train", "dev", "test")}


def run(argv: list[str], stdin: str | bytes | None = None) -> tuple[int, str, str]:
    """The `tagger` command in-process: (exit code, stdout, stderr)."""
    from tagger.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    finally:
        sys.stdin = old_stdin
    return rc, out.getvalue(), err.getvalue()


def train_tiny(out: Path, *extra: str) -> tuple[Path, str]:
    """Train a tiny transformer on Szeged for 40 steps; (model file, stdout)."""
    argv = [
        "train",
        "--config",
        str(ROOT / "configs/hu_szeged.yaml"),
        *TINY,
        "--trainer.max_steps",
        "40",
        "--trainer.val_check_interval",
        "20",
    ]
    rc, stdout, stderr = run([*argv, *extra, "--output-dir", str(out)])
    assert rc == 0, stderr[-3000:]
    return Path(stdout.strip().splitlines()[-1]), stdout


def assert_train_refuses(out: Path, extra: list[str], message: str) -> None:
    """`tagger train` on Szeged with these options fails with a one-line error holding `message`, before
    it writes anything into `out`."""
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), *extra, "--trainer.max_steps", "1",
         "--output-dir", str(out)]
    )  # fmt: skip
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def option_in_older_model_file(model_file: Path, section: str, option: str):
    """The value model.<section>.<option> takes when a model file written before the option existed (its
    saved config without it) is loaded."""
    from tagger.modelfile import model_config_from_dict, read_model_file

    old = read_model_file(model_file)[1]["config"]["model"]
    del old[section][option]
    return getattr(getattr(model_config_from_dict(old), section), option)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, Path, str]:
    """(output directory, model file, stdout) of one tiny training run shared by the session."""
    out = tmp_path_factory.mktemp("run")
    path, stdout = train_tiny(out)
    return out, path, stdout


@pytest.fixture(scope="session")
def tiny_model(tiny_run) -> Path:
    return tiny_run[1]
