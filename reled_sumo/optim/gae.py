"""Per-agent Generalised Advantage Estimation over a flat, interleaved transition buffer.

The multi-agent buffer stores transitions in the order they were collected, so the
decisions of different agents interleave in time. Each agent's consecutive
transitions form its own trajectory; GAE must follow that trajectory only.

For transition ``t`` of agent ``a`` with successor ``t'`` (the next transition of the
same agent in the buffer)::

    V_next[t] = 0                 if terminated[t]            (true end: no bootstrap)
              = final_values[t]   if truncated[t]             (timeout: bootstrap V(final_obs))
              = values[t']        if t has a successor t'
              = last_values[a]    otherwise                   (rollout ended mid-trajectory)
    delta[t]  = rewards[t] + gamma * V_next[t] - values[t]
    A[t]      = delta[t] + gamma * lambda * link[t] * A[t']
    returns   = A + values

where ``link[t]`` is 1 when ``t`` has a successor and is not done, else 0. Terminated
wins over truncated when both are set (gymnasium convention). Bootstrapping on
truncation is SB3's timeout handling (``r += gamma * V(terminal_obs)``), folded into
``V_next``.

Vectorisation: transitions are scattered into a padded ``[n_agents, max_len]`` grid
(one row per agent, in time order) and the backward recursion runs over ``max_len``
columns, each column vectorised over all agents.
"""
from __future__ import annotations

import numpy as np


def agent_grid(agent_index: np.ndarray, n_agents: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Where each transition sits in the per-agent ``[n_agents, max_len]`` grid.

    Returns ``(row, col, max_len)``: transition ``t`` is the ``col[t]``-th decision of
    agent ``row[t] = agent_index[t]`` in this buffer.
    """
    agent_index = np.asarray(agent_index, dtype=np.int64)
    if agent_index.size and (agent_index.min() < 0 or agent_index.max() >= n_agents):
        raise ValueError(f"agent_index must lie in [0, {n_agents}), got range "
                         f"[{agent_index.min()}, {agent_index.max()}]")
    order = np.argsort(agent_index, kind="stable")  # time order kept inside each agent
    counts = np.bincount(agent_index, minlength=n_agents)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    col = np.empty_like(agent_index)
    col[order] = np.arange(agent_index.size) - starts[agent_index[order]]
    max_len = int(counts.max()) if agent_index.size else 0
    return agent_index, col, max_len


def successor_index(agent_index: np.ndarray, n_agents: int) -> np.ndarray:
    """Index of the next transition of the same agent, or -1 for an agent's last one."""
    row, col, max_len = agent_grid(agent_index, n_agents)
    grid = np.full((n_agents, max_len + 1), -1, dtype=np.int64)
    grid[row, col] = np.arange(row.size)
    return grid[row, col + 1]


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    agent_index: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    final_values: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent GAE(lambda). All per-transition arrays have shape ``[T]``.

    :param final_values: V(final_obs) of truncated transitions (ignored elsewhere).
    :param last_values: ``[n_agents]`` bootstrap value for each agent whose last
        transition in the buffer is not done; NaN is allowed for other agents.
    :return: ``(advantages, returns)``, float32 arrays of shape ``[T]``.
    :raises ValueError: an open trajectory has no finite ``last_values`` entry.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    terminated = np.asarray(terminated, dtype=bool)
    truncated = np.asarray(truncated, dtype=bool) & ~terminated
    final_values = np.asarray(final_values, dtype=np.float64)
    last_values = np.asarray(last_values, dtype=np.float64)
    n_agents = last_values.shape[0]
    done = terminated | truncated

    # 1. Value of the next state along each agent's own trajectory.
    nxt = successor_index(agent_index, n_agents)
    has_next = nxt >= 0
    open_end = ~done & ~has_next
    if np.any(open_end & ~np.isfinite(last_values[agent_index])):
        bad = np.unique(np.asarray(agent_index)[open_end & ~np.isfinite(last_values[agent_index])])
        raise ValueError(f"agents {bad.tolist()} end the rollout mid-trajectory but have no last value")
    next_values = np.zeros_like(values)
    next_values[truncated] = final_values[truncated]
    link = has_next & ~done
    next_values[link] = values[nxt[link]]
    next_values[open_end] = last_values[np.asarray(agent_index)[open_end]]

    # 2. One-step TD errors.
    deltas = rewards + gamma * next_values - values

    # 3. Backward recursion A[t] = delta[t] + gamma*lambda*link[t]*A[t'], one grid column at a time.
    row, col, max_len = agent_grid(agent_index, n_agents)
    delta_grid = np.zeros((n_agents, max_len + 1))
    coef_grid = np.zeros((n_agents, max_len + 1))
    delta_grid[row, col] = deltas
    coef_grid[row, col] = gamma * gae_lambda * link
    adv_grid = np.zeros((n_agents, max_len + 1))
    for j in range(max_len - 1, -1, -1):
        adv_grid[:, j] = delta_grid[:, j] + coef_grid[:, j] * adv_grid[:, j + 1]
    advantages = adv_grid[row, col]
    returns = advantages + values
    return advantages.astype(np.float32), returns.astype(np.float32)
