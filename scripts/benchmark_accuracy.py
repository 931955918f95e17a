"""Train each architecture on each treebank's train split (dev for model selection), evaluate once on
test, and print a Markdown table: accuracy, unknown-word accuracy, parameters, training time, tagging
speed. Every model is trained in a fresh `tagger train` process with the shipped configs.

    python scripts/benchmark_accuracy.py                                  # EWT, three architectures
    python scripts/benchmark_accuracy.py --treebanks hu_szeged zh_gsd
    python scripts/benchmark_accuracy.py --encoders rnn -- --trainer.max_epochs 2   # extra train options

Results also go to OUT/results.json; `--reuse` skips training where OUT/<run>/model.safetensors exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from tagger.conllu_io import read_conllu
from tagger.evaluate import evaluate_file
from tagger.machine import describe
from tagger.predict import Tagger
from tagger.treebanks import fetch

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = ("transformer", "rnn", "window_fc")


def configs_for(treebank: str, encoder: str) -> list[str]:
    configs = [str(ROOT / "configs" / f"en_ewt_{encoder}.yaml")]
    if treebank != "en_ewt":
        configs.append(str(ROOT / "configs" / f"{treebank}.yaml"))
    return configs


def train(treebank: str, encoder: str, seed: int, out: Path, extra: list[str], reuse: bool) -> Path:
    model = out / "model.safetensors"
    if reuse and model.is_file():
        return model
    cmd = [sys.executable, "-m", "tagger", "train"]
    for c in configs_for(treebank, encoder):
        cmd += ["--config", c]
    cmd += ["--seed", str(seed), "--output-dir", str(out), "--trainer.enable_progress_bar", "false", *extra]
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    with open(out.parent / f"{out.name}.log", "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    if proc.returncode != 0:
        sys.exit(f"training failed, see {out.parent / f'{out.name}.log'}")
    return Path(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--treebanks", nargs="+", default=["en_ewt"])
    p.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    p.add_argument("--seeds", nargs="+", type=int, default=[1])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmark")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the tagging-speed measurement")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs")
    p.add_argument("extra", nargs="*", help="extra `tagger train` options, after --")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    rows = []
    for tb in args.treebanks:
        test = fetch(tb, "test")
        sentences = [s.forms for s in read_conllu(test) if len(s)]
        for enc in args.encoders:
            for seed in args.seeds:
                out = args.out / f"{tb}-{enc}-s{seed}"
                model = train(tb, enc, seed, out, args.extra, args.reuse)
                tagger = Tagger.load(model)
                result = evaluate_file(tagger, test)
                summary = tagger.meta["training"]
                rows.append(
                    {
                        "treebank": tb,
                        "encoder": enc,
                        "seed": seed,
                        "test_accuracy": result["accuracy"],
                        "test_unknown_accuracy": result["unknown_accuracy"],
                        "dev_accuracy": summary["best_dev_accuracy"],
                        "parameters": summary["parameters"],
                        "train_seconds": summary["train_seconds"],
                        "epochs": summary["epochs"],
                        "tokens_per_s": tagger.tokens_per_second(sentences),
                        "model": str(model),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))

    print(f"Machine: {describe()}\n")
    header = "treebank | model | test acc | unknown-word acc | dev acc | parameters | train time | epochs"
    print(f"| {header} | tagging tokens/s ({args.threads} threads) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['treebank']} | {r['encoder']} (seed {r['seed']}) | {100 * r['test_accuracy']:.2f} "
            f"| {100 * r['test_unknown_accuracy']:.2f} | {100 * r['dev_accuracy']:.2f} | {r['parameters'] / 1e6:.2f} M "
            f"| {r['train_seconds'] / 60:.1f} min | {r['epochs']} | {r['tokens_per_s']:,.0f} |"
        )


if __name__ == "__main__":
    main()
