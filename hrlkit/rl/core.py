"""PPO / actor-critic core shared by the hrl-repro notebooks.

Contents
--------
* :func:`compute_gae` -- generalised advantage estimation (Schulman et al. 2016),
  CleanRL / stable-baselines3 convention for episode boundaries.
* :class:`PPOConfig`, :func:`ppo_loss`, :func:`minibatch_indices`, :func:`ppo_update` --
  the clipped-surrogate PPO update (Schulman et al. 2017) with PPO2/CleanRL value clipping.
* Distribution heads (:class:`CategoricalHead`, :class:`GaussianHead`, :class:`BetaHead`),
  :func:`log_prob_and_entropy`, and :class:`ActorCritic` (separate actor / critic MLPs with
  CleanRL's orthogonal initialisation).
* :class:`RunningMeanStd` (Chan et al. parallel variance update) and :func:`explained_variance`.

Everything is pure torch (numpy only where stated), holds no global state, and is deterministic
given the torch / numpy seeds (or the explicit ``torch.Generator`` arguments).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Beta, Categorical, Distribution, Normal

__all__ = [
    "compute_gae",
    "PPOConfig",
    "ppo_loss",
    "minibatch_indices",
    "ppo_update",
    "CategoricalHead",
    "GaussianHead",
    "BetaHead",
    "log_prob_and_entropy",
    "sample_action",
    "mode_action",
    "layer_init",
    "ActorCritic",
    "RunningMeanStd",
    "explained_variance",
    "HEADS",
    "BETA_EPS",
]

#: Actions of a Beta head are clamped to ``[BETA_EPS, 1 - BETA_EPS]`` before ``log_prob``.
BETA_EPS: float = 1e-6

#: Allowed values of ``ActorCritic(head=...)``.
HEADS: tuple[str, ...] = ("categorical", "gaussian", "beta")


# --------------------------------------------------------------------------------------
# Generalised advantage estimation
# --------------------------------------------------------------------------------------


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    episode_starts: Tensor,
    last_values: Tensor,
    last_episode_starts: Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016), CleanRL / SB3 convention.

    Args:
        rewards: ``(T, N)`` rewards ``r_t``.
        values: ``(T, N)`` value estimates ``V(s_t)``.
        episode_starts: ``(T, N)``; ``episode_starts[t] = 1.0`` when observation ``t`` is the
            first of a new episode (so step ``t-1`` ended an episode).
        last_values: ``(N,)`` value of the observation after the last step, ``V(s_T)``.
        last_episode_starts: ``(N,)``; whether that observation starts a new episode.
        gamma: discount factor.
        gae_lambda: GAE ``lambda``.

    Implements, backwards in time, with ``start_T = last_episode_starts`` and
    ``V(s_T) = last_values``::

        delta_t = r_t + gamma * V(s_{t+1}) * (1 - start_{t+1}) - V(s_t)
        A_t     = delta_t + gamma * lambda * (1 - start_{t+1}) * A_{t+1},   A_T = 0
        R_t     = A_t + V(s_t)          (TD(lambda) return)

    Truncation bootstrapping is the caller's job (add ``gamma * V(final obs)`` to the reward of
    the truncated step, as SB3 does).

    Returns:
        ``(advantages, returns)``, both ``(T, N)``, dtype of ``values``.
    """
    if rewards.ndim != 2 or values.shape != rewards.shape or episode_starts.shape != rewards.shape:
        raise ValueError(
            "compute_gae: rewards, values, episode_starts must all have shape (T, N); got "
            f"{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(episode_starts.shape)}"
        )
    num_steps, num_envs = rewards.shape
    if last_values.reshape(-1).shape[0] != num_envs or last_episode_starts.reshape(-1).shape[0] != num_envs:
        raise ValueError(
            f"compute_gae: last_values and last_episode_starts must have shape ({num_envs},); got "
            f"{tuple(last_values.shape)}, {tuple(last_episode_starts.shape)}"
        )
    dtype = values.dtype
    rewards = rewards.to(dtype)
    starts = episode_starts.to(dtype)
    last_values = last_values.reshape(-1).to(dtype)
    last_starts = last_episode_starts.reshape(-1).to(dtype)

    advantages = torch.zeros_like(values)
    last_gae = torch.zeros(num_envs, dtype=dtype, device=values.device)
    for t in reversed(range(num_steps)):
        if t == num_steps - 1:
            next_non_terminal = 1.0 - last_starts
            next_values = last_values
        else:
            next_non_terminal = 1.0 - starts[t + 1]
            next_values = values[t + 1]
        # delta_t = r_t + gamma * V(s_{t+1}) * (1 - start_{t+1}) - V(s_t)
        delta = rewards[t] + gamma * next_values * next_non_terminal - values[t]
        # A_t = delta_t + gamma * lambda * (1 - start_{t+1}) * A_{t+1}
        last_gae = delta + gamma * gae_lambda * next_non_terminal * last_gae
        advantages[t] = last_gae
    # R_t = A_t + V(s_t)
    returns = advantages + values
    return advantages, returns


