"""Corpora as on-disk Arrow datasets, length-bucketed batches, and the LightningDataModule.

A CoNLL-U file is parsed once into a `datasets` cache keyed by the file's sha256, so an edited file
is parsed again and never served stale. Encoding (vocabulary ids) is a cached `map` on top.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import datasets
import lightning as L
import numpy as np
import torch
from datasets import Dataset, Features, List, Value
from torch.utils.data import DataLoader, Sampler

from tagger.batch import Batch, pad_batch
from tagger.conllu_io import LABEL_COLUMNS, column_index, read_conllu
from tagger.distill import Teacher
from tagger.errors import TaggerError
from tagger.treebanks import SPLITS, default_cache_dir, fetch, sha256_file
from tagger.vocab import Vocab, VocabConfig

log = logging.getLogger(__name__)

CORPUS_FEATURES = Features(
    {
        "forms": List(Value("string")),
        "lemma": List(Value("string")),
        "head": List(Value("string")),
        **{c: List(Value("string")) for c in LABEL_COLUMNS},
    }
)
ENCODED_FEATURES = Features(
    {
        "word_ids": List(Value("int32")),
        "char_ids": List(List(Value("int32"))),
        "labels": List(Value("int32")),
        "length": Value("int32"),
    }
)


@dataclass
class DataConfig:
    """Which data to train and validate on, and how to batch it.

    Args:
        treebank: short name of a known UD treebank (`tagger treebanks` lists them), or a list of them
            (trained on together, one shared vocabulary); supplies every split not given as files.
        train: CoNLL-U training file, or a list of files read as one corpus (overrides the treebanks').
        dev: CoNLL-U development file(s), for early stopping and model selection.
        test: CoNLL-U test file(s); never used by `train`, only recorded for `evaluate` and the benchmarks.
        label_column: the CoNLL-U column to predict: upos, xpos, feats or deprel.
        aux_columns: other columns (e.g. [xpos, feats]) predicted as auxiliary training targets by extra
            output layers that share the encoder (multi-task learning; see optim.aux_weight). Training
            only: the model file tags label_column. `feats:NAME` is one feature of FEATS (e.g.
            feats:Case: Nom, Acc, ..., or _ where a word has none) and `feats:*` one such target per
            feature name in the training data: FEATS factored, instead of each bundle a label of its own.
            `lemma_rule` is the edit that turns each (lowercased) word form into its lemma, e.g. strip 3
            characters at the end (UDPipe's lemma rules; the lemma itself is no closed label set), and
            `head_offset` where each word's syntactic head is (e.g. -1: the word before; root).
        mirror: directory or URL laid out like ../shared/treebanks to read treebanks from
            (default: $TAGGER_TREEBANK_MIRROR, else upstream).
        cache_dir: downloads and Arrow caches (default: $TAGGER_CACHE or ~/.cache/tagger).
        batch_size: sentences per training batch.
        eval_batch_size: sentences per validation/prediction batch.
        train_fraction: train on this fraction of the training sentences (the same subset for every
            model and seed, nested across fractions).
        num_workers: DataLoader worker processes.
        teachers: model files trained on the same label column (e.g. several seeds of one configuration)
            whose mean tag distribution for each training token becomes a second, soft target beside the
            gold tag (knowledge distillation; optim.distill_weight weighs the two). Empty: off.
        tag_substitution: training-time probability of replacing a token by a distinct training word with
            the same tag (and the same auxiliary targets), drawn uniformly (label-wise token replacement, Dai
            and Adel 2020): its word id and characters change, its targets stay (0: off).
    """

    treebank: str | list[str] | None = "en_ewt"
    train: str | list[str] | None = None
    dev: str | list[str] | None = None
    test: str | list[str] | None = None
    label_column: str = "upos"
    aux_columns: list[str] = field(default_factory=list)
    mirror: str | None = None
    cache_dir: str | None = None
    batch_size: int = 32
    eval_batch_size: int = 256
    train_fraction: float = 1.0
    num_workers: int = 0
    teachers: list[str] = field(default_factory=list)
    tag_substitution: float = 0.0


FEATURE_OF = ":"  # feats:Case, an auxiliary target read from a column
HEAD_REACH = 5  # head_offset: offsets beyond this many words are cut to it


def lemma_rule(form: str, lemma: str) -> str:
    """The edit from a word form to its lemma, both lowercased, around their longest common substring:
    `i>P|j>S` strips i characters at the start and puts P there, strips j at the end and puts S there
    (Hungarian legnagyobb -> nagy: `3>|3>`); `*L` where they share no character (went -> `*go`); `_` for
    no lemma."""
    if lemma == "_":
        return "_"
    f, lem = form.lower(), lemma.lower()
    i, j, n = SequenceMatcher(None, f, lem, autojunk=False).find_longest_match(0, len(f), 0, len(lem))
    if n == 0:
        return "*" + lem
    return f"{i}>{lem[:j]}|{len(f) - i - n}>{lem[j + n :]}"


def apply_lemma_rule(form: str, rule: str) -> str:
    """The (lowercased) lemma that `rule` (from lemma_rule) gives for `form`."""
    if rule == "_" or rule.startswith("*"):
        return rule[1:] if rule.startswith("*") else "_"
    start, end = rule.split("|")
    (i, prefix), (j, suffix) = start.split(">", 1), end.split(">", 1)
    f = form.lower()
    return prefix + f[int(i) : len(f) - int(j)] + suffix


def head_offsets(heads: list[str]) -> list[str]:
    """Where each word's syntactic head is, from one sentence's HEAD column: `root`, or the signed offset
    in words (`-1`: the word before), cut to +-HEAD_REACH; `_` where HEAD is not a number."""
    out = []
    for i, h in enumerate(heads, start=1):
        if not h.isdigit():
            out.append("_")
        elif h == "0":
            out.append("root")
        else:
            out.append(f"{max(-HEAD_REACH, min(HEAD_REACH, int(h) - i)):+d}")
    return out


# Auxiliary targets computed from other columns: name -> (the corpus columns read, one sentence's labels).
DERIVED_TARGETS = {
    "lemma_rule": (
        ("forms", "lemma"),
        lambda c: [lemma_rule(f, lem) for f, lem in zip(c["forms"], c["lemma"], strict=True)],
    ),
    "head_offset": (("head",), lambda c: head_offsets(c["head"])),
}


def aux_values(columns: dict[str, list], target: str) -> list[str]:
    """One sentence's labels for an auxiliary target, from its CoNLL-U columns: the column itself, for
    `feats:NAME` the value of feature NAME in each word's FEATS ("_" where it has none), or a derived
    target's labels (DERIVED_TARGETS)."""
    if target in DERIVED_TARGETS:
        return DERIVED_TARGETS[target][1](columns)
    column, _, feature = target.partition(FEATURE_OF)
    if not feature:
        return columns[column]
    return [dict(kv.split("=", 1) for kv in v.split("|") if "=" in kv).get(feature, "_") for v in columns[column]]


def _sources(target: str) -> tuple[str, ...]:
    """The corpus columns one auxiliary target reads (feats for feats:Case, head for head_offset)."""
    return DERIVED_TARGETS[target][0] if target in DERIVED_TARGETS else (target.partition(FEATURE_OF)[0],)


def aux_sources(targets: list[str]) -> list[str]:
    """The corpus columns that auxiliary targets read."""
    return sorted({c for t in targets for c in _sources(t)})


def expand_aux_targets(targets: list[str], train: Dataset) -> list[str]:
    """The auxiliary targets, `feats:*` replaced by one `feats:NAME` per feature name in the training data;
    each target's column validated."""
    out = []
    for t in targets:
        if t in DERIVED_TARGETS:  # its source column is checked with the vocabulary (DataModule.setup)
            out.append(t)
            continue
        column, _, feature = t.partition(FEATURE_OF)
        if column not in LABEL_COLUMNS:
            raise TaggerError(
                f"data.aux_columns: unknown target {t!r}; choose among {', '.join(LABEL_COLUMNS)}, "
                f"feats:NAME, feats:* and {', '.join(DERIVED_TARGETS)}"
            )
        if feature and column != "feats":
            raise TaggerError(f"data.aux_columns: {t!r}: only feats has features (feats:NAME or feats:*)")
        if feature != "*":
            out.append(t)
            continue
        names = {
            kv.split("=", 1)[0]
            for b in train.select_columns(["feats"]).iter(1000)
            for sent in b["feats"]
            for v in sent
            for kv in v.split("|")
            if "=" in kv
        }
        out += [f"feats{FEATURE_OF}{n}" for n in sorted(names)]
    return out


def collate(columns: dict[str, list]) -> Batch:
    return pad_batch(
        columns["word_ids"], columns["char_ids"], columns["labels"], columns.get("aux_labels"), columns.get("soft")
    )


class TagSubstitution:
    """The training collate with label-wise token replacement: each token, with probability p, becomes a
    distinct word of the training data that had the same targets (its tag, and with data.aux_columns each
    auxiliary target too, so that no target turns wrong), drawn uniformly over those words: rare words,
    the most like unknown ones, come up as often as frequent ones. Word id and characters change together;
    the targets stay. Draws come from torch's global generator, so a seeded run repeats and each
    DataLoader worker draws its own."""

    def __init__(self, encoded: Dataset, p: float):
        assert 0 < p < 1, "tag_substitution must be in (0, 1) (use collate for 0)"
        names = [n for n in ("word_ids", "char_ids", "labels", "aux_labels") if n in encoded.column_names]
        words: dict[tuple[int, ...], dict[tuple[int, ...], int]] = {}  # targets -> characters -> word id
        for b in encoded.select_columns(names).iter(1000):
            for i, (sent_words, sent_chars) in enumerate(zip(b["word_ids"], b["char_ids"], strict=True)):
                for word, chars, key in zip(sent_words, sent_chars, self.targets(b, i), strict=True):
                    words.setdefault(key, {}).setdefault(tuple(chars), word)
        self.p = p
        self.pools = {key: (list(forms.values()), [list(c) for c in forms]) for key, forms in words.items()}

    @staticmethod
    def targets(columns: dict[str, list], i: int) -> list[tuple[int, ...]]:
        """Each token's targets in sentence i: (tag, *auxiliary targets)."""
        aux = columns["aux_labels"][i] if columns.get("aux_labels") else []  # one list per auxiliary column
        return list(zip(columns["labels"][i], *aux, strict=True))

    def __call__(self, columns: dict[str, list]) -> Batch:
        word_ids = [list(s) for s in columns["word_ids"]]
        char_ids = [list(s) for s in columns["char_ids"]]
        where = [(i, j) for i, sent in enumerate(word_ids) for j in range(len(sent))]
        keys = [key for i in range(len(word_ids)) for key in self.targets(columns, i)]  # aligned with where
        hit = (torch.rand(len(where)) < self.p).nonzero()[:, 0].tolist()
        for k, u in zip(hit, torch.rand(len(hit)).tolist(), strict=True):
            i, j = where[k]
            ids, chars = self.pools[keys[k]]
            n = min(int(u * len(ids)), len(ids) - 1)
            word_ids[i][j], char_ids[i][j] = ids[n], chars[n]
        return collate({**columns, "word_ids": word_ids, "char_ids": char_ids})


def _generate(path: str, sha256: str) -> Iterator[dict]:
    # `sha256` is unused here: it is part of gen_kwargs so that the cache is keyed by content.
    for sent in read_conllu(path):
        if len(sent):
            yield {
                "forms": sent.forms,
                "lemma": sent.lemmas,
                "head": sent.heads,
                **{c: sent.column(c) for c in LABEL_COLUMNS},
            }


def load_corpus(path: str | Path, cache_dir: str | Path | None = None) -> Dataset:
    """The sentences of a CoNLL-U file as an Arrow-backed Dataset, parsed once per file content."""
    path = Path(path)
    if not path.is_file():
        raise TaggerError("no such file", path)
    cache = Path(cache_dir or default_cache_dir()) / "datasets"
    try:
        return Dataset.from_generator(
            _generate,
            features=CORPUS_FEATURES,
            gen_kwargs={"path": str(path.resolve()), "sha256": sha256_file(path)},
            cache_dir=str(cache),
        )
    except datasets.exceptions.DatasetGenerationError as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, TaggerError):
            raise cause from None
        raise


def encode_corpus(
    corpus: Dataset,
    vocab: Vocab,
    label_column: str,
    fingerprint: str,
    aux_columns: list[str] = (),
    teacher: Teacher | None = None,
) -> Dataset:
    """Add vocabulary ids, and with a teacher its tag distributions (`soft`, per token one probability per
    tag of the vocabulary); cached on disk under a fingerprint of the corpus, vocabulary, columns and teacher."""
    column_index(label_column)  # validates the name
    sources = aux_sources(aux_columns)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        forms = batch["forms"]
        out = {
            "word_ids": vocab.encode_words(forms),
            "char_ids": vocab.encode_chars(forms),
            "labels": [vocab.encode_tags(t) for t in batch[label_column]],
            "length": [len(f) for f in forms],
        }
        if aux_columns:  # per sentence, one id list per auxiliary column
            sentences = ({c: batch[c][i] for c in sources} for i in range(len(forms)))
            out["aux_labels"] = [[vocab.encode_aux(t, aux_values(cols, t)) for t in aux_columns] for cols in sentences]
        if teacher is not None:
            out["soft"] = [d.tolist() for d in teacher(forms)]
        return out

    columns = label_column + "".join(f"+{c}" for c in aux_columns)
    taught = "" if teacher is None else f"|teacher {teacher.fingerprint}"
    key = hashlib.sha256(f"{corpus._fingerprint}|{fingerprint}|{columns}{taught}".encode()).hexdigest()[:32]
    features = ENCODED_FEATURES
    if aux_columns:
        features = Features({**features, "aux_labels": List(List(Value("int32")))})
    if teacher is not None:
        features = Features({**features, "soft": List(List(Value("float32")))})
    return corpus.map(
        encode,
        batched=True,
        remove_columns=corpus.column_names,
        features=features,
        new_fingerprint=key,
        desc="encoding",
    )


class TorchCorpus(torch.utils.data.Dataset):
    """Adapts an encoded Arrow dataset to torch; `__getitems__` fetches a whole batch in one call."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.lengths = np.asarray(ds["length"])

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        return self.ds[i]

    def __getitems__(self, indices: list[int]) -> dict[str, list]:
        return self.ds[indices]


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of sentences of similar length, to limit padding.

    Shuffled: sentences are shuffled, cut into chunks of `bucket` batches, sorted by length within a
    chunk, cut into batches, and the batch order shuffled. Not shuffled: sorted by length globally.
    With torch.distributed initialised, each rank takes every world_size-th batch: in training the same
    count on every rank (DDP all-reduces gradients every step; the few left over are dropped), in
    evaluation all of them (metrics are summed over ranks once, at the end), so that validation scores
    count every sentence exactly once, unlike a DistributedSampler that pads with duplicates.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0, bucket: int = 50):
        self.lengths, self.batch_size, self.shuffle, self.seed, self.bucket = lengths, batch_size, shuffle, seed, bucket
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng((self.seed, self.epoch))
        perm = rng.permutation(n)
        batches = []
        step = self.batch_size * self.bucket
        for start in range(0, n, step):
            chunk = perm[start : start + step]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return batches
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        if not self.shuffle:  # evaluation: every batch exactly once over all ranks, none duplicated
            return batches[rank::world]
        per_rank = len(batches) // world  # training: the same number of steps on every rank
        return batches[rank : per_rank * world : world]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._shard(self._batches()))

    def __len__(self) -> int:
        return len(self._shard(self._batches()))


def _as_list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def fraction_subset(corpus: Dataset, fraction: float) -> Dataset:
    """The first `fraction` of one fixed permutation: the same subset for every model, nested across fractions."""
    if not 0 < fraction <= 1:
        raise TaggerError(f"data.train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return corpus
    perm = np.random.default_rng(0).permutation(len(corpus))
    return corpus.select(np.sort(perm[: max(1, round(fraction * len(corpus)))]))


class TaggerDataModule(L.LightningDataModule):
    """Resolves, parses, caches and encodes the splits; builds the vocabulary from train."""

    def __init__(self, cfg: DataConfig, vocab_cfg: VocabConfig, seed: int = 0, vocab: Vocab | None = None):
        super().__init__()
        self.cfg, self.vocab_cfg, self.seed = cfg, vocab_cfg, seed
        self.vocab = vocab
        self.encoded: dict[str, Dataset] = {}
        self.substitution: TagSubstitution | None = None  # the training collate with data.tag_substitution
        self.aux_columns: list[str] = []  # data.aux_columns with feats:* expanded, known after setup
        self.checksums: dict[str, str | list[str]] = {}

    def paths(self, split: str) -> list[Path]:
        """The files of a split: explicit paths, else the treebanks' (fetched if needed)."""
        assert split in SPLITS
        explicit = getattr(self.cfg, split)
        if explicit:
            return [Path(p) for p in _as_list(explicit)]
        return [
            fetch(name, split, mirror=self.cfg.mirror, cache_dir=self.cfg.cache_dir)
            for name in _as_list(self.cfg.treebank)
        ]

    def _corpus(self, split: str) -> Dataset | None:
        """The split's files as one Arrow-backed dataset (memory-mapped, concatenated without copying)."""
        paths = self.paths(split)
        if not paths:
            return None
        sums = [sha256_file(p) for p in paths]
        self.checksums[split] = sums[0] if len(sums) == 1 else sums
        corpora = [load_corpus(p, self.cfg.cache_dir) for p in paths]
        return corpora[0] if len(corpora) == 1 else datasets.concatenate_datasets(corpora)

    def prepare_data(self) -> None:
        for split in ("train", "dev"):
            for p in self.paths(split):
                load_corpus(p, self.cfg.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.encoded:
            return
        aux = list(self.cfg.aux_columns)
        column_index(self.cfg.label_column)
        train = self._corpus("train")
        if train is None:
            raise TaggerError("no training data: set data.treebank or data.train")
        train = fraction_subset(train, self.cfg.train_fraction)
        self.aux_columns = aux = expand_aux_targets(aux, train)
        if self.cfg.label_column in aux or len(set(aux)) < len(aux):
            raise TaggerError(f"data.aux_columns {aux}: each column once, and not the label column")
        if self.vocab is None:
            # One vocabulary over all training files, read in slices: memory grows with the number of
            # distinct words, not with the corpus.
            names = list(dict.fromkeys(["forms", self.cfg.label_column, *aux_sources(aux)]))
            rows = (
                (cols["forms"], cols[self.cfg.label_column], *(aux_values(cols, t) for t in aux))
                for b in train.select_columns(names).iter(1000)
                for cols in (dict(zip(names, row, strict=True)) for row in zip(*(b[n] for n in names), strict=True))
            )
            self.vocab = Vocab.build(rows, self.vocab_cfg, aux)
            log.info(
                "vocabulary: %d words, %d characters, %d tags",
                self.vocab.n_words,
                self.vocab.n_chars,
                self.vocab.n_tags,
            )
        for t in aux:  # a derived target with nothing but _ (no source column): GSD's lemma rule
            if t in DERIVED_TARGETS and set(self.vocab.aux_tags[t]) <= {"_"}:
                column = _sources(t)[-1].upper()
                raise TaggerError(f"data.aux_columns: {t}: the training data's {column} column is _ throughout")
        fp = hashlib.sha256(json.dumps(self.vocab.to_dict(), sort_keys=True).encode()).hexdigest()
        teacher = Teacher(self.cfg.teachers, self.vocab.tags, self.cfg.label_column) if self.cfg.teachers else None
        self.encoded["train"] = encode_corpus(train, self.vocab, self.cfg.label_column, fp, aux, teacher)
        p = self.cfg.tag_substitution
        self.substitution = TagSubstitution(self.encoded["train"], p) if p else None
        dev = self._corpus("dev")
        if dev is not None:
            self.encoded["dev"] = encode_corpus(dev, self.vocab, self.cfg.label_column, fp, aux)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        corpus = TorchCorpus(self.encoded[split])
        size = self.cfg.batch_size if shuffle else self.cfg.eval_batch_size
        return DataLoader(
            corpus,
            batch_sampler=BucketBatchSampler(corpus.lengths, size, shuffle, seed=self.seed),
            collate_fn=self.substitution if split == "train" and self.substitution else collate,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("dev", shuffle=False) if "dev" in self.encoded else []
