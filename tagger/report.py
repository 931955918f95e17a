"""The comparison report: Markdown tables, PNG figures, and every result as JSON and CSV."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tagger import plots
from tagger.compare import Grid
from tagger.conllu_io import read_conllu
from tagger.predict import Tagger
from tagger.stats import mcnemar, mean_std, paired_bootstrap
from tagger.treebanks import fetch

LENGTH_BINS = [(1, 10), (11, 20), (21, 30), (31, 40), (41, 10**9)]
SAW = ["I", "saw", "a", "saw", "."]
# other processes' load (cores) above which a timed tagging speed is flagged: a quiet machine shows ~0.05
BUSY_CORES = 0.25


def _encoder(r: dict) -> str:
    return r["model_config"]["encoder"]


def mean_pm(values: list[float], scale: float = 100, digits: int = 2) -> str:
    m, s = mean_std([v * scale for v in values])
    return f"{m:.{digits}f}" if len(values) == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def _dev(rs: list[dict]) -> str:
    """Dev accuracy of the selected checkpoints (what model selection saw), or "—" for runs without it."""
    devs = [r["dev_accuracy"] for r in rs if r.get("dev_accuracy") is not None]
    return mean_pm(devs) if len(devs) == len(rs) else "—"


def _timed_busy(r: dict) -> bool:
    """Whether the run's tagging speed was timed while other processes kept the machine busy."""
    return (r.get("timing_other_cores") or 0) > BUSY_CORES  # None: not measured (older runs, not Linux)


def _busy_mark(rs: list[dict]) -> str:
    """ " ¶" where a run's tagging speed was timed on a busy machine, else nothing."""
    return " ¶" if any(map(_timed_busy, rs)) else ""


