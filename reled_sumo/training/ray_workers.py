"""Rollout workers as Ray actors: the process pool's protocol, on one machine or a cluster.

Each :class:`RayWorkerPool` worker is a Ray actor (its own process, on any node of the
cluster) owning one :class:`~reled_sumo.env.episode.EnvWorker`, so one libsumo
simulation. The learner sends the same plain-data commands as to
:class:`~reled_sumo.training.workers.RolloutWorkerPool` (``Reset`` / ``Step`` ->
``StepBatch``, a ``WorkerFailure`` when the env raised) and the pool has the same surface
(``n_workers``, ``possible_agents``, ``obs_dim``, ``n_actions``, ``specs``, ``pids``,
``exchange``, ``reset``, ``step``, ``close``), so
:func:`~reled_sumo.training.workers.collect_parallel` runs unchanged on either.

Ray is an optional extra (``pip install -e ".[ray]"``, :data:`RAY_REQUIREMENT`); it is
imported only when a pool is built. The scenario folder must exist at the same path on
every node (see docs/architecture.md, "Multi-node runs").
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
from multiprocessing.connection import Client, Listener
from typing import Any, Callable, Mapping

from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env.episode import EnvWorker, StepBatch
from reled_sumo.errors import ConfigError, first_line
from reled_sumo.training.workers import (
    ExchangePool, RolloutWorkerError, WorkerFailure, WorkerSimulationDiedError, WorkerSpec, _error, _failure,
    _scenario_arg, build_worker, serve_commands,
)

log = logging.getLogger(__name__)
RAY_REQUIREMENT = "ray>=2.60,<3"  # the tested range; keep in sync with pyproject's [ray] extra
LOCAL = "local"  # start a Ray instance on this machine for the run (shut down on close)
PROBE_TIMEOUT_S = 5.0  # a cluster address that does not answer a TCP connect within this is refused
HEARTBEAT_S = 2.0  # while waiting for a reply, ask Ray this often whether the actor is alive


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray  # lazy: ray
    except ImportError as exc:
        raise ConfigError(f"--ray-address / ray_address needs Ray, which is not installed: "
                          f"pip install -e \".[ray]\" ({RAY_REQUIREMENT}) ({exc})") from None
    return ray


def check_address(address: Any) -> str:
    """``address`` if it is ``auto``, ``local``, ``ray://...`` or ``host:port``; else a ConfigError."""
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(f"ray_address must be 'auto', 'local' or a cluster address, got {address!r}")
    if address in (LOCAL, "auto") or address.startswith("ray://"):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"a Ray cluster address is host:port (or auto / local), got {address!r}")
    return address


