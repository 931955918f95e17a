"""`tagger compare`: a grid of training runs (variants x seeds x training fractions) on the same data,
each cached by its resolved config, evaluated on the test split; the report is built by tagger.report.

A grid file (YAML):

    treebank: hu_szeged                      # data of every run (train/dev/test splits)
    configs: [configs/hu_szeged.yaml]        # train configs shared by every run, in order
    overrides: {trainer.max_epochs: 30}      # dotted train options shared by every run
    blocks:                                  # each block: its variants x seeds x fractions
      - name: architectures
        variants:
          transformer: {model.encoder: transformer}
          rnn: {model.encoder: rnn}
          window_fc: {model.encoder: window_fc}
        seeds: [1, 2, 3]
        fractions: [0.1, 0.25, 0.5, 1.0]
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tagger.errors import TaggerError

log = logging.getLogger(__name__)


@dataclass
class Block:
    name: str
    variants: dict[str, dict]
    seeds: list[int] = field(default_factory=lambda: [1])
    fractions: list[float] = field(default_factory=lambda: [1.0])


@dataclass
class Grid:
    treebank: str
    configs: list[str]
    overrides: dict
    blocks: list[Block]


@dataclass
class Run:
    block: str
    variant: str
    seed: int
    fraction: float
    argv: list[str]  # `tagger train` options, output directory excluded
    key: str = ""  # hash of the resolved config
    teachers: tuple[str, ...] = ()  # the resolved data.teachers: model files this run learns from

    @property
    def name(self) -> str:
        return f"{self.variant}/seed{self.seed}/{self.fraction:g}"


def _option(key: str, value) -> list[str]:
    return [f"--{key}", value if isinstance(value, str) else json.dumps(value)]


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise TaggerError("no such grid file", path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise TaggerError(
            f"not valid YAML: {getattr(e, 'problem', e)}", path, None if line is None else line + 1
        ) from None
    allowed = {"treebank", "configs", "overrides", "blocks"}
    if not isinstance(raw, dict) or set(raw) - allowed or "treebank" not in raw or "blocks" not in raw:
        unknown = sorted(set(raw) - allowed) if isinstance(raw, dict) else []
        raise TaggerError(
            f"a grid needs treebank and blocks (optional: configs, overrides); unknown keys: {unknown}", path
        )
    blocks = []
    for i, b in enumerate(raw["blocks"] or []):
        if not isinstance(b, dict) or set(b) - {"name", "variants", "seeds", "fractions"} or not b.get("variants"):
            raise TaggerError(f"blocks[{i}]: needs name and variants (optional: seeds, fractions)", path)
        blocks.append(
            Block(str(b.get("name", f"block{i}")), dict(b["variants"]), b.get("seeds", [1]), b.get("fractions", [1.0]))
        )
    # config paths as written, or relative to the grid file
    configs = [c if Path(c).exists() else str(path.parent / c) for c in raw.get("configs") or []]
    return Grid(str(raw["treebank"]), configs, dict(raw.get("overrides") or {}), blocks)


# Train options added after the first grids were run, each with its value that reproduces the behaviour
# from before it existed. At that value an option is left out of a run's cache key, so that adding an
# option does not turn every finished run into a new one. (A new option's default must keep the old
# behaviour; add it here, by its path in the resolved config.)
NEUTRAL_OPTIONS = {
    ("data", "aux_columns"): [],
    ("optim", "aux_weight"): 0.5,
    ("model", "output"): "softmax",
    ("data", "teachers"): [],
    ("optim", "distill_weight"): 0.5,
    ("optim", "distill_temperature"): 1.0,
    ("optim", "adversarial"): 0.0,
    ("optim", "rdrop"): 0.0,
    ("swa_start",): None,
    ("swa_cycle",): 0,
    ("model", "embed", "affixes"): 0,
    ("model", "embed", "affix_dim"): 16,
    ("model", "embed", "affix_buckets"): 20_000,
    ("model", "embed", "word_dropout_alpha"): 0.0,
    ("optim", "char_aux"): 0.0,
    ("optim", "mask_rate"): 0.0,
    ("optim", "mask_lm"): 0.0,
    ("optim", "sam"): 0.0,
    ("model", "transformer", "drop_path"): 0.0,
    ("model", "transformer", "ff_gated"): False,
    ("model", "transformer", "ff_kernel"): 1,
    ("model", "transformer", "layer_mix"): False,
    ("model", "embed", "char_dropout"): 0.0,
    ("model", "embed", "sentence_chars"): 0,
    ("model", "embed", "sentence_chars_dropout"): 0.0,
    ("data", "tag_substitution"): 0.0,
}


def run_key(resolved: dict) -> str:
    """The cache key of a run: sha256 of its resolved config, output directory and neutral options left out."""
    resolved = json.loads(json.dumps(resolved))  # a deep copy
    resolved.pop("output_dir", None)
    for (*sections, name), neutral in NEUTRAL_OPTIONS.items():
        parent = resolved
        for section in sections:
            parent = parent.get(section, {})
        if parent.get(name, neutral) == neutral:
            parent.pop(name, None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


def expand(grid: Grid) -> list[Run]:
    """Every run of every block, with its cache key: the sha256 of its resolved config, so that any change
    of options or defaults is a new run. Two blocks may share a run (e.g. the 100% baseline): it is one
    key, trained once, and listed under both."""
    from tagger.config import parse_train_args

    runs = []
    for block in grid.blocks:
        for variant, opts in block.variants.items():
            for seed in block.seeds:
                for fraction in block.fractions:
                    argv = [a for c in grid.configs for a in ("--config", c)]
                    argv += _option("data.treebank", grid.treebank)
                    for k, v in {**grid.overrides, **(opts or {})}.items():
                        argv += _option(k, v)
                    argv += ["--seed", str(seed), "--data.train_fraction", str(fraction)]
                    _, _, resolved, _ = parse_train_args(argv)
                    teachers = tuple(resolved["data"]["teachers"])
                    runs.append(Run(block.name, variant, seed, fraction, argv, run_key(resolved), teachers))
    return runs


def run_dir(out: Path, run: Run) -> Path:
    return out / "runs" / run.key


def start(run: Run, out: Path, threads: int | None = None) -> subprocess.Popen:
    """Start `tagger train` for one run (a fresh process: clean peak memory), its log in the run directory.
    With ``threads``, torch and the tokenizers in that process use that many CPU threads."""
    d = run_dir(out, run)
    cmd = [sys.executable, "-m", "tagger", "train", *run.argv, "--output-dir", str(d)]
    cmd += ["--trainer.enable_progress_bar", "false"]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "train.log", "w") as logf:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=logf, env=env)


def model_path(out: Path, run: Run) -> Path:
    from tagger.train import MODEL_FILE

    return run_dir(out, run) / MODEL_FILE


def teacher_runs(run: Run, runs: list[Run], out: Path) -> list[Run]:
    """The runs among ``runs`` whose model files ``run`` learns from (its ``data.teachers``), so that a grid
    may train teachers and their student: the student waits until they are trained."""
    teachers = {Path(p).resolve() for p in run.teachers}
    return [r for r in runs if model_path(out, r).resolve() in teachers]


def select(
    runs: list[Run], out: Path, grid_path: str | Path, variants: list[str] | None = None, seeds: list[int] | None = None
) -> list[Run]:
    """The runs of the named variants (in whichever blocks) and seeds, with the runs of the grid they learn
    from (a student's teachers, theirs in turn): what `tagger compare --variants/--seeds` trains now."""
    for what, wanted, have in (
        ("--variants", variants, {r.variant for r in runs}),
        ("--seeds", seeds, {r.seed for r in runs}),
    ):
        missing = [w for w in wanted or [] if w not in have]
        if missing:
            listed = ", ".join(str(h) for h in sorted(have))
            raise TaggerError(f"{what} {' '.join(map(str, missing))}: not in the grid, which has {listed}", grid_path)
    chosen = [r for r in runs if (not variants or r.variant in variants) and (not seeds or r.seed in seeds)]
    if not chosen:
        raise TaggerError(
            f"no run of the grid is one of the variants {variants} with one of the seeds {seeds}", grid_path
        )
    keys, queue = set(), list(chosen)
    while queue:
        run = queue.pop()
        if run.key not in keys:
            keys.add(run.key)
            queue += teacher_runs(run, runs, out)
    return [r for r in runs if r.key in keys]


def trained(run: Run, out: Path) -> bool:
    return model_path(out, run).is_file()  # written (atomically) when training ends


def evaluated(run: Run, out: Path) -> bool:
    return (run_dir(out, run) / "result.json").is_file()  # written last (atomically) by evaluate()


@functools.cache
def _test_sentences(treebank: str) -> list:
    """A treebank's test sentences, parsed once for all the runs evaluated on them."""
    from tagger.conllu_io import read_conllu
    from tagger.treebanks import fetch

    return [s for s in read_conllu(fetch(treebank, "test")) if len(s)]


def evaluate(run: Run, out: Path, train_threads: int | None = None) -> dict:
    """Evaluate a trained run on the test split and time its tagging; results go to its directory."""
    from tagger.machine import OtherLoad
    from tagger.metrics import evaluate_tags
    from tagger.predict import Tagger

    d = run_dir(out, run)
    model = model_path(out, run)
    tagger = Tagger.load(model)
    sentences = _test_sentences(_treebank(run))
    forms = [s.forms for s in sentences]
    gold = [s.column(tagger.label_column) for s in sentences]
    pred = tagger.tag(forms)
    with OtherLoad() as load:  # compare times no speed while it trains; other processes it cannot stop
        tokens_per_s = tagger.tokens_per_second(forms, repeats=3)
    scores = evaluate_tags(gold, pred, forms, tagger.vocab.known)
    summary = tagger.meta["training"]
    result = {
        "block": run.block,
        "variant": run.variant,
        "seed": run.seed,
        "fraction": run.fraction,
        "key": run.key,
        "argv": run.argv,
        "accuracy": scores["accuracy"],
        "unknown_accuracy": scores["unknown_accuracy"],
        "dev_accuracy": summary["best_dev_accuracy"],
        "parameters": summary["parameters"],
        "train_seconds": summary["train_seconds"],
        # as the training process recorded it; model files from before it did: what compare set, None = all cores
        "train_threads": summary.get("threads") or train_threads,
        "epochs": summary["epochs"],
        "stopped_by": summary.get("stopped_by"),  # None: a model file from before training recorded it
        "tokens_per_s": tokens_per_s,
        "timing_other_cores": load.cores,  # cores other processes kept busy meanwhile (None: not measured)
        "peak_rss_mb": summary["peak_rss_mb"],  # the training process's own (wait4's would count ours too)
        "per_tag": scores["per_tag"],
        "confusion": scores["confusion"],
        "model": str(model),
        "model_config": tagger.meta["config"]["model"],
        "label_column": tagger.label_column,
    }
    # per-token predictions, for the paired significance tests and the accuracy-by-length plot
    (d / "predictions.json").write_text(json.dumps(pred))
    from tagger.fileutil import atomic_write

    with atomic_write(d / "result.json") as f:  # written last: its presence marks a finished run
        json.dump(result, f, indent=1)
    if result["stopped_by"] == "max_time":
        log.info("compare: %s: trainer.max_time stopped it in epoch %d", run.name, result["epochs"])
    return result


def configurations(results: list[dict], seeds: int) -> list[list[dict]]:
    """Full-data results grouped by configuration: runs whose resolved options differ only in the seed, in
    seed order, the first ``seeds`` of each. Configurations with fewer seeds are left out; a run listed under
    several blocks or grids counts once."""
    from tagger.config import parse_train_args

    groups: dict[str, dict[int, dict]] = {}
    for r in results:
        if r["fraction"] != 1.0:
            continue
        argv = list(r["argv"])
        argv[argv.index("--seed") + 1] = "0"
        _, _, resolved, _ = parse_train_args(argv)
        groups.setdefault(run_key(resolved), {}).setdefault(r["seed"], r)
    return [[g[s] for s in sorted(g)[:seeds]] for g in groups.values() if len(g) >= seeds]


def _treebank(run: Run) -> str:
    i = run.argv.index("--data.treebank")
    return run.argv[i + 1]


def compare(
    grid_path: str | Path,
    out: str | Path,
    jobs: int = 1,
    variants: list[str] | None = None,
    seeds: list[int] | None = None,
) -> tuple[Grid, list[dict]]:
    """Run (or reuse) every run of the grid, or only those of some variants and seeds (see `select`);
    progress and ETA on stderr; returns the grid and one result per (block, variant, seed, fraction) of
    every run of the grid that has been evaluated, in this call or before.

    ``jobs`` runs train side by side, the CPU cores shared out among them (on a small machine several
    one-thread trainings get more done than one multi-thread one). A run is evaluated and its tagging
    speed timed only while no training runs, so that the speeds are measured on a quiet machine."""
    grid = load_grid(grid_path)
    out = Path(out)
    runs = expand(grid)
    part = bool(variants or seeds)
    chosen = select(runs, out, grid_path, variants, seeds) if part else runs
    unique = {r.key: r for r in chosen}
    todo = [r for r in unique.values() if not evaluated(r, out)]
    todo.sort(key=lambda r: r.seed)  # seed by seed: a grid stopped early still has every variant for some seeds
    to_train = [r for r in todo if not trained(r, out)]
    picked = f" (of the grid's {len({r.key for r in runs})})" if part else ""
    log.info("compare: %d runs%s, %d cached, %d to train", len(unique), picked, len(unique) - len(todo), len(to_train))
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    pending, running, waiting = list(to_train), {}, [r for r in todo if r not in to_train]
    teachers = {r.key: teacher_runs(r, list(unique.values()), out) for r in to_train}
    t0, done = time.perf_counter(), 0
    try:
        while pending or running or waiting:
            while pending and len(running) < jobs:
                # the first pending run whose teachers (if the grid trains them) are trained
                run = next((r for r in pending if all(trained(t, out) for t in teachers[r.key])), None)
                if run is None:
                    if not running:
                        names = ", ".join(t.name for t in teachers[pending[0].key] if not trained(t, out))
                        raise TaggerError(f"run {pending[0].name} learns from runs that are never trained: {names}")
                    break
                pending.remove(run)
                if trained(run, out):  # meanwhile trained by another compare on the same runs directory
                    done += 1
                    if not evaluated(run, out):
                        waiting.append(run)
                    log.info("compare: %s was trained meanwhile by another process, not training it again", run.name)
                    continue
                log.info(
                    "compare: training %s (%s), run %d of %d",
                    run.name,
                    run.block,
                    done + len(running) + 1,
                    len(to_train),
                )
                running[run.key] = (run, start(run, out, threads))
            for key, (run, proc) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[key]
                if proc.returncode != 0 or not trained(run, out):
                    raise TaggerError(f"run {run.name} failed; see its log", run_dir(out, run) / "train.log")
                done += 1
                waiting.append(run)
                eta = (time.perf_counter() - t0) / done * (len(to_train) - done)  # runs overlap: wall time per run
                log.info(
                    "compare: %d/%d trained, %d left, ETA %.0f min", done, len(to_train), len(to_train) - done, eta / 60
                )
            if not running:  # a quiet machine: evaluate and time what has been trained
                for run in waiting:
                    evaluate(run, out, threads)
                waiting = []
            else:
                time.sleep(0.5)
    except BaseException:  # interrupted or failed: leave no training process behind
        for _, proc in running.values():
            proc.kill()
            proc.wait()
        raise
    return grid, collect(runs, out)


def collect(runs: list[Run], out: Path) -> list[dict]:
    """The results of those runs that are trained and evaluated, each labelled with its block and variant."""
    results = []
    for r in runs:
        path = run_dir(out, r) / "result.json"
        if path.is_file():
            results.append({**json.loads(path.read_text()), "block": r.block, "variant": r.variant})
    return results
