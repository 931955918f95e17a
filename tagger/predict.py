"""The Python API: load a model file and tag pre-tokenized sentences in batches. No Lightning Trainer.

>>> from tagger import Tagger
>>> Tagger.load("runs/en_ewt-transformer/model.safetensors").tag([["I", "saw", "a", "saw", "."]])
[['PRON', 'VERB', 'DET', 'NOUN', 'PUNCT']]
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tagger.batch import Batch
from tagger.errors import TaggerError
from tagger.modelfile import model_config_from_dict, read_model_file
from tagger.models import TaggerNet, build_model
from tagger.vocab import MEMO_SIZE, Vocab


@dataclass
class Prediction:
    """One sentence's tags; with probabilities when asked for."""

    tags: list[str]
    probs: list[float] | None = None  # probability of each chosen tag
    top: list[list[tuple[str, float]]] | None = None  # the k best (tag, probability) per token


MAX_LENGTH = 256  # longest window tagged at once (EWT's longest training sentence has 159 tokens)
CONTEXT = 32  # tokens of context kept on each side of a window's tagged middle
PRECISIONS = ("fp32", "bf16")
MAX_TOKENS = 2048  # padded tokens per batch: less padding, and as fast as larger batches on CPU


def _windows(n: int, max_length: int, context: int) -> list[tuple[int, int, int, int]]:
    """(start, end, keep_start, keep_end) windows covering a sentence of n tokens: each token is kept
    from exactly one window, in which it has `context` tokens on each side or the sentence edge."""
    if n <= max_length:
        return [(0, n, 0, n)] if n else []
    step = max_length - 2 * context
    out = []
    for keep_a in range(0, n, step):
        keep_b = min(n, keep_a + step)
        out.append((max(0, keep_a - context), min(n, keep_b + context), keep_a, keep_b))
    return out


def _batches(windows: list, batch_size: int, max_tokens: int) -> Iterator[list]:
    """Cut windows sorted by length into batches of <= batch_size windows and <= max_tokens padded tokens."""
    batch: list = []
    for w in windows:
        length = w[1][1] - w[1][0]  # the longest so far, as windows come sorted
        if batch and (len(batch) == batch_size or (len(batch) + 1) * length > max_tokens):
            yield batch
            batch = []
        batch.append(w)
    if batch:
        yield batch


