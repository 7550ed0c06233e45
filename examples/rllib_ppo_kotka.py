"""Train RLlib PPO (new API stack) with one shared, action-masked policy on the bundled city Kotka.

    pip install -e ".[rllib]"
    python examples/rllib_ppo_kotka.py --agents 10 --iterations 5
    python examples/rllib_ppo_kotka.py --agents 10 --iterations 3 --horizon 900 --reference --json

What it does:

1. loads the scenario ``kotka`` from ``$RELED_HOME`` (``--scenario`` takes another name or a
   folder); builds the bundled city first when it is not built yet (as
   ``reled scenario build kotka`` does, about a minute);
2. ``--reference``: first plays ``--batch`` env steps of the same env through the RLlib
   adapter in this process without RLlib (a uniformly random valid action per decision, as an
   untrained masked policy acts): the env's own speed, so an iteration's speed reads as a ratio;
3. starts a local Ray (``--num-cpus``), builds the PPO config of
   :func:`reled_sumo.integrations.rllib.build_ppo_config` (every agent mapped to the policy
   ``"shared"``; ``--env-runners`` Ray actors sample episodes, one libsumo simulation each; the
   learner runs in this process) and calls ``algo.train()`` ``--iterations`` times;
4. prints per iteration: wall seconds of ``algo.train()``, env steps sampled (one env step =
   one adapter step, in which one or more agents decide), agent steps (decisions), the mean
   episode return (sum over agents; "-" until an episode has ended), PPO's losses, and RLlib's
   sampling / learner timers (RLlib averages them over the iterations; exact in the first);
5. ``--checkpoint DIR`` saves the trained algorithm (``Algorithm.from_checkpoint(DIR)`` loads it).
"""
from __future__ import annotations

import argparse
import json
import logging
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="kotka", help="built scenario name or folder (kotka is built if missing)")
    p.add_argument("--agents", type=int, default=10, help="controlled vehicles (the scenario's first N by departure)")
    p.add_argument("--horizon", type=float, default=None, help="simulated seconds per episode (default: the scenario's)")
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--env-runners", type=int, default=1, help="Ray actors sampling episodes (0: in this process)")
    p.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    p.add_argument("--batch", type=int, default=1000, help="env steps per training batch")
    p.add_argument("--minibatch", type=int, default=128)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-threads", type=int, default=1, help="torch threads of the learner (this process)")
    p.add_argument("--reference", action="store_true", help="first time --batch env steps of the env alone (no RLlib)")
    p.add_argument("--checkpoint", default=None, help="save the trained algorithm to this folder")
    p.add_argument("--json", action="store_true", help="print one JSON object per line instead of text")
    return p


def load_or_build(name_or_folder: str):
    """The built scenario; the bundled city of that name is built first when it is not built yet."""
    from reled_sumo.errors import ScenarioNotBuiltError
    from reled_sumo.scenario import resolve_scenario
    from reled_sumo.scenario.build import BuildRequest, build
    from reled_sumo.scenario.registry import bundled, get_recipe

    try:
        return resolve_scenario(name_or_folder)
    except ScenarioNotBuiltError:
        if name_or_folder not in bundled():
            raise
        print(f"building the bundled city {name_or_folder} (about a minute) ...", flush=True)
        return build(BuildRequest.bundled(get_recipe(name_or_folder))).scenario


def reference_run(env_config: dict, env_steps: int, seed: int) -> dict:
    """The same env through the adapter, no RLlib: episodes with a uniformly random valid action
    per decision (what an untrained masked policy does) until ``env_steps`` env steps, resets
    included. Env steps per wall second: the speed RLlib's sampling could reach at most."""
    import numpy as np

    from reled_sumo.integrations.multiagent import ALL, MASK_KEY, RoutingMultiAgentEnv, env_from_config

    rng = np.random.default_rng(seed)
    env = RoutingMultiAgentEnv(env_from_config(env_config))
    t0 = time.perf_counter()
    steps = decisions = episodes = 0
    obs, infos = env.reset(seed=seed)
    while steps < env_steps:
        acting = [a for a, i in infos.items() if i["needs_decision"]]
        actions = {}
        if acting:
            mask = np.stack([obs[a][MASK_KEY] for a in acting]) > 0
            actions = dict(zip(acting, np.where(mask, rng.random(mask.shape), -1.0).argmax(axis=1).tolist()))
        decisions += len(actions)
        obs, _, term, trunc, infos = env.step(actions)
        steps += 1
        if term[ALL] or trunc[ALL]:
            episodes += 1
            obs, infos = env.reset()
    wall = time.perf_counter() - t0
    env.close()
    return {"reference_env_steps": steps, "reference_decisions": decisions, "reference_episodes": episodes,
            "reference_wall_s": round(wall, 3), "reference_env_steps_per_s": round(steps / wall, 1)}


