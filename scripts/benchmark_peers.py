"""Train and time two of issue #7's peers on the same EWT data, so that they are measured side by side
with `scripts/benchmark_speed.py` on the same machine. Extra dependencies, not in the default install:

    .venv/bin/pip install -c constraints.txt python-crfsuite nltk
    .venv/bin/python scripts/benchmark_peers.py --out runs/peers

Peers: a CRF (python-crfsuite, L-BFGS with L1+L2, the usual word/affix/shape features of the token and
its neighbours within 2) and NLTK's averaged perceptron tagger (trained from scratch, 5 passes). Both
are trained on EWT train only and scored on EWT test. Tagging speed is timed as the issue asks: from
in-memory token lists to tags, feature extraction included, one thread, after a warm-up pass, median
of 5 passes over the test set.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


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


def timed(tag, forms: list[list[str]], repeats: int = 5) -> float:
    tag(forms)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tag(forms)
        times.append(time.perf_counter() - t0)
    return sum(map(len, forms)) / statistics.median(times)


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
        trainer.train(str(path))
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/peers"))
    p.add_argument("--peers", nargs="+", default=["crf", "perceptron"], choices=["crf", "perceptron"])
    args = p.parse_args()
    from tagger.treebanks import fetch

    args.out.mkdir(parents=True, exist_ok=True)
    train, test = sentences(fetch("en_ewt", "train")), sentences(fetch("en_ewt", "test"))
    forms = [f for f, _ in test]
    gold = [t for _, tags in test for t in tags]
    rows = []
    for name in args.peers:
        r = {"crf": crf, "perceptron": perceptron}[name](train, test, args.out)
        pred = [t for s in r["tag"](forms) for t in s]
        r["accuracy"] = sum(a == b for a, b in zip(gold, pred, strict=True)) / len(gold)
        r["tokens_per_s"] = timed(r["tag"], forms)
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
