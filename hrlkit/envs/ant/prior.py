"""The motion prior: a low-level Ant policy that imitates the reference gaits on flat ground, trained once, frozen.

Motion Priors Reimagined (arXiv 2505.16084) pre-trains a motion-imitation policy on flat ground, driven by a periodic
latent, and freezes it. Here (see :mod:`hrlkit.envs.ant.gaits` for the latent and the reference formula):

* **observation** = proprioception (:meth:`~hrlkit.envs.ant.terrain.AntTerrainCore.proprioception`), latent features
  (gait one-hot, f, a_h, a_k, heading (cos, sin), phase (cos, sin)), the reference pose q_ref(φ_t) and the tracking
  error q − q_ref(φ_t);
* **action** = a correction Δq; the executed joint target is q* = q_ref(z, φ_t) + ``action_scale``·clip(Δq, −1, 1)
  (residual-on-reference, a common imitation device that makes the prior learnable in ~1 M steps);
* **reward** (DeepMimic-style, weights reconstructed) = exp(−``w_track``·‖q_{t+1} − q_ref(φ_{t+1})‖²)
  + ``w_heading``·clip(v·ψ̂ / ``heading_speed``, −1, 1) − ``w_action``·‖Δq‖² − ``w_fall``·fell, where v is the torso
  velocity in the body frame and ψ̂ the commanded heading;
* **latents** are drawn uniformly (:class:`~hrlkit.envs.ant.gaits.GaitLatent`) at every episode start and redrawn at
  random moments (probability ``resample_prob`` per step), so the prior learns to follow a changing command;
* **training**: PPO (:func:`hrlkit.rl.core.ppo_update` on :func:`hrlkit.rl.onpolicy.collect_rollout`), length set
  in updates.

:class:`MotionPrior` is the frozen policy: ``targets(core, latent)`` gives π_low(s, z), the mean action, as joint
targets. ``python -m hrlkit.envs.ant.prior <params section> --out <file>`` trains and saves it (a DVC stage).
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from hrlkit.envs.ant import gaits as G
from hrlkit.envs.ant.terrain import N_PROPRIO, AntTerrainConfig, AntTerrainCore
from hrlkit.rl.core import ActorCritic, PPOConfig, RunningMeanStd, ppo_update
from hrlkit.rl.onpolicy import StepResult, collect_rollout

__all__ = ["PriorConfig", "ImitationTask", "MotionPrior", "train_prior", "save_prior", "load_prior", "prior_obs_dim"]


def prior_obs_dim(config: "PriorConfig") -> int:
    """Observation size of the prior: proprioception, latent features (one-hot over its gaits + 7), q_ref, q − q_ref."""
    return N_PROPRIO + len(config.gaits) + 7 + 8 + 8


@dataclass(frozen=True)
class PriorConfig:
    gaits: tuple[str, ...] = ("trot",)    # reference gaits the prior imitates (keys of gaits.GAITS)
    seed: int = 0
    n_envs: int = 16                      # Ants stepped together
    rollout_steps: int = 128              # control steps per env per PPO update
    updates: int = 500                    # PPO updates (training length)
    learning_rate: float = 0.0003
    hidden: int = 128                     # width of the two hidden layers (actor and critic)
    ppo_epochs: int = 5
    ppo_minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    action_scale: float = 0.3             # rad per unit of Δq
    episode_steps: int = 250              # 10 s episodes at 25 Hz
    resample_prob: float = 0.01           # per step: draw a new latent (the command changes mid-episode)
    w_track: float = 2.0                  # tracking kernel exp(−w_track ‖q − q_ref‖²) (DeepMimic form)
    w_heading: float = 0.5                # weight of the velocity-along-heading term
    heading_speed: float = 0.3            # m/s at which the heading term saturates
    w_action: float = 0.001
    w_fall: float = 1.0

    def __post_init__(self) -> None:
        unknown = [g for g in self.gaits if g not in G.GAITS]
        if not self.gaits or unknown:
            raise ValueError(f"PriorConfig.gaits must be a non-empty subset of {list(G.GAITS)}, got {self.gaits}")
        for name in ("n_envs", "rollout_steps", "updates", "hidden", "ppo_epochs", "ppo_minibatches",
                     "episode_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"PriorConfig.{name} must be an int >= 1, got {value!r}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["gaits"] = list(self.gaits)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "PriorConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown PriorConfig field(s) {unknown}; allowed: {sorted(known)}")
        d = dict(d)
        if "gaits" in d:
            d["gaits"] = tuple(d["gaits"])
        return cls(**d)


def prior_observation(core: AntTerrainCore, latent: dict, gaits: tuple[str, ...]) -> np.ndarray:
    """(N, prior_obs_dim): proprioception, latent features, q_ref(φ), q − q_ref(φ)."""
    obs = core.observe()
    q_ref = G.reference_pose(latent, gaits)
    return np.concatenate([core.proprioception(obs), G.latent_features(latent, gaits), q_ref,
                           obs["joint_pos"] - q_ref], axis=1)


class ImitationTask:
    """Flat-ground imitation of random latents for ``n_envs`` Ants: ``step(actions) -> StepResult``."""

    def __init__(self, config: PriorConfig) -> None:
        self.cfg = config
        self.core = AntTerrainCore(AntTerrainConfig(max_steps=config.episode_steps), config.n_envs, seed=config.seed)
        self.rng = np.random.default_rng([config.seed, 1])
        self.ranges = G.GaitLatent()
        self.latent = self.ranges.sample(self.rng, config.n_envs, config.gaits)
        self.log = {"track": [], "heading_speed": [], "falls": 0, "episodes": 0}

    def observation(self) -> np.ndarray:
        return prior_observation(self.core, self.latent, self.cfg.gaits)

    def _resample(self, mask: np.ndarray) -> None:
        if mask.any():
            new = self.ranges.sample(self.rng, int(mask.sum()), self.cfg.gaits)
            self.latent = {k: v.copy() for k, v in self.latent.items()}
            for k in self.latent:
                self.latent[k][mask] = new[k]

    def step(self, action: np.ndarray) -> StepResult:
        cfg, core = self.cfg, self.core
        correction = np.clip(action, -1.0, 1.0)
        # q* = q_ref(z, φ_t) + action_scale · Δq
        info = core.step(G.reference_pose(self.latent, cfg.gaits) + cfg.action_scale * correction)
        # φ_{t+1} = φ_t + 2π f Δt
        self.latent = G.advance_phase(self.latent, core.cfg.control_dt)
        obs = core.observe()
        error = ((obs["joint_pos"] - G.reference_pose(self.latent, cfg.gaits)) ** 2).sum(1)
        heading = np.stack([np.cos(self.latent["heading"]), np.sin(self.latent["heading"])], axis=1)
        speed = (obs["lin_vel"][:, :2] * heading).sum(1)
        # r = exp(−w‖q − q_ref‖²) + w_h·clip(v·ψ̂ / v_sat, −1, 1) − w_a‖Δq‖² − w_fall·fell
        reward = (np.exp(-cfg.w_track * error) + cfg.w_heading * np.clip(speed / cfg.heading_speed, -1.0, 1.0)
                  - cfg.w_action * (correction ** 2).sum(1) - cfg.w_fall * info["fell"])
        self.log["track"].append(float(np.exp(-cfg.w_track * error).mean()))
        self.log["heading_speed"].append(float(speed.mean()))
        terminated = info["fell"].copy()
        truncated = (core.steps >= cfg.episode_steps) & ~terminated
        done = terminated | truncated
        final_obs = self.observation()
        self.log["falls"] += int(terminated.sum())
        self.log["episodes"] += int(done.sum())
        self._resample(done | (self.rng.random(core.n) < cfg.resample_prob))
        if done.any():
            core.reset(np.nonzero(done)[0])
        return StepResult(obs=self.observation(), reward=reward, terminated=terminated, truncated=truncated,
                          final_obs=final_obs)


def train_prior(config: PriorConfig, progress: bool = False) -> tuple[ActorCritic, RunningMeanStd, dict]:
    """PPO on :class:`ImitationTask`; returns the policy, its observation normaliser and a per-update log."""
    torch.manual_seed(config.seed)
    task = ImitationTask(config)
    model = ActorCritic(prior_obs_dim(config), "gaussian", 8, hidden=(config.hidden, config.hidden))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    ppo = PPOConfig(update_epochs=config.ppo_epochs, num_minibatches=config.ppo_minibatches)
    norm = RunningMeanStd(shape=(prior_obs_dim(config),))
    generator = torch.Generator().manual_seed(config.seed)
    obs, start = task.observation(), np.ones(config.n_envs, dtype=bool)
    log = {"update": [], "track": [], "heading_speed": [], "falls_per_episode": []}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.updates, desc="motion prior (PPO updates)")
    for update in range(1, config.updates + 1):
        rollout = collect_rollout(model, task.step, obs, start, config.rollout_steps, generator, config.gamma,
                                  config.gae_lambda, obs_norm=norm)
        obs, start = rollout.next_obs, rollout.next_start
        ppo_update(model, optimiser, rollout.batch, ppo, generator)
        recent = slice(-config.rollout_steps, None)
        log["update"].append(update)
        log["track"].append(float(np.mean(task.log["track"][recent])))
        log["heading_speed"].append(float(np.mean(task.log["heading_speed"][recent])))
        log["falls_per_episode"].append(task.log["falls"] / max(task.log["episodes"], 1))
        task.log.update(falls=0, episodes=0)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return model, norm, log


class MotionPrior:
    """The frozen low-level policy π_low(s, z): joint targets q_ref(z, φ) + action_scale · clip(μ(s, z), −1, 1)."""

    def __init__(self, model: ActorCritic, norm: RunningMeanStd, config: PriorConfig) -> None:
        self.model, self.norm, self.cfg = model.eval(), norm, config
        for p in self.model.parameters():
            p.requires_grad_(False)

    def targets(self, core: AntTerrainCore, latent: dict) -> np.ndarray:
        obs = prior_observation(core, latent, self.cfg.gaits)
        with torch.no_grad():
            mean = self.model.distribution(torch.as_tensor(self.norm.normalize(obs), dtype=torch.float32)).mean
        return G.reference_pose(latent, self.cfg.gaits) + self.cfg.action_scale * np.clip(mean.numpy(), -1.0, 1.0)


def save_prior(path: str | Path, model: ActorCritic, norm: RunningMeanStd, config: PriorConfig, log: dict) -> None:
    """Weights, normaliser, settings and training log, byte-reproducible."""
    payload = {"config": config.to_dict(), "log": log,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
               "norm": {"mean": torch.as_tensor(norm.mean), "var": torch.as_tensor(norm.var),
                        "count": float(norm.count)}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buffer.getvalue())


def load_prior(path: str | Path) -> tuple[MotionPrior, dict]:
    """The frozen :class:`MotionPrior` and its training log."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = PriorConfig.from_dict(payload["config"])
    model = ActorCritic(prior_obs_dim(config), "gaussian", 8, hidden=(config.hidden, config.hidden))
    model.load_state_dict(payload["state_dict"])
    norm = RunningMeanStd(shape=(prior_obs_dim(config),))
    norm.load_state_dict({"mean": payload["norm"]["mean"].numpy(), "var": payload["norm"]["var"].numpy(),
                          "count": payload["norm"]["count"]})
    return MotionPrior(model, norm, config), payload["log"]


def main(argv: list[str] | None = None) -> int:
    import yaml

    from hrlkit.provenance import repo_root

    parser = argparse.ArgumentParser(prog="python -m hrlkit.envs.ant.prior", description=__doc__.splitlines()[0])
    parser.add_argument("section", help="params.yaml section holding the PriorConfig fields")
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    args = parser.parse_args(argv)
    params = yaml.safe_load((repo_root() / "params.yaml").read_text())
    if args.section not in params:
        parser.error(f"params.yaml has no section {args.section!r}")
    config = PriorConfig.from_dict(dict(params[args.section]))
    torch.set_num_threads(1)
    model, norm, log = train_prior(config, progress=True)
    save_prior(args.out, model, norm, config, log)
    print(f"motion prior: tracking {log['track'][-1]:.3f}, speed along heading {log['heading_speed'][-1]:.3f} m/s, "
          f"falls per episode {log['falls_per_episode'][-1]:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
