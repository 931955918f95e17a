"""Issue #3's goal table, reproduced from scratch or from cached runs: for each treebank, train (or reuse)
its lever grid, choose each architecture's configuration on dev (mean dev accuracy over 3 seeds), and
report that configuration's test accuracy (mean ± standard deviation over the seeds) and the test accuracy
of the ensemble of its 3 seeds, against the goal.

    python scripts/accuracy_goals.py                          # all three treebanks (hours: see README)
    python scripts/accuracy_goals.py --treebanks hu_szeged zh_gsd --jobs 2
    python scripts/accuracy_goals.py --cached                 # only what is finished: trains nothing

The grids and runs directories are the README's `tagger compare` commands', so runs finished by either are
reused by the other. Test accuracy is computed once per run when it finishes (as `tagger compare` does);
the choice of configuration reads dev only. Results also go to OUT (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from tagger.compare import collect, compare, configurations, expand, load_grid
from tagger.evaluate import evaluate_file
from tagger.predict import Ensemble
from tagger.report import mean_pm
from tagger.stats import mean_std
from tagger.treebanks import fetch

ROOT = Path(__file__).resolve().parents[1]
# treebank: (goal, [(grid, runs directory)]), trained in this order; the Szeged runs directory is shared
# with its comparison grid
GOALS = {
    "hu_szeged": (
        95.0,
        [
            ("configs/compare/levers_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/capacity_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/distill_hu_szeged.yaml", "runs/compare/hu_szeged"),  # its teachers: the grids above
            ("configs/compare/adversarial_hu_szeged.yaml", "runs/compare/hu_szeged"),  # its own teachers
            ("configs/compare/deprel_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/affixes_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/factored_feats_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/combined_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/distill_combined_hu_szeged.yaml", "runs/compare/hu_szeged"),  # its teachers: above
            ("configs/compare/aux_weight_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/epochs_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/depth_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/sam_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/conv_ff_hu_szeged.yaml", "runs/compare/hu_szeged"),
            ("configs/compare/char_dropout_hu_szeged.yaml", "runs/compare/hu_szeged"),
        ],
    ),
    "en_ewt": (
        96.0,
        [
            ("configs/compare/levers_en_ewt.yaml", "runs/compare/levers_en_ewt"),
            ("configs/compare/deprel_affixes_en_ewt.yaml", "runs/compare/levers_en_ewt"),
            ("configs/compare/aux_weight_en_ewt.yaml", "runs/compare/levers_en_ewt"),
            ("configs/compare/rdrop_en_ewt.yaml", "runs/compare/levers_en_ewt"),
            ("configs/compare/char_dropout_en_ewt.yaml", "runs/compare/levers_en_ewt"),
        ],
    ),
    "zh_gsd": (
        94.5,
        [
            ("configs/compare/levers_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/schedule_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/distill_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),  # its teachers: the grids above
            ("configs/compare/adversarial_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),  # its own teachers
            ("configs/compare/deprel_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/deprel_baselines_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/affixes_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/distill_adv_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),  # its teachers: deprel grid's
            ("configs/compare/dropout_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/word_dropout_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/schedule_adv_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/rdrop_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/swa_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/swa_start_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/attn_dropout_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/crf_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/optimiser_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/constant_lr_baselines_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/drop_path_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/sentence_chars_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/char_dropout_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
            ("configs/compare/sentence_chars_baselines_zh_gsd.yaml", "runs/compare/levers_zh_gsd"),
        ],
    ),
}
ARCHITECTURES = {"transformer": "self-attention", "rnn": "BiLSTM", "window_fc": "windowed MLP"}
SEEDS = 3


def _options(run: dict) -> str:
    """The run's own options: what follows the treebank in its argv, seed and fraction left out."""
    argv = run["argv"][run["argv"].index("--data.treebank") + 2 : run["argv"].index("--seed")]
    return " ".join(argv) or "(grid defaults)"


def goal_rows(treebank: str, jobs: int, cached: bool) -> list[dict]:
    goal, grids = GOALS[treebank]
    results = []
    for grid, out in grids:
        results += collect(expand(load_grid(grid)), Path(out)) if cached else compare(grid, out, jobs=jobs)[1]
    groups = configurations(results, SEEDS)
    rows = []
    for encoder, name in ARCHITECTURES.items():
        candidates = [g for g in groups if g[0]["model_config"]["encoder"] == encoder]
        if not candidates:
            continue
        runs = max(candidates, key=lambda g: mean_std([r["dev_accuracy"] for r in g])[0])
        ensemble = Ensemble.load([r["model"] for r in runs])
        scores = {split: evaluate_file(ensemble, fetch(treebank, split))["accuracy"] for split in ("dev", "test")}
        rows.append(
            {
                "treebank": treebank,
                "goal": goal,
                "architecture": name,
                "variant": f"{runs[0]['block']}: {runs[0]['variant']}",
                "options": _options(runs[0]),
                "candidates": len(candidates),
                "keys": [r["key"] for r in runs],
                "dev": [r["dev_accuracy"] for r in runs],
                "test": [r["accuracy"] for r in runs],
                "ensemble_dev": scores["dev"],
                "ensemble_test": scores["test"],
                "train_minutes": [r["train_seconds"] / 60 for r in runs],
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--treebanks", nargs="+", default=list(GOALS), choices=list(GOALS))
    p.add_argument("--jobs", type=int, default=2, help="runs trained side by side (`tagger compare --jobs`)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the ensembles' evaluation")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "goals.json")
    p.add_argument("--cached", action="store_true", help="use the finished runs only (configurations with 3 seeds)")
    args = p.parse_args()
    os.chdir(ROOT)  # the grids name their configs relative to the repository
    torch.set_num_threads(args.threads)
    rows = [row for tb in args.treebanks for row in goal_rows(tb, args.jobs, args.cached)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))

    print(
        "| treebank | goal | architecture | configuration (chosen on dev) | dev | test | gap to goal "
        "| ensemble of the 3 seeds: dev | test | gap | train time (min) |"
    )
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        test = mean_std([100 * v for v in r["test"]])[0]
        print(
            f"| {r['treebank']} | {r['goal']:.1f} | {r['architecture']} | {r['variant']} ({r['options']}; "
            f"best of {r['candidates']}) | {mean_pm(r['dev'])} | {mean_pm(r['test'])} | {test - r['goal']:+.2f} "
            f"| {100 * r['ensemble_dev']:.2f} | {100 * r['ensemble_test']:.2f} "
            f"| {100 * r['ensemble_test'] - r['goal']:+.2f} | {mean_std(r['train_minutes'])[0]:.1f} |"
        )


if __name__ == "__main__":
    main()
