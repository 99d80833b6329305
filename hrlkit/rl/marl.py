"""Multi-agent PPO pieces (MAPPO, Yu et al. 2022, arXiv 2103.01955) and attention over entities.

MAPPO = PPO with centralised training and decentralised execution:

* one **parameter-shared actor** for all agents, its input = the agent's local observation + a one-hot agent id
  (:func:`with_agent_ids`, :class:`SharedActor`);
* a **centralised critic** on the global state (+ agent id) giving one value per agent (:class:`CentralCritic`);
* **per-agent GAE**: each agent's advantage from its own value and reward stream (:func:`per_agent_gae`);
* minibatches that keep each agent's time sequence whole when the policy is recurrent
  (:func:`sequence_minibatches`), otherwise flat minibatches over (time, env, agent) samples.

:class:`EntityAttention` is the "attention over the global state" block (Iqbal & Sha 2019, MAAC; transformer-style
set encoders): the query is one agent's embedding, keys/values are the embeddings of all entities (agents and
resources), so an agent's network size does not depend on how many entities there are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hrlkit.rl.core import compute_gae, layer_init

__all__ = ["with_agent_ids", "per_agent_gae", "sequence_minibatches", "mlp", "SharedActor", "CentralCritic",
           "EntityAttention"]


def with_agent_ids(obs: Tensor) -> Tensor:
    """``(..., A, d)`` → ``(..., A, d + A)``: append each agent's one-hot id (parameter sharing, MAPPO §3)."""
    n_agents = obs.shape[-2]
    ids = torch.eye(n_agents, dtype=obs.dtype, device=obs.device).expand(*obs.shape[:-1], n_agents)
    return torch.cat([obs, ids], dim=-1)


def per_agent_gae(rewards: Tensor, values: Tensor, episode_starts: Tensor, last_values: Tensor,
                  last_episode_starts: Tensor, gamma: float, gae_lambda: float) -> tuple[Tensor, Tensor]:
    """GAE for every (env, agent) stream: :func:`hrlkit.rl.core.compute_gae` with the agents as extra envs.

    Args:
        rewards, values: ``(T, N, A)``; a shared team reward may be broadcast to ``(T, N, A)`` by the caller.
        episode_starts: ``(T, N)`` (all agents of an env start episodes together).
        last_values: ``(N, A)``; last_episode_starts: ``(N,)``.

    Returns ``(advantages, returns)``, ``(T, N, A)``.
    """
    if rewards.ndim != 3 or values.shape != rewards.shape:
        raise ValueError(f"per_agent_gae: rewards and values must be (T, N, A); got {tuple(rewards.shape)}, "
                         f"{tuple(values.shape)}")
    t, n, a = rewards.shape
    if episode_starts.shape != (t, n) or last_values.shape != (n, a) or last_episode_starts.shape != (n,):
        raise ValueError("per_agent_gae: episode_starts (T, N), last_values (N, A), last_episode_starts (N,) expected")
    starts = episode_starts[..., None].expand(t, n, a).reshape(t, n * a)
    last_starts = last_episode_starts[:, None].expand(n, a).reshape(n * a)
    adv, ret = compute_gae(rewards.reshape(t, n * a), values.reshape(t, n * a), starts,
                           last_values.reshape(n * a), last_starts, gamma, gae_lambda)
    return adv.reshape(t, n, a), ret.reshape(t, n, a)


def sequence_minibatches(num_envs: int, num_agents: int, num_minibatches: int,
                         generator: torch.Generator) -> list[tuple[Tensor, Tensor]]:
    """Recurrent-policy minibatches: shuffle whole (env, agent) sequences, keep time order inside each.

    Returns ``num_minibatches`` pairs ``(env_index, agent_index)``; index a ``(T, N, A, ...)`` buffer with
    ``buffer[:, env_index, agent_index]`` to get ``(T, B, ...)`` sequences for a recurrent forward pass.
    """
    total = num_envs * num_agents
    if not 1 <= num_minibatches <= total:
        raise ValueError(f"sequence_minibatches: num_minibatches must be in [1, {total}]; got {num_minibatches}")
    perm = torch.randperm(total, generator=generator)
    return [(chunk // num_agents, chunk % num_agents) for chunk in perm.tensor_split(num_minibatches)]


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh, out_gain: float = 1.0) -> nn.Sequential:
    """Linear layers with ``activation`` between them, :func:`hrlkit.rl.core.layer_init` (gain √2, last ``out_gain``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(layer_init(nn.Linear(a, b), out_gain if last else 2 ** 0.5))
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


class SharedActor(nn.Module):
    """One actor for every agent: ``logits_i = f([o_i, onehot(i)])`` (or an extra conditioning input)."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.net = mlp([obs_dim + n_agents, *hidden, n_actions], out_gain=0.01)

    def forward(self, obs: Tensor) -> Tensor:
        """``(..., A, obs_dim)`` → logits ``(..., A, n_actions)``."""
        if obs.shape[-2] != self.n_agents:
            raise ValueError(f"SharedActor built for {self.n_agents} agents, got {obs.shape[-2]}")
        return self.net(with_agent_ids(obs))


class CentralCritic(nn.Module):
    """Centralised value: ``V_i = g([S, onehot(i)])`` from the global state, one value per agent."""

    def __init__(self, state_dim: int, n_agents: int, hidden: Sequence[int] = (128, 128), n_outputs: int = 1) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.net = mlp([state_dim + n_agents, *hidden, n_outputs], out_gain=1.0)

    def forward(self, state: Tensor) -> Tensor:
        """``(..., state_dim)`` → ``(..., A, n_outputs)``."""
        per_agent = state[..., None, :].expand(*state.shape[:-1], self.n_agents, state.shape[-1])
        return self.net(with_agent_ids(per_agent))


class EntityAttention(nn.Module):
    """Multi-head attention of each agent over a set of entities, with a residual MLP (a transformer block).

    ``queries`` ``(B, A, d_model)`` (one per agent), ``entities`` ``(B, E, d_model)``, optional ``entity_mask``
    ``(B, E)`` (True = present). Output ``(B, A, d_model)``. The parameter count depends on ``d_model`` and
    ``n_heads`` only, never on A or E.
    """

    def __init__(self, d_model: int, n_heads: int = 4) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 2 * d_model), nn.GELU(),
                                nn.Linear(2 * d_model, d_model))

    def forward(self, queries: Tensor, entities: Tensor, entity_mask: Tensor | None = None,
                return_weights: bool = False):
        kv = self.norm_kv(entities)
        pad = None if entity_mask is None else ~entity_mask.bool()
        attended, weights = self.attn(self.norm_q(queries), kv, kv, key_padding_mask=pad, need_weights=True)
        x = queries + attended
        x = x + self.ff(x)
        return (x, weights) if return_weights else x
