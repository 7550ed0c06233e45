"""Where a suite's tasks run: in this process, on a local process pool, or as Ray tasks.

The three executors share one small surface that :func:`reled_sumo.bench.suite._execute`'s
scheduling loop (dependency order, lazy submission, resumable results) drives unchanged:
``slots`` (tasks in flight at most), ``submit(fn, *args) -> handle``, ``wait_any(handles)``
(the finished ones, at least one), ``result(handle)`` (the value, or the task's own
exception; a dead worker is a :class:`~reled_sumo.errors.TaskDiedError`) and ``close()``
(a context manager).

Every task writes its result file itself and returns its path. On a Ray cluster the task
may run on another node, so the suite's ``out`` folder (and ``$RELED_HOME``, the built
scenarios) must be the same absolute path on a filesystem every node shares;
:class:`RayTaskExecutor` checks that the returned file is visible here and says so when it
is not. Ray is optional and imported only when a :class:`RayTaskExecutor` is built.
"""
from __future__ import annotations

import logging
import math
import os
import socket
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from reled_sumo.errors import ConfigError, TaskDiedError, first_line

log = logging.getLogger(__name__)


class InlineExecutor:
    """One task at a time in this process (``--jobs 1``): ``submit`` runs it to the end."""

    slots = 1

    def submit(self, fn: Callable, *args: Any) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - the task's failure, reported by the loop
            f.set_exception(exc)
        return f

    def wait_any(self, handles: Iterable[Future]) -> list[Future]:
        return list(handles)

    def result(self, handle: Future) -> Any:
        return handle.result()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ProcessExecutor(InlineExecutor):
    """``slots`` spawned processes on this machine (the default for ``--jobs N > 1``)."""

    def __init__(self, slots: int):
        self.slots = slots
        self._pool = ProcessPoolExecutor(max_workers=slots, mp_context=get_context("spawn"))

    def submit(self, fn: Callable, *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def wait_any(self, handles: Iterable[Future]) -> list[Future]:
        return list(wait(list(handles), return_when=FIRST_COMPLETED)[0])

    def result(self, handle: Future) -> Any:
        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise TaskDiedError(f"a worker process of the pool died (killed, or out of memory?): {exc}") from None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _on_node(env: Mapping[str, str], fn: Callable, *args: Any) -> tuple[Any, str, int]:
    """The body of one Ray task: the driver's environment variables, then ``fn(*args)``."""
    os.environ.update(env)
    return fn(*args), socket.gethostname(), os.getpid()


class RayTaskExecutor:
    """Each task a Ray task (``cpus_per_task`` CPUs, no retries) on a local Ray or a cluster.

    ``address`` as for the Ray rollout workers (:func:`reled_sumo.training.ray_workers.connect`):
    ``local`` starts Ray here (``slots * cpus_per_task`` CPUs, default this machine's count),
    ``auto`` / ``host:port`` joins a cluster; a Ray already initialised in this process is used.
    ``slots`` (default: the cluster's CPUs // ``cpus_per_task``) caps the tasks in flight.
    ``env`` (e.g. ``RELED_HOME``) is set in the task's worker before it runs.
    """

    def __init__(self, address: str, slots: int | None = None, cpus_per_task: float = 1.0,
                 env: Mapping[str, str] | None = None):
        from reled_sumo.training.ray_workers import connect, import_ray  # lazy: sumo

        if isinstance(cpus_per_task, bool) or not isinstance(cpus_per_task, (int, float)) \
                or not math.isfinite(cpus_per_task) or cpus_per_task <= 0:
            raise ConfigError(f"CPUs per Ray task must be a finite number > 0, got {cpus_per_task!r}")
        if slots is not None and (isinstance(slots, bool) or not isinstance(slots, int) or slots < 1):
            raise ConfigError(f"jobs must be an integer >= 1, got {slots!r}")
        local_cpus = math.ceil(slots * cpus_per_task) if slots else (os.cpu_count() or 1)
        self.address, self.cpus_per_task = address, float(cpus_per_task)
        self._running: set[Any] = set()
        self._owns_ray = connect(address, local_cpus)
        self._ray = ray = import_ray()
        try:
            cpus = float(ray.cluster_resources().get("CPU", 0.0))
            if cpus < self.cpus_per_task:
                raise ConfigError(f"the Ray cluster at {address!r} has {cpus:g} CPU(s); a suite task needs "
                                  f"{self.cpus_per_task:g}")
            self.slots = slots or max(1, int(cpus // self.cpus_per_task))
            self._remote = ray.remote(num_cpus=self.cpus_per_task, max_retries=0)(_on_node)
        except BaseException:
            self.close()
            raise
        self._env = dict(env or {})
        log.info("suite on Ray (%s): %g CPUs, %d task(s) at a time, %g CPU(s) each", address, cpus, self.slots,
                 self.cpus_per_task)

    def submit(self, fn: Callable, *args: Any) -> Any:
        ref = self._remote.remote(self._env, fn, *args)
        self._running.add(ref)
        return ref

    def wait_any(self, handles: Iterable[Any]) -> list[Any]:
        return list(self._ray.wait(list(handles), num_returns=1)[0])

    def result(self, handle: Any) -> Any:
        exc_mod = self._ray.exceptions
        self._running.discard(handle)
        try:
            value, host, pid = self._ray.get(handle)
        except exc_mod.RayTaskError as exc:  # the task raised: its own exception
            raise (exc.cause if isinstance(exc.cause, BaseException) else TaskDiedError(first_line(exc))) from None
        except exc_mod.RayError as exc:  # its worker process or node died, or Ray lost it
            raise TaskDiedError(f"its Ray worker died ({type(exc).__name__}: {first_line(exc)})") from None
        if isinstance(value, (str, Path)) and not Path(value).exists():
            raise TaskDiedError(f"it wrote {value} on {host} (pid {pid}), but that file is not visible here: "
                                f"on a Ray cluster --out and $RELED_HOME must be on a filesystem every node "
                                f"shares, at the same path")
        return value

    def close(self) -> None:
        """Cancel unfinished tasks (force: their workers are killed); shut Ray down if this started it."""
        ray = getattr(self, "_ray", None)
        if ray is None:
            return
        for ref in self._running:
            ray.cancel(ref, force=True)
        self._running = set()
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["InlineExecutor", "ProcessExecutor", "RayTaskExecutor"]
