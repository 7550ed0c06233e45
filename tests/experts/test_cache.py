from reled_sumo.experts.cache import ResponseCache, cache_key, default_cache_dir


def test_roundtrip_and_key(tmp_path):
    c = ResponseCache(tmp_path)
    k = cache_key("m", "prompt")
    assert k != cache_key("m2", "prompt") and k != cache_key("m", "prompt2") and len(k) == 64
    assert c.get(k) is None
    c.put(k, '{"instructions": []}', "m")
    assert c.get(k) == '{"instructions": []}'
    assert len(c) == 1
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_corrupt_entry_is_a_miss(tmp_path):
    c = ResponseCache(tmp_path)
    k = cache_key("m", "p")
    c.put(k, "x")
    path = next(tmp_path.rglob(f"{k}.json"))
    path.write_text("{not json")
    assert c.get(k) is None
    path.write_text('{"answer": 3}')
    assert c.get(k) is None


def test_default_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("RELED_CACHE_DIR")
    assert default_cache_dir().parts[-3:] == (".cache", "reled-sumo", "llm")


def test_unwritable_dir_does_not_raise(tmp_path, caplog):
    """A cache that cannot be written is logged and skipped (a miss next time), never an error."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    c = ResponseCache(blocker / "sub")
    k = cache_key("m", "p")
    with caplog.at_level("DEBUG", logger="reled_sumo.experts.cache"):
        c.put(k, "x")
    assert c.get(k) is None and blocker.read_text() == ""
    assert caplog.records, "the failed write is logged"
