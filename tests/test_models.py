"""Every architecture gets the same checks (parametrised over the encoder registry and variants)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tagger.batch import pad_batch
from tagger.models import ENCODERS, ModelConfig, build_model
from tagger.models.transformer import TransformerEncoder

N_WORDS, N_CHARS, N_TAGS = 50, 30, 6


def tiny(encoder: str, **transformer) -> ModelConfig:
    cfg = ModelConfig(encoder=encoder, dim=32, n_layers=2, dropout=0.0)
    cfg.embed = dataclasses.replace(cfg.embed, word_dim=16, char_dim=8, char_out=16, word_dropout=0.0, dropout=0.0)
    cfg.transformer = dataclasses.replace(cfg.transformer, **{"n_heads": 2, "attn_dropout": 0.0, **transformer})
    return cfg


VARIANTS = {
    **{name: tiny(name) for name in ENCODERS},
    **{f"transformer-{p}": tiny("transformer", positional=p) for p in ("sinusoidal", "learned", "relative_key", "none")},
    "transformer-additive": tiny("transformer", scoring="additive"),
    "transformer-post-norm": tiny("transformer", norm="post"),
    "transformer-window1": tiny("transformer", window=1),
    "transformer-drop-path": tiny("transformer", drop_path=0.3),
    "transformer-gated-ff": tiny("transformer", ff_gated=True),
    "transformer-conv-ff": tiny("transformer", ff_kernel=3),
    "transformer-layer-mix": tiny("transformer", layer_mix=True),
    "rnn-gru": dataclasses.replace(tiny("rnn"), rnn=dataclasses.replace(tiny("rnn").rnn, cell="gru")),
    "window_fc-k0": dataclasses.replace(tiny("window_fc"), window_fc=dataclasses.replace(tiny("window_fc").window_fc, k=0)),
    "char-bilstm": dataclasses.replace(tiny("transformer"), embed=dataclasses.replace(tiny("transformer").embed, char_encoder="bilstm")),
    "char-none": dataclasses.replace(tiny("rnn"), embed=dataclasses.replace(tiny("rnn").embed, char_encoder="none")),
    "crf": dataclasses.replace(tiny("transformer"), output="crf"),
    "affixes": dataclasses.replace(tiny("transformer"), embed=dataclasses.replace(tiny("transformer").embed, affixes=3, affix_buckets=500)),
    "sentence-chars": dataclasses.replace(tiny("transformer"), embed=dataclasses.replace(tiny("transformer").embed, sentence_chars=12)),
}  # fmt: skip


def random_sentences(lengths=(7, 5, 3), seed: int = 0) -> tuple[list[list[int]], list[list[list[int]]]]:
    g = torch.Generator().manual_seed(seed)
    words = [torch.randint(2, N_WORDS, (n,), generator=g).tolist() for n in lengths]
    chars = [
        [torch.randint(4, N_CHARS, (int(k),), generator=g).tolist() for k in torch.randint(1, 6, (n,), generator=g)]
        for n in lengths
    ]
    return words, chars


def random_batch(lengths=(7, 5, 3), seed: int = 0):
    return pad_batch(*random_sentences(lengths, seed))


def make(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(VARIANTS[name], N_WORDS, N_CHARS, N_TAGS).eval()


@pytest.mark.parametrize("name", VARIANTS)
def test_output_shape(name):
    assert make(name)(random_batch()).shape == (3, 7, N_TAGS)


@pytest.mark.parametrize("name", VARIANTS)
def test_padding_invariance(name):
    """More padding (a longer sentence in the batch) and padded rows do not change real tokens' logits."""
    net = make(name)
    words, chars = random_sentences()
    ref_batch = pad_batch(words, chars)
    ref = net(ref_batch)
    long_words, long_chars = random_sentences((11,), seed=1)
    batch = pad_batch(words + long_words + [[]], chars + long_chars + [[]])
    out = net(batch)
    assert out.shape == (5, 11, N_TAGS)
    torch.testing.assert_close(out[:3, :7][ref_batch.mask], ref[ref_batch.mask], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_gradients_reach_embeddings(name):
    net = make(name).train()
    batch = random_batch()
    net(batch)[batch.mask].sum().backward()
    assert net.embed.words.weight.grad.abs().sum() > 0
    char_params = [*net.embed.chars.parameters(), *net.embed.affixes.parameters()]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in char_params)


TWO_SENTENCES = [
    (["I", "saw", "a", "dog", "."], ["PRON", "VERB", "DET", "NOUN", "PUNCT"]),
    (["the", "saw", "is", "sharp", "."], ["DET", "NOUN", "AUX", "ADJ", "PUNCT"]),
]