def _probe(address: str) -> None:
    """Fail in seconds when nothing listens at ``host:port`` (ray.init would retry for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r} (start one with `ray start --head`, "
                          f"or use --ray-address local): {exc}") from None


def connect(address: str, num_cpus: int | None = None) -> bool:
    """Join (``auto`` / ``host:port`` of a cluster this machine is part of) or start (``local``) Ray.

    The learner opens TCP connections to the actors' nodes, so it must run on a machine that
    reaches them (a cluster node); Ray Client (``ray://``) drivers outside the cluster do not.
    Returns True when this call started or joined Ray (the caller then shuts it down); a
    Ray already initialised in this process is used as it is.
    """
    ray = import_ray()
    check_address(address)
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address == LOCAL:
        kwargs["num_cpus"] = num_cpus
    elif address != "auto" and not address.startswith("ray://"):
        _probe(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError) as exc:
        auth = ("; a cluster with token authentication (`ray start`'s default since Ray 2.59) also needs "
                "RAY_AUTH_MODE=token and its token here" if os.environ.get("RAY_AUTH_MODE") != "token" else "")
        raise ConfigError(f"cannot reach the Ray cluster at {address!r} (start one with `ray start --head`, "
                          f"or use --ray-address local{auth}): {exc}") from None
    return True


class RayWorkerHost:
    """The body of one actor: builds its env, then serves commands on a direct connection.

    Ray places, starts and kills the actor; the per-step messages (pickled commands and
    ``StepBatch`` replies) go over one ``multiprocessing.connection`` TCP connection between
    the learner and the actor, as on the process pool's pipes: an actor method call costs
    a few ms on a loaded 2-core machine, a round trip on the connection ~0.1 ms. Errors
    become :class:`WorkerFailure` replies, so a failing env never kills the actor.
    """

    def __init__(self, worker_id: int, scenario: str, env_options: Mapping[str, Any], wrap: Callable | None):
        self.worker_id = worker_id
        self.worker: EnvWorker | None = None
        self.failure: WorkerFailure | None = None
        self._listener: Listener | None = None
        try:
            self.worker = build_worker(scenario, env_options, wrap)
        except Exception as exc:  # noqa: BLE001 - reported by spec()
            self.failure = _failure(worker_id, exc)

    def spec(self) -> WorkerSpec | WorkerFailure:
        if self.failure is not None:
            return self.failure
        assert self.worker is not None  # built, or failure is set
        env = self.worker.env
        return WorkerSpec(self.worker_id, os.getpid(), tuple(self.worker.names), int(getattr(env, "obs_dim", 0)),
                          int(getattr(env, "K", 0)))

    def listen(self, authkey: bytes) -> tuple[str, int]:
        """Open the command connection's listener on this node; returns its ``(host, port)``."""
        import ray  # lazy: ray

        self._listener = listener = Listener((ray.util.get_node_ip_address(), 0), authkey=authkey)
        return listener.address

    def serve(self) -> None:
        """Accept the learner, then answer commands until ``Close`` or a lost connection."""
        if self._listener is None or self.worker is None:
            raise RuntimeError("serve() needs a built worker and listen() first")
        try:
            conn = self._listener.accept()
        finally:
            self._listener.close()
        try:
            serve_commands(conn, self.worker, self.worker_id)
        finally:
            conn.close()
            if self.worker is not None:
                self.worker.close()
                self.worker = None


class RayWorkerPool(ExchangePool):
    """``n_workers`` Ray actors, each owning one env of ``scenario`` (a folder path or name).

    ``address``: ``local`` starts a Ray instance here (``num_cpus``, default
    ``max(n_workers, os.cpu_count())``), ``auto`` joins the cluster this machine belongs to,
    anything else is a cluster address; a Ray already initialised in this process is used.
    A context manager like the process pool; ``close()`` closes the envs, kills the actors,
    and shuts Ray down if this pool started it.
    """

    def __init__(self, scenario: ScenarioLike, env_options: Mapping[str, Any] | None = None, n_workers: int = 2,
                 address: str = LOCAL, wrap: Callable | None = None, num_cpus_per_worker: float = 1.0,
                 num_cpus: int | None = None, start_timeout_s: float = 300.0,
                 reply_timeout_s: float | None = None, close_timeout_s: float = 10.0):
        if n_workers < 1:
            raise ValueError("n_workers must be >= 1")
        self.n_workers, self.reply_timeout_s, self.close_timeout_s = n_workers, reply_timeout_s, close_timeout_s
        self.address, self._closed, self._actors, self._conns, self._serving = address, False, [], [], []
        self.specs: tuple[WorkerSpec, ...] = ()
        self._owns_ray = connect(address, num_cpus or max(n_workers, os.cpu_count() or 1))
        self._ray = ray = import_ray()
        try:
            actor_cls = ray.remote(num_cpus=num_cpus_per_worker, max_restarts=0)(RayWorkerHost)
            args = (_scenario_arg(scenario), dict(env_options or {}), wrap)
            self._actors = [actor_cls.remote(w, *args) for w in range(n_workers)]
            refs = [a.spec.remote() for a in self._actors]
            self.specs = tuple(self._get(w, r, start_timeout_s, starting=True) for w, r in enumerate(refs))
            authkey = secrets.token_bytes(32)
            addrs = [self._get(w, a.listen.remote(authkey), start_timeout_s) for w, a in enumerate(self._actors)]
            self._serving = [a.serve.remote() for a in self._actors]
            self._conns = [Client(tuple(addr), authkey=authkey) for addr in addrs]
        except BaseException:
            self.close()
            raise
        spec = self.specs[0]
        self.possible_agents, self.obs_dim, self.n_actions = list(spec.possible_agents), spec.obs_dim, spec.n_actions
        log.info("ray rollout pool (%s): %d actors (pids %s) at %s", address, n_workers,
                 ", ".join(str(s.pid) for s in self.specs), ", ".join(f"{h}:{p}" for h, p in addrs))

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the actors (on their own nodes) as they reported at start."""
        return [s.pid for s in self.specs]

    def _pid(self, w: int) -> Any:
        return self.specs[w].pid if w < len(self.specs) else "?"

    def _get(self, w: int, ref: Any, timeout: float | None, starting: bool = False) -> Any:
        """``ray.get`` of an actor call (start-up only), Ray's errors as the pool's."""
        exc_mod = self._ray.exceptions
        try:
            reply = self._ray.get(ref, timeout=timeout)
        except exc_mod.GetTimeoutError:
            hint = " (not enough free CPUs in the Ray cluster for the actors?)" if starting else ""
            raise RolloutWorkerError(w, f"no reply within {timeout:g} s{hint}") from None
        except exc_mod.RayActorError as exc:
            first = first_line(exc)
            raise WorkerSimulationDiedError(w, f"Ray actor (pid {self._pid(w)}) died: its env/SUMO is gone "
                                               f"({type(exc).__name__}: {first})") from exc
        except exc_mod.RayError as exc:
            raise RolloutWorkerError(w, f"Ray failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(reply, WorkerFailure):
            raise _error(reply)
        return reply

    def _recv(self, w: int, timeout: float | None) -> StepBatch:
        conn = self._conns[w]
        try:
            self._wait_readable(w, timeout)
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerSimulationDiedError(
                w, f"Ray actor (pid {self._pid(w)}) died: its env/SUMO is gone ({exc!r})") from exc
        if isinstance(reply, WorkerFailure):
            raise _error(reply)
        return reply

    def _wait_readable(self, w: int, timeout: float | None) -> None:
        """Wait for a reply; every ``HEARTBEAT_S`` ask Ray whether the actor still serves (a
        lost node may leave the TCP connection open without ever answering)."""
        conn, waited = self._conns[w], 0.0
        while not conn.poll(HEARTBEAT_S):
            waited += HEARTBEAT_S
            if timeout is not None and waited >= timeout:
                raise RolloutWorkerError(w, f"no reply within {timeout:g} s (Ray actor pid {self._pid(w)})")
            ready, _ = self._ray.wait([self._serving[w]], timeout=0)
            if ready and not conn.poll(0):
                try:
                    self._ray.get(ready[0])
                except self._ray.exceptions.RayError as exc:
                    first = first_line(exc)
                    raise WorkerSimulationDiedError(
                        w, f"Ray actor (pid {self._pid(w)}) died: its env/SUMO is gone ({first})") from exc
                raise WorkerSimulationDiedError(w, f"Ray actor (pid {self._pid(w)}) stopped serving")

    def _gone(self, w: int, exc: BaseException) -> RolloutWorkerError:
        return WorkerSimulationDiedError(w, f"Ray actor (pid {self._pid(w)}) is gone ({exc!r})")

    def close(self) -> None:
        """Close every env, kill every actor, and shut Ray down if this pool started it (idempotent)."""
        if not self._begin_close():
            return
        if self._serving:  # serve() returns once its env is closed
            self._ray.wait(self._serving, num_returns=len(self._serving), timeout=self.close_timeout_s)
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        for conn in self._conns:
            conn.close()
        self._actors, self._conns, self._serving = [], [], []
        if self._owns_ray:
            self._ray.shutdown()


__all__ = ["LOCAL", "RAY_REQUIREMENT", "RayWorkerHost", "RayWorkerPool", "check_address", "connect", "import_ray"]
