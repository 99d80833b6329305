"""A mini-Dreamer agent for vectorised environments: filtering, acting, replay and the training step.

One object holds the world model (:class:`hrlkit.mbrl.world_model.WorldModel`), the imagination actor–critic
(:class:`hrlkit.mbrl.behavior.ImaginationActorCritic`) and the sequence replay
(:class:`hrlkit.mbrl.replay.SequenceReplay`). A notebook's loop is

    state = agent.filter(obs)                 # posterior s_t = q(z_t | h_t, x_t), h_t = f(h_{t−1}, z_{t−1}, a_{t−1})
    actions = agent.act(state)                # π(a | s_t), or the notebook's own controller (a planner)
    obs, r, term, trunc, info = env.step(actions)
    agent.record(actions, r, term, trunc, obs, info.get("final_obs"))
    agent.train_due()                         # one update per ``train_every`` environment steps after the prefill

Every update trains the world model on ``batch`` replayed windows of ``seq_len`` rows, then the actor and critic in
imagination from ``imagine_starts`` of the posterior states of those windows (DreamerV3's schedule, at small size).
The first ``prefill`` environment steps act uniformly at random (:meth:`MiniDreamer.act` does this itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hrlkit.mbrl.behavior import ImaginationActorCritic
from hrlkit.mbrl.replay import SequenceReplay
from hrlkit.mbrl.rssm import RSSMState
from hrlkit.mbrl.world_model import WorldModel

__all__ = ["DreamerConfig", "LatentTracker", "MiniDreamer", "select_states", "flatten_states"]


@dataclass(frozen=True)
class DreamerConfig:
    """Sizes and step sizes of :class:`MiniDreamer` (defaults: the small model the maze pilots used)."""

    embed: int = 64
    deter: int = 64
    stoch: int = 16
    hidden: int = 64
    model_lr: float = 1e-3
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    entropy_coef: float = 3e-3
    horizon: int = 15
    gamma: float = 0.97
    lam: float = 0.95
    seq_len: int = 32
    batch: int = 16
    imagine_starts: int = 128
    train_every: int = 16
    prefill: int = 1000
    grad_clip: float = 100.0

    def __post_init__(self) -> None:
        for name in ("embed", "deter", "stoch", "hidden", "horizon", "seq_len", "batch", "imagine_starts",
                     "train_every"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"DreamerConfig.{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.prefill, int) and self.prefill >= 0):
            raise ValueError(f"DreamerConfig.prefill must be a non-negative integer, got {self.prefill!r}")
        for name in ("model_lr", "actor_lr", "critic_lr", "grad_clip"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"DreamerConfig.{name} must be a positive finite number, got {value!r}")
        if not (0 < self.gamma <= 1 and 0 <= self.lam <= 1 and self.entropy_coef >= 0):
            raise ValueError(f"DreamerConfig needs 0 < gamma <= 1, 0 <= lam <= 1, entropy_coef >= 0, got "
                             f"{self.gamma!r}, {self.lam!r}, {self.entropy_coef!r}")


def select_states(state: RSSMState, index) -> RSSMState:
    """The rows ``index`` of a batch of states (B, ·)."""
    return state.map(lambda t: t[index])


def flatten_states(state: RSSMState) -> RSSMState:
    """States (T, B, ·) as one batch (T·B, ·)."""
    return state.map(lambda t: t.reshape(-1, t.shape[-1]))


class LatentTracker:
    """The posterior state of ``n`` running episodes: s_t from s_{t−1}, a_{t−1} and x_t, restarting from zeros
    where an episode starts. The agent keeps one for its training environments; an evaluation keeps its own."""

    def __init__(self, world_model: WorldModel, n: int, generator: torch.Generator | None = None) -> None:
        self.world_model, self.n, self.generator = world_model, n, generator
        self.n_actions = world_model.rssm.action_dim
        self.begin()

    def begin(self) -> None:
        self.state = self.world_model.rssm.initial(self.n)
        self.prev_action = np.zeros((self.n, self.n_actions), dtype=np.float32)
        self.first = np.ones(self.n, dtype=np.float32)

    @torch.no_grad()
    def filter(self, obs: np.ndarray) -> RSSMState:
        """s_t = (h_t, z_t ~ q(z | h_t, x_t)), h_t = f(h_{t−1}, z_{t−1}, a_{t−1}); zeros before an episode's x_0."""
        embed = self.world_model.encoder(torch.as_tensor(obs, dtype=torch.float32))
        self.state = self.world_model.rssm.filter_step(self.state, torch.as_tensor(self.prev_action), embed,
                                                       torch.as_tensor(self.first), self.generator)
        return self.state

    def advance(self, actions: np.ndarray, done: np.ndarray) -> None:
        """After a step: remember a_t, and restart where the episode ended (the next filter step zeroes it there)."""
        self.first = np.asarray(done, dtype=np.float32)
        self.prev_action = np.eye(self.n_actions, dtype=np.float32)[np.asarray(actions)] * (1.0 - self.first[:, None])


