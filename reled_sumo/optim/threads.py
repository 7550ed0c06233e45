"""Thread control for the tiny networks: one thread beside SUMO is fastest.

Two pools count: torch's intra-op threads (the update, torch's forward) and numpy's BLAS threads (the
numpy rollout forward, optim/fast_act.py). OpenBLAS starts its threads for products as small as
256 x 46 by 46 x 64 (64 deciders at once), and on the project's 2-core machine that made the numpy
forward 2-3.7x slower than on one thread at 64-256 deciders (0.74-0.83x torch's speed instead of
1.8-2.4x; micro-benchmark under load 2, 2026-12-06). :func:`torch_threads` sets both for a block; :func:`limit_threads` for a worker process.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch as th
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads and at most ``n`` BLAS threads for numpy, then
    restore both."""
    before = th.get_num_threads()
    th.set_num_threads(max(1, int(n)))
    try:
        with threadpool_limits(limits=max(1, int(n)), user_api="blas"):
            yield
    finally:
        th.set_num_threads(before)


def limit_threads(n: int = 1) -> None:
    """Set this process's torch and BLAS thread counts to ``n`` for good (a worker process's start)."""
    th.set_num_threads(max(1, int(n)))
    threadpool_limits(limits=max(1, int(n)), user_api="blas")


__all__ = ["limit_threads", "torch_threads"]