def _summary(i: int, wall: float, r: dict) -> dict:
    er, losses, timers = r.get("env_runners", {}), r.get("learners", {}).get("shared", {}), r.get("timers", {})
    agent_steps = er.get("num_agent_steps_sampled", {})
    ret = er.get("episode_return_mean")
    return {
        "iteration": i, "wall_s": round(wall, 3), "env_steps": int(er.get("num_env_steps_sampled", 0)),
        "agent_steps": int(sum(agent_steps.values())) if isinstance(agent_steps, dict) else int(agent_steps),
        "episodes": int(er.get("num_episodes", 0)),
        "episode_return_mean": None if ret is None else round(float(ret), 3),
        **{k: round(float(losses[k]), 4) for k in ("policy_loss", "vf_loss", "entropy") if k in losses},
        # RLlib's own timers: a moving average over the iterations so far (exact in the first one)
        "sample_s_avg": round(float(timers.get("env_runner_sampling_timer", float("nan"))), 3),
        "learn_s_avg": round(float(timers.get("learner_update_timer", float("nan"))), 3),
    }


def _print(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
        return
    if "iteration" not in row:
        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        return
    ret = "-" if row["episode_return_mean"] is None else f"{row['episode_return_mean']:.2f}"
    rate = row["env_steps"] / max(row["wall_s"], 1e-9)
    print(f"iter {row['iteration']}: {row['wall_s']:.2f} s, {row['env_steps']} env steps ({rate:.0f}/s), "
          f"{row['agent_steps']} agent steps, mean return {ret}, policy loss {row.get('policy_loss')}, "
          f"vf loss {row.get('vf_loss')}, entropy {row.get('entropy')} (RLlib timers, moving average: sampling "
          f"{row['sample_s_avg']} s, learner {row['learn_s_avg']} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.torch_threads)
    import ray

    from reled_sumo.integrations.rllib import build_ppo_config, env_config_for

    sc = load_or_build(args.scenario)
    env_options = {"horizon": args.horizon} if args.horizon is not None else {}
    if args.reference:
        env_config, _ = env_config_for(sc, args.agents, env_options)
        ref = reference_run(env_config, args.batch, args.seed)
        _print(ref, args.json)
    config = build_ppo_config(sc, agents=args.agents, env_options=env_options, num_env_runners=args.env_runners,
                              train_batch_size=args.batch, minibatch_size=args.minibatch, num_epochs=args.epochs,
                              lr=args.lr, seed=args.seed)
    ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        t0 = time.perf_counter()
        algo = config.build_algo()
        _print({"build_algo_s": round(time.perf_counter() - t0, 3)}, args.json)
        rows = []
        for i in range(1, args.iterations + 1):
            t = time.perf_counter()
            result = algo.train()
            rows.append(_summary(i, time.perf_counter() - t, result))
            _print(rows[-1], args.json)
        walls = [r["wall_s"] for r in rows]
        steps = sum(r["env_steps"] for r in rows)
        total = {"iterations": len(rows), "mean_wall_s": round(sum(walls) / len(walls), 3),
                 "env_steps_per_s": round(steps / sum(walls), 1)}
        if args.reference:
            total["iteration_vs_reference"] = round(total["env_steps_per_s"] / ref["reference_env_steps_per_s"], 3)
        _print(total, args.json)
        if args.checkpoint:
            algo.save_to_path(args.checkpoint)
        algo.stop()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
