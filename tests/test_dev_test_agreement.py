"""scripts/dev_test_agreement.py over runs directories laid out as `tagger compare --out` writes them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("dev_test_agreement", ROOT / "scripts/dev_test_agreement.py")
agreement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agreement)


def write_run(out: Path, key: str, variant: str, seed: int, dev: float, test: float, encoder: str = "transformer"):
    d = out / "runs" / key
    d.mkdir(parents=True)
    # the argv `tagger compare` records; one dropout per variant name, so runs of a variant differ only in the seed
    dropout = str(sum(map(ord, variant)) % 50 / 100)
    config = str(ROOT / "configs/hu_szeged.yaml")
    argv = ["--config", config, "--model.encoder", encoder, "--model.dropout", dropout, "--seed", str(seed)]
    result = {"key": key, "variant": variant, "seed": seed, "fraction": 1.0, "dev_accuracy": dev, "accuracy": test,
              "argv": argv + ["--data.train_fraction", "1.0"], "model_config": {"encoder": encoder}}  # fmt: skip
    (d / "result.json").write_text(json.dumps(result))


def test_reads_runs_once_and_reports_the_agreement(tmp_path, capsys):
    # dev and test move as x = 1..5 and y = 2, 1, 4, 3, 5 do: Pearson's r 0.8 (worked out in test_stats);
    # the best dev run (dev 94.05) has the best test (93.05), rank 1
    test = [93.02, 93.01, 93.04, 93.03, 93.05]
    for i in range(5):
        write_run(tmp_path / "a", f"k{i}", f"v{i}", 1, (94.01 + i / 100) / 100, test[i] / 100)
    write_run(tmp_path / "a", "rnn0", "rnn", 1, 0.9, 0.9, encoder="rnn")  # too few rnn runs: left out
    (tmp_path / "b" / "runs").mkdir(parents=True)
    # the same run linked into a second directory counts once
    (tmp_path / "b" / "runs" / "k0").symlink_to(tmp_path / "a" / "runs" / "k0")
    agreement.main([str(tmp_path / "a"), str(tmp_path / "b")])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[2].startswith("| transformer | 5 | 94.01-94.05 | 93.01-93.05 | +0.80 (")
    assert "| +0.80 | 1 of 5 |" in lines[2]
    # three seeds of each of four configurations: their means are compared too
    for c in range(4):
        for s in (1, 2, 3):
            write_run(tmp_path / "c", f"c{c}s{s}", f"conf{c}", s, (94 + c / 10 + s / 100) / 100, (93 - c / 10) / 100)
    agreement.main([str(tmp_path / "c"), "--encoder", "transformer"])
    row = capsys.readouterr().out.splitlines()[2]
    assert row.endswith("| 4: -1.00 (-1.00 to -1.00) |")  # dev up, test down, configuration by configuration


def test_too_few_runs_is_an_error(tmp_path):
    write_run(tmp_path, "k0", "v0", 1, 0.9, 0.9)
    with pytest.raises(SystemExit, match=f"fewer than 4 finished runs of one encoder under {tmp_path}$"):
        agreement.main([str(tmp_path)])
    with pytest.raises(SystemExit, match=f"{tmp_path / 'nowhere'}: no such directory"):
        agreement.main([str(tmp_path), str(tmp_path / "nowhere")])
