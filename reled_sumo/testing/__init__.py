"""Test helpers that ship with the package (e.g. a loopback Ollama server)."""
from reled_sumo.testing.ollama_server import FakeOllamaServer, RecordedRequest, Reply

__all__ = ["FakeOllamaServer", "RecordedRequest", "Reply"]
