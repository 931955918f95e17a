"""`tagger compare` and `tagger attention`: grid expansion, caching, and a real tiny grid end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run
from tagger.compare import configurations, expand, load_grid
from tagger.errors import TaggerError
from tagger.report import BUSY_CORES, mean_pm, write_report

TINY = {
    "model.dim": 32,
    "model.n_layers": 1,
    "model.embed.word_dim": 16,
    "model.embed.char_dim": 8,
    "model.embed.char_out": 16,
    "model.transformer.n_heads": 2,
    "trainer.max_steps": 12,
    "trainer.val_check_interval": 6,  # validate within the 12 steps: runs get a dev accuracy
    "trainer.enable_model_summary": False,
}
GRID = {
    "treebank": "hu_szeged",
    "configs": [str(ROOT / "configs/hu_szeged.yaml")],
    "overrides": TINY,
    "blocks": [
        {
            "name": "architectures",
            "variants": {"transformer": {"model.encoder": "transformer"}, "window_fc": {"model.encoder": "window_fc"}},
            "seeds": [1, 2],
            "fractions": [0.5, 1.0],
        },
        # k2 at seed 1 and 100% is the same run as window_fc above: trained once, listed in both blocks
        {
            "name": "window",
            "variants": {
                "k0": {"model.window_fc.k": 0, "model.encoder": "window_fc"},
                "k2": {"model.encoder": "window_fc"},
            },
        },
    ],
}


def write_grid(tmp_path, grid=GRID) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def test_grid_expansion_and_keys(tmp_path):
    runs = expand(load_grid(write_grid(tmp_path)))
    assert len(runs) == 2 * 2 * 2 + 2
    assert len({r.key for r in runs}) == 9  # k2/seed1/100% = window_fc/seed1/100%
    k2 = next(r for r in runs if r.variant == "k2")
    wf = next(r for r in runs if r.variant == "window_fc" and r.seed == 1 and r.fraction == 1.0)
    assert k2.key == wf.key
    # any change of a resolved option is a different run
    other = {**GRID, "overrides": {**TINY, "trainer.max_steps": 13}}
    assert not {r.key for r in expand(load_grid(write_grid(tmp_path, other)))} & {r.key for r in runs}


def test_options_added_later_keep_the_finished_runs_keys():
    """A new train option at its default must not change any finished run's key (NEUTRAL_OPTIONS): the
    README, the reports and the runs directories name runs by these keys. The GSD goal-table row's seed 1
    and the first GSD levers grid's default run, as recorded in their reports."""
    row = next(r for r in expand(load_grid(ROOT / "configs/compare/swa_zh_gsd.yaml")) if r.variant == "chosen_swa_0.5")
    assert row.key == "2b7aa69109ef832b"
    first = expand(load_grid(ROOT / "configs/compare/levers_zh_gsd.yaml"))
    assert "009bd6bb5eb4f571" in {r.key for r in first}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("treebank: x\n", "needs treebank and blocks"),
        ("treebank: x\nblocks: [{name: a}]\n", "blocks[0]"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_grid_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(TaggerError, match=message.replace("[", r"\[")):
        load_grid(path)


def test_jobs_must_be_positive(tmp_path):
    rc, _, err = run(["compare", "--config", str(write_grid(tmp_path)), "--jobs", "0"])
    assert rc != 0 and "--jobs 0" in err and len(err.strip().splitlines()) == 1


def test_unknown_option_in_a_grid_names_it(tmp_path):
    bad = {**GRID, "overrides": {"model.n_layer": 2}}
    rc, _, err = run(["compare", "--config", str(write_grid(tmp_path, bad)), "--out", str(tmp_path / "out")])
    assert rc == 1 and "n_layer" in err and len(err.strip().splitlines()) == 1


def test_a_run_the_time_limit_cut_short_is_marked(tmp_path):
    limited = {k: v for k, v in TINY.items() if k not in ("trainer.max_steps", "trainer.val_check_interval")}
    grid = {
        "treebank": "hu_szeged",
        "configs": [str(ROOT / "configs/hu_szeged.yaml")],
        "overrides": {**limited, "trainer.max_epochs": 1000, "trainer.max_time": "00:00:00:02"},
        "blocks": [{"name": "cut", "variants": {"transformer": {}}}],
    }
    out = tmp_path / "report"
    rc, _, err = run(["compare", "--config", str(write_grid(tmp_path, grid)), "--out", str(out)])
    assert rc == 0, err[-3000:]
    (result,) = json.loads((out / "results.json").read_text())
    assert result["stopped_by"] == "max_time" and result["epochs"] < 1000
    assert f"transformer/seed1/1: trainer.max_time stopped it in epoch {result['epochs']}" in err
    assert f"| {result['epochs']} (time limit) | runs/{result['key']} |" in (out / "report.md").read_text()


def test_compare_end_to_end_then_cached(tmp_path):
    grid, out = write_grid(tmp_path), tmp_path / "report"
    # two runs train side by side, one thread each; evaluation waits until neither is training
    rc, stdout, err = run(["compare", "--config", str(grid), "--out", str(out), "--jobs", "2"])
    assert rc == 0, err[-3000:]
    assert stdout.strip() == str(out / "report.md")
    assert "9 to train" in err and "ETA" in err and "9/9 trained" in err
    report = (out / "report.md").read_text()
    for figure in (
        "learning_curve_architectures.png",
        "per_tag_f1.png",
        "confusion.png",
        "accuracy_by_length.png",
        "window_size.png",
        "attention_saw.png",
        "attention_long.png",
    ):
        assert (out / figure).stat().st_size > 1000 and f"]({figure})" in report
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 10
    assert {r["train_threads"] for r in results} == {max(1, (os.cpu_count() or 1) // 2)}
    assert {r["stopped_by"] for r in results} == {"max_steps"} and "(time limit)" not in report
    assert f"Training threads per run: {results[0]['train_threads']}. " in report
    for r in results:  # the report names every run
        assert f"| {r['block']} | {r['variant']} | {r['seed']} | {r['fraction']:g} |" in report
        assert f"runs/{r['key']}" in report
    assert "p vs transformer (McNemar / bootstrap)" in report and "The two saws" in report
    # each table row gives the dev accuracy that selected the checkpoints beside the test accuracy
    rows = [r for r in results if r["block"] == "architectures" and r["variant"] == "window_fc" and r["fraction"] == 1]
    assert len(rows) == 2 and all(0 < r["dev_accuracy"] <= 1 for r in rows)
    dev, test = (mean_pm([r[k] for r in rows]) for k in ("dev_accuracy", "accuracy"))
    assert f"| 2 | {dev} | {test} |" in report
    assert len((out / "results.csv").read_text().splitlines()) == 11
    # configurations for choosing on dev: k2 is window_fc (same options), k0 has one seed, 50% runs left out
    groups = configurations(results, 2)
    assert sorted((g[0]["variant"], [(r["seed"], r["fraction"]) for r in g]) for g in groups) == [
        ("transformer", [(1, 1.0), (2, 1.0)]),
        ("window_fc", [(1, 1.0), (2, 1.0)]),
    ]
    assert sorted(g[0]["variant"] for g in configurations(results, 1)) == ["k0", "transformer", "window_fc"]

    # a speed timed while other processes kept the machine busy is flagged in its row, and only there
    assert all(r["timing_other_cores"] is not None for r in results)  # /proc/stat: CI runs on Linux
    busy_now = any(r["timing_other_cores"] > BUSY_CORES for r in results)  # a quiet machine or not
    assert ("Tagging speeds marked ¶" in report) == busy_now
    busy = [{**r, "timing_other_cores": 1.5 if r["variant"] == "k0" else 0.0} for r in results]
    busy_report = write_report(load_grid(grid), busy, tmp_path / "busy").read_text()
    assert "Tagging speeds marked ¶ were timed while other processes kept up to 1.5 cores busy" in busy_report
    assert [line.split(" |")[0] for line in busy_report.splitlines() if " ¶ |" in line] == ["| k0"]

    # a second run of the same grid trains nothing and writes the same results
    rc, _, err = run(["compare", "--config", str(grid), "--out", str(out)])
    assert rc == 0 and "9 cached, 0 to train" in err and "training" not in err
    assert json.loads((out / "results.json").read_text()) == results


def test_compare_does_not_retrain_a_run_another_process_trained_meanwhile(tmp_path, monkeypatch):
    """Two compares may share a runs directory (e.g. one per grid, one core each); a run the other one
    finished after this one started is evaluated if need be, not trained again."""
    import tagger.compare as cmp

    grid = {
        **GRID,
        "blocks": [
            {"name": "b", "variants": {"t": {"model.encoder": "transformer"}, "w": {"model.encoder": "window_fc"}}}
        ],
    }
    path, out = write_grid(tmp_path, grid), tmp_path / "out"
    runs = expand(load_grid(path))
    assert len({r.key for r in runs}) == 2
    started, evaluated = [], []

    class Finished:  # a training process that has exited cleanly
        returncode = 0

        def poll(self):
            return 0

    def start(run, out_dir, threads=None):
        started.append(run.variant)
        for r in runs:  # its own model, and the other run's model as the other compare writes it meanwhile
            cmp.run_dir(out_dir, r).mkdir(parents=True, exist_ok=True)
            cmp.model_path(out_dir, r).write_bytes(b"weights")
        return Finished()

    def evaluate(run, out_dir, threads=None):
        evaluated.append(run.variant)
        (cmp.run_dir(out_dir, run) / "result.json").write_text(json.dumps({"key": run.key}))

    monkeypatch.setattr(cmp, "start", start)
    monkeypatch.setattr(cmp, "evaluate", evaluate)
    _, results = cmp.compare(path, out)
    assert len(started) == 1 and sorted(evaluated) == ["t", "w"]
    assert sorted(r["variant"] for r in results) == ["t", "w"]


def test_attention_command(tiny_model, tmp_path):
    dest = tmp_path / "att.png"
    rc, stdout, _ = run(
        ["attention", "-m", str(tiny_model), "A kutya ugat .", "--layer", "0", "--head", "1", "-o", str(dest)]
    )
    assert rc == 0 and stdout.strip() == str(dest) and dest.stat().st_size > 1000
    rc, _, err = run(["attention", "-m", str(tiny_model), "A kutya", "--layer", "5"])
    assert rc == 1 and "--layer 5" in err


def _teacher_grid(tmp_path):
    """A grid whose block `teach` trains seeds 1-2 of a configuration and a student of those two seeds."""
    import tagger.compare as cmp

    teacher, out = {"model.encoder": "window_fc"}, tmp_path / "out"
    teachers_only = write_grid(
        tmp_path, {**GRID, "blocks": [{"name": "t", "variants": {"t": teacher}, "seeds": [1, 2]}]}
    )
    models = [str(cmp.model_path(out, r)) for r in expand(load_grid(teachers_only))]
    student = {**teacher, "data.teachers": models}
    grid = {**GRID, "blocks": [{"name": "teach", "variants": {"t": teacher, "s": student}, "seeds": [1, 2]}]}
    return write_grid(tmp_path, grid), out


def test_compare_trains_teachers_before_their_students(tmp_path, monkeypatch):
    """A grid may list a student beside its teachers: the student (seed 1, sorted among the first runs)
    waits until both teachers are trained, and the other runs go ahead meanwhile."""
    import tagger.compare as cmp

    path, out = _teacher_grid(tmp_path)
    started = []

    def start(run, out_dir, threads=None):
        started.append(f"{run.variant}{run.seed}")

        class Process:  # exits at its first poll, having written its model
            returncode = 0

            def poll(self):
                cmp.run_dir(out_dir, run).mkdir(parents=True, exist_ok=True)
                cmp.model_path(out_dir, run).write_bytes(b"weights")
                return 0

        return Process()

    monkeypatch.setattr(cmp, "start", start)
    monkeypatch.setattr(cmp, "evaluate", lambda run, out_dir, threads=None: None)
    monkeypatch.setattr(cmp, "collect", lambda runs, out_dir: [])
    cmp.compare(path, out, jobs=2)
    assert sorted(started) == ["s1", "s2", "t1", "t2"]
    assert max(started.index("t1"), started.index("t2")) < min(started.index("s1"), started.index("s2"))


def test_compare_names_a_teacher_whose_model_is_gone(tmp_path, monkeypatch):
    """A teacher evaluated earlier whose model file was deleted is never trained again: a clear error, not
    a wait for ever."""
    import tagger.compare as cmp

    path, out = _teacher_grid(tmp_path)
    for r in expand(load_grid(path)):
        if r.variant == "t":
            cmp.run_dir(out, r).mkdir(parents=True)
            (cmp.run_dir(out, r) / "result.json").write_text("{}")  # evaluated, model.safetensors gone
    monkeypatch.setattr(cmp, "start", lambda *a, **k: pytest.fail("nothing can be trained"))
    with pytest.raises(
        TaggerError, match=r"run s/seed1/1 learns from runs that are never trained: t/seed1/1, t/seed2/1"
    ):
        cmp.compare(path, out, jobs=2)


def test_compare_trains_only_the_variants_and_seeds_asked_for(tmp_path, monkeypatch):
    """`--variants/--seeds` train a part of a grid: the student asked for brings its teachers along, nothing
    else is trained, and the results (the report) cover every run of the grid evaluated so far."""
    import tagger.compare as cmp

    path, out = _teacher_grid(tmp_path)
    started = []

    class Finished:
        returncode = 0

        def poll(self):
            return 0

    def start(run, out_dir, threads=None):
        started.append(f"{run.variant}{run.seed}")
        cmp.run_dir(out_dir, run).mkdir(parents=True, exist_ok=True)
        cmp.model_path(out_dir, run).write_bytes(b"weights")
        return Finished()

    def evaluate(run, out_dir, threads=None):
        (cmp.run_dir(out_dir, run) / "result.json").write_text(json.dumps({"key": run.key, "seed": run.seed}))

    monkeypatch.setattr(cmp, "start", start)
    monkeypatch.setattr(cmp, "evaluate", evaluate)
    _, results = cmp.compare(path, out, variants=["s"], seeds=[1])
    assert sorted(started) == ["s1", "t1", "t2"]  # s1 learns from both teacher seeds
    assert sorted((r["variant"], r["seed"]) for r in results) == [("s", 1), ("t", 1), ("t", 2)]
    started.clear()
    _, results = cmp.compare(path, out, seeds=[2])
    assert started == ["s2"]  # its teachers are cached
    assert len(results) == 4

    runs = expand(load_grid(path))
    with pytest.raises(TaggerError, match=r"grid.yaml: --variants x: not in the grid, which has s, t"):
        cmp.select(runs, out, path, variants=["x"])
    with pytest.raises(TaggerError, match=r"--seeds 3: not in the grid, which has 1, 2"):
        cmp.select(runs, out, path, seeds=[1, 3])
    (tmp_path / "full").mkdir()
    grid = write_grid(tmp_path / "full", GRID)  # k0 is trained with seed 1 only
    with pytest.raises(
        TaggerError, match=r"no run of the grid is one of the variants \['k0'\] with one of the seeds \[2\]"
    ):
        cmp.select(expand(load_grid(grid)), out, grid, variants=["k0"], seeds=[2])
    rc, _, err = run(["compare", "--config", str(grid), "--out", str(out), "--variants", "transformer", "rnn"])
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert err.strip().endswith("grid.yaml: --variants rnn: not in the grid, which has k0, k2, transformer, window_fc")


def test_result_gives_the_threads_training_used(tiny_model, tmp_path):
    """A run's train time is reported with the thread count its training process had, which compare cannot
    know when it leaves the threads to the environment (`--jobs 1` under OMP_NUM_THREADS=1)."""
    import shutil

    import torch

    import tagger.compare as cmp
    from tagger.modelfile import read_model_file

    run_ = cmp.Run("b", "v", 1, 1.0, ["--data.treebank", "hu_szeged"], key="k")
    cmp.run_dir(tmp_path, run_).mkdir(parents=True)
    shutil.copy(tiny_model, cmp.model_path(tmp_path, run_))
    recorded = read_model_file(tiny_model)[1]["training"]["threads"]
    assert recorded == torch.get_num_threads()  # trained in this process
    assert cmp.evaluate(run_, tmp_path, None)["train_threads"] == recorded


def test_a_terminated_compare_stops_its_training_processes(tmp_path):
    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    grid = {**GRID, "overrides": {**TINY, "trainer.max_steps": 100_000, "trainer.val_check_interval": 1.0}}
    grid["blocks"] = [{"name": "b", "variants": {"t": {"model.encoder": "transformer"}}}]
    path, out = write_grid(tmp_path, grid), tmp_path / "out"
    compare = subprocess.Popen(
        [sys.executable, "-m", "tagger", "compare", "--config", str(path), "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    children: list[int] = []
    try:
        for _ in range(600):  # until its training process runs
            found = subprocess.run(["pgrep", "-P", str(compare.pid)], capture_output=True, text=True).stdout
            children = [int(p) for p in found.split()]
            if children:
                break
            time.sleep(0.1)
        assert children, "compare started no training process"
        compare.send_signal(signal.SIGTERM)
        _, err = compare.communicate(timeout=60)
        left = [pid for pid in children if alive(pid)]
    finally:  # whatever happened, leave nothing running
        compare.kill()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert compare.returncode == 128 + signal.SIGTERM and err.strip().endswith("tagger: terminated")
    assert left == []
    assert not list(out.glob("runs/*/model.safetensors"))
