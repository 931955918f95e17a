"""Word, character and tag vocabularies, built with `tokenizers` and saved inside the model file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from tagger.batch import Batch

PAD, UNK, BOW, EOW = "<pad>", "<unk>", "<w>", "</w>"
MEMO_SIZE = 200_000  # forms whose encodings Vocab.batch keeps
PAD_ID, UNK_ID, BOW_ID, EOW_ID = 0, 1, 2, 3


@dataclass
class VocabConfig:
    """How vocabularies are built from the training data.

    Args:
        min_freq: words seen fewer times in training map to the unknown-word id (the character encoder
            still sees them).
        max_size: keep at most this many words, most frequent first (None: no limit).
        lowercase: lowercase words before the word lookup; characters keep their case.
        char_min_freq: characters seen fewer times map to the unknown-character id.
        max_word_chars: longer words keep their first and last max_word_chars/2 characters.
    """

    min_freq: int = 2
    max_size: int | None = None
    lowercase: bool = True
    char_min_freq: int = 1
    max_word_chars: int = 20


def _word_tokenizer(lowercase: bool) -> Tokenizer:
    # No pre-tokenizer: a UD token such as "New York" or "e-mail" is one entry and one id.
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    return tok


def _char_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOW} $A {EOW}", special_tokens=[(BOW, BOW_ID), (EOW, EOW_ID)]
    )
    return tok


class Vocab:
    """Maps words to ids, words to character ids, and tags to ids; knows the training words."""

    def __init__(
        self,
        words: Tokenizer,
        chars: Tokenizer,
        tags: list[str],
        known: Iterable[str],
        max_word_chars: int,
        aux_tags: dict[str, list[str]] | None = None,
    ):
        self.words, self.chars, self.tags = words, chars, list(tags)
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        # label sets of the auxiliary training targets (other CoNLL-U columns), by column
        self.aux_tags = {c: list(t) for c, t in (aux_tags or {}).items()}
        self._aux_index = {c: {t: i for i, t in enumerate(ts)} for c, ts in self.aux_tags.items()}
        self._memo: dict[str, tuple[int, list[int]]] = {}  # form -> (word id, char ids), see batch()
        self.known = frozenset(known)  # every form seen in training, for unknown-word accuracy
        self.form_counts: dict[str, int] | None = None  # training counts, set by build (not saved)
        self.max_word_chars = max_word_chars
        assert words.token_to_id(PAD) == PAD_ID and words.token_to_id(UNK) == UNK_ID
        assert chars.token_to_id(BOW) == BOW_ID and chars.token_to_id(EOW) == EOW_ID

    @classmethod
    def build(cls, sentences: Iterable[tuple], cfg: VocabConfig, aux_columns: Iterable[str] = ()) -> Vocab:
        """Build from (forms, tags) pairs of the training data, or (forms, tags, *aux) tuples with one label
        list per auxiliary column."""
        aux_columns = list(aux_columns)
        counts: Counter[str] = Counter()  # memory grows with the distinct forms, not the corpus
        tags: set[str] = set()
        aux: list[set[str]] = [set() for _ in aux_columns]
        for forms, labels, *aux_labels in sentences:
            counts.update(forms)
            tags.update(labels)
            for seen, labels_of_column in zip(aux, aux_labels, strict=True):
                seen.update(labels_of_column)

        def forms_seen() -> Iterator[str]:  # the training tokens again, as the tokenizers' trainers count them
            for form, n in counts.items():
                yield from repeat(form, n)

        words = _word_tokenizer(cfg.lowercase)
        words.train_from_iterator(
            forms_seen(),
            trainers.WordLevelTrainer(
                vocab_size=(cfg.max_size + 2) if cfg.max_size else 1 << 30,
                min_frequency=cfg.min_freq,
                special_tokens=[PAD, UNK],
                show_progress=False,
            ),
        )
        chars = _char_tokenizer()
        chars.train_from_iterator(
            forms_seen(),
            trainers.WordLevelTrainer(
                min_frequency=cfg.char_min_freq, special_tokens=[PAD, UNK, BOW, EOW], show_progress=False
            ),
        )
        aux_tags = {c: sorted(seen) for c, seen in zip(aux_columns, aux, strict=True)}
        vocab = cls(words, chars, sorted(tags), counts.keys(), cfg.max_word_chars, aux_tags)
        vocab.form_counts = dict(counts)
        return vocab

    def word_counts(self) -> np.ndarray:
        """Training tokens per word id (forms that share an id, e.g. by case, add up); pad and unknown: 0."""
        if self.form_counts is None:
            raise ValueError("word counts are known only for a vocabulary built from training data")
        forms = list(self.form_counts)
        ids = np.asarray(self.encode_words([forms])[0] if forms else [], dtype=np.int64)
        n = np.fromiter(self.form_counts.values(), dtype=np.int64, count=len(forms))
        out = np.bincount(ids, weights=n, minlength=self.n_words).astype(np.int64)
        out[[PAD_ID, UNK_ID]] = 0
        return out

    @property
    def n_words(self) -> int:
        return self.words.get_vocab_size()

    @property
    def n_chars(self) -> int:
        return self.chars.get_vocab_size()

    @property
    def n_tags(self) -> int:
        return len(self.tags)

    def encode_words(self, sentences: list[list[str]]) -> list[list[int]]:
        out = []
        for forms, enc in zip(sentences, self.words.encode_batch(sentences, is_pretokenized=True), strict=True):
            if len(enc.ids) == len(forms):
                out.append(enc.ids)
            else:  # a normaliser can drop an empty word; align by word index and fill with <unk>
                ids = [UNK_ID] * len(forms)
                for i, w in zip(enc.ids, enc.word_ids, strict=True):
                    ids[w] = i
                out.append(ids)
        return out

    def encode_chars(self, sentences: list[list[str]]) -> list[list[list[int]]]:
        flat = [w for forms in sentences for w in forms]
        half = self.max_word_chars // 2
        ids = [w if len(w) <= self.max_word_chars + 2 else w[: half + 1] + w[-half - 1 :] for w in self._char_ids(flat)]
        out, i = [], 0
        for forms in sentences:
            out.append(ids[i : i + len(forms)])
            i += len(forms)
        return out

    def _char_ids(self, words: list[str]) -> list[list[int]]:
        """<w> + one id per character + </w>, for each word.

        The words go to the tokenizer as one string: its pre-tokenizer makes one piece per character, so
        the ids split back into words by their lengths; one string is 2x faster than a batch of words.
        Where pieces and characters do not line up (a run of line breaks is one piece), word by word.
        """
        ids = self.chars.encode("".join(words), add_special_tokens=False).ids
        if len(ids) != sum(map(len, words)):
            return [e.ids for e in self.chars.encode_batch(words)]
        out, i = [], 0
        for w in words:
            out.append([BOW_ID, *ids[i : i + len(w)], EOW_ID])
            i += len(w)
        return out

    def batch(self, sentences: list[list[str]]) -> Batch:
        """A padded Batch for tagging, the same as `pad_batch(encode_words(s), encode_chars(s))`, faster:
        each distinct form of the batch is looked up once, in a memo of what the tokenizers returned for
        it, and only forms never seen before go to the tokenizers."""
        rows: dict[str, int] = {}
        index = [rows.setdefault(f, len(rows)) for forms in sentences for f in forms]
        forms = list(rows)
        self.memorise(forms)
        entries = [self._memo[f] for f in forms]
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        mask = np.arange(max(int(lengths.max(initial=0)), 1))[None, :] < lengths[:, None]  # (B, T)
        char_index = np.zeros(mask.shape, dtype=np.int64)
        char_index[mask] = index
        word_of_row = np.fromiter((w for w, _ in entries), dtype=np.int64, count=len(entries))
        words = np.where(mask, word_of_row[char_index] if len(entries) else 0, PAD_ID)
        char_lens = np.fromiter((len(c) for _, c in entries), dtype=np.int64, count=len(entries))
        chars = np.zeros((max(len(entries), 1), max(int(char_lens.max(initial=0)), 1)), dtype=np.int64)
        chars[np.arange(chars.shape[1])[None, :] < char_lens[:, None]] = [i for _, c in entries for i in c]
        return Batch(*(torch.from_numpy(a) for a in (words, chars, char_index, mask)), forms=forms)

    def forget(self) -> None:
        """Empty the encoding memo (benchmarks: encoding is part of tagging)."""
        self._memo.clear()

    def memorise(self, forms: Iterable[str]) -> None:
        """Encode the forms not yet in the memo, in one call to each tokenizer (a call has a fixed cost:
        a whole input's forms at once are ~2x faster than batch by batch)."""
        new = list(dict.fromkeys(f for f in forms if f not in self._memo))
        if not new:
            return
        if len(self._memo) + len(new) > MEMO_SIZE:
            self._memo.clear()
        ids = self.encode_words([new])[0]
        self._memo.update(zip(new, zip(ids, self.encode_chars([new])[0], strict=True), strict=True))

    def encode_tags(self, tags: list[str]) -> list[int]:
        """Tag ids; a tag unseen in training gets id n_tags (never predicted, ignored by the loss)."""
        return [self.tag_index.get(t, self.n_tags) for t in tags]

    def encode_aux(self, column: str, tags: list[str]) -> list[int]:
        """Ids of an auxiliary column's labels; unseen ones get the column's label count (ignored)."""
        index = self._aux_index[column]
        return [index.get(t, len(index)) for t in tags]

    def decode_tags(self, ids: np.ndarray | list[int]) -> list[str]:
        return [self.tags[i] for i in ids]

    def to_dict(self) -> dict:
        d = {
            "words": json.loads(self.words.to_str()),
            "chars": json.loads(self.chars.to_str()),
            "tags": self.tags,
            "known": sorted(self.known),
            "max_word_chars": self.max_word_chars,
        }
        if self.aux_tags:  # absent otherwise: vocabularies (and their data caches) as before
            d["aux_tags"] = self.aux_tags
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(
            Tokenizer.from_str(json.dumps(d["words"])),
            Tokenizer.from_str(json.dumps(d["chars"])),
            d["tags"],
            d["known"],
            d["max_word_chars"],
            d.get("aux_tags"),
        )
