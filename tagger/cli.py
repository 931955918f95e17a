"""The `tagger` command: train, predict, evaluate, download, treebanks.

Only the requested output goes to stdout; progress, logs and errors go to stderr (progress bars only
when stderr is a terminal: in a log file or a pipe they are noise). Errors caused by input are one
line (`tagger: error: FILE:LINE: problem`) with exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from itertools import islice

from tagger import __version__
from tagger.errors import TaggerError

log = logging.getLogger("tagger")

COMMANDS = {
    "train": "train a tagger from a YAML config with dotted overrides",
    "predict": "tag CoNLL-U, tokenized or raw text with a model file",
    "evaluate": "score a model file on a CoNLL-U file",
    "compare": "train and compare a grid of architectures, seeds and data fractions; write a report",
    "attention": "draw a trained self-attention model's attention weights for a sentence",
    "download": "fetch a known UD treebank into the cache (or check a mirror) and print its paths",
    "treebanks": "list the known UD treebanks",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"tagger {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"tagger: error: unknown command {command!r}\n{_usage()}", file=sys.stderr)
        return 2
    _setup_logging()
    try:
        return globals()[f"cmd_{command}"](rest)
    except TaggerError as e:
        print(f"tagger: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `tagger predict ... | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silence the flush at exit)
        return 0
    except KeyboardInterrupt:
        print("tagger: interrupted", file=sys.stderr)
        return 130


def _usage() -> str:
    width = max(map(len, COMMANDS))
    cmds = "\n".join(f"  {c:<{width}}  {h}" for c, h in COMMANDS.items())
    return f"usage: tagger COMMAND [options]   (tagger COMMAND --help for its options)\n\ncommands:\n{cmds}"


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("tagger")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    if not sys.stderr.isatty():
        # datasets draws a bar each time it parses or encodes a corpus; read at its import, or set now
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are TaggerErrors so they stay one line and tests can see them."""

    def error(self, message: str):
        raise TaggerError(f"{self.prog}: {message}")


# ----------------------------------------------------------------------------------------------- train
def cmd_train(argv: list[str]) -> int:
    from tagger.config import parse_train_args, train_parser

    if "-h" in argv or "--help" in argv:
        train_parser().print_help()
        return 0
    cfg, trainer_kwargs, resolved, resume = parse_train_args(argv)
    from tagger.train import train

    # Lightning prints summaries and progress bars to stdout; stdout is reserved for the model path.
    with contextlib.redirect_stdout(sys.stderr):
        path = train(cfg, trainer_kwargs, resolved, resume=resume)
    if path is not None:  # None: a non-zero rank of a distributed run
        print(path)
    return 0


# --------------------------------------------------------------------------------------------- predict
def _threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch and the tokenizers (default: their choice)"
    )


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if threads < 1:
        raise TaggerError(f"--threads {threads}: needs at least 1")
    import torch

    torch.set_num_threads(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"


def _predict_parser() -> argparse.ArgumentParser:
    from tagger.formats import INPUT_FORMATS, OUTPUT_FORMATS
    from tagger.predict import CONTEXT, MAX_LENGTH, PRECISIONS

    p = _Parser(prog="tagger predict", description="Tag sentences with a trained model file.", allow_abbrev=False)
    p.add_argument("files", nargs="*", default=["-"], help="input files; - or none: standard input")
    p.add_argument(
        "--model",
        "-m",
        required=True,
        action="append",
        help="model file written by `tagger train`; several -m: their ensemble (tag probabilities averaged)",
    )
    p.add_argument("--input-format", "-i", choices=INPUT_FORMATS, default="conllu")
    p.add_argument("--output-format", "-f", choices=OUTPUT_FORMATS, default="conllu")
    p.add_argument("--output", "-o", help="output file (written atomically); default: standard output")
    p.add_argument("--top-k", type=int, default=0, help="with jsonl output: the K best tags and probabilities")
    p.add_argument("--batch-size", type=int, default=256, help="sentences per batch")
    _threads_option(p)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="bf16: matrix products in bfloat16, ~2x faster on CPUs with AMX/AVX512-BF16 (see README for accuracy)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="CoNLL-U input: leave malformed sentences out of the output (each reported on stderr) instead of stopping",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=MAX_LENGTH,
        help="longer sentences are tagged in overlapping windows of this many tokens (default: %(default)s)",
    )
    p.add_argument(
        "--context", type=int, default=CONTEXT, help="tokens of context on each side of a window (default: %(default)s)"
    )
    return p


