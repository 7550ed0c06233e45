"""``reled bench learn``: a learning benchmark suite from a YAML file (docs/benchmarks.md).

A suite is methods x cities x agent counts x training seeds, each trained for ``budget`` agent
decisions and evaluated greedily on ``eval_seeds`` evaluation seeds, plus the non-learning
references on every (city, agent count), plus a generalization block: policies trained on one
city are evaluated, without further training, on other cities and on the training city with its
background demand scaled (``<city>-d070``, ``<city>-d130``, built with the scenario builder).

Every task writes ``<out>/results/<key>.json`` when it is done; a rerun skips tasks whose file
exists (and a training run with a ``checkpoint.pt`` but no result resumes from it). Tasks run in
this process, on a process pool or as Ray tasks (:mod:`reled_sumo.bench.suite_exec`). The report
(:func:`reled_sumo.bench.suite_report.write_suite_report`) is rebuilt from the result files and the runs' ``progress.csv``.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import yaml

from reled_sumo.bench import suite_exec
from reled_sumo.env.observation import N_CAND, N_OWN
from reled_sumo.data import suite_path
from reled_sumo.errors import ConfigError, RelEdError, SuiteTaskError, first_line
from reled_sumo.evaluation.evaluate import evaluate_policy, evaluate_run
from reled_sumo.evaluation.references import ReferenceConfig, evaluate_reference, parse_references
from reled_sumo.optim.threads import torch_threads
from reled_sumo.scenario.build import BuildRequest, build
from reled_sumo.scenario.registry import HOME_ENV, get_recipe, reled_home
from reled_sumo.training.checkpoint import load_policy
from reled_sumo.training.config import ALGOS, TrainConfig, config_from_dict, set_dotted
from reled_sumo.training.trainer import Trainer

log = logging.getLogger(__name__)

RESULTS, RUNS = "results", "runs"


# ------------------------------------------------------------------ specification
@dataclass(frozen=True)
class MethodSpec:
    name: str
    algo: str
    set: Mapping[str, Any] = field(default_factory=dict)  # dotted TrainConfig overrides


@dataclass(frozen=True)
class CitySpec:
    name: str  # scenario name the suite builds and uses
    recipe: str  # bundled city
    demand: Mapping[str, Any] = field(default_factory=dict)  # agents, background_vehicles, duration, seed


@dataclass(frozen=True)
class GeneralizationSpec:
    train_city: str
    agents: int
    methods: tuple[str, ...]
    cities: tuple[str, ...] = ()  # other suite cities, evaluated at their own demand
    demand_scales: tuple[float, ...] = (0.7, 1.3)  # the training city with background demand x scale
    references: tuple[str, ...] = ("shortest",)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    methods: tuple[MethodSpec, ...]
    cities: tuple[CitySpec, ...]
    agents: tuple[int, ...]
    seeds: tuple[int, ...]
    budget: int
    eval_seeds: int = 5
    budget_updates: int | None = None  # when set, every run stops after this many updates (budget unused)
    references: tuple[str, ...] = ()
    train: Mapping[str, Any] = field(default_factory=dict)  # base TrainConfig (nested, as in data/configs/default.yaml)
    reference_options: Mapping[str, Any] = field(default_factory=dict)  # ReferenceConfig fields
    generalization: GeneralizationSpec | None = None
    threshold_method: str = "ippo"
    threshold_window: int = 5
    confidence: float = 0.95
    claims_roles: Mapping[str, str] = field(default_factory=dict)  # claim role (reled, ippo, ...) -> suite method

    def method(self, name: str) -> MethodSpec:
        return {m.name: m for m in self.methods}[name]

    def city(self, name: str) -> CitySpec:
        return {c.name: c for c in self.cities}[name]


def scaled_name(city: str, scale: float) -> str:
    return f"{city}-d{round(scale * 100):03d}"


def load_suite(name_or_path: str | Path) -> SuiteSpec:
    """A bundled suite (``small``, ``paper``, ``ci``: reled_sumo/data/configs/suite_<name>.yaml) or a YAML path."""
    raw = yaml.safe_load(suite_path(name_or_path).read_text()) or {}
    return suite_from_dict(raw)


def suite_from_dict(raw: Mapping[str, Any]) -> SuiteSpec:
    try:
        d = dict(raw)
        d["methods"] = tuple(MethodSpec(**m) for m in d.get("methods", ()))
        d["cities"] = tuple(CitySpec(**c) for c in d.get("cities", ()))
        for key in ("agents", "seeds", "references"):
            d[key] = tuple(d.get(key, ()))
        if d.get("generalization"):
            g = dict(d["generalization"])
            d["generalization"] = GeneralizationSpec(**{k: tuple(v) if isinstance(v, list) else v  # type: ignore[arg-type]
                                                        for k, v in g.items()})
        spec = SuiteSpec(**d)
    except TypeError as exc:
        raise ConfigError(f"invalid suite: {exc}") from exc
    validate(spec)
    return spec


def validate(spec: SuiteSpec) -> None:
    names = [m.name for m in spec.methods]
    if not names or len(set(names)) != len(names):
        raise ConfigError("a suite needs methods with unique names")
    if not spec.cities or not spec.agents or len(spec.seeds) < 1 or spec.budget < 1 or spec.eval_seeds < 1:
        raise ConfigError("a suite needs cities, agents, seeds, budget >= 1 and eval_seeds >= 1")
    if spec.budget_updates is not None and not (isinstance(spec.budget_updates, int) and spec.budget_updates >= 1):
        raise ConfigError(f"budget_updates must be an integer >= 1 or null, got {spec.budget_updates!r}")
    bad = [m.algo for m in spec.methods if m.algo not in ALGOS]
    if bad:
        raise ConfigError(f"unknown algo(s) {bad}; choose from {', '.join(ALGOS)}")
    parse_references(list(spec.references))
    g = spec.generalization
    if g is not None:
        parse_references(list(g.references))
        cities = {c.name for c in spec.cities}
        if g.train_city not in cities or not set(g.cities) <= cities or not set(g.methods) <= set(names):
            raise ConfigError("generalization: train_city/cities must be suite cities and methods suite methods")
        if g.agents not in spec.agents:
            raise ConfigError(f"generalization.agents {g.agents} must be one of the suite's agent counts")
    _validate_roles(spec.claims_roles, names)
    for m in spec.methods:  # fail now, not hours later
        run_config(spec, Task("train", spec.cities[0].name, spec.agents[0], m.name, spec.seeds[0]))


def _validate_roles(roles: Mapping[str, str], names: Sequence[str]) -> None:
    """``claims_roles`` maps a claim role (the method names the claims know: reled, ippo, mappo,
    bc, ...) to the suite method that plays it, e.g. ``{reled: reled-20k, ippo: ippo-20k}``."""
    if not isinstance(roles, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in roles.items()):
        raise ConfigError(f"claims_roles must map role names to method names, got {roles!r}")
    unknown = sorted(v for v in roles.values() if v not in names)
    if unknown:
        raise ConfigError(f"claims_roles: {unknown} are not methods of the suite")
    if len(set(roles.values())) != len(roles):
        raise ConfigError("claims_roles: a method can play one role only")
    clash = sorted(r for r in roles if r in names and roles[r] != r)
    if clash:
        raise ConfigError(f"claims_roles: {clash} are also method names of the suite; map them to themselves or rename")


# ------------------------------------------------------------------ tasks
@dataclass(frozen=True)
class Task:
    kind: str  # "train" (train + evaluate), "ref" (a reference), "gen" (a trained policy on another scenario)
    city: str  # training city (train, gen) or evaluated scenario (ref)
    agents: int
    method: str  # method or reference name
    seed: int | None = None  # training seed
    target: str | None = None  # gen: the scenario evaluated on

    @property
    def key(self) -> str:
        base = f"{self.kind}/{self.city}/n{self.agents}/{self.method}"
        if self.seed is not None:
            base += f"/s{self.seed}"
        return base + (f"/{self.target}" if self.target else "")


def gen_targets(spec: SuiteSpec) -> tuple[str, ...]:
    g = spec.generalization
    if g is None:
        return ()
    return tuple(g.cities) + tuple(scaled_name(g.train_city, s) for s in g.demand_scales)


def plan(spec: SuiteSpec) -> list[Task]:
    """Every task of the suite, in run order: the (cheap) references first, then seed by seed the
    training runs and that seed's generalization evaluations -- so an interrupted suite has whole
    seeds for every cell rather than every seed for a few cells."""
    g = spec.generalization
    targets = gen_targets(spec)
    tasks = [Task("ref", c.name, n, r) for c in spec.cities for n in spec.agents for r in spec.references]
    if g is not None:
        tasks += [Task("ref", t, g.agents, r) for t in targets for r in g.references]
    for s in spec.seeds:
        tasks += [Task("train", c.name, n, m.name, s) for c in spec.cities for n in spec.agents
                  for m in spec.methods]
        if g is not None:
            tasks += [Task("gen", g.train_city, g.agents, m, s, t) for m in g.methods for t in targets]
    return list(dict.fromkeys(tasks))


def depends_on(task: Task) -> Task | None:
    """A generalization evaluation needs its trained run; everything else is independent."""
    if task.kind != "gen":
        return None
    return Task("train", task.city, task.agents, task.method, task.seed)


def result_path(out: Path, task: Task) -> Path:
    return Path(out) / RESULTS / f"{task.key}.json"


def run_dir(out: Path, city: str, agents: int, method: str, seed: int) -> Path:
    return Path(out) / RUNS / city / f"n{agents}" / method / f"s{seed}"


def run_config(spec: SuiteSpec, task: Task) -> TrainConfig:
    m = spec.method(task.method)
    data = copy.deepcopy(dict(spec.train))
    for key, value in {"scenario": task.city, "algo": m.algo, "seed": int(task.seed or 0),
                       "total_decisions": spec.budget, "total_updates": spec.budget_updates,
                       "env.max_agents": task.agents, **dict(m.set)}.items():
        set_dotted(data, key, value)
    return config_from_dict(data)


def env_options(spec: SuiteSpec, agents: int) -> dict[str, Any]:
    cfg = config_from_dict({**copy.deepcopy(dict(spec.train)), "scenario": "x"})
    return cfg.env.replace(max_agents=agents).to_dict()


# ------------------------------------------------------------------ scenarios
def build_scenarios(spec: SuiteSpec) -> list[str]:
    """Build (or reuse, cache hit) every city and the demand-scaled copies of the generalization city."""

    requests = []
    for c in spec.cities:
        requests.append(replace(BuildRequest.bundled(get_recipe(c.recipe), **dict(c.demand)), name=c.name))
    g = spec.generalization
    if g is not None:
        base = spec.city(g.train_city)
        base_req = requests[[c.name for c in spec.cities].index(base.name)]
        for s in g.demand_scales:
            demand = replace(base_req.demand, background_vehicles=max(1, round(base_req.demand.background_vehicles * s)))
            requests.append(replace(base_req, name=scaled_name(base.name, s), demand=demand))
    for req in requests:
        res = build(req)
        log.info("scenario %s: %s (%.1f s)", req.name, "cached" if res.cache_hit else "built", res.seconds)
    return [r.name for r in requests]


# ------------------------------------------------------------------ running
def transfer_act(policy, meta: Mapping[str, Any]):
    """Greedy act function of a trained policy for an env whose K or agent count may differ.

    Observations are ``[own | K candidates]`` (K from the env's mask width). Fewer candidates than
    the policy's K: the missing slots are zero-padded and masked (exact for the candidate actor,
    which scores each slot separately); more: only the first K_policy candidates are offered.
    Agent indices beyond the policy's agents wrap around (``index mod N_policy``; only matters for
    per-agent policies and agent embeddings).
    """

    k_pol, n_pol = int(meta["n_actions"]), len(meta["possible_agents"])

    def act(obs, agent_index, mask):
        obs = np.asarray(obs, dtype=np.float32)
        b, k_env = obs.shape[0], (obs.shape[1] - N_OWN) // N_CAND
        mask = np.ones((b, k_env), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if k_env != k_pol:
            cand = np.zeros((b, k_pol, N_CAND), dtype=np.float32)
            m = np.zeros((b, k_pol), dtype=bool)
            k = min(k_env, k_pol)
            cand[:, :k] = obs[:, N_OWN:].reshape(b, k_env, N_CAND)[:, :k]
            m[:, :k] = mask[:, :k]
            obs, mask = np.concatenate([obs[:, :N_OWN], cand.reshape(b, -1)], axis=1), m
        return policy.act(obs, np.asarray(agent_index) % n_pol, mask, True)

    return act


def _train_task(spec: SuiteSpec, out: Path, task: Task) -> dict[str, Any]:
    rd = run_dir(out, task.city, task.agents, task.method, task.seed)  # type: ignore[arg-type]  # train tasks have seeds
    resume = (rd / "checkpoint.pt").is_file()
    res = Trainer(run_config(spec, task), run_dir=rd, resume=resume).run()
    ev = evaluate_run(rd, spec.eval_seeds)
    train = {"run_dir": str(rd), "updates": res.updates, "decisions": res.decisions, "episodes": res.episodes,
             "wall_seconds": res.wall_seconds, "decisions_per_s": res.decisions_per_s, "resumed": resume}
    return {"train": train, "eval": ev.to_dict()}


def _ref_task(spec: SuiteSpec, out: Path, task: Task) -> dict[str, Any]:
    cfg = ReferenceConfig(**dict(spec.reference_options))
    return {"eval": evaluate_reference(task.method, task.city, spec.eval_seeds, env_options(spec, task.agents),
                                       cfg).to_dict()}


def _gen_task(spec: SuiteSpec, out: Path, task: Task) -> dict[str, Any]:
    if task.target is None or task.seed is None:
        raise ConfigError(f"generalization task {task} needs a target city and a training seed")
    rd = run_dir(out, task.city, task.agents, task.method, task.seed)
    policy, meta = load_policy(rd)
    from reled_sumo.deploy.record import RunRecord  # lazy: beside the torch-loaded policy

    opts = RunRecord.from_meta(meta).env_options(max_agents=task.agents)
    ev = evaluate_policy(task.target, transfer_act(policy, meta), spec.eval_seeds, opts, method=task.method,
                         meta={"kind": "transfer", "run_dir": str(rd), "trained_on": task.city})
    return {"eval": ev.to_dict()}


_RUNNERS: dict[str, Callable[[SuiteSpec, Path, Task], dict[str, Any]]] = {
    "train": _train_task, "ref": _ref_task, "gen": _gen_task}


def run_task(spec: SuiteSpec, out: Path, task: Task) -> Path:
    """Run one task and write its result file (atomically); returns the file.

    Torch runs on ``train.torch_threads`` (default 1) threads for evaluations too: tiny networks
    next to SUMO are several times slower with more threads on a small machine.
    """

    t0 = time.perf_counter()
    with torch_threads(int(dict(spec.train).get("torch_threads", 1))):
        result = _RUNNERS[task.kind](spec, Path(out), task)
    record = {"task": asdict(task), **result, "task_seconds": time.perf_counter() - t0}
    path = result_path(out, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")
    os.replace(tmp, path)
    log.info("%s done in %.1f s", task.key, record["task_seconds"])
    return path


def _ready(out: Path, task: Task, finished: set[Task]) -> bool:
    dep = depends_on(task)
    return dep is None or dep in finished or result_path(out, dep).is_file()


def executor(jobs: int | None = 1, ray_address: str | None = None, ray_task_cpus: float = 1.0):
    """Where the tasks run: ``ray_address`` set -> Ray tasks (``jobs`` at a time, default the
    cluster's CPUs // ``ray_task_cpus``); else ``jobs`` spawned processes, or this process for 1."""

    if ray_address is not None:
        env = {HOME_ENV: str(reled_home().resolve())}  # a Ray worker's cwd and environment are not ours
        return suite_exec.RayTaskExecutor(ray_address, jobs, ray_task_cpus, env)
    jobs = 1 if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1, got {jobs!r}")
    return suite_exec.InlineExecutor() if jobs == 1 else suite_exec.ProcessExecutor(jobs)


def _execute(spec: SuiteSpec, out: Path, tasks: Sequence[Task], ex, on_done: Callable[[Task], None]) -> None:
    """Run ``tasks`` in plan order on the executor ``ex``; a task starts once its dependency is done.

    Submission is lazy (at most ``ex.slots`` in flight), so the plan order is the run order and a
    generalization evaluation runs as soon as its training run has finished. A failed task stops
    new submissions; the running ones finish (their results count for a rerun), then a
    :class:`SuiteTaskError` names the failed task(s).
    """
    todo = list(tasks)
    finished: set[Task] = set()
    running: dict[Any, Task] = {}
    failed: list[tuple[Task, BaseException]] = []
    while todo or running:
        while not failed and len(running) < ex.slots:
            nxt = next((t for t in todo if _ready(out, t, finished)), None)
            if nxt is None:
                break
            todo.remove(nxt)
            running[ex.submit(run_task, spec, out, nxt)] = nxt
        if not running:
            if failed:
                break
            raise ConfigError(f"{len(todo)} suite task(s) wait on training runs that are not planned")
        for handle in ex.wait_any(list(running)):
            task = running.pop(handle)
            try:
                ex.result(handle)
            except Exception as exc:  # noqa: BLE001 - reported below, naming the task
                failed.append((task, exc))
                log.error("suite task %s failed: %s", task.key, _why(exc))
                continue
            finished.add(task)
            on_done(task)
    if failed:
        raise _task_error(failed, len(todo))


def _why(exc: BaseException) -> str:
    text = first_line(exc)
    return text if isinstance(exc, RelEdError) else f"{type(exc).__name__}: {text}"


def _task_error(failed: list[tuple[Task, BaseException]], not_started: int) -> SuiteTaskError:
    (task, exc), more = failed[0], [t.key for t, _ in failed[1:]]
    also = f" (also failed: {', '.join(more)})" if more else ""
    msg = (f"suite task {task.key} failed: {_why(exc)}{also}; {not_started} task(s) not started. "
           "Rerun to resume (finished tasks are skipped)")
    return SuiteTaskError(msg, exc.exit_code if isinstance(exc, RelEdError) else 1)


@dataclass(frozen=True)
class SuiteOutcome:
    out: Path
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float


def pending(spec: SuiteSpec, out: Path) -> tuple[list[Task], list[Task]]:
    """(to run, finished) -- a task is finished when its result JSON exists."""
    tasks = plan(spec)
    done = [t for t in tasks if result_path(out, t).is_file()]
    return [t for t in tasks if t not in done], done


def run_suite(spec: SuiteSpec, out: str | Path, jobs: int | None = 1,
              on_done: Callable[[Task], None] | None = None, ray_address: str | None = None,
              ray_task_cpus: float = 1.0) -> SuiteOutcome:
    """Build the scenarios and run every unfinished task on :func:`executor` (``jobs`` processes,
    or Ray tasks with ``ray_address``); the report is
    :func:`reled_sumo.bench.suite_report.run_and_report`'s job."""
    t0, out = time.perf_counter(), Path(out).resolve()  # absolute: tasks may run with another cwd
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(asdict(spec))), sort_keys=False))
    with executor(jobs, ray_address, ray_task_cpus) as ex:  # first: a bad address fails before the builds
        build_scenarios(spec)
        todo, done = pending(spec, out)
        _execute(spec, out, todo, ex, on_done or (lambda t: None))
    return SuiteOutcome(out, tuple(t.key for t in todo), tuple(t.key for t in done), time.perf_counter() - t0)