class MiniDreamer:
    """World model + imagination actor–critic + replay for ``n_envs`` environments (module docstring)."""

    def __init__(self, obs_dim: int, n_actions: int, n_envs: int, capacity: int, config: DreamerConfig,
                 seed: int) -> None:
        if not (isinstance(capacity, int) and capacity >= config.seq_len):
            raise ValueError(f"capacity (rows per environment) must be an integer >= seq_len = {config.seq_len}, "
                             f"got {capacity!r}")
        self.config, self.n_actions, self.n_envs = config, n_actions, n_envs
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.world_model = WorldModel(obs_dim, n_actions, embed=config.embed, deter=config.deter,
                                      stoch=config.stoch, hidden=config.hidden)
        self.model_opt = torch.optim.Adam(self.world_model.parameters(), lr=config.model_lr, eps=1e-8)
        self.behavior = ImaginationActorCritic(
            config.deter + config.stoch, n_actions, hidden=config.hidden, horizon=config.horizon,
            gamma=config.gamma, lam=config.lam, entropy_coef=config.entropy_coef, actor_lr=config.actor_lr,
            critic_lr=config.critic_lr, grad_clip=config.grad_clip)
        self.replay = SequenceReplay(n_envs, capacity, obs_dim, n_actions)
        self.env_steps = 0
        self.updates = 0
        self._due = 0
        self.tracker = LatentTracker(self.world_model, n_envs, self.generator)

    @property
    def actor(self):
        return self.behavior.actor

    @property
    def learning(self) -> bool:
        """True once the prefill is over: the actor acts and updates run."""
        return self.env_steps >= self.config.prefill

    def begin(self, obs: np.ndarray) -> None:
        """The first observations (n, d) of every environment."""
        self.replay.start(obs)
        self.tracker.begin()

    def filter(self, obs: np.ndarray) -> RSSMState:
        return self.tracker.filter(obs)

    @torch.no_grad()
    def act(self, state: RSSMState) -> np.ndarray:
        """Action indices (n,): uniform during the prefill, then sampled from the actor."""
        if not self.learning:
            return self.rng.integers(self.n_actions, size=self.n_envs)
        return self.actor.sample(state.features, self.generator).argmax(-1).numpy()

    def record(self, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               next_obs: np.ndarray, final_obs: np.ndarray | None = None) -> None:
        """Store one transition of every environment (see :meth:`SequenceReplay.step`)."""
        self.replay.step(actions, rewards, terminated, truncated, next_obs, final_obs)
        self.tracker.advance(actions, np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool))
        self.env_steps += self.n_envs
        self._due += max(0, self.env_steps - max(self.config.prefill, self.env_steps - self.n_envs))

    def train_due(self) -> list[dict[str, float]]:
        """Every update owed by the environment steps since the last call (one per ``train_every`` steps)."""
        logs = []
        while self._due >= self.config.train_every and self.replay.count.min() >= self.config.seq_len:
            self._due -= self.config.train_every
            logs.append(self.train_step())
        return logs

    def train_step(self) -> dict[str, float]:
        """One world-model step on replayed windows, then one actor–critic step imagined from their states."""
        c = self.config
        batch = self.replay.sample(c.batch, c.seq_len, self.rng)
        loss, parts, post = self.world_model.loss(batch["obs"], batch["action"], batch["reward"], batch["cont"],
                                                  batch["first"], self.generator)
        self.model_opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.world_model.parameters(), c.grad_clip)
        self.model_opt.step()
        parts.update(self.after_model_step(batch, post))
        flat = flatten_states(post)
        chosen = torch.randperm(flat.deter.shape[0], generator=self.generator)[:c.imagine_starts]
        parts.update(self.behavior.train(self.imagination_model(), select_states(flat, chosen), self.generator))
        self.updates += 1
        return parts

    def after_model_step(self, batch: dict, posterior: RSSMState) -> dict[str, float]:
        """A subclass's extra learning on the same replayed windows (e.g. a curiosity ensemble); none here."""
        return {}

    def imagination_model(self):
        """What the actor-critic imagines with: the world model, or a subclass's wrapper that changes the reward."""
        return self.world_model
