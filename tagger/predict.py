"""The Python API: load a model file and tag pre-tokenized sentences in batches. No Lightning Trainer.

>>> from tagger import Tagger
>>> Tagger.load("runs/en_ewt-transformer/model.safetensors").tag([["I", "saw", "a", "saw", "."]])
[['PRON', 'VERB', 'DET', 'NOUN', 'PUNCT']]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tagger.batch import Batch, pad_batch
from tagger.errors import TaggerError
from tagger.modelfile import model_config_from_dict, read_model_file
from tagger.models import TaggerNet, build_model
from tagger.vocab import Vocab


@dataclass
class Prediction:
    """One sentence's tags; with probabilities when asked for."""

    tags: list[str]
    probs: list[float] | None = None  # probability of each chosen tag
    top: list[list[tuple[str, float]]] | None = None  # the k best (tag, probability) per token


class Tagger:
    def __init__(self, net: TaggerNet, vocab: Vocab, meta: dict):
        self.net, self.vocab, self.meta = net.eval(), vocab, meta

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Tagger:
        tensors, meta = read_model_file(path)
        try:
            vocab = Vocab.from_dict(meta["vocab"])
            net = build_model(
                model_config_from_dict(meta["config"]["model"]), vocab.n_words, vocab.n_chars, vocab.n_tags
            )
            net.load_state_dict(tensors, strict=True)
        except (KeyError, RuntimeError, ValueError, TypeError, AssertionError, Exception) as e:
            if isinstance(e, TaggerError):
                raise TaggerError(e.message, path) from None
            raise TaggerError(
                f"model file does not match its own description ({type(e).__name__}: {e})", path
            ) from None
        return cls(net.to(device), vocab, meta)

    @property
    def label_column(self) -> str:
        return self.meta.get("label_column", "upos")

    @property
    def tags(self) -> list[str]:
        return self.vocab.tags

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def tag(self, sentences: Sequence[Sequence[str]], batch_size: int = 256) -> list[list[str]]:
        """Tags for each sentence (a list of tokens)."""
        return [p.tags for p in self.predict(sentences, batch_size=batch_size)]

    def predict(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 256, probs: bool = False, top_k: int = 0
    ) -> list[Prediction]:
        """Tags, and with `probs` the chosen tags' probabilities, with `top_k` the k best tags per token."""
        sentences = [list(s) for s in sentences]
        k = min(top_k, self.vocab.n_tags)
        results: list[Prediction | None] = [None] * len(sentences)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # similar lengths, less padding
        for start in range(0, len(order), batch_size):
            idx = [i for i in order[start : start + batch_size] if sentences[i]]
            for i in order[start : start + batch_size]:
                if not sentences[i]:
                    results[i] = Prediction([], [] if probs or k else None, [] if k else None)
            if not idx:
                continue
            batch_sents = [sentences[i] for i in idx]
            for i, pred in zip(idx, self._predict_batch(batch_sents, probs or k > 0, k), strict=True):
                results[i] = pred
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _predict_batch(self, sentences: list[list[str]], want_probs: bool, k: int) -> list[Prediction]:
        batch = pad_batch(self.vocab.encode_words(sentences), self.vocab.encode_chars(sentences))
        dev = self.device
        batch = Batch(**{k: getattr(batch, k).to(dev) for k in ("word_ids", "char_ids", "char_index", "mask")})
        logits = self.net(batch).float()
        best = logits.argmax(-1).cpu().numpy()
        p = torch.softmax(logits, -1) if want_probs else None
        out = []
        for row, sent in enumerate(sentences):
            n = len(sent)
            pred = Prediction(self.vocab.decode_tags(best[row, :n]))
            if p is not None:
                pred.probs = p[row, :n].max(-1).values.tolist()
            if k:
                vals, ids = p[row, :n].topk(k, dim=-1)
                pred.top = [
                    [(self.vocab.tags[j], v) for j, v in zip(ri, rv, strict=True)]
                    for ri, rv in zip(ids.tolist(), vals.tolist(), strict=True)
                ]
            out.append(pred)
        return out