def write_report(grid: Grid, results: list[dict], out: Path) -> Path:
    """Write OUT/report.md (+ PNGs, results.json, results.csv); returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    test = [s for s in read_conllu(fetch(grid.treebank, "test")) if len(s)]
    column = results[0].get("label_column", "upos")
    gold = np.array([t for s in test for t in s.column(column)])
    sentence_of = np.repeat(np.arange(len(test)), [len(s) for s in test])
    length_of = np.repeat([len(s) for s in test], [len(s) for s in test])

    def correct(r: dict) -> np.ndarray:
        pred = json.loads((Path(r["model"]).parent / "predictions.json").read_text())
        return np.array([t for s in pred for t in s]) == gold

    full = [r for r in results if r["fraction"] == 1.0]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in full:
        groups[(r["block"], r["variant"])].append(r)
    # a variant's label is its name, or "block: name" where two blocks use the same name (e.g. "1" head / layer)
    blocks_of = defaultdict(set)
    for block, variant in groups:
        blocks_of[variant].add(block)
    label = {k: k[1] if len(blocks_of[k[1]]) == 1 else f"{k[0]}: {k[1]}" for k in groups}
    by_variant = {label[k]: rs for k, rs in groups.items()}
    attention_variants = {v: rs for v, rs in by_variant.items() if _encoder(rs[0]) == "transformer"}

    def mean_acc(v: str) -> float:
        return float(np.mean([r["accuracy"] for r in by_variant[v]]))

    # The reference self-attention model: the best one of the first block (the main comparison, usually
    # with the most seeds), else the best anywhere; a single-seed ablation that happens to score higher
    # does not replace it. The figures compare it with the first block's other variants.
    def names_of(block) -> list[str]:
        """The labels of a block's variants that have results at 100%."""
        return [label[(block.name, v)] for v in block.variants if (block.name, v) in label]

    first = grid.blocks[0]
    in_first = [v for v in names_of(first) if v in attention_variants]
    best = max(in_first or attention_variants, key=mean_acc, default=None)
    show = ([best] if best else []) + [v for v in names_of(first) if v != best]

    def block_reference(block) -> str | None:
        """What a block's p-values compare against: its best self-attention variant (else its best)."""
        names = names_of(block)
        attention = [v for v in names if v in attention_variants]
        return max(attention or names, key=mean_acc, default=None)

    def significance(variant: str, reference: str | None) -> str:
        if reference is None or variant == reference:
            return "—"
        a = {r["seed"]: r for r in by_variant[reference]}
        b = {r["seed"]: r for r in by_variant[variant]}
        seeds = sorted(set(a) & set(b))
        if not seeds:
            return "no paired seeds"
        ca = np.concatenate([correct(a[s]) for s in seeds])
        cb = np.concatenate([correct(b[s]) for s in seeds])
        sentences = np.concatenate([sentence_of + i * len(test) for i in range(len(seeds))])
        mc, bs = mcnemar(ca, cb), paired_bootstrap(ca, cb, sentences, n=1000)
        boot = f"{bs['p']:.2g}" if bs["p"] > 0 else "< 0.001"  # 1000 resamples
        mcp = f"{mc['p']:.2g}" if mc["p"] > 0 else "< 1e-300"  # below float range
        return f"{mcp} / {boot}"

    lines = [
        f"# Comparison on {grid.treebank}",
        "",
        f"{len({r['key'] for r in results})} distinct runs; each is `tagger train "
        + " ".join(f"--config {c}" for c in grid.configs)
        + f" --data.treebank {grid.treebank}` with its options below, evaluated once on the test split "
        f"({len(gold):,} tokens). Mean ± standard deviation over seeds (a single value: one seed); dev acc: the "
        "dev-set accuracy of the checkpoint each run kept (checkpoints are selected on dev only); p: each "
        "block's best self-attention variant against each other variant of the block, paired by seed on "
        "the test tokens (McNemar's exact/chi-squared test on the tokens one model gets right and the "
        "other wrong; paired bootstrap over sentences, 1,000 resamples).",
        "",
    ]
    threads = sorted({r.get("train_threads") or 0 for r in results})
    if threads != [0]:  # the train times depend on it (0: not recorded, torch's default of all cores)
        lines += [
            "Training threads per run: "
            + ", ".join("all cores (not recorded)" if t == 0 else str(t) for t in threads)
            + ". Train times are wall time per run with those threads (fewer than the machine's cores: runs "
            "trained side by side, `--jobs`, or a thread limit set for them); this compare timed tagging speeds "
            "while none of its own runs trained.",
            "",
        ]
    busy = [r["timing_other_cores"] for r in results if _timed_busy(r)]
    if busy:
        lines += [
            f"Tagging speeds marked ¶ were timed while other processes kept up to {max(busy):.1f} cores busy "
            "(another compare training, say): slower than on a quiet machine, not comparable with the others.",
            "",
        ]
    if grid.overrides:
        lines += ["Shared options: " + ", ".join(f"`--{k} {v}`" for k, v in grid.overrides.items()), ""]

    # ------------------------------------------------------------------------- tables, one per block
    for block in grid.blocks:
        rows = [(v, groups[(block.name, v)]) for v in block.variants if groups.get((block.name, v))]
        if not rows:
            continue
        reference = block_reference(block)
        lines += [
            f"## {block.name} (100% of the training data)",
            "",
            "| variant | options | seeds | dev acc | accuracy | unknown-word acc | parameters | train time (min) "
            f"| tagging tokens/s | peak RSS (MB) | p vs {reference} (McNemar / bootstrap) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for v, rs in rows:
            opts = ", ".join(f"{k}={val}" for k, val in (block.variants[v] or {}).items())
            lines.append(
                f"| {v} | {opts} | {len(rs)} | {_dev(rs)} | {mean_pm([r['accuracy'] for r in rs])} "
                f"| {mean_pm([r['unknown_accuracy'] or 0 for r in rs])} | {rs[0]['parameters'] / 1e6:.2f} M "
                f"| {mean_pm([r['train_seconds'] for r in rs], 1 / 60, 1)} "
                f"| {mean_pm([r['tokens_per_s'] for r in rs], 1, 0)}{_busy_mark(rs)} "
                f"| {mean_pm([r['peak_rss_mb'] for r in rs], 1, 0)} "
                f"| {significance(label[(block.name, v)], reference)} |"
            )
        lines.append("")

    # -------------------------------------------------------------------------------- learning curves
    figures = []
    for block in grid.blocks:
        if len(block.fractions) < 2:
            continue
        curves = {}
        for v in block.variants:
            pts = []
            for f in block.fractions:
                accs = [
                    r["accuracy"]
                    for r in results
                    if r["block"] == block.name and r["variant"] == v and r["fraction"] == f
                ]
                if accs:
                    pts.append((f, *mean_std(accs)))
            curves[v] = pts
        path = plots.learning_curves(
            curves, out / f"learning_curve_{block.name}.png", f"{grid.treebank}: learning curves"
        )
        figures.append(("Learning curves: accuracy against the share of training data", path))
        lines += [
            f"## Learning curves ({block.name})",
            "",
            "| variant | " + " | ".join(f"{100 * f:g}%" for f in block.fractions) + " |",
        ]
        lines.append("| --- |" + " ---: |" * len(block.fractions))
        for v, pts in curves.items():
            cells = {f: f"{100 * m:.2f} ± {100 * s:.2f}" for f, m, s in pts}
            lines.append(f"| {v} | " + " | ".join(cells.get(f, "") for f in block.fractions) + " |")
        lines.append("")

    # ---------------------------------------------------------------------------- per-tag, confusion
    if by_variant:
        f1 = {
            v: {
                t: float(np.mean([r["per_tag"][t]["f1"] for r in by_variant[v] if t in r["per_tag"]]))
                for t in by_variant[v][0]["per_tag"]
            }
            for v in show
        }
        figures.append(
            (
                "Per-tag F1",
                plots.per_tag_f1(f1, out / "per_tag_f1.png", f"{grid.treebank}: per-tag F1 (mean over seeds)"),
            )
        )
        top = by_variant[best or next(iter(by_variant))][0]
        cm = top["confusion"]
        figures.append(
            (
                "Confusion matrix",
                plots.confusion_heatmap(
                    cm["labels"],
                    cm["matrix"],
                    out / "confusion.png",
                    f"{top['variant']} (seed {top['seed']}): confusion",
                ),
            )
        )

        # accuracy by sentence length, pooled over seeds
        bins = [f"{a}-{b}" if b < 10**9 else f"{a}+" for a, b in LENGTH_BINS]
        series = {}
        for v in show:
            c = np.concatenate([correct(r) for r in by_variant[v]])
            lengths = np.tile(length_of, len(by_variant[v]))
            series[v] = [
                float(c[(lengths >= a) & (lengths <= b)].mean())
                if ((lengths >= a) & (lengths <= b)).any()
                else float("nan")
                for a, b in LENGTH_BINS
            ]
        figures.append(
            (
                "Accuracy by sentence length",
                plots.accuracy_by_length(
                    series, bins, out / "accuracy_by_length.png", f"{grid.treebank}: accuracy by sentence length"
                ),
            )
        )

    # ------------------------------------------------------- windowed MLP against its window size k
    k_points = defaultdict(list)
    for r in full:
        if _encoder(r) == "window_fc":
            k_points[r["model_config"]["window_fc"]["k"]].append(r["accuracy"])
    if len(k_points) > 1:
        pts = [(k, *mean_std(a)) for k, a in k_points.items()]
        figures.append(
            (
                "Windowed MLP: accuracy against window size",
                plots.by_parameter(
                    pts,
                    out / "window_size.png",
                    "neighbours on each side (k)",
                    f"{grid.treebank}: window_fc accuracy by k",
                ),
            )
        )
        saw = []
        for k in sorted(k_points):
            r = next(r for r in full if _encoder(r) == "window_fc" and r["model_config"]["window_fc"]["k"] == k)
            saw.append(f"k={k}: {' '.join(Tagger.load(r['model']).tag([SAW])[0])}")
        lines += ["## The two saws", "", "`I saw a saw .` tagged by the windowed MLP: " + "; ".join(saw) + ".", ""]

    # ---------------------------------------------------------------------------- attention heat maps
    notes: dict[Path, str] = {}
    if best:
        tagger = Tagger.load(by_variant[best][0]["model"])
        long = max(test, key=len).forms[:40]
        for name, tokens in (("saw", SAW), ("long", long)):
            layers = tagger.attention(tokens)
            path = plots.attention_maps(tokens, layers[-1], out / f"attention_{name}.png", f"{best}: last layer")
            figures.append((f"Attention, last layer: {' '.join(tokens[:8])}{' ...' if len(tokens) > 8 else ''}", path))
            if key := plots.token_key(tokens):  # no installed font draws them: numbered in the figure
                notes[path] = f"Tokens by number: {key}."

    lines += ["## Figures", ""]
    for caption, path in figures:
        lines += [f"### {caption}", "", f"![{caption}]({path.name})", ""]
        if path in notes:
            lines += [notes[path], ""]
    lines += [
        "## Runs",
        "",
        "| block | variant | seed | fraction | accuracy | epochs | run directory |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['block']} | {r['variant']} | {r['seed']} | {r['fraction']:g} | {100 * r['accuracy']:.2f} "
            f"| {r['epochs']}{' (time limit)' if r.get('stopped_by') == 'max_time' else ''} | runs/{r['key']} |"
        )

    from tagger.fileutil import atomic_write

    slim = [{k: v for k, v in r.items() if k not in ("per_tag", "confusion")} for r in results]
    with atomic_write(out / "results.json") as f:
        json.dump(results, f, indent=1)
    with atomic_write(out / "results.csv", newline="") as f:
        fields = [
            "block",
            "variant",
            "seed",
            "fraction",
            "accuracy",
            "unknown_accuracy",
            "dev_accuracy",
            "parameters",
            "train_seconds",
            "train_threads",
            "epochs",
            "stopped_by",
            "tokens_per_s",
            "timing_other_cores",
            "peak_rss_mb",
            "key",
        ]
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(slim)
    report = out / "report.md"
    with atomic_write(report) as f:
        f.write("\n".join(lines) + "\n")
    return report
