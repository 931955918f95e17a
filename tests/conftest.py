"""Shared fixtures: the treebank mirror (../shared/treebanks), a per-session cache, tiny configs."""

from __future__ import annotations

import os
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
