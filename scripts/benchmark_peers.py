"""Train and time issue #7's peers on the same EWT data, so that they are measured side by side with
`scripts/benchmark_speed.py` on the same machine. Extra dependencies, not in the default install:

    .venv/bin/pip install -c constraints.txt python-crfsuite nltk ufal.udpipe "spacy==3.8.*"
    .venv/bin/python scripts/benchmark_peers.py --out runs/peers
    .venv/bin/python scripts/benchmark_peers.py --out runs/peers --peers crf perceptron   # a subset

Peers, each trained from scratch on EWT train only (dev where the tool selects on held-out data) and
scored on EWT test:
  - crf: a CRF (python-crfsuite, L-BFGS with L1+L2, the usual word/affix/shape features of the token and
    its neighbours within 2);
  - perceptron: NLTK's averaged perceptron tagger (5 passes);
  - udpipe: UDPipe 1.4's tagger with its default options (no tokenizer, no parser);
  - spacy: spaCy 3.8's tagger on UPOS (the efficiency CNN tok2vec of `spacy init config`, no vectors).
Tagging speed is timed as the issue asks: one thread, after a warm-up pass, median of 5 passes over the
test set, from in-memory token lists to tags with feature extraction for the CRF and the perceptron;
UDPipe's `model.tag` and spaCy's `nlp.pipe` only (their Sentence / Doc objects are built untimed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tagger.fileutil import atomic_path, atomic_write  # noqa: E402  (after the thread setting)


def word_features(sent: list[str], i: int) -> list[str]:
    w = sent[i]
    low = w.lower()
    f = [
        "bias",
        f"w={low}",
        f"p1={w[:1]}",
        f"p2={w[:2]}",
        f"p3={w[:3]}",
        f"s1={w[-1:]}",
        f"s2={w[-2:]}",
        f"s3={w[-3:]}",
        f"s4={w[-4:]}",
        f"len={min(len(w), 8)}",
        f"shape={''.join('X' if c.isupper() else 'x' if c.islower() else 'd' if c.isdigit() else c for c in w)[:6]}",
    ]
    if w.istitle():
        f.append("title")
    if w.isupper():
        f.append("upper")
    if any(c.isdigit() for c in w):
        f.append("digit")
    if "-" in w:
        f.append("hyphen")
    if i == 0:
        f.append("first")
    for d in (-2, -1, 1, 2):
        j = i + d
        if 0 <= j < len(sent):
            n = sent[j]
            f += [f"{d}:w={n.lower()}", f"{d}:s2={n[-2:]}", f"{d}:s3={n[-3:]}"]
            if n.istitle():
                f.append(f"{d}:title")
        else:
            f.append(f"{d}:edge")
    prev = sent[i - 1].lower() if i else "<s>"
    nxt = sent[i + 1].lower() if i + 1 < len(sent) else "</s>"
    f += [f"w-1|w={prev}|{low}", f"w|w+1={low}|{nxt}"]
    return f


def sentences(path: Path) -> list[tuple[list[str], list[str]]]:
    from tagger.conllu_io import read_conllu

    return [(s.forms, s.column("upos")) for s in read_conllu(path) if len(s)]


def timed(tag, inputs: list, n_tokens: int, repeats: int = 5) -> float:
    """Tokens/s of tag(inputs) after a warm-up call: median of `repeats` calls."""
    tag(inputs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tag(inputs)
        times.append(time.perf_counter() - t0)
    return n_tokens / statistics.median(times)


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def crf(train, test, out: Path) -> dict:
    import pycrfsuite

    path = out / "crf.crfsuite"
    t0 = time.perf_counter()
    cached = path.exists()
    if not cached:
        trainer = pycrfsuite.Trainer(verbose=False)
        for forms, tags in train:
            trainer.append([word_features(forms, i) for i in range(len(forms))], tags)
        trainer.set_params({"c1": 0.1, "c2": 0.05, "max_iterations": 300})
        with atomic_path(path) as tmp:  # a killed run leaves no half-written model to be taken as cached
            trainer.train(str(tmp))
    train_s = None if cached else time.perf_counter() - t0
    tagger = pycrfsuite.Tagger()
    tagger.open(str(path))

    def tag(batch):
        return [tagger.tag([word_features(f, i) for i in range(len(f))]) for f in batch]

    return {"peer": "CRF (python-crfsuite)", "tag": tag, "train_s": train_s, "size_mb": path.stat().st_size / 2**20}


def perceptron(train, test, out: Path) -> dict:
    import json

    from nltk.tag.perceptron import PerceptronTagger

    t0 = time.perf_counter()
    tagger = PerceptronTagger(load=False)
    random.seed(0)  # it shuffles the training data between passes
    tagger.train([list(zip(f, t, strict=True)) for f, t in train], nr_iter=5)
    train_s = time.perf_counter() - t0
    path = out / "perceptron.json"  # its weights, tag dictionary and classes, to report a model size
    path.write_text(json.dumps([tagger.model.weights, tagger.tagdict, sorted(tagger.classes)]))

    def tag(batch):
        return [[t for _, t in tagger.tag(f)] for f in batch]

    return {"peer": "NLTK averaged perceptron", "tag": tag, "train_s": train_s, "size_mb": path.stat().st_size / 2**20}


def udpipe(train, test, out: Path) -> dict:
    from ufal.udpipe import InputFormat, Model, ProcessingError, Sentence, Sentences, Trainer

    from tagger.treebanks import fetch

    def load_conllu(path: Path) -> Sentences:
        fmt, sents, err = InputFormat.newConlluInputFormat(), Sentences(), ProcessingError()
        fmt.setText(path.read_text(encoding="utf-8"))
        s = Sentence()
        while fmt.nextSentence(s, err):
            sents.append(s)
            s = Sentence()
        if err.occurred():
            sys.exit(f"{path}: UDPipe cannot read it: {err.message}")
        return sents

    path = out / "udpipe.model"
    t0 = time.perf_counter()
    cached = path.exists()
    if not cached:
        err = ProcessingError()
        # morphodita_parsito with tokenizer and parser off: the tagger alone, default options
        blob = Trainer.train(
            "morphodita_parsito",
            load_conllu(fetch("en_ewt", "train")),
            load_conllu(fetch("en_ewt", "dev")),
            Trainer.NONE,
            Trainer.DEFAULT,
            Trainer.NONE,
            err,
        )
        if err.occurred():
            sys.exit(f"UDPipe training failed: {err.message}")
        with atomic_write(path, "wb") as f:
            f.write(blob)
    train_s = None if cached else time.perf_counter() - t0
    model = Model.load(str(path))
    if model is None:
        sys.exit(f"{path}: UDPipe cannot load it")

    def prepare(batch):
        sents = []
        for forms in batch:
            s = Sentence()
            for f in forms:
                s.addWord(f)
            sents.append(s)
        return sents

    def tag(sents):
        for s in sents:
            model.tag(s, Model.DEFAULT)
        return sents

    def tags(sents):
        return [[w.upostag for w in list(s.words)[1:]] for s in sents]  # words[0] is the root

    return {
        "peer": "UDPipe 1.4 (tagger, default options)",
        "prepare": prepare,
        "tag": tag,
        "read": tags,
        "train_s": train_s,
        "size_mb": path.stat().st_size / 2**20,
    }


def spacy_tagger(train, test, out: Path) -> dict:
    import spacy
    from spacy.cli.init_config import init_config
    from spacy.cli.train import train as spacy_train
    from spacy.tokens import Doc, DocBin

    from tagger.treebanks import fetch

    work = out / "spacy"
    best, done = work / "model" / "model-best", work / "trained"  # spaCy rewrites model-best as it trains
    t0 = time.perf_counter()
    cached = done.exists()
    if not cached:
        work.mkdir(parents=True, exist_ok=True)
        nlp = spacy.blank("en")
        for split, data in (("train", train), ("dev", sentences(fetch("en_ewt", "dev")))):
            DocBin(docs=[Doc(nlp.vocab, words=f, tags=t) for f, t in data]).to_disk(work / f"{split}.spacy")
        config = init_config(lang="en", pipeline=["tagger"], optimize="efficiency", gpu=False)
        config.to_disk(work / "config.cfg")
        overrides = {"paths.train": str(work / "train.spacy"), "paths.dev": str(work / "dev.spacy")}
        with contextlib.redirect_stdout(sys.stderr):  # its progress table; stdout is for ours
            spacy_train(work / "config.cfg", work / "model", overrides=overrides)
        done.touch()
    train_s = None if cached else time.perf_counter() - t0
    nlp = spacy.load(best)

    def prepare(batch):
        return [Doc(nlp.vocab, words=f) for f in batch]

    def tag(docs):
        return list(nlp.pipe(docs))

    def tags(docs):
        return [[t.tag_ for t in d] for d in docs]

    return {
        "peer": "spaCy 3.8 tagger on UPOS (efficiency)",
        "prepare": prepare,
        "tag": tag,
        "read": tags,
        "train_s": train_s,
        "size_mb": dir_mb(best),
    }


PEERS = {"crf": crf, "perceptron": perceptron, "udpipe": udpipe, "spacy": spacy_tagger}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/peers"))
    p.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    args = p.parse_args()
    from tagger.treebanks import fetch

    args.out.mkdir(parents=True, exist_ok=True)
    train, test = sentences(fetch("en_ewt", "train")), sentences(fetch("en_ewt", "test"))
    forms = [f for f, _ in test]
    gold = [t for _, tags in test for t in tags]
    rows = []
    for name in args.peers:
        r = PEERS[name](train, test, args.out)
        # a peer's own input objects (UDPipe Sentences, spaCy Docs) are built untimed, once
        inputs = r.get("prepare", list)(forms)
        pred = [t for s in r.get("read", list)(r["tag"](inputs)) for t in s]
        r["accuracy"] = sum(a == b for a, b in zip(gold, pred, strict=True)) / len(gold)
        r["tokens_per_s"] = timed(r["tag"], inputs, len(gold))
        rows.append(r)
        print(f"{r['peer']}: {100 * r['accuracy']:.2f}, {r['tokens_per_s']:,.0f} tokens/s", file=sys.stderr, flush=True)
    from tagger.machine import describe

    print(f"Machine: {describe()}\n")
    print("| peer (trained here on EWT train) | EWT test UPOS | tokens/s (1 thread) | training (s) | model (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        trained = "(cached)" if r["train_s"] is None else f"{r['train_s']:.0f}"
        print(
            f"| {r['peer']} | {100 * r['accuracy']:.2f} | {r['tokens_per_s']:,.0f} | {trained} | {r['size_mb']:.1f} |"
        )


if __name__ == "__main__":
    main()
