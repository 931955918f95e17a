"""The model file: one safetensors file holding the weights and, as JSON metadata, the resolved
config, vocabularies, tag set, versions and training-data checksums. Loading runs no pickled code."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from jsonargparse import ArgumentParser, Namespace
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tagger import __version__
from tagger.errors import TaggerError
from tagger.fileutil import atomic_path
from tagger.models import ModelConfig

FORMAT_NAME = "tagger-model"
FORMAT_VERSION = 1


def save_model_file(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write weights + metadata atomically; returns the path."""
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "tagger_version": __version__, **meta}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"tagger": json.dumps(meta)})
    return Path(path)


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(weights, metadata) of a model file, or a TaggerError saying clearly what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise TaggerError("no such model file", path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("tagger")
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise TaggerError(f"not a readable model file (truncated or not safetensors: {e})", path) from None
    if raw is None:
        raise TaggerError("not a tagger model file (a safetensors file without tagger metadata)", path)
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise TaggerError(f"corrupt tagger metadata in model file ({e})", path) from None
    if meta.get("format") != FORMAT_NAME:
        raise TaggerError("not a tagger model file (unknown format)", path)
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TaggerError(
            f"model file format version {version} is newer than this tagger ({__version__}) reads "
            f"(up to {FORMAT_VERSION}); upgrade tagger",
            path,
        )
    return tensors, meta


def model_config_from_dict(d: dict) -> ModelConfig:
    """Rebuild (and type-check) a ModelConfig from the plain dict stored in a model file."""
    p = ArgumentParser(exit_on_error=False)
    p.add_class_arguments(ModelConfig, "model")
    try:
        return p.instantiate(p.parse_object(Namespace(model=Namespace(**_to_ns(d)))))["model"]
    except (argparse.ArgumentError, ValueError, KeyError, TypeError) as e:
        raise TaggerError(f"model file has an invalid model config: {' '.join(str(e).split())}") from None


def _to_ns(d: dict) -> dict:
    return {k: Namespace(**_to_ns(v)) if isinstance(v, dict) else v for k, v in d.items()}