@contextlib.contextmanager
def _utf8(stream):
    """A standard stream as UTF-8 text whatever the locale, line endings kept; detached afterwards so
    that the standard stream itself stays open."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # already a text stream without a binary side (e.g. io.StringIO in tests)
        yield stream
        return
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()


def _open_inputs(files: list[str]) -> Iterator[tuple[str, Iterable]]:
    """(name, binary stream) per input; decoding happens in the readers, which name bad bytes' offsets."""
    for name in files:
        if name == "-":
            yield "<stdin>", getattr(sys.stdin, "buffer", sys.stdin)
            continue
        if not os.path.isfile(name):
            raise TaggerError("no such input file", name)
        with open(name, "rb") as f:
            yield name, f


@contextlib.contextmanager
def _output(path: str | None):
    if path is None:
        sys.stdout.flush()
        with _utf8(sys.stdout) as out:
            yield out
    else:
        from tagger.fileutil import atomic_write

        with atomic_write(path, encoding="utf-8", newline="") as f:
            yield f


def _chunks(items: Iterable, n: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def cmd_predict(argv: list[str]) -> int:
    args = _predict_parser().parse_args(argv)
    if args.top_k and args.output_format != "jsonl":
        raise TaggerError("--top-k needs --output-format jsonl")
    if args.batch_size < 1 or args.top_k < 0:
        raise TaggerError("--batch-size must be >= 1 and --top-k >= 0")
    if not 0 <= 2 * args.context < args.max_length:
        raise TaggerError("--max-length must be more than twice --context")
    from tagger.formats import format_sentence, read_sentences
    from tagger.predict import load

    _set_threads(args.threads)
    tagger = load(args.model, precision=args.precision)
    skipped = []
    on_error = None
    if args.skip_invalid:

        def on_error(e: TaggerError) -> None:
            skipped.append(e)
            print(f"tagger: warning: {e} (sentence skipped)", file=sys.stderr)

    elif args.output is None:
        # Standard output cannot be taken back: read input files through once, so that a malformed
        # one stops us before anything is written. (Standard input cannot be read twice; it streams.)
        for name, stream in _open_inputs([f for f in args.files if f != "-"]):
            for _ in read_sentences(stream, args.input_format, name):
                pass
    with _output(args.output) as out:
        for name, stream in _open_inputs(args.files):
            sentences = read_sentences(stream, args.input_format, name, on_error)
            # Stream: tag and write a chunk of sentences at a time; memory does not grow with the input.
            for chunk in _chunks(sentences, 4 * args.batch_size):
                preds = tagger.predict(
                    [s.forms for s in chunk],
                    batch_size=args.batch_size,
                    top_k=args.top_k,
                    max_length=args.max_length,
                    context=args.context,
                )
                out.write(
                    "".join(
                        format_sentence(s, p, args.output_format, tagger.label_column)
                        for s, p in zip(chunk, preds, strict=True)
                    )
                )
                out.flush()
    if skipped:
        print(f"tagger: skipped {len(skipped)} malformed sentence(s)", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(argv: list[str]) -> int:
    p = _Parser(prog="tagger evaluate", description="Score a model on a gold CoNLL-U file.")
    p.add_argument("--model", "-m", required=True, action="append", help="model file; several -m: their ensemble")
    p.add_argument("--data", "-d", required=True, help="gold CoNLL-U file (the model's label column is scored)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="as for predict")
    _threads_option(p)
    args = p.parse_args(argv)
    if args.batch_size < 1:
        raise TaggerError("--batch-size must be >= 1")
    from tagger.evaluate import evaluate_file
    from tagger.metrics import format_report
    from tagger.predict import load

    _set_threads(args.threads)
    result = evaluate_file(load(args.model, precision=args.precision), args.data, batch_size=args.batch_size)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0


# ------------------------------------------------------------------------------ compare, attention
def _terminated(signum, frame):
    print("tagger: terminated", file=sys.stderr)
    raise SystemExit(128 + signum)


def cmd_compare(argv: list[str]) -> int:
    p = _Parser(prog="tagger compare", description="Run a comparison grid (cached runs are reused) and report.")
    p.add_argument("--config", required=True, help="grid YAML, e.g. configs/compare/hu_szeged.yaml")
    p.add_argument("--out", help="runs and report directory (default: runs/compare/<grid name>)")
    p.add_argument("--report", help="write the report (Markdown, PNG, JSON, CSV) here instead, e.g. to publish it")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="runs trained side by side, the CPU cores shared among them; speeds are still timed one at a time",
    )
    p.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="train only these variants (in every block that has them) and the runs they learn from; "
        "the report covers every run of the grid evaluated so far",
    )
    p.add_argument("--seeds", nargs="+", type=int, metavar="N", help="train only these seeds (with --variants: both)")
    args = p.parse_args(argv)
    if args.jobs < 1:
        raise TaggerError(f"--jobs {args.jobs}: needs at least 1")
    from pathlib import Path

    from tagger.compare import compare
    from tagger.report import write_report

    out = Path(args.out or Path("runs/compare") / Path(args.config).stem)
    # `kill` (SIGTERM) ends the training processes too, as Ctrl-C does: compare stops them on any exception
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        grid, results = compare(args.config, out, jobs=args.jobs, variants=args.variants, seeds=args.seeds)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(write_report(grid, results, Path(args.report) if args.report else out))
    return 0


def cmd_attention(argv: list[str]) -> int:
    p = _Parser(prog="tagger attention", description="Draw attention weights as heat maps, one panel per head.")
    p.add_argument("sentence", help="the sentence, tokens separated by spaces")
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--layer", type=int, default=None, help="0-based layer (default: every layer, one file each)")
    p.add_argument("--head", type=int, default=None, help="0-based head (default: every head)")
    p.add_argument("--output", "-o", default="attention.png", help="PNG file (with several layers: -L<n> added)")
    args = p.parse_args(argv)
    from pathlib import Path

    from tagger import plots
    from tagger.predict import Tagger

    tagger = Tagger.load(args.model)
    tokens = args.sentence.split()
    layers = tagger.attention(tokens)
    picked = range(len(layers)) if args.layer is None else [args.layer]
    out = Path(args.output)
    for layer in picked:
        if not 0 <= layer < len(layers):
            raise TaggerError(f"--layer {layer}: the model has layers 0..{len(layers) - 1}")
        w, heads = layers[layer], None
        if args.head is not None:
            if not 0 <= args.head < w.shape[0]:
                raise TaggerError(f"--head {args.head}: the model has heads 0..{w.shape[0] - 1}")
            w, heads = w[args.head : args.head + 1], [args.head]
        path = out if len(picked) == 1 else out.with_name(f"{out.stem}-L{layer}{out.suffix}")
        print(plots.attention_maps(tokens, w, path, f"layer {layer}", heads))
    if key := plots.token_key(tokens):
        print(f"no installed font draws these tokens; the figure numbers them: {key}", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------- data commands
def cmd_download(argv: list[str]) -> int:
    from tagger.treebanks import SPLITS, fetch

    p = _Parser(prog="tagger download", description="Fetch a known UD treebank; prints one path per split.")
    p.add_argument("name", help="treebank short name, e.g. en_ewt (see `tagger treebanks`)")
    p.add_argument("--split", nargs="+", choices=SPLITS, default=list(SPLITS))
    p.add_argument(
        "--mirror", help="directory or URL laid out like ../shared/treebanks (default: $TAGGER_TREEBANK_MIRROR)"
    )
    p.add_argument("--cache-dir", help="default: $TAGGER_CACHE or ~/.cache/tagger")
    args = p.parse_args(argv)
    for split in args.split:
        print(fetch(args.name, split, mirror=args.mirror, cache_dir=args.cache_dir))
    return 0


def cmd_treebanks(argv: list[str]) -> int:
    from tagger.treebanks import TREEBANKS

    _Parser(prog="tagger treebanks", description="List the known UD treebanks.").parse_args(argv)
    for tb in TREEBANKS.values():
        print(f"{tb.name}\t{tb.folder}\t{tb.revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
