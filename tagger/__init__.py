"""tagger: part-of-speech tagging with self-attention, and a workbench to compare it with baselines."""

__version__ = "0.1.0"

from tagger.errors import TaggerError  # noqa: E402


def __getattr__(name: str):
    # `from tagger import Tagger` without importing torch at package import time.
    if name in ("Tagger", "Ensemble"):
        from tagger import predict

        return getattr(predict, name)
    raise AttributeError(name)


__all__ = ["Ensemble", "Tagger", "TaggerError", "__version__"]
