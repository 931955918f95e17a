"""Knowledge distillation (data.teachers): trained models' tag distributions as soft training targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, run, train_tiny
from tagger.batch import pad_batch
from tagger.conllu_io import read_conllu
from tagger.data import DataConfig, TaggerDataModule
from tagger.models.output import soft_cross_entropy
from tagger.predict import Tagger
from tagger.vocab import VocabConfig


def test_soft_cross_entropy_is_cross_entropy_on_one_hot_targets():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    one_hot = F.one_hot(labels, 7).float()
    expected = F.cross_entropy(logits[mask], labels[mask])
    assert torch.allclose(soft_cross_entropy(logits, one_hot, mask), expected)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_soft_cross_entropy_is_lowest_where_the_student_matches_the_teacher(temperature):
    # The teachers' distributions are stored at temperature 1; tempering both sides must keep the
    # teacher's own logits the minimum: zero gradient there, a non-zero one elsewhere.
    torch.manual_seed(1)
    teacher = torch.randn(3, 4, 6)
    mask = torch.ones(3, 4, dtype=torch.bool)
    targets = teacher.softmax(-1)
    at_teacher = teacher.clone().requires_grad_()
    soft_cross_entropy(at_teacher, targets, mask, temperature).backward()
    elsewhere = torch.randn(3, 4, 6).requires_grad_()
    soft_cross_entropy(elsewhere, targets, mask, temperature).backward()
    assert at_teacher.grad.abs().max() < 1e-6 < elsewhere.grad.abs().max()


def test_padded_soft_labels():
    soft = [[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]], [[0.2, 0.3, 0.5]]]
    b = pad_batch([[5, 6], [7]], [[[1], [2]], [[3]]], [[0, 1], [2]], soft_labels=soft)
    assert b.soft_labels.shape == (2, 2, 3) and b.soft_labels.dtype == torch.float32
    assert b.soft_labels[0].tolist() == soft[0]
    assert b.soft_labels[1, 0].tolist() == pytest.approx(soft[1][0]) and b.soft_labels[1, 1].tolist() == [0, 0, 0]
    assert pad_batch([[5]], [[[1]]], [[0]]).soft_labels is None


def test_the_training_set_carries_the_teachers_distributions(tiny_model, szeged):
    cfg = DataConfig(treebank="hu_szeged", teachers=[str(tiny_model)])
    dm = TaggerDataModule(cfg, VocabConfig())
    dm.setup("fit")
    train = dm.encoded["train"]
    assert "soft" in train.column_names and "soft" not in dm.encoded["dev"].column_names
    teacher = Tagger.load(tiny_model)
    assert teacher.tags == dm.vocab.tags  # same training file, same tag set: the columns line up as they are
    sentences = [s.forms for s in read_conllu(szeged["train"]) if len(s)][:40]
    soft = [np.asarray(s) for s in train[:40]["soft"]]
    assert [len(s) for s in soft] == [len(s) for s in sentences]
    for dist, tags in zip(soft, teacher.tag(sentences), strict=True):
        assert np.allclose(dist.sum(-1), 1, atol=1e-5)
        assert [dm.vocab.tags[i] for i in dist.argmax(-1)] == tags
    batch = next(iter(dm.train_dataloader()))
    assert batch.soft_labels.shape == (*batch.mask.shape, dm.vocab.n_tags)


def test_a_student_learns_the_teachers_tags(tmp_path, tiny_model, szeged):
    # Training data whose gold UPOS are renamed (each tag to the next in a cycle, so no tag keeps its
    # name): a student trained on the real-data teacher's distributions alone (weight 1) tags dev like
    # the teacher, the same run without the teacher learns the renamed tags.
    dev = [s for s in read_conllu(szeged["dev"]) if len(s)]
    forms, gold = [s.forms for s in dev], [t for s in dev for t in s.column("upos")]
    names = sorted(set(Tagger.load(tiny_model).tags))
    renamed = dict(zip(names, names[1:] + names[:1], strict=True))
    lines = []
    for line in szeged["train"].read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) == 10 and cols[3] in renamed:
            cols[3] = renamed[cols[3]]
        lines.append("\t".join(cols))
    train = tmp_path / "renamed.conllu"
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def accuracy(path):
        tags = [t for sent in Tagger.load(path).tag(forms) for t in sent]
        return np.mean([t == g for t, g in zip(tags, gold, strict=True)])

    data = ["--data.train", str(train), "--seed", "7"]
    student, _ = train_tiny(tmp_path / "s", *data, "--data.teachers", f"[{tiny_model}]", "--optim.distill_weight", "1")
    alone, _ = train_tiny(tmp_path / "alone", *data)
    acc = {"teacher": accuracy(tiny_model), "student": accuracy(student), "alone": accuracy(alone)}
    print(f"dev accuracy against the real tags: {acc}")
    assert acc["alone"] < 0.1 and acc["student"] > acc["alone"] + 0.5 * acc["teacher"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data.teachers", "[missing.safetensors]"], "missing.safetensors: no such teacher model file"),
        (["--data.label_column", "feats", "--data.teachers", "[{model}]"], "teacher tags the upos column"),
        (["--model.output", "crf", "--data.teachers", "[{model}]"], "needs model.output softmax"),
        (["--optim.distill_weight", "2", "--data.teachers", "[{model}]"], "optim.distill_weight must be in [0, 1]"),
    ],
)
def test_bad_teachers_are_one_line_errors(tmp_path, tiny_model, extra, message):
    extra = [a.format(model=tiny_model) for a in extra]
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), *extra,
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    errors = [line for line in err.splitlines() if "error" in line]  # after the log's vocabulary line
    assert rc == 1 and len(errors) == 1 and message in errors[0] and err.rstrip().endswith(errors[0]), err
    assert not (tmp_path / "out" / "model.safetensors").exists()
