"""Auxiliary training targets (data.aux_columns): other CoNLL-U columns predicted by extra heads."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT, run, train_tiny, treebank_file
from tagger.batch import pad_batch
from tagger.compare import expand, load_grid
from tagger.data import apply_lemma_rule, aux_values, expand_aux_targets, head_offsets, lemma_rule, load_corpus
from tagger.modelfile import read_model_file
from tagger.predict import Tagger
from tagger.vocab import Vocab, VocabConfig

SENTS = [
    (["I", "saw", "a", "saw"], ["PRON", "VERB", "DET", "NOUN"], ["PRP", "VBD", "DT", "NN"]),
    (["Saws", "cut"], ["NOUN", "VERB"], ["NNS", "VBP"]),
]


def test_vocab_keeps_an_auxiliary_label_set_per_column():
    v = Vocab.build(SENTS, VocabConfig(min_freq=1), aux_columns=["xpos"])
    assert v.aux_tags == {"xpos": ["DT", "NN", "NNS", "PRP", "VBD", "VBP"]}
    assert v.encode_aux("xpos", ["NN", "VBZ"]) == [1, 6]  # unseen: the label count, ignored by the loss
    again = Vocab.from_dict(v.to_dict())
    assert again.aux_tags == v.aux_tags and again.encode_aux("xpos", ["PRP"]) == [3]
    plain = Vocab.build([s[:2] for s in SENTS], VocabConfig(min_freq=1))
    assert "aux_tags" not in plain.to_dict()  # vocabularies without auxiliary columns are as before


def test_padded_auxiliary_labels():
    b = pad_batch([[5, 6, 7], [8]], [[[1], [2], [3]], [[4]]], [[0, 1, 2], [3]], [[[1, 2, 3], [4, 5, 6]], [[7], [8]]])
    assert b.aux_labels.shape == (2, 2, 3)
    assert b.aux_labels[0].tolist() == [[1, 2, 3], [7, -100, -100]]
    assert b.aux_labels[1].tolist() == [[4, 5, 6], [8, -100, -100]]


def test_auxiliary_loss_trains_the_shared_encoder_and_is_not_exported(tmp_path):
    # Szeged has FEATS (XPOS is empty there); a weight of 0 must leave training exactly as without heads
    plain, _ = train_tiny(tmp_path / "plain")
    zero, _ = train_tiny(tmp_path / "zero", "--data.aux_columns", "[feats]", "--optim.aux_weight", "0")
    aux, _ = train_tiny(tmp_path / "aux", "--data.aux_columns", "[feats]")
    w_plain, w_zero, w_aux = (read_model_file(p)[0] for p in (plain, zero, aux))
    assert set(w_plain) == set(w_zero) == set(w_aux)  # the auxiliary heads are training-only
    assert not any(k.startswith("aux_out") for k in w_aux)
    # weight 0: the same run up to float rounding (the clipping norm also sums the heads' zero gradients,
    # in another order); weight 0.5: the encoder learns from the auxiliary targets
    drift = max(float((w_plain[k] - w_zero[k]).abs().max()) for k in w_plain)
    change = max(float((w_plain[k] - w_aux[k]).abs().max()) for k in w_plain if k.startswith("encoder."))
    print(f"max weight difference: weight 0 {drift:.2e}, weight 0.5 {change:.2e}")
    assert drift < 1e-4 and change > 100 * drift
    _, meta = read_model_file(aux)
    assert len(meta["vocab"]["aux_tags"]["feats"]) > 100 and meta["config"]["data"]["aux_columns"] == ["feats"]
    tags = Tagger.load(aux).tag([["A", "kutya", "ugat", "."]])[0]
    assert len(tags) == 4 and set(tags) <= set(meta["vocab"]["tags"])


@pytest.mark.parametrize(
    ("value", "message"),
    [("[lemma]", "unknown target 'lemma'"), ("[upos]", "not the label column"), ("[xpos:Case]", "only feats has features"),
     ("[feats:Case, feats:*]", "each column once")],
)  # fmt: skip
def test_bad_auxiliary_columns_are_named(tmp_path, value, message):
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/hu_szeged.yaml"), "--data.aux_columns", value,
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1


def test_a_new_option_at_its_neutral_value_keeps_finished_runs(tmp_path):
    grid = {
        "treebank": "hu_szeged",
        "configs": [str(ROOT / "configs/hu_szeged.yaml")],
        "blocks": [{"name": "b", "variants": {"t": {"model.encoder": "transformer"}}}],
    }
    keys = {}
    for name, extra in {
        "default": {},
        "neutral": {
            "data.aux_columns": [],
            "optim.aux_weight": 0.5,
            "model.output": "softmax",
            "data.teachers": [],
            "optim.distill_weight": 0.5,
            "optim.distill_temperature": 1.0,
            "optim.adversarial": 0.0,
            "optim.rdrop": 0.0,
            "model.embed.affixes": 0,
            "model.embed.affix_dim": 16,
            "model.embed.affix_buckets": 20_000,
        },
        "aux": {"data.aux_columns": ["feats"]},
        "crf": {"model.output": "crf"},
        "affixes": {"model.embed.affixes": 3},
    }.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**grid, "overrides": extra}))
        keys[name] = expand(load_grid(path))[0].key
    assert keys["default"] == keys["neutral"]
    assert len({keys["default"], keys["aux"], keys["crf"], keys["affixes"]}) == 4


def test_a_feature_of_feats_is_a_target_of_its_own():
    feats = ["Case=Nom|Number=Sing", "_", "Number=Plur|Person=3", "Case=Ine"]
    cols = {"feats": feats, "xpos": ["a", "b", "c", "d"]}
    assert aux_values(cols, "feats") == feats and aux_values(cols, "xpos") == cols["xpos"]
    assert aux_values(cols, "feats:Case") == ["Nom", "_", "_", "Ine"]
    assert aux_values(cols, "feats:Number") == ["Sing", "_", "Plur", "_"]
    assert aux_values(cols, "feats:Mood") == ["_"] * 4


def test_feats_star_is_every_feature_of_the_training_data(szeged):
    train = load_corpus(szeged["train"])
    names = {kv.split("=")[0] for s in train["feats"] for v in s if v != "_" for kv in v.split("|")}
    targets = expand_aux_targets(["xpos", "feats:*"], train)
    assert targets[0] == "xpos" and targets[1:] == sorted(f"feats:{n}" for n in names)
    assert {"feats:Case", "feats:Number", "feats:Person"} <= set(targets) and len(names) > 10
    assert expand_aux_targets(["feats:Case"], train) == ["feats:Case"]


def test_factored_feats_train_one_head_per_feature(tmp_path):
    path, _ = train_tiny(tmp_path / "factored", "--data.aux_columns", "[feats:*]")
    _, meta = read_model_file(path)
    aux_tags = meta["vocab"]["aux_tags"]
    assert len(aux_tags) > 10 and all(t.startswith("feats:") for t in aux_tags)
    assert {"Nom", "Acc", "Ine", "_"} <= set(aux_tags["feats:Case"]) and set(aux_tags["feats:Number"]) == {
        "Sing",
        "Plur",
        "_",
    }
    assert meta["config"]["data"]["aux_columns"] == ["feats:*"]  # as configured; the expansion is the data's


def test_lemma_rules_give_back_every_lemma_of_the_treebanks(szeged):
    assert lemma_rule("legnagyobb", "nagy") == "3>|3>" and lemma_rule("Kutyát", "kutya") == "0>|2>a"
    assert lemma_rule("went", "go") == "*go" and lemma_rule("dogs", "_") == "_"
    for path in (szeged["train"], treebank_file("UD_English-EWT", "en_ewt-ud-train.conllu")):
        train = load_corpus(path)
        pairs = [
            (f, lem)
            for fs, ls in zip(train["forms"], train["lemma"], strict=True)
            for f, lem in zip(fs, ls, strict=True)
        ]
        rules = [lemma_rule(f, lem) for f, lem in pairs]
        assert all(apply_lemma_rule(f, r) == lem.lower() for (f, lem), r in zip(pairs, rules, strict=True))
        # a closed label set: far fewer rules than lemmas, most words their own lemma
        assert len(set(rules)) < len({lem.lower() for _, lem in pairs}) / 10 and rules.count("0>|0>") > len(rules) / 2


def test_lemma_rules_train_a_head_and_need_lemmas(tmp_path):
    path, _ = train_tiny(tmp_path / "rules", "--data.aux_columns", "[feats, lemma_rule]")
    _, meta = read_model_file(path)
    rules = meta["vocab"]["aux_tags"]["lemma_rule"]
    assert {"0>|0>", "0>|2>", "3>|3>"} <= set(rules) and len(rules) > 100
    rc, _, err = run(
        ["train", "--config", str(ROOT / "configs/zh_gsd.yaml"), "--data.aux_columns", "[lemma_rule]",
         "--trainer.max_steps", "1", "--output-dir", str(tmp_path / "gsd")]
    )  # fmt: skip
    # (the vocabulary is built, and logged, before its label sets show the empty column)
    assert rc == 1 and "LEMMA column is _ throughout" in err.strip().splitlines()[-1] and err.count("error") == 1
    assert not (tmp_path / "gsd" / "model.safetensors").exists()


def test_head_offsets_say_where_each_head_is(szeged, tmp_path):
    assert head_offsets(["2", "0", "2", "9", "_"]) == ["+1", "root", "-1", "+5", "_"]  # 9 is 5 words on or more
    train = load_corpus(szeged["train"])
    for heads in train["head"]:
        offsets = head_offsets(heads)
        assert offsets.count("root") == 1  # one root per UD sentence
        for i, (h, o) in enumerate(zip(heads, offsets, strict=True), start=1):
            assert o == "root" if h == "0" else (abs(int(o)) == 5 or int(h) == i + int(o))
    path, _ = train_tiny(tmp_path / "heads", "--data.aux_columns", "[head_offset]")
    labels = {f"{o:+d}" for o in range(-5, 6) if o} | {"root"}
    assert set(read_model_file(path)[1]["vocab"]["aux_tags"]["head_offset"]) == labels
