"""OllamaClient sums the token counts the server reports, streaming or not."""
import pytest

from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig


@pytest.mark.parametrize("stream", [False, True])
def test_usage_sums_prompt_and_completion_tokens(ollama_server, stream):
    ollama_server.script("x" * 40, "y" * 80)  # the scripted server reports 42 prompt tokens, len/4 completion
    client = OllamaClient(OllamaConfig(host=ollama_server.url, retries=0, stream=stream))
    assert client.usage == {"prompt_tokens": 0, "completion_tokens": 0}
    client.chat_text([{"role": "user", "content": "hi"}], {"type": "object"})
    client.chat_text([{"role": "user", "content": "hi"}], {"type": "object"})
    assert client.usage == {"prompt_tokens": 84, "completion_tokens": 30}
    client.close()