class Tagger:
    def __init__(self, net: TaggerNet, vocab: Vocab, meta: dict, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise TaggerError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        self.net, self.vocab, self.meta, self.precision = net.eval(), vocab, meta, precision
        # The character encoder's vector of each form tagged so far (a word's vector depends on its
        # characters only): every distinct form goes through the encoder once, not once per batch.
        self._char_rows: dict[str, int] = {}
        self._char_table: torch.Tensor | None = None  # (capacity, Dc); rows in _char_rows are filled

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu", precision: str = "fp32") -> Tagger:
        """A tagger from a model file; `precision` bf16 runs matrix products in bfloat16 (autocast), which
        is fast on CPUs with AMX or AVX512-BF16 and on GPUs."""
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
        return cls(net.to(device), vocab, meta, precision)

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
        self,
        sentences: Sequence[Sequence[str]],
        batch_size: int = 256,
        probs: bool = False,
        top_k: int = 0,
        max_length: int = MAX_LENGTH,
        context: int = CONTEXT,
        max_tokens: int = MAX_TOKENS,
    ) -> list[Prediction]:
        """Tags, and with `probs` the chosen tags' probabilities, with `top_k` the k best tags per token.

        A sentence longer than `max_length` tokens is tagged in overlapping windows of `max_length`
        tokens: each window's tags are kept for its middle, where the model sees at least `context`
        tokens on either side (or the sentence edge). Memory then grows with max_length, not with the
        sentence, and no model is asked to handle lengths far beyond those it was trained on. A batch
        holds at most `batch_size` windows and `max_tokens` tokens with padding (attention memory
        grows with batch x length^2).
        """
        if not 0 <= 2 * context < max_length:
            raise ValueError(f"need 0 <= 2 * context < max_length, got context={context}, max_length={max_length}")
        sentences = [list(s) for s in sentences]
        k = min(top_k, len(self.tags))
        want_probs = probs or k > 0
        tags: list[list[str]] = [[""] * len(s) for s in sentences]
        best_p: list[list[float]] = [[0.0] * len(s) for s in sentences] if want_probs else []
        top: list[list] = [[None] * len(s) for s in sentences] if k else []
        if sum(map(len, sentences)) <= MEMO_SIZE:
            self._memorise([f for s in sentences for f in s])
        windows = [(i, w) for i, s in enumerate(sentences) for w in _windows(len(s), max_length, context)]
        windows.sort(key=lambda iw: iw[1][1] - iw[1][0])  # similar lengths together: less padding
        for chunk in _batches(windows, batch_size, max(max_tokens, max_length)):
            tokens = [sentences[i][a:b] for i, (a, b, _, _) in chunk]
            preds = self._predict_batch(tokens, want_probs, k)
            for (i, (a, _, keep_a, keep_b)), pred in zip(chunk, preds, strict=True):
                lo, hi = keep_a - a, keep_b - a  # the kept part, relative to the window
                tags[i][keep_a:keep_b] = pred.tags[lo:hi]
                if want_probs:
                    best_p[i][keep_a:keep_b] = pred.probs[lo:hi]
                if k:
                    top[i][keep_a:keep_b] = pred.top[lo:hi]
        return [
            Prediction(tags[i], best_p[i] if want_probs else None, top[i] if k else None) for i in range(len(sentences))
        ]

    def tokens_per_second(self, sentences: list[list[str]], repeats: int = 5) -> float:
        """Batch tagging speed: median of `repeats` passes over `sentences` after a warm-up pass, the
        encoding memo emptied before each, so that encoding is timed too."""
        self.tag(sentences)
        times = []
        for _ in range(repeats):
            self.forget()
            t0 = time.perf_counter()
            self.tag(sentences)
            times.append(time.perf_counter() - t0)
        return sum(map(len, sentences)) / statistics.median(times)

    def _memorise(self, forms: list[str]) -> None:
        self.vocab.memorise(forms)

    def forget(self) -> None:
        """Empty what is kept per form between calls (encodings, character vectors): benchmarks call it
        so that a timed pass does all the work a first pass does."""
        self.vocab.forget()
        self._forget_chars()

    def _forget_chars(self) -> None:
        self._char_rows.clear()
        self._char_table = None

    def _batch(self, sentences: list[list[str]]) -> Batch:
        b = self.vocab.batch(sentences)
        dev = self.device
        fields = {k: getattr(b, k).to(dev) for k in ("word_ids", "char_ids", "char_index", "mask")}
        return Batch(**fields, forms=b.forms)

    def _char_vectors(self, batch: Batch) -> torch.Tensor:
        """The character encoder's vectors for the batch's distinct forms (U, Dc): new forms are encoded,
        in one pass, and kept; the others are looked up."""
        forms, rows = batch.forms, self._char_rows
        if len(forms) > MEMO_SIZE:  # more forms than are kept: nothing to keep
            return self.net.embed.per_word(batch.char_ids)
        new = [j for j, f in enumerate(forms) if f not in rows]
        if len(rows) + len(new) > MEMO_SIZE:  # full: start over with this batch's forms
            self._forget_chars()
            new = list(range(len(forms)))
        if new:
            vectors = self.net.embed.per_word(batch.char_ids[torch.tensor(new, device=batch.char_ids.device)])
            table, n = self._char_table, len(rows)
            if table is None or n + len(new) > len(table):
                grown = vectors.new_empty((max(2 * n, n + len(new), 1024), vectors.size(1)))
                if table is not None:
                    grown[:n] = table[:n]
                self._char_table = table = grown
            table[n : n + len(new)] = vectors
            rows.update((forms[j], n + i) for i, j in enumerate(new))
        index = torch.tensor([rows[f] for f in forms], device=self._char_table.device)
        return self._char_table.index_select(0, index)

    @torch.inference_mode()
    def attention(self, tokens: Sequence[str]) -> list[np.ndarray]:
        """Attention weights for one sentence: per layer an array (heads, T_query, T_key)."""
        attention_weights = getattr(self.net.encoder, "attention_weights", None)
        if attention_weights is None:
            raise TaggerError(f"a {self.meta['config']['model']['encoder']} model has no attention weights")
        if not tokens:
            raise TaggerError("no tokens to draw the attention of")
        batch = self._batch([list(tokens)])
        return [w[0].float().cpu().numpy() for w in attention_weights(self.net.embed(batch), batch.mask)]

    @torch.inference_mode()
    def _scores(self, sentences: list[list[str]], probs: bool) -> torch.Tensor:
        """(B, T, tags) float on the CPU: tag probabilities with `probs`, else logits (same argmax)."""
        batch = self._batch(sentences)
        with torch.autocast(batch.mask.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            batch.char_vectors = self._char_vectors(batch)
            logits = self.net(batch).float()
        return (torch.softmax(logits, -1) if probs else logits).cpu()

    @torch.inference_mode()
    def _predict_batch(self, sentences: list[list[str]], want_probs: bool, k: int) -> list[Prediction]:
        scores = self._scores(sentences, want_probs)
        best = scores.argmax(-1).numpy()
        p = scores if want_probs else None
        out = []
        for row, sent in enumerate(sentences):
            n = len(sent)
            pred = Prediction([self.tags[i] for i in best[row, :n]])
            if p is not None:
                pred.probs = p[row, :n].max(-1).values.tolist()
            if k:
                vals, ids = p[row, :n].topk(k, dim=-1)
                pred.top = [
                    [(self.tags[j], v) for j, v in zip(ri, rv, strict=True)]
                    for ri, rv in zip(ids.tolist(), vals.tolist(), strict=True)
                ]
            out.append(pred)
        return out


class Ensemble(Tagger):
    """Several model files for one label column tagging together: each token gets the tag with the
    highest mean probability over the models (e.g. the same configuration trained with different seeds).
    Unknown-word statistics use the first model's vocabulary."""

    def __init__(self, members: Sequence[Tagger]):
        if not members:
            raise TaggerError("an ensemble needs at least one model")
        columns = sorted({m.label_column for m in members})
        if len(columns) > 1:
            raise TaggerError(f"ensemble models tag different columns ({', '.join(columns)})")
        first = members[0]
        super().__init__(first.net, first.vocab, first.meta, first.precision)
        self.members = list(members)
        self._tags = list(dict.fromkeys(t for m in members for t in m.tags))  # the first model's order, then others'
        position = {t: i for i, t in enumerate(self._tags)}
        self._columns = [torch.tensor([position[t] for t in m.tags]) for m in members]

    @classmethod
    def load(cls, paths: Sequence[str | os.PathLike], device: str | torch.device = "cpu", precision: str = "fp32"):
        return cls([Tagger.load(p, device, precision) for p in paths])

    @property
    def tags(self) -> list[str]:
        return self._tags

    def _memorise(self, forms: list[str]) -> None:
        for m in self.members:
            m._memorise(forms)

    def forget(self) -> None:
        for m in self.members:
            m.forget()

    @torch.inference_mode()
    def _scores(self, sentences: list[list[str]], probs: bool) -> torch.Tensor:
        total = torch.zeros(len(sentences), max(map(len, sentences)), len(self._tags))
        for m, columns in zip(self.members, self._columns, strict=True):
            total.index_add_(-1, columns, m._scores(sentences, True))
        return total / len(self.members)

    def attention(self, tokens: Sequence[str]) -> list[np.ndarray]:
        raise TaggerError("attention maps are drawn for one model, not an ensemble")


def load(paths: Sequence[str | os.PathLike], device: str | torch.device = "cpu", precision: str = "fp32") -> Tagger:
    """One model file: its Tagger; several: their Ensemble."""
    if len(paths) == 1:
        return Tagger.load(paths[0], device, precision)
    return Ensemble.load(paths, device, precision)
