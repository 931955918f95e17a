"""The `tagger` command in-process, end to end on real data: train a tiny model, predict, evaluate."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import ROOT, TINY, run, train_tiny
from tagger.conllu_io import read_conllu


@pytest.fixture(scope="module")
def trained(tiny_run):
    return tiny_run


@pytest.fixture(scope="module")
def model(trained) -> Path:
    return trained[1]


def test_train_writes_the_output_directory(trained):
    out, path, stdout = trained
    assert stdout.strip() == str(out / "model.safetensors")  # stdout: nothing but the model path
    assert path.is_file()
    assert (out / "checkpoints" / "last.ckpt").is_file() and (out / "checkpoints" / "best.ckpt").is_file()
    assert list((out / "logs").rglob("metrics.csv"))
    import yaml

    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["model"]["dim"] == 32 and resolved["data"]["treebank"] == "hu_szeged"
    assert resolved["trainer"]["max_steps"] == 40
    summary = json.loads((out / "training.json").read_text())
    assert summary["global_steps"] == 40 and 0 < summary["best_dev_accuracy"] <= 1
    assert summary["stopped_by"] == "max_steps"


def test_a_run_cut_short_by_max_time_says_so(tmp_path):
    out = tmp_path / "cut"
    argv = ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), *TINY, "--trainer.max_epochs", "1000"]
    rc, _, err = run([*argv, "--trainer.max_time", "00:00:00:02", "--output-dir", str(out)])
    assert rc == 0, err[-2000:]
    summary = json.loads((out / "training.json").read_text())
    assert summary["stopped_by"] == "max_time" and summary["epochs"] < 1000
    assert f"stopped the run at step {summary['global_steps']}, in epoch {summary['epochs']} of 1000" in err


def test_predict_conllu_keeps_every_other_column(model, szeged, tmp_path):
    dest = tmp_path / "pred.conllu"
    rc, stdout, _ = run(["predict", "--model", str(model), str(szeged["test"]), "-o", str(dest)])
    assert rc == 0 and stdout == ""
    gold_lines = szeged["test"].read_text(encoding="utf-8").splitlines()
    pred_lines = dest.read_text(encoding="utf-8").splitlines()
    assert len(gold_lines) == len(pred_lines)
    tags = set()
    for g, p in zip(gold_lines, pred_lines, strict=True):
        gc, pc = g.split("\t"), p.split("\t")
        if len(gc) == 10 and gc[0].isdigit():
            assert gc[:3] + gc[4:] == pc[:3] + pc[4:]
            tags.add(pc[3])
        else:
            assert g == p
    from tagger.predict import Tagger

    assert tags <= set(Tagger.load(model).tags)


def test_predict_tokens_to_tsv_and_jsonl(model):
    rc, tsv, _ = run(["predict", "-m", str(model), "-i", "tokens", "-f", "tsv"], stdin="A kutya ugat .\nJó .\n")
    assert rc == 0
    blocks = tsv.strip("\n").split("\n\n")
    assert [[line.split("\t")[0] for line in b.splitlines()] for b in blocks] == [
        ["A", "kutya", "ugat", "."],
        ["Jó", "."],
    ]
    rc, jl, _ = run(
        ["predict", "-m", str(model), "-i", "tokens", "-f", "jsonl", "--top-k", "3"], stdin="A kutya ugat .\n\n"
    )
    records = [json.loads(line) for line in jl.splitlines()]
    assert records[1] == {"tokens": [], "tags": [], "top_k": []}
    first = records[0]
    assert first["tokens"] == ["A", "kutya", "ugat", "."] and len(first["tags"]) == 4
    for tag, top in zip(first["tags"], first["top_k"], strict=True):
        probs = [t["prob"] for t in top]
        assert len(top) == 3 and top[0]["tag"] == tag and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001


def test_predict_raw_to_conllu(model):
    rc, out, _ = run(["predict", "-m", str(model), "-i", "raw"], stdin="A kutya ugat. A macska alszik!\n")
    assert rc == 0
    sents = list(read_conllu(io.StringIO(out)))
    assert [s.forms for s in sents] == [["A", "kutya", "ugat", "."], ["A", "macska", "alszik", "!"]]
    assert "# text = A kutya ugat." in out and all(t != "_" for s in sents for t in s.column("upos"))


def test_evaluate_text_and_json(model, szeged, tmp_path):
    rc, text, _ = run(["evaluate", "--model", str(model), "--data", str(szeged["test"])])
    assert rc == 0 and "accuracy" in text and "confusion matrix" in text
    rc, js, _ = run(["evaluate", "--model", str(model), "--data", str(szeged["test"]), "--json"])
    result = json.loads(js)
    # the reported accuracy is the agreement of `predict` output with the gold file
    dest = tmp_path / "p.conllu"
    run(["predict", "--model", str(model), str(szeged["test"]), "-o", str(dest)])
    gold = [t for s in read_conllu(szeged["test"]) for t in s.column("upos")]
    pred = [t for s in read_conllu(dest) for t in s.column("upos")]
    assert result["tokens"] == len(gold)
    assert result["accuracy"] == pytest.approx(sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold))
    assert set(result["per_tag"]) >= set(gold) and result["unknown_tokens"] > 0
    assert sum(map(sum, result["confusion"]["matrix"])) == len(gold)


def test_python_api_batched_equals_unbatched(model):
    from tagger import Tagger

    tagger = Tagger.load(model)
    sents = [["A", "kutya", "ugat", "."], ["Jó", "."], [], ["Nagyon", "szép", "idő", "van", "ma", "."]]
    batched = tagger.tag(sents, batch_size=8)
    single = [tagger.tag([s], batch_size=1)[0] for s in sents]
    assert batched == single and batched[2] == []
    preds = tagger.predict(sents, probs=True, top_k=2)
    assert [p.tags for p in preds] == batched
    assert all(0 < p <= 1 for pr in preds for p in pr.probs)


def test_same_seed_gives_the_same_model(trained, tmp_path):
    _, path, _ = trained
    again, _ = train_tiny(tmp_path / "again")
    a, b = load_file(str(path)), load_file(str(again))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)


def test_xpos_column_is_trained_and_filled(tmp_path, ewt_dev):
    # Szeged has no XPOS; English-EWT's dev file (Penn tags) serves as a small training set here.
    path, _ = train_tiny(
        tmp_path / "xpos", "--data.label_column", "xpos", "--model.encoder", "rnn",
        "--data.treebank", "null", "--data.train", str(ewt_dev), "--data.dev", str(ewt_dev),
    )  # fmt: skip
    rc, out, _ = run(["predict", "-m", str(path), "-i", "tokens"], stdin="I saw a saw .\n")
    (sent,) = read_conllu(io.StringIO(out))
    assert sent.column("upos") == ["_"] * 5
    from tagger.predict import Tagger

    tags = Tagger.load(path).tags
    assert "NN" in tags and "VBD" in tags and "NOUN" not in tags  # the Penn tag set, from the XPOS column
    assert set(sent.column("xpos")) <= set(tags)


# ------------------------------------------------------------------------------------------ bad input
def test_malformed_conllu_is_one_line_error_and_writes_nothing(model, tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n\n1\tkutya\tkutya\n\n", encoding="utf-8")
    dest = tmp_path / "out.conllu"
    dest.write_text("old content\n")
    rc, stdout, stderr = run(["predict", "-m", str(model), str(bad), "-o", str(dest)])
    assert rc == 1 and stdout == ""
    assert stderr.strip().splitlines()[-1] == f"tagger: error: {bad}:3: expected 10 tab-separated columns, found 3"
    assert dest.read_text() == "old content\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.conllu", "out.conllu"]  # no temporary left


def test_malformed_training_file_is_the_only_line_on_stderr(tmp_path, ewt_dev):
    # A file never seen before: datasets parses it into the Arrow cache, and draws no progress bar
    # when stderr is not a terminal, so the error is all there is.
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n\n1\tkutya\tkutya\n\n", encoding="utf-8")
    rc, stdout, stderr = run(
        ["train", "--data.treebank", "null", "--data.train", str(bad), "--data.dev", str(ewt_dev),
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert rc == 1 and stdout == ""
    assert stderr == f"tagger: error: {bad}:3: expected 10 tab-separated columns, found 3\n"
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_unknown_model_file(tmp_path):
    rc, _, stderr = run(["predict", "-m", str(tmp_path / "nope.safetensors")], stdin="")
    assert rc == 1 and stderr.strip() == f"tagger: error: {tmp_path / 'nope.safetensors'}: no such model file"
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a model")
    rc, _, stderr = run(["evaluate", "-m", str(junk), "--data", str(junk)])
    assert rc == 1 and len(stderr.strip().splitlines()) == 1 and "not a readable model file" in stderr


def test_unknown_config_key_names_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  n_layer: 3\n")
    rc, _, stderr = run(["train", "--config", str(cfg)])
    assert rc == 1 and len(stderr.strip().splitlines()) == 1
    assert "n_layer" in stderr and str(cfg) in stderr
    rc, _, stderr = run(["train", "--model.n_heads", "3"])
    assert rc == 1 and "--model.n_heads" in stderr
    rc, _, stderr = run(["train", "--model.dim", "wide"])
    assert rc == 1 and "model.dim" in stderr


def test_usage_errors(model):
    rc, _, stderr = run(["predict", "-m", str(model), "-f", "tsv", "--top-k", "2"], stdin="")
    assert rc == 1 and "--top-k needs --output-format jsonl" in stderr
    rc, _, stderr = run(["evaluate", "-m", str(model), "-d", "x", "--batch-size", "0"])
    assert rc == 1 and stderr.strip() == "tagger: error: --batch-size must be >= 1"
    assert run(["frobnicate"])[0] == 2


def test_threads_option(model, szeged, monkeypatch):
    """--threads sets torch's threads for predict and evaluate; a count below 1 is a one-line usage error."""
    import os

    import torch

    # --threads also sets the tokenizers' switch in the environment: have it restored afterwards
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", os.environ.get("TOKENIZERS_PARALLELISM", "false"))
    before = torch.get_num_threads()
    try:
        rc, text, _ = run(["evaluate", "-m", str(model), "--data", str(szeged["test"]), "--threads", "1"])
        assert rc == 0 and "accuracy" in text and torch.get_num_threads() == 1
        for command in (["predict", "-m", str(model), "-i", "tokens"], ["evaluate", "-m", str(model), "-d", "x"]):
            for bad in ("0", "-1"):
                rc, out, stderr = run([*command, "--threads", bad], stdin="a b\n")
                assert rc == 1 and out == ""
                assert stderr.strip().splitlines() == [f"tagger: error: --threads {bad}: needs at least 1"]
    finally:
        torch.set_num_threads(before)