# --------------------------------------------------------------------------------------
# PPO
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of the PPO update (defaults follow CleanRL's ``ppo.py``).

    Attributes:
        clip_coef: surrogate clipping ``epsilon`` (also used for value clipping); ``> 0``.
        clip_vloss: clip the value loss as in PPO2 / CleanRL.
        ent_coef: entropy bonus coefficient; ``>= 0``.
        vf_coef: value-loss coefficient; ``>= 0``.
        max_grad_norm: global gradient-norm clip; ``> 0``.
        update_epochs: passes over the batch; ``>= 1``.
        num_minibatches: minibatches per epoch; ``>= 1``.
        norm_adv: per-minibatch advantage normalisation.
        target_kl: stop the remaining epochs once an epoch's mean approx KL exceeds it; ``None``
            disables; otherwise ``> 0``.
    """

    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    update_epochs: int = 4
    num_minibatches: int = 4
    norm_adv: bool = True
    target_kl: float | None = None

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, requirement: str) -> None:
            if not ok:
                raise ValueError(f"PPOConfig.{name} must be {requirement}; got {getattr(self, name)!r}")

        def finite(x: Any) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

        check("clip_coef", finite(self.clip_coef) and self.clip_coef > 0, "a finite float > 0")
        check("ent_coef", finite(self.ent_coef) and self.ent_coef >= 0, "a finite float >= 0")
        check("vf_coef", finite(self.vf_coef) and self.vf_coef >= 0, "a finite float >= 0")
        check("max_grad_norm", finite(self.max_grad_norm) and self.max_grad_norm > 0, "a finite float > 0")
        check(
            "update_epochs",
            isinstance(self.update_epochs, int) and not isinstance(self.update_epochs, bool) and self.update_epochs >= 1,
            "an int >= 1",
        )
        check(
            "num_minibatches",
            isinstance(self.num_minibatches, int)
            and not isinstance(self.num_minibatches, bool)
            and self.num_minibatches >= 1,
            "an int >= 1",
        )
        check("clip_vloss", isinstance(self.clip_vloss, bool), "a bool")
        check("norm_adv", isinstance(self.norm_adv, bool), "a bool")
        check(
            "target_kl",
            self.target_kl is None or (finite(self.target_kl) and self.target_kl > 0),
            "None or a finite float > 0",
        )


def ppo_loss(
    new_logprob: Tensor,
    old_logprob: Tensor,
    advantages: Tensor,
    new_values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    entropy: Tensor,
    cfg: PPOConfig,
) -> tuple[Tensor, dict[str, float]]:
    """Clipped surrogate objective (Schulman et al. 2017, Eq. 7), clipped value loss, entropy bonus.

    All tensor arguments are ``(B,)``; ``new_logprob``, ``new_values`` and ``entropy`` carry the
    gradient, the others are treated as constants. ``eps = cfg.clip_coef``::

        A       <- (A - mean(A)) / (std(A) + 1e-8)          if cfg.norm_adv (unbiased std)
        ratio   = exp(new_logprob - old_logprob)
        L_pi    = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))
        L_v     = 0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))  if clip_vloss
                  0.5 * mean((V - R)^2)                                                   otherwise
        loss    = L_pi - ent_coef * mean(entropy) + vf_coef * L_v

    Advantage normalisation is skipped for a single-sample minibatch (its unbiased std is
    undefined).

    Returns:
        ``(loss, stats)``; stats holds floats ``policy_loss``, ``value_loss``, ``entropy``,
        ``approx_kl`` (``mean((ratio - 1) - log ratio)``, Schulman's k3 estimator) and
        ``clipfrac`` (fraction of samples with ``|ratio - 1| > eps``).
    """
    eps = cfg.clip_coef
    advantages = advantages.detach()
    old_logprob = old_logprob.detach()
    old_values = old_values.detach()
    returns = returns.detach()

    if cfg.norm_adv and advantages.numel() > 1:
        # A <- (A - mean(A)) / (std(A) + 1e-8)
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

    # log ratio = log pi_new(a|s) - log pi_old(a|s);  ratio = exp(log ratio)
    log_ratio = new_logprob - old_logprob
    ratio = log_ratio.exp()

    # L_pi = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))
    pg_loss_unclipped = -advantages * ratio
    pg_loss_clipped = -advantages * torch.clamp(ratio, 1.0 - eps, 1.0 + eps)
    policy_loss = torch.max(pg_loss_unclipped, pg_loss_clipped).mean()

    new_values = new_values.reshape(-1)
    if cfg.clip_vloss:
        # L_v = 0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))
        v_loss_unclipped = (new_values - returns) ** 2
        v_clipped = old_values + torch.clamp(new_values - old_values, -eps, eps)
        v_loss_clipped = (v_clipped - returns) ** 2
        value_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    else:
        # L_v = 0.5 * mean((V - R)^2)
        value_loss = 0.5 * ((new_values - returns) ** 2).mean()

    entropy_mean = entropy.mean()
    # loss = L_pi - ent_coef * mean(entropy) + vf_coef * L_v
    loss = policy_loss - cfg.ent_coef * entropy_mean + cfg.vf_coef * value_loss

    with torch.no_grad():
        # approx KL(old || new) ~= mean((ratio - 1) - log ratio)   (k3 estimator)
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clipfrac = ((ratio - 1.0).abs() > eps).float().mean()
    stats = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy_mean.item(),
        "approx_kl": approx_kl.item(),
        "clipfrac": clipfrac.item(),
    }
    return loss, stats


def minibatch_indices(batch_size: int, num_minibatches: int, generator: torch.Generator) -> list[Tensor]:
    """A random permutation of ``range(batch_size)`` split into ``num_minibatches`` chunks.

    Every chunk has ``batch_size // num_minibatches`` indices except the last, which also takes
    the remainder. Reproducible for a seeded (CPU) ``generator``.
    """
    if batch_size < 1:
        raise ValueError(f"minibatch_indices: batch_size must be >= 1; got {batch_size}")
    if not 1 <= num_minibatches <= batch_size:
        raise ValueError(
            f"minibatch_indices: num_minibatches must be in [1, batch_size={batch_size}]; got {num_minibatches}"
        )
    perm = torch.randperm(batch_size, generator=generator)
    size = batch_size // num_minibatches
    chunks = [perm[i * size : (i + 1) * size] for i in range(num_minibatches - 1)]
    chunks.append(perm[(num_minibatches - 1) * size :])
    return chunks


_BATCH_KEYS: tuple[str, ...] = ("obs", "actions", "logprobs", "advantages", "returns", "values")


def ppo_update(
    model: "ActorCritic",
    optimizer: torch.optim.Optimizer,
    batch: dict[str, Tensor],
    cfg: PPOConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """Run ``cfg.update_epochs`` epochs of minibatch PPO on a flattened rollout batch.

    Args:
        model: an ``nn.Module`` with ``evaluate(obs, actions) -> (logprob, entropy, value)``
            (e.g. :class:`ActorCritic`); its ``parameters()`` are gradient-clipped.
        optimizer: optimiser over the model's parameters.
        batch: ``obs (B, obs_dim)``, ``actions (B, ...)``, ``logprobs (B,)``, ``advantages (B,)``,
            ``returns (B,)``, ``values (B,)`` -- the rollout-time quantities.
        cfg: :class:`PPOConfig`.
        generator: CPU generator for the minibatch permutations.

    For each epoch, for each minibatch: ``evaluate`` -> :func:`ppo_loss` -> ``backward`` ->
    ``clip_grad_norm_(max_grad_norm)`` -> ``step``. If ``cfg.target_kl`` is set, the remaining
    epochs are skipped once an epoch's mean ``approx_kl`` exceeds it.

    Returns:
        Mean over the minibatches of the last epoch run of the :func:`ppo_loss` stats, plus
        ``explained_variance`` (rollout ``values`` vs ``returns``), ``grad_norm`` (mean pre-clip
        norm), ``epochs_run`` and ``early_stopped`` (1.0 / 0.0).

    Raises:
        FloatingPointError: ``"ppo_update: non-finite loss at epoch e minibatch m"`` (0-based)
            before the offending backward pass, so the parameters are left untouched by it.
    """
    missing = [k for k in _BATCH_KEYS if k not in batch]
    if missing:
        raise KeyError(f"ppo_update: batch is missing keys {missing}; required {list(_BATCH_KEYS)}")
    batch_size = batch["obs"].shape[0]
    for key in _BATCH_KEYS:
        if batch[key].shape[0] != batch_size:
            raise ValueError(
                f"ppo_update: batch[{key!r}] has leading dim {batch[key].shape[0]}, expected {batch_size}"
            )

    params = list(model.parameters())
    epoch_stats: list[dict[str, float]] = []
    epochs_run = 0
    early_stopped = False
    for epoch in range(cfg.update_epochs):
        epoch_stats = []
        for mb, idx in enumerate(minibatch_indices(batch_size, cfg.num_minibatches, generator)):
            idx = idx.to(batch["obs"].device)
            new_logprob, entropy, new_values = model.evaluate(batch["obs"][idx], batch["actions"][idx])
            loss, stats = ppo_loss(
                new_logprob,
                batch["logprobs"][idx],
                batch["advantages"][idx],
                new_values,
                batch["values"][idx],
                batch["returns"][idx],
                entropy,
                cfg,
            )
            if not torch.isfinite(loss).item():
                raise FloatingPointError(f"ppo_update: non-finite loss at epoch {epoch} minibatch {mb}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            stats["grad_norm"] = float(grad_norm)
            epoch_stats.append(stats)
        epochs_run += 1
        mean_kl = sum(s["approx_kl"] for s in epoch_stats) / len(epoch_stats)
        if cfg.target_kl is not None and mean_kl > cfg.target_kl:
            early_stopped = True
            break

    result = {k: sum(s[k] for s in epoch_stats) / len(epoch_stats) for k in epoch_stats[0]}
    result["explained_variance"] = explained_variance(batch["values"], batch["returns"])
    result["epochs_run"] = float(epochs_run)
    result["early_stopped"] = float(early_stopped)
    return result


# --------------------------------------------------------------------------------------
# Distribution heads
# --------------------------------------------------------------------------------------


def layer_init(layer: nn.Linear, gain: float = math.sqrt(2.0), bias: float = 0.0) -> nn.Linear:
    """CleanRL's init: orthogonal weights with ``gain``, constant bias. Returns ``layer``."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


class CategoricalHead(nn.Module):
    """``features -> Categorical(logits = W x + b)`` over ``n_actions`` actions."""

    def __init__(self, in_dim: int, n_actions: int, gain: float = 0.01) -> None:
        super().__init__()
        self.logits = layer_init(nn.Linear(in_dim, n_actions), gain)

    def distribution(self, features: Tensor) -> Categorical:
        return Categorical(logits=self.logits(features))


class GaussianHead(nn.Module):
    """``features -> Normal(mean = W x + b, std = exp(log_std))``, state-independent learnable log std.

    Log-probabilities / entropies are summed over the action dim by :func:`log_prob_and_entropy`.
    """

    def __init__(self, in_dim: int, act_dim: int, init_log_std: float = 0.0, gain: float = 0.01) -> None:
        super().__init__()
        self.mean = layer_init(nn.Linear(in_dim, act_dim), gain)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def distribution(self, features: Tensor) -> Normal:
        mean = self.mean(features)
        # std = exp(log_std), broadcast over the batch
        std = self.log_std.exp().expand_as(mean)
        return Normal(mean, std)


class BetaHead(nn.Module):
    """``features -> Beta(alpha, beta)`` with ``alpha, beta = 1 + softplus(W x + b)`` (Chou et al. 2017).

    ``alpha, beta > 1`` keeps the density unimodal and bounded; actions lie in ``(0, 1)`` (rescale
    to the env's box outside). Log-probabilities / entropies are summed over the action dim and
    actions are clamped to ``[BETA_EPS, 1 - BETA_EPS]`` by :func:`log_prob_and_entropy`.
    """

    def __init__(self, in_dim: int, act_dim: int, gain: float = 0.01) -> None:
        super().__init__()
        self.act_dim = act_dim
        self.params = layer_init(nn.Linear(in_dim, 2 * act_dim), gain)

    def distribution(self, features: Tensor) -> Beta:
        raw_alpha, raw_beta = self.params(features).split(self.act_dim, dim=-1)
        # alpha = 1 + softplus(z_alpha);  beta = 1 + softplus(z_beta)
        alpha = 1.0 + nn.functional.softplus(raw_alpha)
        beta = 1.0 + nn.functional.softplus(raw_beta)
        return Beta(alpha, beta)


def _clamp_beta(actions: Tensor) -> Tensor:
    return actions.clamp(BETA_EPS, 1.0 - BETA_EPS)


def log_prob_and_entropy(dist: Distribution, actions: Tensor) -> tuple[Tensor, Tensor]:
    """``(log pi(a|s), H[pi(.|s)])`` per sample, shape ``(B,)``.

    Categorical: as is. Normal / Beta (factorised over action dims)::

        log pi(a|s) = sum_i log pi_i(a_i|s),   H = sum_i H_i

    Beta actions are clamped to ``[BETA_EPS, 1 - BETA_EPS]`` first.
    """
    if isinstance(dist, Categorical):
        return dist.log_prob(actions.long()), dist.entropy()
    if isinstance(dist, Beta):
        actions = _clamp_beta(actions)
    if isinstance(dist, (Normal, Beta)):
        return dist.log_prob(actions).sum(-1), dist.entropy().sum(-1)
    raise TypeError(f"log_prob_and_entropy: unsupported distribution {type(dist).__name__}")


def sample_action(dist: Distribution, generator: torch.Generator | None = None) -> Tensor:
    """Sample from a head's distribution; with ``generator`` the draw uses it, not the global RNG.

    Beta samples are clamped to ``[BETA_EPS, 1 - BETA_EPS]`` so they lie strictly inside ``(0, 1)``.
    """
    if generator is None:
        action = dist.sample()
    elif isinstance(dist, Categorical):
        probs = dist.probs
        flat = probs.reshape(-1, probs.shape[-1])
        action = torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
    elif isinstance(dist, Normal):
        # a = mu + sigma * z,  z ~ N(0, I)
        noise = torch.randn(dist.loc.shape, generator=generator, dtype=dist.loc.dtype, device=dist.loc.device)
        action = dist.loc + dist.scale * noise
    elif isinstance(dist, Beta):
        # Beta(a, b) = first coordinate of Dirichlet(a, b) (what torch's Beta does internally)
        conc = torch.stack([dist.concentration1, dist.concentration0], dim=-1)
        action = torch._sample_dirichlet(conc, generator=generator)[..., 0]
    else:
        raise TypeError(f"sample_action: unsupported distribution {type(dist).__name__}")
    if isinstance(dist, Beta):
        action = _clamp_beta(action)
    return action


def mode_action(dist: Distribution) -> Tensor:
    """Deterministic action: argmax for Categorical, mean for Normal, ``alpha / (alpha + beta)`` for Beta."""
    if isinstance(dist, Categorical):
        return dist.logits.argmax(dim=-1)
    if isinstance(dist, Normal):
        return dist.mean
    if isinstance(dist, Beta):
        # E[a] = alpha / (alpha + beta)
        return _clamp_beta(dist.concentration1 / (dist.concentration1 + dist.concentration0))
    raise TypeError(f"mode_action: unsupported distribution {type(dist).__name__}")


# --------------------------------------------------------------------------------------
# Actor-critic
# --------------------------------------------------------------------------------------


def _mlp(in_dim: int, hidden: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    prev = in_dim
    for width in hidden:
        layers += [layer_init(nn.Linear(prev, width), math.sqrt(2.0)), activation()]
        prev = width
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (CleanRL's ``Agent``) with a pluggable distribution head.

    Args:
        obs_dim: observation size.
        head: one of ``"categorical"``, ``"gaussian"``, ``"beta"``.
        act_dim_or_n: number of discrete actions (categorical) or action dims (gaussian / beta).
        hidden: hidden-layer widths shared by actor and critic (separate weights).
        activation: activation class.

    Init: orthogonal, gain ``sqrt(2)`` for hidden layers, ``0.01`` for the policy output and
    ``1.0`` for the value output; zero biases.
    """

    def __init__(
        self,
        obs_dim: int,
        head: str,
        act_dim_or_n: int,
        hidden: Sequence[int] = (64, 64),
        activation: type[nn.Module] = nn.Tanh,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"ActorCritic: unknown head={head!r}; allowed values are {list(HEADS)}")
        if obs_dim < 1 or act_dim_or_n < 1:
            raise ValueError(
                f"ActorCritic: obs_dim and act_dim_or_n must be >= 1; got {obs_dim}, {act_dim_or_n}"
            )
        self.head_type = head
        hidden = tuple(hidden)
        feat_dim = hidden[-1] if hidden else obs_dim
        self.actor_body = _mlp(obs_dim, hidden, activation)
        self.critic_body = _mlp(obs_dim, hidden, activation)
        self.critic_out = layer_init(nn.Linear(feat_dim, 1), 1.0)
        self.head: CategoricalHead | GaussianHead | BetaHead
        if head == "categorical":
            self.head = CategoricalHead(feat_dim, act_dim_or_n)
        elif head == "gaussian":
            self.head = GaussianHead(feat_dim, act_dim_or_n)
        else:
            self.head = BetaHead(feat_dim, act_dim_or_n)

    def distribution(self, obs: Tensor) -> Distribution:
        """``pi(.|obs)``."""
        return self.head.distribution(self.actor_body(obs))

    def value(self, obs: Tensor) -> Tensor:
        """``V(obs)``, shape ``(B,)``."""
        return self.critic_out(self.critic_body(obs)).squeeze(-1)

    def act(
        self, obs: Tensor, generator: torch.Generator | None = None, deterministic: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(action, log pi(action|obs), V(obs))``.

        Samples with ``generator`` if given, else the global torch RNG; ``deterministic=True``
        returns :func:`mode_action` (argmax / mean / ``alpha/(alpha+beta)``).
        """
        dist = self.distribution(obs)
        action = mode_action(dist) if deterministic else sample_action(dist, generator)
        logprob, _ = log_prob_and_entropy(dist, action)
        return action, logprob, self.value(obs)

    def evaluate(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(log pi(actions|obs), H[pi(.|obs)], V(obs))``, each ``(B,)``."""
        dist = self.distribution(obs)
        logprob, entropy = log_prob_and_entropy(dist, actions)
        return logprob, entropy, self.value(obs)


# --------------------------------------------------------------------------------------
# Running statistics and diagnostics
# --------------------------------------------------------------------------------------


class RunningMeanStd:
    """Running mean / variance over batches (Chan et al. 1979 parallel update), as in SB3 / gymnasium.

    Starts at ``mean = 0, var = 1, count = epsilon (1e-4)``; statistics are float64 numpy arrays.
    """

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        self.shape = tuple(shape)
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.var = np.ones(self.shape, dtype=np.float64)
        self.count = float(epsilon)

    def update(self, x: np.ndarray) -> None:
        """Fold in a batch ``x`` of shape ``(B, *shape)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != self.shape:
            raise ValueError(f"RunningMeanStd.update: expected shape (B, *{self.shape}); got {x.shape}")
        if x.shape[0] == 0:
            return
        self.update_from_moments(x.mean(axis=0), x.var(axis=0), x.shape[0])

    def update_from_moments(self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: int) -> None:
        """Combine with a batch summarised by its mean, (biased) variance and count."""
        # delta = mu_b - mu_a;  n = n_a + n_b
        delta = batch_mean - self.mean
        total = self.count + batch_count
        # mu = mu_a + delta * n_b / n
        new_mean = self.mean + delta * batch_count / total
        # M2 = M2_a + M2_b + delta^2 * n_a * n_b / n;  var = M2 / n
        m2 = self.var * self.count + batch_var * batch_count + np.square(delta) * self.count * batch_count / total
        self.mean = new_mean
        self.var = m2 / total
        self.count = float(total)

    def normalize(self, x: np.ndarray, clip: float = 10.0) -> np.ndarray:
        """``clip((x - mean) / sqrt(var + 1e-8), -clip, clip)``; float inputs keep their dtype."""
        x = np.asarray(x)
        out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        # z = (x - mu) / sqrt(var + 1e-8), clipped to [-clip, clip]
        z = np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -clip, clip)
        return z.astype(out_dtype, copy=False)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mean = np.asarray(state["mean"], dtype=np.float64)
        var = np.asarray(state["var"], dtype=np.float64)
        if mean.shape != self.shape or var.shape != self.shape:
            raise ValueError(
                f"RunningMeanStd.load_state_dict: expected shape {self.shape}; got {mean.shape}, {var.shape}"
            )
        self.mean, self.var, self.count = mean.copy(), var.copy(), float(state["count"])


def explained_variance(y_pred: Tensor | np.ndarray, y_true: Tensor | np.ndarray) -> float:
    """``1 - Var[y - y_pred] / Var[y]`` (biased variances, float64); ``nan`` if ``Var[y] == 0``.

    1 = perfect prediction, 0 = no better than a constant, < 0 = worse.
    """

    def as_np(a: Tensor | np.ndarray) -> np.ndarray:
        if isinstance(a, Tensor):
            a = a.detach().cpu().numpy()
        return np.asarray(a, dtype=np.float64).reshape(-1)

    pred, true = as_np(y_pred), as_np(y_true)
    var_y = np.var(true)
    if var_y == 0:
        return float("nan")
    # EV = 1 - Var[y - y_pred] / Var[y]
    return float(1.0 - np.var(true - pred) / var_y)
