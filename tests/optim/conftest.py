"""The optim tests run tiny networks, where torch's intra-op threads only add overhead
(5x slower on a busy 2-core machine). Use one thread per test, then restore the setting."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
