"""Input representation: word embeddings with word dropout, plus a character-level word vector (and,
optionally, a sentence-level character model's token vector)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from tagger.models.config import EmbedConfig
from tagger.models.rnn import run_packed

UNK_ID = 1  # must match tagger.vocab.UNK_ID; models import only torch


def char_dropout(p: float) -> nn.Module:
    """Dropout on character vectors; none at 0 (nn.Identity draws no random numbers, so runs without it
    repeat those from before the option)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


class CharCNN(nn.Module):
    """Convolution over a word's characters, max-pooled: (N, L) char ids -> (N, out).

    The words are laid end to end, kernel//2 zero (padding) characters apart, and convolved as one
    sequence; each word's outputs are then max-pooled as a segment. That is the same function as
    convolving the padded (N, L) block, but does no work on padding: 4x faster forward and backward on
    EWT batches, where L is the longest word and most words are short.
    """

    def __init__(self, n_chars: int, cfg: EmbedConfig):
        super().__init__()
        if cfg.char_kernel % 2 != 1:
            raise ValueError(f"char_kernel must be odd, got {cfg.char_kernel}")
        self.embed = nn.Embedding(n_chars, cfg.char_dim, padding_idx=0)
        self.char_dropout = char_dropout(cfg.char_dropout)
        self.gap = cfg.char_kernel // 2
        self.conv = nn.Conv1d(cfg.char_dim, cfg.char_out, cfg.char_kernel, padding=self.gap)
        self.output_dim = cfg.char_out

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        n, length = chars.shape
        lengths = (chars != 0).sum(1)  # (N,)
        pos = torch.arange(self.gap + length, device=chars.device)
        keep = pos[None, :] < (lengths + self.gap)[:, None]  # (N, gap + L): the gap, then the word
        flat = torch.cat([F.pad(chars, (self.gap, 0))[keep], chars.new_zeros(self.gap)])  # (P,)
        real = torch.cat([(pos >= self.gap).expand(n, -1)[keep], keep.new_zeros(self.gap)])  # (P,)
        h = self.conv(self.char_dropout(self.embed(flat)).T[None])[0].T  # (P, out)
        # max with an initial 0 is the ReLU of the max (and 0 for a row without characters)
        return torch.segment_reduce(h[real], "max", lengths=lengths, initial=0.0)  # (N, out)