def _two_sentence_batch():
    from tagger.vocab import Vocab, VocabConfig

    vocab = Vocab.build(TWO_SENTENCES, VocabConfig(min_freq=1))
    forms = [f for f, _ in TWO_SENTENCES]
    batch = pad_batch(
        vocab.encode_words(forms), vocab.encode_chars(forms), [vocab.encode_tags(t) for _, t in TWO_SENTENCES]
    )
    return vocab, batch


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "window_fc-k0"])
def test_overfits_two_sentences(name):
    """'saw' is a VERB in one sentence and a NOUN in the other: needs context (k=0 cannot, see below)."""
    vocab, batch = _two_sentence_batch()
    torch.manual_seed(0)
    net = build_model(VARIANTS[name], vocab.n_words, vocab.n_chars, vocab.n_tags).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        net.tag_layer.loss(net.out(net.features(batch)), batch.labels, batch.mask).backward()  # the training loss
        opt.step()
    pred = net.eval()(batch).argmax(-1)
    assert (pred[batch.mask] == batch.labels[batch.mask]).all()


def test_context_free_window_cannot_tell_the_two_saws_apart():
    vocab, batch = _two_sentence_batch()
    net = build_model(VARIANTS["window_fc-k0"], vocab.n_words, vocab.n_chars, vocab.n_tags).eval()
    logits = net(batch)
    torch.testing.assert_close(logits[0, 1], logits[1, 1])  # "saw" as VERB and as NOUN: same input, same output


def test_permuting_input_permutes_output_without_position():
    (words,), (chars,) = random_sentences((6,))
    perm = [3, 0, 5, 1, 4, 2]
    batch = pad_batch([words], [chars])
    permuted = pad_batch([[words[i] for i in perm]], [[chars[i] for i in perm]])
    for positional, equivariant in (
        ("none", True),
        ("sinusoidal", False),
        ("relative", False),
        ("relative_key", False),
    ):
        torch.manual_seed(0)
        cfg = tiny("transformer", positional=positional)
        net = build_model(cfg, N_WORDS, N_CHARS, N_TAGS).eval()
        if positional.startswith("relative"):  # zero-initialised bias: perturb it so position matters
            for b in net.encoder.blocks:
                torch.nn.init.normal_(b.attn.rel_bias.bias.weight)
        out = net(batch)
        out_p = net(permuted)
        assert torch.allclose(out_p, out[:, perm], atol=1e-5) == equivariant, positional


@pytest.mark.parametrize("window", [0, 1, 2])
def test_local_window_blocks_attention_beyond_w(window):
    torch.manual_seed(0)
    enc = TransformerEncoder(16, 16, n_layers=1, dropout=0.0, n_heads=2, window=window, attn_dropout=0.0).eval()
    x = torch.randn(1, 9, 16)
    mask = torch.ones(1, 9, dtype=torch.bool)
    (w,) = enc.attention_weights(x, mask)  # (1, H, T, T)
    dist = (torch.arange(9)[None, :] - torch.arange(9)[:, None]).abs()
    assert (w[0][:, dist > window] == 0).all()
    assert (w[0][:, dist <= window] > 0).all()
    # and through the output: changing a token beyond the window leaves position 4 unchanged (1 layer)
    x2 = x.clone()
    x2[0, 4 + window + 1] += 10.0
    torch.testing.assert_close(enc(x2, mask)[0, 4], enc(x, mask)[0, 4])
    if window > 0:
        x3 = x.clone()
        x3[0, 4 + window] += 10.0
        assert not torch.allclose(enc(x3, mask)[0, 4], enc(x, mask)[0, 4])


def test_attention_weights_ignore_padding_and_sum_to_one():
    torch.manual_seed(0)
    enc = TransformerEncoder(16, 16, n_layers=2, dropout=0.0, n_heads=4).eval()
    mask = torch.tensor([[True] * 5 + [False] * 3])
    weights = enc.attention_weights(torch.randn(1, 8, 16), mask)
    assert len(weights) == 2
    for w in weights:
        assert w.shape == (1, 4, 8, 8)
        torch.testing.assert_close(w.sum(-1), torch.ones(1, 4, 8))
        assert (w[0, :, :5, 5:] == 0).all()  # real queries never attend to padding


def test_dim_must_divide_by_heads():
    with pytest.raises(AssertionError, match="divisible"):
        build_model(tiny("transformer", n_heads=5), N_WORDS, N_CHARS, N_TAGS)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_char_cnn_equals_convolving_the_padded_block(kernel):
    from tagger.models.config import EmbedConfig
    from tagger.models.embeddings import CharCNN

    torch.manual_seed(0)
    cnn = CharCNN(40, EmbedConfig(char_kernel=kernel, char_dim=8, char_out=12))
    chars = torch.randint(1, 40, (30, 9))
    lengths = torch.randint(0, 10, (30,))
    chars[torch.arange(9)[None, :] >= lengths[:, None]] = 0
    h = cnn.conv(cnn.embed(chars).transpose(1, 2)).masked_fill((chars == 0)[:, None, :], float("-inf"))
    expected = torch.relu(h.amax(-1)).nan_to_num(neginf=0.0)  # a row without characters gives zeros
    got = cnn(chars)
    assert torch.allclose(got, expected, atol=1e-5)
    got.sum().backward()
    assert cnn.conv.weight.grad.abs().sum() > 0 and cnn.embed.weight.grad.abs().sum() > 0
