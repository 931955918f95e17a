"""The treebank registry and downloader, for real against a local HTTP server serving the mirror."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from conftest import MIRROR
from tagger.errors import TaggerError
from tagger.treebanks import TREEBANKS, fetch, sha256_file


@pytest.fixture
def http_mirror():
    """An HTTP server on 127.0.0.1 serving the mirror directory; yields its base URL."""
    if not MIRROR.is_dir():
        pytest.skip("no treebank mirror")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(MIRROR))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_registry_has_the_shared_treebanks():
    assert {"en_ewt", "hu_szeged", "zh_gsd"} <= set(TREEBANKS)
    for tb in TREEBANKS.values():
        assert set(tb.files) == {"train", "dev", "test"}
        for split in tb.files:
            assert tb.upstream_url(split).startswith("https://raw.githubusercontent.com/UniversalDependencies/")


def test_download_from_http_into_cache(http_mirror, tmp_path):
    path = fetch("hu_szeged", "dev", mirror=http_mirror, cache_dir=tmp_path)
    assert path.is_relative_to(tmp_path)
    assert sha256_file(path) == TREEBANKS["hu_szeged"].files["dev"][1]
    assert path.read_bytes() == (MIRROR / "UD_Hungarian-Szeged" / "hu_szeged-ud-dev.conllu").read_bytes()
    mtime = path.stat().st_mtime_ns
    assert fetch("hu_szeged", "dev", mirror=http_mirror, cache_dir=tmp_path) == path  # cached, not fetched again
    assert path.stat().st_mtime_ns == mtime


def test_checksum_mismatch_fails_and_leaves_no_file(http_mirror, tmp_path, monkeypatch):
    tb = TREEBANKS["hu_szeged"]
    bad = dict(tb.files, dev=(tb.files["dev"][0], "0" * 64))
    monkeypatch.setitem(TREEBANKS, "hu_szeged", type(tb)(tb.name, tb.folder, tb.revision, bad))
    with pytest.raises(TaggerError, match="checksum mismatch") as err:
        fetch("hu_szeged", "dev", mirror=http_mirror, cache_dir=tmp_path)
    assert "\n" not in str(err.value) and "hu_szeged-ud-dev.conllu" in str(err.value)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # no partial or temporary file


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(TaggerError, match="download failed"):
        fetch("hu_szeged", "dev", mirror="http://127.0.0.1:9", cache_dir=tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_local_mirror_directory_is_read_in_place(tmp_path):
    path = fetch("zh_gsd", "test", mirror=str(MIRROR), cache_dir=tmp_path)
    assert path == MIRROR / "UD_Chinese-GSD" / "zh-ud-test.conllu"
    with pytest.raises(TaggerError, match="mirror has no"):
        fetch("zh_gsd", "test", mirror=str(tmp_path), cache_dir=tmp_path)


def test_unknown_names():
    with pytest.raises(TaggerError, match="unknown treebank 'xx'"):
        fetch("xx", "train")
    with pytest.raises(TaggerError, match="no split 'valid'"):
        fetch("en_ewt", "valid")
