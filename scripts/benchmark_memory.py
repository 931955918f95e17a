"""Peak memory of training on a corpus N times the size of EWT train: the corpus stays in datasets'
memory-mapped Arrow files, so resident memory should not grow with N.

    python scripts/benchmark_memory.py                 # 1x and 10x EWT train, 300 training steps each
    python scripts/benchmark_memory.py --copies 1 20 --steps 500

Each copy of the training file gets its own first line (a comment), so each is a distinct file with
its own content hash and its own Arrow cache, as different treebanks would be. Every run is a fresh
`tagger train --data.train [files...]` process; its peak RSS is the VmHWM it records in training.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tagger.treebanks import fetch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--copies", nargs="+", type=int, default=[1, 10])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--work", type=Path, help="directory for the copies and runs (default: a temporary one)")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tagger-memory-"))
    train = fetch("en_ewt", "train")
    text = train.read_text(encoding="utf-8")
    rows = []
    for n in args.copies:
        files = []
        for i in range(n):
            f = work / f"ewt-copy{i}.conllu"
            if not f.exists():
                f.write_text(f"# copy = {i}\n" + text, encoding="utf-8")
            files.append(str(f))
        cmd = [sys.executable, "-m", "tagger", "train", "--config", str(ROOT / "configs/en_ewt_transformer.yaml")]
        cmd += ["--data.train", "[" + ", ".join(files) + "]", "--trainer.max_steps", str(args.steps)]
        cmd += ["--trainer.enable_progress_bar", "false", "--output-dir", str(work / f"run{n}")]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        # the training process's own peak (VmHWM), from its training.json
        peak = json.loads((work / f"run{n}" / "training.json").read_text())["peak_rss_mb"]
        tokens = sum(1 for line in text.splitlines() if line[:1].isdigit() and line.split("\t", 1)[0].isdigit())
        rows.append((n, n * tokens, peak, time.perf_counter() - t0))
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"| training corpus | tokens | peak RSS (MB), {args.steps} steps | wall time (s, incl. first parse) |")
    print("| --- | ---: | ---: | ---: |")
    for n, tokens, rss, secs in rows:
        print(f"| {n}x EWT train | {tokens:,} | {rss:.0f} | {secs:.0f} |")


if __name__ == "__main__":
    main()
