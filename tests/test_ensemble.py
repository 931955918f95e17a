"""Ensembles of model files: mean tag probabilities over the models, from the API and the CLI."""

from __future__ import annotations

import json

import pytest

from conftest import run, train_tiny
from tagger.conllu_io import read_conllu
from tagger.errors import TaggerError
from tagger.predict import Ensemble, Tagger


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("seed7"), "--seed", "7")[0]


def _dists(tagger, sentences):
    """Per token, {tag: probability} over every tag."""
    preds = tagger.predict(sentences, top_k=len(tagger.tags))
    return [dict(top) for p in preds for top in p.top]


def test_ensemble_averages_the_models_probabilities(tiny_model, second_model, szeged):
    sentences = [s.forms for s in read_conllu(szeged["dev"])][:40]
    a, b = Tagger.load(tiny_model), Tagger.load(second_model)
    both = Ensemble([a, b])
    assert set(both.tags) == set(a.tags) | set(b.tags)
    da, db, de = _dists(a, sentences), _dists(b, sentences), _dists(both, sentences)
    assert len(de) == sum(map(len, sentences))
    differ = 0
    for pa, pb, pe in zip(da, db, de, strict=True):
        for tag, p in pe.items():
            assert p == pytest.approx((pa.get(tag, 0.0) + pb.get(tag, 0.0)) / 2, abs=1e-5)
        differ += max(pa, key=pa.get) != max(pb, key=pb.get)
    assert differ > 0  # the two seeds disagree somewhere, so the average is not trivially either one
    tags = [t for p in both.predict(sentences) for t in p.tags]
    assert tags == [max(pe, key=pe.get) for pe in de]


def test_an_ensemble_of_one_is_the_model(tiny_model, szeged):
    sentences = [s.forms for s in read_conllu(szeged["dev"])][:20]
    one = Tagger.load(tiny_model)
    assert Ensemble([one]).tag(sentences) == one.tag(sentences)


def test_models_of_different_columns_do_not_ensemble(tiny_model, tmp_path):
    feats, _ = train_tiny(tmp_path / "feats", "--data.label_column", "feats", "--trainer.max_steps", "2")
    with pytest.raises(TaggerError, match="different columns"):
        Ensemble.load([tiny_model, feats])


def test_cli_evaluates_and_tags_with_an_ensemble(tiny_model, second_model, szeged, tmp_path):
    rc, out, err = run(["evaluate", "-m", str(tiny_model), "-m", str(second_model), "-d", str(szeged["dev"]), "--json"])
    assert rc == 0, err
    result = json.loads(out)
    expected = Ensemble.load([tiny_model, second_model])
    gold = [s.column("upos") for s in read_conllu(szeged["dev"]) if len(s)]
    pred = expected.tag([s.forms for s in read_conllu(szeged["dev"]) if len(s)])
    correct = sum(g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True))
    assert result["accuracy"] == pytest.approx(correct / sum(map(len, gold)))
    dest = tmp_path / "tagged.conllu"
    rc, _, err = run(["predict", "-m", str(tiny_model), "-m", str(second_model), str(szeged["dev"]), "-o", str(dest)])
    assert rc == 0, err
    assert [s.column("upos") for s in read_conllu(dest)][:5] == pred[:5]
