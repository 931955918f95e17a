"""Known UD treebanks: upstream addresses, checksums, a download cache and a local mirror.

Resolution order for a treebank file: a mirror (the `mirror` argument or $TAGGER_TREEBANK_MIRROR),
which is either a directory laid out like `../shared/treebanks` (`<folder>/<file>`, read in place)
or an http(s) base URL with that layout (downloaded into the cache); otherwise the upstream GitHub
repository at the pinned revision. Every file is checked against its sha256 sum.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError

log = logging.getLogger(__name__)

MIRROR_ENV = "TAGGER_TREEBANK_MIRROR"
CACHE_ENV = "TAGGER_CACHE"
UPSTREAM = "https://raw.githubusercontent.com/UniversalDependencies"
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Treebank:
    name: str
    folder: str  # the UD repository name, also the folder in a mirror
    revision: str  # git tag or commit the checksums belong to
    files: dict[str, tuple[str, str]]  # split -> (file name, sha256)

    def upstream_url(self, split: str) -> str:
        return f"{UPSTREAM}/{self.folder}/{self.revision}/{self.files[split][0]}"


TREEBANKS: dict[str, Treebank] = {
    tb.name: tb
    for tb in [
        Treebank(
            "en_ewt",
            "UD_English-EWT",
            "15d613d8",
            {
                "train": ("en_ewt-ud-train.conllu", "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b"),
                "dev": ("en_ewt-ud-dev.conllu", "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
                "test": ("en_ewt-ud-test.conllu", "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
            },
        ),
        Treebank(
            "hu_szeged",
            "UD_Hungarian-Szeged",
            "8f08ba64",
            {
                "train": (
                    "hu_szeged-ud-train.conllu",
                    "1e9d02111d6e842ad60d20cccfb43d8f758b4cc311d13e2044af2e285372847a",
                ),
                "dev": ("hu_szeged-ud-dev.conllu", "8cb5b630e09d5d938ce624b06fe3abe57a631533f5aef186ba533daca6e4ab5b"),
                "test": (
                    "hu_szeged-ud-test.conllu",
                    "9031ec98f775ceae6940580a1bb4ef8a2a9e9bee38c40eb9e8ce0f006b56fa59",
                ),
            },
        ),
        Treebank(
            "zh_gsd",
            "UD_Chinese-GSD",
            "r1.4",
            {
                "train": ("zh-ud-train.conllu", "94c1ad7f8f7d545169bafbef367852b965ec5eada13d614d8e8b6b9297ee6d0d"),
                "dev": ("zh-ud-dev.conllu", "574a2c826fc4207530be65b9cd9d8d9611a9749716ab1e3349ec681b93c7a42f"),
                "test": ("zh-ud-test.conllu", "c5fe2733ca4a118725fc06d6a7dbce9952254a4a174f3bd75e13ab4d504e9970"),
            },
        ),
    ]
}


def get_treebank(name: str) -> Treebank:
    try:
        return TREEBANKS[name]
    except KeyError:
        raise TaggerError(f"unknown treebank {name!r}; known: {', '.join(sorted(TREEBANKS))}") from None


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tagger"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://", "file://"))


def fetch(name: str, split: str, mirror: str | None = None, cache_dir: str | os.PathLike | None = None) -> Path:
    """The local path of one split of a known treebank, downloading it if needed."""
    tb = get_treebank(name)
    if split not in tb.files:
        raise TaggerError(f"treebank {name} has no split {split!r}; it has {', '.join(tb.files)}")
    filename, sha = tb.files[split]
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    if mirror and not _is_url(mirror):
        path = Path(mirror) / tb.folder / filename
        if not path.is_file():
            raise TaggerError(f"treebank mirror has no {tb.folder}/{filename}", mirror)
        _check_sum(path, sha, str(path))
        return path
    url = f"{mirror.rstrip('/')}/{tb.folder}/{filename}" if mirror else tb.upstream_url(split)
    dest = Path(cache_dir or default_cache_dir()) / "treebanks" / tb.folder / filename
    if dest.is_file() and sha256_file(dest) == sha:
        return dest
    download(url, dest, sha)
    return dest


def _check_sum(path: Path, expected: str, where: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise TaggerError(f"checksum mismatch: expected sha256 {expected}, got {got}", where)


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> None:
    """Download `url` to `dest` through a temporary file; `dest` appears only if the sum matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise TaggerError(f"checksum mismatch: expected sha256 {sha256}, got {h.hexdigest()}", url)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        raise TaggerError(f"download failed: {getattr(e, 'reason', e)}", url) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