class CharBiLSTM(nn.Module):
    """Bidirectional LSTM over a word's characters; the two final states: (N, L) -> (N, out)."""

    def __init__(self, n_chars: int, cfg: EmbedConfig):
        super().__init__()
        assert cfg.char_out % 2 == 0, "char_out must be even for a BiLSTM"
        self.embed = nn.Embedding(n_chars, cfg.char_dim, padding_idx=0)
        self.char_dropout = char_dropout(cfg.char_dropout)
        self.lstm = nn.LSTM(cfg.char_dim, cfg.char_out // 2, batch_first=True, bidirectional=True)
        self.output_dim = cfg.char_out

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        lengths = (chars != 0).sum(1).clamp(min=1).cpu()  # packing needs lengths on the CPU
        x = self.char_dropout(self.embed(chars))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (2, N, out/2)
        return torch.cat([h[0], h[1]], dim=-1)


class NoChars(nn.Module):
    """No character representation: a zero-width vector."""

    def __init__(self, n_chars: int, cfg: EmbedConfig):
        super().__init__()
        self.output_dim = 0

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        return chars.new_zeros((chars.size(0), 0), dtype=torch.float)


CHAR_ENCODERS = {"cnn": CharCNN, "bilstm": CharBiLSTM, "none": NoChars}


class SentenceChars(nn.Module):
    """A BiLSTM over the characters of the whole sentence, word marks included, as the sentence-level
    character model of Bohnet et al. (2018): a token's vector is the forward state at its last character
    (its end mark) beside the backward state at its first (its start mark), so it reads the characters of
    the words around it too. (B, T, L) char ids of each token, mask (B, T) -> (B, T, out), zero at padding.

    The tokens' characters are packed end to end per sentence (no padding between words) before the LSTM.
    """

    def __init__(self, n_chars: int, char_dim: int, out: int, dropout: float = 0.0):
        super().__init__()
        assert out > 0 and out % 2 == 0, "sentence_chars must be even and > 0"
        self.embed = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)  # on the character vectors the LSTM reads
        self.lstm = nn.LSTM(char_dim, out // 2, batch_first=True, bidirectional=True)
        self.output_dim = out

    def forward(self, chars: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        real = (chars != 0) & mask[..., None]  # (B, T, L): a token's characters come first in its row
        lengths = real.sum(-1)  # (B, T)
        ends = lengths.cumsum(-1)  # (B, T): one past each token's last character in the packed sentence
        flat = real.flatten(1)  # (B, T * L)
        pos = flat.long().cumsum(-1) - 1  # packed position of each real character
        packed_ids = chars.new_zeros(chars.size(0), max(int(ends[:, -1].max()), 1))  # (B, S)
        packed_ids[flat.nonzero(as_tuple=True)[0], pos[flat]] = chars.flatten(1)[flat]
        h = run_packed(self.lstm, self.dropout(self.embed(packed_ids)), packed_ids != 0)  # (B, S, out)
        half = self.output_dim // 2
        last = (ends - 1).clamp(min=0)  # (B, T)
        first = (ends - lengths).clamp(max=h.size(1) - 1)
        fwd = h[..., :half].gather(1, last[..., None].expand(-1, -1, half))
        bwd = h[..., half:].gather(1, first[..., None].expand(-1, -1, half))
        return torch.cat([fwd, bwd], -1) * mask[..., None].to(h.dtype)


class Affixes(nn.Module):
    """Learned prefix and suffix vectors: (N, L) char ids -> (N, 2 * n * dim), for the first and the last
    1..n characters of each word, read from the word-start and word-end marks of its character ids.

    Affixes are not listed in a vocabulary: each is hashed, twice, into one table, and its vector is the
    sum of the two rows (as spaCy's hash embeddings do), so two affixes rarely share both rows. Where a
    word is shorter than an affix, that affix is the whole word with both marks: one of its own.
    """

    MOD = 2**31 - 1
    HASHES = ((1_000_003, 7), (999_979, 11))  # (multiplier, seed) of the two hashes
    SCRAMBLE = 742_938_285  # a final multiplier mod MOD, so that near-equal affixes land far apart

    def __init__(self, n: int, dim: int, buckets: int):
        super().__init__()
        assert n > 0 and dim > 0 and buckets > 0, "affixes, affix_dim and affix_buckets must be > 0"
        self.n = n
        self.table = nn.Embedding(buckets, dim)
        # Two rows summed: unit-scale vectors, as nn.Embedding's. (Zeros, so that an affix no training word
        # had stays "unknown", with each affix zeroed at the word-dropout rate, did worse: README.)
        nn.init.normal_(self.table.weight, std=0.5)
        self.output_dim = 2 * n * dim

    def hashes(self, chars: torch.Tensor) -> torch.Tensor:
        """(N, L) char ids -> (N, 2 sides, 2 hashes, n lengths) table rows."""
        lengths = (chars != 0).sum(1, keepdim=True)  # (N, 1)
        steps = torch.arange(self.n + 1, device=chars.device)[None, :]  # (1, n+1): the mark, then n characters
        front = chars.gather(1, steps.clamp(max=chars.size(1) - 1).expand(chars.size(0), -1))
        front = front.masked_fill(steps >= lengths, 0)  # (N, n+1), first id first
        back_pos = lengths - 1 - steps
        back = chars.gather(1, back_pos.clamp(min=0)).masked_fill(back_pos < 0, 0)  # (N, n+1), last id first
        rows = []
        for side, ids in enumerate((front, back)):
            for mult, seed in self.HASHES:
                h = torch.full_like(ids[:, 0], seed + side)
                states = []
                for j in range(self.n + 1):  # a rolling hash: after step j it covers the mark and j characters
                    h = (h * mult + ids[:, j] + 1) % self.MOD
                    states.append(h)
                rows.append(torch.stack(states[1:], 1) * self.SCRAMBLE % self.MOD)  # (N, n)
        return torch.stack(rows, 1).view(-1, 2, 2, self.n) % self.table.num_embeddings

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        return self.table(self.hashes(chars)).sum(2).flatten(1)  # (N, 2, n, dim): the two hashes' rows summed


class WordDropout(nn.Module):
    """In training, replaces each real word id by the unknown-word id with probability p, and, once the
    training counts are set (`set_counts`), word id i also with probability alpha / (alpha + count_i)."""

    def __init__(self, p: float, alpha: float = 0.0):
        super().__init__()
        self.p, self.alpha = p, alpha
        # per-id probability of keeping the word; not saved: a model file needs no training counts
        self.register_buffer("keep", torch.ones(0), persistent=False)

    def set_counts(self, counts: torch.Tensor) -> None:
        """Training counts by word id (pad and unknown: 0, never dropped by frequency)."""
        keep = 1 - self.alpha / (self.alpha + counts.double())
        keep[counts == 0] = 1.0
        self.keep = (keep * (1 - self.p)).float().to(self.keep.device)

    def forward(self, word_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.p == 0 and self.alpha == 0):
            return word_ids
        if self.alpha and not len(self.keep):
            raise RuntimeError("word_dropout_alpha needs the training counts: call set_counts first")
        u = torch.rand(word_ids.shape, device=word_ids.device)
        drop = (u >= self.keep[word_ids] if self.alpha else u < self.p) & mask
        return word_ids.masked_fill(drop, UNK_ID)


class Embedder(nn.Module):
    """A batch (word_ids (B, T), char_ids (U, L), char_index (B, T), mask (B, T)) -> (B, T, output_dim):
    word_dim + char_out (+ the affixes' and sentence_chars' widths, when set)."""

    def __init__(self, n_words: int, n_chars: int, cfg: EmbedConfig):
        super().__init__()
        if cfg.char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"unknown char_encoder {cfg.char_encoder!r}; choose one of {', '.join(CHAR_ENCODERS)}")
        self.words = nn.Embedding(n_words, cfg.word_dim, padding_idx=0)
        self.chars = CHAR_ENCODERS[cfg.char_encoder](n_chars, cfg)
        self.affixes = Affixes(cfg.affixes, cfg.affix_dim, cfg.affix_buckets) if cfg.affixes else NoChars(0, cfg)
        self.word_dropout = WordDropout(cfg.word_dropout, cfg.word_dropout_alpha)
        self.dropout = nn.Dropout(cfg.dropout)
        sentence = cfg.sentence_chars
        self.sentence_chars = (
            SentenceChars(n_chars, cfg.char_dim, sentence, cfg.sentence_chars_dropout) if sentence else None
        )
        # the part that depends on characters only (the sentence's, with sentence_chars)
        self.char_dim = self.chars.output_dim + self.affixes.output_dim + sentence
        self.output_dim = cfg.word_dim + self.char_dim

    def per_word(self, char_ids: torch.Tensor) -> torch.Tensor:
        """The part of a word's vector that depends on its characters only: (U, L) -> (U, Dc)."""
        return torch.cat([self.chars(char_ids), self.affixes(char_ids)], dim=-1)

    def parts(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Before dropout: the word embeddings (B, T, Dw), word dropout applied, and each token's
        character-level part (B, T, Dc), zero at padding."""
        mask = batch.mask
        w = self.words(self.word_dropout(batch.word_ids, mask))  # (B, T, Dw)
        per_word = batch.char_vectors  # (U, Dc): each distinct word of the batch once
        if per_word is None:
            per_word = self.per_word(batch.char_ids)
        c = per_word[batch.char_index] * mask[..., None].to(per_word.dtype)  # (B, T, Dc), zero at padding
        if self.sentence_chars is not None:
            c = torch.cat([c, self.sentence_chars(batch.char_ids[batch.char_index], mask).to(c.dtype)], dim=-1)
        return w, c

    def combine(self, w: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The input vectors (B, T, Dw + Dc) from `parts`."""
        return self.dropout(torch.cat([w, c.to(w.dtype)], dim=-1))

    def forward(self, batch) -> torch.Tensor:
        return self.combine(*self.parts(batch))
