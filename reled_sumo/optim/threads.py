"""Torch thread control: the networks are tiny, so one thread beside SUMO is fastest."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch as th


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous count."""
    before = th.get_num_threads()
    th.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        th.set_num_threads(before)
