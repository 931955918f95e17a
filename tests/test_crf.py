"""The linear-chain CRF tag layer against brute-force enumeration of every tag path, and trained end to end."""

from __future__ import annotations

import itertools

import pytest
import torch

from conftest import ROOT, TINY, run, train_tiny
from tagger.modelfile import read_model_file
from tagger.models.output import LinearChainCRF
from tagger.predict import Tagger

K = 3


def _crf(seed: int = 0) -> LinearChainCRF:
    crf = LinearChainCRF(K)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return crf


def _path_score(crf: LinearChainCRF, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    s = crf.start[path[0]] + crf.end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
    return float((s + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))).detach())


def _log_sum(scores: list[float]) -> float:
    return float(torch.logsumexp(torch.tensor(scores, dtype=torch.float64), 0))


LENGTHS = (4, 2, 1)


@pytest.fixture
def example():
    g = torch.Generator().manual_seed(1)
    emissions = torch.randn(len(LENGTHS), max(LENGTHS), K, generator=g)
    mask = torch.arange(max(LENGTHS))[None, :] < torch.tensor(LENGTHS)[:, None]
    return _crf(), emissions, mask


def test_marginals_equal_brute_force(example):
    crf, emissions, mask = example
    with torch.no_grad():
        log_marginals = crf(emissions, mask)
    for b, n in enumerate(LENGTHS):
        paths = list(itertools.product(range(K), repeat=n))
        scores = [_path_score(crf, emissions[b], p) for p in paths]
        log_z = _log_sum(scores)
        for t in range(n):
            for y in range(K):
                expected = _log_sum([s for s, p in zip(scores, paths, strict=True) if p[t] == y]) - log_z
                assert float(log_marginals[b, t, y]) == pytest.approx(expected, abs=1e-5)
        assert torch.allclose(log_marginals[b, :n].exp().sum(-1), torch.ones(n), atol=1e-5)


def test_loss_is_the_gold_path_negative_log_likelihood_per_token(example):
    crf, emissions, mask = example
    labels = torch.tensor([[0, 2, 1, 1], [2, 2, -100, -100], [1, -100, -100, -100]])
    # the second sentence's second token has a tag the model does not know (id K): any tag is allowed there
    labels[1, 1] = K
    total = 0.0
    for b, n in enumerate(LENGTHS):
        paths = list(itertools.product(range(K), repeat=n))
        scores = [_path_score(crf, emissions[b], p) for p in paths]
        gold_labels = labels[b, :n].tolist()
        allowed = [
            s
            for s, p in zip(scores, paths, strict=True)
            if all(g in (y, K) for y, g in zip(p, gold_labels, strict=True))
        ]
        total += _log_sum(scores) - _log_sum(allowed)
    known = 4 + 1 + 1
    assert float(crf.loss(emissions, labels, mask)) == pytest.approx(total / known, abs=1e-5)


def test_crf_trains_end_to_end_and_tags(tmp_path):
    model, _ = train_tiny(tmp_path / "crf", "--model.output", "crf")
    weights, meta = read_model_file(model)
    assert meta["config"]["model"]["output"] == "crf"
    transitions = weights["tag_layer.transitions"]
    n = len(meta["vocab"]["tags"])
    # trained from zero: 40 warm-up steps move an Adam parameter with any gradient by ~0.01
    assert transitions.shape == (n, n) and transitions.abs().max() > 1e-3
    tagger = Tagger.load(model)
    sentence = ["A", "kutya", "ugat", "."]
    pred = tagger.predict([sentence], probs=True, top_k=n)[0]
    assert len(pred.tags) == 4 and all(0 < p <= 1 for p in pred.probs)
    for top in pred.top:  # marginals: a distribution over the tags at each token
        assert sum(p for _, p in top) == pytest.approx(1, abs=1e-4)
    # batched and one at a time agree (padding does not leak into the chain)
    other = ["Ez", "egy", "hosszabb", "mondat", ",", "amely", "a", "kutyáról", "szól", "."]
    assert tagger.tag([sentence, other]) == [tagger.tag([sentence])[0], tagger.tag([other])[0]]


def test_label_smoothing_with_a_crf_is_a_clear_error(tmp_path):
    argv = ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), *TINY, "--model.output", "crf"]
    rc, _, err = run(
        [*argv, "--optim.label_smoothing", "0.1", "--trainer.max_steps", "1", "--output-dir", str(tmp_path)]
    )
    assert rc == 1 and "label_smoothing" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "model.safetensors").exists()
