"""How well dev accuracy predicts test accuracy over the finished runs of `tagger compare` runs
directories (issue #3 chooses each configuration on dev and reports its test accuracy): per encoder,
Pearson's r between the runs' dev and test accuracy with its 95% interval, Spearman's rank correlation,
the same over configurations with 3 seeds (their means), and where the best dev run ranks on test.

    python scripts/dev_test_agreement.py runs/compare/levers_zh_gsd
    python scripts/dev_test_agreement.py runs/compare/levers_zh_gsd --encoder transformer --min-dev 93.5

Reads each run's result.json and resolves its options (to group the seeds of a configuration as
`tagger compare` does): no model is loaded and nothing is trained.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tagger.compare import configurations
from tagger.stats import pearson, ranks, spearman


def finished_runs(dirs: list[Path]) -> list[dict]:
    """Every run with a result.json under DIR/runs, each once (a run linked into two directories has one key)."""
    runs = {}
    for d in dirs:
        for path in sorted(d.glob("runs/*/result.json")):
            r = json.loads(path.read_text())
            runs[r["key"]] = r
    return list(runs.values())


def agreement(runs: list[dict]) -> dict:
    dev = [100 * r["dev_accuracy"] for r in runs]
    test = [100 * r["accuracy"] for r in runs]
    r, lo, hi = pearson(dev, test)
    best = int(np.argmax(dev))
    out = {
        "runs": str(len(runs)),
        "dev range": f"{min(dev):.2f}-{max(dev):.2f}",
        "test range": f"{min(test):.2f}-{max(test):.2f}",
        "Pearson r (95% interval)": f"{r:+.2f} ({lo:+.2f} to {hi:+.2f})",
        "Spearman": f"{spearman(dev, test):+.2f}",
        # 1 = the best test of all the runs
        "best dev run's test rank": f"{len(runs) + 1 - ranks(test)[best]:g} of {len(runs)}",
    }
    seeded = configurations(runs, 3)
    if len(seeded) >= 4:
        r, lo, hi = pearson(
            [100 * np.mean([x["dev_accuracy"] for x in rs]) for rs in seeded],
            [100 * np.mean([x["accuracy"] for x in rs]) for rs in seeded],
        )
        out["configurations with 3+ seeds: Pearson r"] = f"{len(seeded)}: {r:+.2f} ({lo:+.2f} to {hi:+.2f})"
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="How well dev accuracy predicts test accuracy over finished runs.")
    ap.add_argument("dirs", nargs="+", type=Path, help="runs directories of `tagger compare --out`")
    ap.add_argument("--encoder", help="only runs of this encoder (transformer, rnn, window_fc)")
    ap.add_argument("--min-dev", type=float, default=0.0, help="only runs with at least this dev accuracy (%%)")
    args = ap.parse_args(argv)
    for d in args.dirs:
        if not d.is_dir():
            raise SystemExit(f"dev_test_agreement: {d}: no such directory")
    runs = [
        r
        for r in finished_runs(args.dirs)
        if (args.encoder in (None, r["model_config"]["encoder"])) and 100 * r["dev_accuracy"] >= args.min_dev
    ]
    groups = defaultdict(list)
    for r in runs:
        groups[r["model_config"]["encoder"]].append(r)
    rows = [(enc, agreement(rs)) for enc, rs in sorted(groups.items()) if len(rs) >= 4]
    if not rows:
        raise SystemExit(
            f"dev_test_agreement: fewer than 4 finished runs of one encoder under {', '.join(map(str, args.dirs))}"
        )
    keys = list(dict.fromkeys(k for _, row in rows for k in row))
    print("| encoder | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for enc, row in rows:
        print(f"| {enc} | " + " | ".join(row.get(k, "") for k in keys) + " |")


if __name__ == "__main__":
    main()
