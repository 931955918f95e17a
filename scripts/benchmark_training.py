"""Does the data pipeline stall training? Times training steps fed by the real DataLoader against the
same steps on batches fetched beforehand, and the DataLoader alone.

    python scripts/benchmark_training.py                                   # default transformer, EWT
    python scripts/benchmark_training.py --config configs/en_ewt_window_fc.yaml --steps 300
    python scripts/benchmark_training.py -- --data.num_workers 1          # batches built in a worker process
    python scripts/benchmark_training.py --flush-denormal                 # denormal floats flushed to zero

A step is forward, loss, backward and the fused AdamW update, as in `tagger train` (without Lightning's
logging). Prints training tokens/s for each of the three, and the share of a step spent waiting for data.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from pathlib import Path

import torch

from tagger.config import parse_train_args
from tagger.data import TaggerDataModule
from tagger.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs/en_ewt_transformer.yaml"))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--flush-denormal", action="store_true", help="torch.set_flush_denormal(True): tiny floats become 0 (faster)"
    )
    p.add_argument("overrides", nargs="*", help="`tagger train` overrides after --, e.g. -- --data.num_workers 1")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    cfg, _, _, _ = parse_train_args(["--config", args.config, *args.overrides])
    torch.manual_seed(cfg.seed)
    dm = TaggerDataModule(cfg.data, cfg.vocab, seed=cfg.seed)
    dm.setup("fit")
    net = build_model(cfg.model, dm.vocab.n_words, dm.vocab.n_chars, dm.vocab.n_tags).train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.optim.lr, fused=True)

    def step(batch) -> None:
        logits = net.out(net.features(batch))
        loss = net.tag_layer.loss(logits, batch.labels, batch.mask)  # the model's own loss (softmax or CRF)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def loader():
        return itertools.islice(dm.train_dataloader(), args.steps)

    for batch in itertools.islice(dm.train_dataloader(), 20):  # warm-up
        step(batch)
    t0 = time.perf_counter()
    batches = list(loader())
    data_s = time.perf_counter() - t0
    tokens = sum(b.n_tokens for b in batches)
    # Every timed pass starts from the same weights, optimiser state and random state: a model that keeps
    # training changes speed as it goes (at this constant rate, without the warm-up and clipping of
    # `tagger train`, values drift into the slow denormal range), which would bias whichever pass runs later.
    start = copy.deepcopy((net.state_dict(), opt.state_dict(), torch.get_rng_state()))

    def timed(feed) -> float:
        net.load_state_dict(start[0])
        opt.load_state_dict(start[1])
        torch.set_rng_state(start[2])
        t0 = time.perf_counter()
        for batch in feed():
            step(batch)
        return time.perf_counter() - t0

    model_s = both_s = float("inf")
    for _ in range(args.rounds):  # alternate, and keep each one's best: the machine's noise is larger than the effect
        model_s = min(model_s, timed(lambda: batches))
        both_s = min(both_s, timed(loader))

    what = f"{args.steps} training steps, {Path(args.config).name}, {args.threads} threads"
    print(f"| {what}{', denormals flushed' if args.flush_denormal else ''} | seconds | tokens/s |")
    print("| --- | ---: | ---: |")
    print(f"| DataLoader alone | {data_s:.2f} | {tokens / data_s:,.0f} |")
    print(f"| steps on batches fetched beforehand | {model_s:.2f} | {tokens / model_s:,.0f} |")
    print(f"| steps fed by the DataLoader (as in training) | {both_s:.2f} | {tokens / both_s:,.0f} |")
    print(f"\nwaiting for data: {100 * max(both_s - model_s, 0) / both_s:.1f}% of training time")


if __name__ == "__main__":
    main()
