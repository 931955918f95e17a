"""Tagging speed of model files, and how close it comes to what the machine's matrix multiply allows.

For each model x thread count x precision, a fresh process loads the model and measures:
  - accuracy on the test file (so speed is never quoted without it);
  - batch tagging tokens/s over the whole file: from in-memory token lists to tags, all encoding
    included (the per-form encoding memo is cleared before every timed pass), after a warm-up pass,
    median of --repeats passes;
  - single-sentence latency p50/p95 (each sentence tagged alone);
  - model-load time, peak RSS of the process, model file size;
  - the model's FLOPs per token (torch's FlopCounterMode, sentences one at a time, so no padding), the
    machine's fp32 and bf16 GEMM rate at that thread count, the tokens/s those allow, and the ratio.

    python scripts/benchmark_speed.py runs/benchmark/en_ewt-*-s1/model.safetensors
    python scripts/benchmark_speed.py M.safetensors --threads 1 2 --precision fp32 bf16 --plot speed.png

Prints a Markdown table; --json writes every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Reference points for the plot: issue #7's peers, trained from scratch on EWT train and timed with one
# thread on this kind of machine by the steering side (not re-measured by this script).
PEERS = {
    "CRF (crfsuite)": (94.91, 95_700),
    "UDPipe 1.4": (94.84, 7_750),
    "spaCy 3.8 morphologizer": (94.82, 24_800),
    "spaCy 3.8 tagger": (94.68, 26_200),
    "NLTK perceptron": (93.85, 72_500),
}


def gemm_rate(dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of an n x n by n x n matrix product."""
    import torch

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def worker(model: str, data: str, threads: int, precision: str, repeats: int, n_latency: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tagger.conllu_io import read_conllu
    from tagger.fileutil import peak_rss_mb
    from tagger.machine import describe
    from tagger.metrics import evaluate_tags
    from tagger.predict import Tagger

    torch.set_num_threads(threads)
    sentences = [s for s in read_conllu(data) if len(s)]
    forms = [s.forms for s in sentences]
    n_tokens = sum(map(len, forms))

    t0 = time.perf_counter()
    tagger = Tagger.load(model, precision=precision)
    load_s = time.perf_counter() - t0

    pred = tagger.tag(forms)  # warm-up, and the accuracy
    gold = [s.column(tagger.label_column) for s in sentences]
    result = evaluate_tags(gold, pred, forms, tagger.vocab.known)
    tokens_per_s = tagger.tokens_per_second(forms, repeats)
    tagger.forget()
    latencies = []
    for f in forms[:n_latency]:
        t0 = time.perf_counter()
        tagger.tag([f])
        latencies.append(time.perf_counter() - t0)
    q = statistics.quantiles(latencies, n=20)

    sample = forms[:500]
    with FlopCounterMode(display=False) as counter:
        for f in sample:
            tagger.forget()  # nothing kept from earlier sentences: the model's whole work per sentence
            tagger.tag([f])
    flops_per_token = counter.get_total_flops() / sum(map(len, sample))
    rates = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    limit = rates[precision] / flops_per_token
    return {
        "model": model,
        "machine": describe(),
        "encoder": tagger.meta["config"]["model"]["encoder"],
        "parameters": sum(p.numel() for p in tagger.net.parameters()),
        "threads": threads,
        "precision": precision,
        "accuracy": result["accuracy"],
        "unknown_accuracy": result["unknown_accuracy"],
        "tokens": n_tokens,
        "tokens_per_s": tokens_per_s,
        "latency_p50_ms": 1000 * q[9],
        "latency_p95_ms": 1000 * q[18],
        "load_s": load_s,
        "peak_rss_mb": peak_rss_mb(),
        "file_mb": os.path.getsize(model) / 2**20,
        "mflops_per_token": flops_per_token / 1e6,
        "gemm_gflops": {k: v / 1e9 for k, v in rates.items()},
        "limit_tokens_per_s": limit,
        "achieved_over_limit": tokens_per_s / limit,
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, (acc, speed) in PEERS.items():
        ax.scatter(speed, acc, marker="x", color="grey")
        ax.annotate(name, (speed, acc), fontsize=8, color="grey", xytext=(4, -10), textcoords="offset points")
    for r in rows:
        if r["threads"] != 1:
            continue
        xy = (r["tokens_per_s"], 100 * r["accuracy"])
        fp32 = r["precision"] == "fp32"
        ax.scatter(*xy, color="tab:blue" if fp32 else "tab:red")
        if fp32:  # the bf16 point of the same model sits to its right at (nearly) the same height
            ax.annotate(
                Path(r["model"]).parent.name, xy, fontsize=8, xytext=(-6, 6), textcoords="offset points", ha="right"
            )
    ax.set_xscale("log")
    ax.set_xlabel("tagging tokens/s, 1 thread, batch (log scale)")
    ax.set_ylabel("UD English-EWT test UPOS accuracy (%)")
    ax.set_title("Accuracy vs speed (grey: issue #7 peer figures; blue fp32, red bf16: ours)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help="model files")
    p.add_argument("--data", help="CoNLL-U file to tag (default: the en_ewt test split)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--latency-sentences", type=int, default=500)
    p.add_argument("--json", type=Path, help="write all measurements here")
    p.add_argument("--plot", type=Path, help="accuracy-vs-speed PNG (1-thread results)")
    p.add_argument("--worker", nargs=4, metavar=("MODEL", "DATA", "THREADS", "PRECISION"), help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        model, data, threads, precision = args.worker
        print(json.dumps(worker(model, data, int(threads), precision, args.repeats, args.latency_sentences)))
        return
    if not args.models:
        p.error("give at least one model file")
    if args.data is None:
        from tagger.treebanks import fetch

        args.data = str(fetch("en_ewt", "test"))
    rows = []
    for model in args.models:
        for precision in args.precision:
            for threads in args.threads:
                cmd = [sys.executable, __file__, "--repeats", str(args.repeats)]
                cmd += ["--latency-sentences", str(args.latency_sentences), "--worker", model, args.data]
                cmd += [str(threads), precision]
                # with one thread, the tokenizers' own thread pool is off too
                env = {**os.environ, "TOKENIZERS_PARALLELISM": "false" if threads == 1 else "true"}
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.plot)

    print(f"Machine: {rows[0]['machine']}\n")
    print(
        "| model | precision | threads | accuracy | tokens/s | p50 / p95 latency (ms) | load (s) | peak RSS (MB) "
        "| file (MB) | MFLOP/token | GEMM GFLOP/s | FLOP-limited tokens/s | achieved / limit |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {Path(r['model']).parent.name} | {r['precision']} | {r['threads']} | {100 * r['accuracy']:.2f} "
            f"| {r['tokens_per_s']:,.0f} | {r['latency_p50_ms']:.1f} / {r['latency_p95_ms']:.1f} | {r['load_s']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {r['file_mb']:.1f} | {r['mflops_per_token']:.2f} "
            f"| {r['gemm_gflops'][r['precision']]:.0f} | {r['limit_tokens_per_s']:,.0f} "
            f"| {r['achieved_over_limit']:.2f} |"
        )


if __name__ == "__main__":
    main()
