"""Every shipped config loads, type-checks and builds a model; bad keys fail by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT
from tagger.config import parse_train_args
from tagger.errors import TaggerError
from tagger.models import build_model

CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if "compare" not in p.parts)
GRIDS = sorted((ROOT / "configs" / "compare").glob("*.yaml"))


def test_there_are_configs_for_every_architecture_and_treebank():
    names = {p.stem for p in CONFIGS}
    assert {"en_ewt_transformer", "en_ewt_rnn", "en_ewt_window_fc", "hu_szeged", "zh_gsd"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_and_builds(path):
    cfg, trainer_kwargs, resolved, _ = parse_train_args(["--config", str(path)])
    net = build_model(cfg.model, n_words=100, n_chars=50, n_tags=17)
    assert sum(p.numel() for p in net.parameters()) > 0
    assert resolved["model"]["encoder"] == cfg.model.encoder
    assert trainer_kwargs["max_epochs"] >= 1


def test_overrides_win_over_config_files():
    cfg, tk, _, _ = parse_train_args(
        ["--config", str(ROOT / "configs/en_ewt_rnn.yaml"), "--model.n_layers", "3", "--trainer.max_epochs", "2"]
    )
    assert cfg.model.encoder == "rnn" and cfg.model.n_layers == 3 and tk["max_epochs"] == 2


def test_layered_configs():
    cfg, _, _, _ = parse_train_args(
        ["--config", str(ROOT / "configs/en_ewt_rnn.yaml"), "--config", str(ROOT / "configs/hu_szeged.yaml")]
    )
    assert cfg.model.encoder == "rnn" and cfg.data.treebank == "hu_szeged"


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--model.n_layer", "2"], "--model.n_layer"),
        (["--model.encoder", "cnn"], "model.encoder"),
        (["--model.transformer.positional", "rotary"], "positional"),
        (["--config", "/no/such.yaml"], "/no/such.yaml"),
    ],
)
def test_bad_options_name_the_key(argv, needle):
    with pytest.raises(TaggerError) as err:
        parse_train_args(argv)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("grid", GRIDS, ids=lambda p: p.name)
def test_every_comparison_grid_expands(grid):
    from tagger.compare import expand, load_grid

    g = load_grid(grid)
    runs = expand(g)
    for block in g.blocks:  # within a block every cell is its own run: no two cells silently the same config
        keys = [r.key for r in runs if r.block == block.name]
        assert len(set(keys)) == len(keys) == len(block.variants) * len(block.seeds) * len(block.fractions)
    argvs = [tuple(r.argv) for r in runs]
    if len(set(argvs)) < len(argvs):  # blocks that list the same run (the default model) share it, not retrain it
        assert len({r.key for r in runs}) < len(runs)


# configs/accurate/: the configuration whose runs the README's goal table reports, per treebank
ACCURATE = [
    ("en_ewt", "char_dropout_en_ewt.yaml", "transformer_deprel_aux_1.0_rdrop_1_char_dropout_0.3"),
    ("zh_gsd", "sentence_chars_zh_gsd.yaml", "chosen_swa_0.5_constant_lr_sentence_chars_only_drop_0.3_50_epochs"),
    ("hu_szeged", "depth_hu_szeged.yaml", "all_adv_affixes_factored_4_layers"),
]
# Distilled students the README reports (the Szeged self-attention row until the sixteenth session, and again
# since the eighteenth): a configuration taught by its own three seeds (README, "Distillation"). (student grid,
# student variant, teachers' grid, teachers' variant)
DISTILLED = [
    ("distill_hu_szeged.yaml", "all_distilled", "capacity_hu_szeged.yaml", "all"),
    ("distill_adv_zh_gsd.yaml", "chosen_distilled", "deprel_zh_gsd.yaml", "levers_adv_0.03_deprel"),
    ("distill_combined_hu_szeged.yaml", "combined_distilled", "combined_hu_szeged.yaml", "all_adv_affixes_factored"),
    (
        "distill_combined_hu_szeged.yaml",
        "rnn_combined_distilled",
        "combined_hu_szeged.yaml",
        "rnn_all_adv_affixes_factored",
    ),
]


def _grid_runs(grid: str, variant: str) -> dict:
    """A comparison grid's runs of one variant, by seed."""
    from tagger.compare import expand, load_grid

    return {r.seed: r for r in expand(load_grid(ROOT / "configs" / "compare" / grid)) if r.variant == variant}


def _accurate(treebank: str, seed: int, *extra: str) -> dict:
    _, _, resolved, _ = parse_train_args(
        ["--config", str(ROOT / f"configs/accurate/{treebank}.yaml"), "--seed", str(seed), *extra]
    )
    assert resolved["data"]["treebank"] == treebank
    return resolved


@pytest.mark.parametrize("treebank,grid,variant", ACCURATE, ids=[a[0] for a in ACCURATE])
def test_accurate_configs_are_the_reported_runs(treebank, grid, variant):
    """`tagger train --config configs/accurate/X.yaml --seed N` trains exactly the run the README reports
    (the same cache key as the grid's run: every option and default equal), so its numbers apply."""
    from tagger.compare import run_key

    runs = _grid_runs(grid, variant)
    assert set(runs) == {1, 2, 3}
    for seed, run in runs.items():
        assert run_key(_accurate(treebank, seed)) == run.key


@pytest.mark.parametrize("grid,variant,teacher_grid,teacher_variant", DISTILLED, ids=[d[1] for d in DISTILLED])
def test_distilled_students_are_their_teachers_configuration_taught_by_its_own_seeds(
    grid, variant, teacher_grid, teacher_variant
):
    """The students are the teachers' configuration plus `--data.teachers` naming the model files of that
    configuration's seeds 1-3 (the grid's run directories, named by their cache keys)."""
    from tagger.compare import run_key

    students, teacher_runs = _grid_runs(grid, variant), _grid_runs(teacher_grid, teacher_variant)
    assert set(students) == set(teacher_runs) == {1, 2, 3}
    teachers = json.loads(students[1].argv[students[1].argv.index("--data.teachers") + 1])
    assert [Path(t).parent.name for t in teachers] == [teacher_runs[s].key for s in (1, 2, 3)]
    for seed, run in students.items():
        _, _, resolved, _ = parse_train_args([*teacher_runs[seed].argv, "--data.teachers", json.dumps(teachers)])
        assert run_key(resolved) == run.key
