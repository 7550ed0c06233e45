"""`reled llm ...`: a local model behind Ollama's API (llama.cpp), for users without Ollama."""
from __future__ import annotations

from typing import List, Optional

import typer
from rich.table import Table

from reled_sumo.cli.common import guarded, show_table
from reled_sumo.testing.gguf_models import PACKAGED_MODELS
from reled_sumo.testing.llama_server import main

app = typer.Typer(help="Local LLM: small GGUF models from PyPI served through Ollama's API.", no_args_is_help=True)


@app.command("models")
@guarded
def models_cmd() -> None:
    """The packaged models, their licences, and whether they are installed."""

    t = Table(title="packaged GGUF models")
    for c in ("name", "licence", "installed", "install with"):
        t.add_column(c)
    for m in PACKAGED_MODELS.values():
        path = m.locate()
        t.add_row(m.name, m.licence, str(path) if path else "no", m.install)
    show_table(t)


@app.command("serve")
@guarded
def serve_cmd(
    model: Optional[List[str]] = typer.Option(None, "--model", help="Packaged model (default: every installed one)."),
    gguf: Optional[List[str]] = typer.Option(None, "--gguf", help="Serve a GGUF file as NAME=PATH."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(11434, "--port"),
    ctx: int = typer.Option(8192, "--ctx", help="Context size in tokens."),
    threads: int = typer.Option(1, "--threads", help="Generation threads (1 beside SUMO)."),
    max_predict: int = typer.Option(2048, "--max-predict", help="Cap on generated tokens per answer."),
) -> None:
    """Serve the model(s) at http://HOST:PORT with Ollama's API until Ctrl-C."""

    argv = ["--host", host, "--port", str(port), "--ctx", str(ctx), "--threads", str(threads),
            "--max-predict", str(max_predict)]
    for m in model or []:
        argv += ["--model", m]
    for g in gguf or []:
        argv += ["--gguf", g]
    raise typer.Exit(code=main(argv))