def test_real_process_stdin_stdout_keep_bytes(model, tmp_path):
    """As a user runs it: a subprocess in the C locale, CRLF CoNLL-U with non-ASCII text on stdin."""
    import os
    import subprocess

    text = "# text = Jó idő\r\n1\tJó\tjó\t_\t_\t_\t0\troot\t_\t_\r\n2\tidő\tidő\t_\t_\t_\t1\tnsubj\t_\t_\r\n\r\n"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "tagger", "predict", "--model", str(model)],
        input=text.encode("utf-8"),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode("utf-8")
    assert out.count("\r\n") == 4 and "Jó" in out
    lines_in, lines_out = text.split("\r\n"), out.split("\r\n")
    assert lines_out[0] == lines_in[0]
    for a, b in zip(lines_in[1:3], lines_out[1:3], strict=True):
        ca, cb = a.split("\t"), b.split("\t")
        assert ca[:3] + ca[4:] == cb[:3] + cb[4:] and cb[3] != "_"


def test_bf16_precision_tags_like_fp32(model, szeged):
    rc, js32, _ = run(["evaluate", "-m", str(model), "--data", str(szeged["test"]), "--json"])
    rc16, js16, _ = run(["evaluate", "-m", str(model), "--data", str(szeged["test"]), "--json", "--precision", "bf16"])
    assert rc == rc16 == 0
    acc32, acc16 = json.loads(js32)["accuracy"], json.loads(js16)["accuracy"]
    assert abs(acc32 - acc16) < 0.01
    rc, out, _ = run(["predict", "-m", str(model), "-i", "tokens", "--precision", "bf16"], stdin="A kutya ugat .\n")
    assert rc == 0 and len(list(read_conllu(io.StringIO(out)))[0]) == 4


def test_bf16_mixed_precision_training(tmp_path):
    """The mixed-precision path (as on a GPU with --trainer.precision bf16-mixed), here on the CPU."""
    path, _ = train_tiny(tmp_path / "bf16", "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "20")
    summary = json.loads((tmp_path / "bf16" / "training.json").read_text())
    assert summary["global_steps"] == 20 and summary["best_dev_accuracy"] > 0
    from tagger.predict import Tagger

    assert len(Tagger.load(path).tag([["A", "kutya", "ugat", "."]])[0]) == 4
