"""On-disk cache of LLM answers, so that a re-run is free and tests can replay.

Key: ``sha256(model + "\\n" + prompt)`` where the prompt is the canonical JSON of
the chat messages and the answer schema (see :meth:`Prompt.cache_text`). One
JSON file per answer under ``<dir>/<key[:2]>/<key>.json``, written atomically
(temporary file in the same folder, then ``os.replace``), so concurrent writers
and crashes never leave a half-written entry. A corrupt entry is a miss.

Directory: the ``directory`` argument, else ``$RELED_CACHE_DIR``, else
``~/.cache/reled-sumo/llm``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

ENV_VAR = "RELED_CACHE_DIR"


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "reled-sumo" / "llm"


def cache_key(model: str, prompt: str) -> str:
    return hashlib.sha256(f"{model}\n{prompt}".encode("utf-8")).hexdigest()


class ResponseCache:
    """Maps (model, prompt) to the raw answer text."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        answer = entry.get("answer") if isinstance(entry, dict) else None
        return answer if isinstance(answer, str) else None

    def put(self, key: str, answer: str, model: str = "") -> None:
        path = self._path(key)
        entry = {"model": model, "created": time.time(), "answer": answer}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(entry, fh, ensure_ascii=False)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # a cache that cannot be written must not stop training
            log.warning("could not write LLM cache entry %s: %s", path, exc)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.exists() else 0
