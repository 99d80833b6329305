# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Motion priors reimagined: a frozen flat-ground gait prior plus high-level residuals for rough terrain
#
# **Paper.** Zewei Zhang, Chenhao Li, Takahiro Miki, Marco Hutter. *Motion Priors Reimagined: Adapting Flat-Terrain
# Skills for Complex Quadruped Mobility*, arXiv [2505.16084](https://arxiv.org/abs/2505.16084) (2025). No public
# code.
#
# **The hierarchy.** A **low-level** policy is pre-trained on flat ground to imitate animal gaits, driven by a
# periodic latent (frequency, amplitude, offset, phase, in the spirit of Fourier Latent Dynamics); it is then
# frozen and is the *motion prior*. A **high-level**, goal-conditioned policy on rough terrain reads the local height
# scan and the goal and outputs, every control step, a latent command for the prior plus a joint-space residual:
# joint target = π_low(s, z) + a_res, with a residual penalty w_res Σ a_res², w_res = −0.1. Both levels run at the
# control rate; the hierarchy is in what each level decides (style vs adaptation), not in time scale.
#
# **Reproduced.**
# - The residual formulation q* = π_low(s, z) + a_res with the paper's w_res = −0.1, on top of a frozen prior.
# - The baselines the paper shows: no motion prior (the high level outputs joint targets, same reward terms), zero
#   residual penalty, and latent-only (no residual).
# - Success, time to goal and falls per roughness; motion regularity (joint acceleration, action rate, torque²,
#   foot slip, similarity to the reference gait); residual magnitude vs roughness; top-down trajectories.
#
# **Scaled or reconstructed.**
# - Gymnasium's MuJoCo Ant instead of ANYmal-D (`hrlkit.envs.ant`); rough terrain is a height field of bumps plus
#   boxes.
# - Parametric trot / pace / bound reference gaits instead of retargeted animal mocap; the latent is the
#   generator's own parameters, not a learned FLD encoder.
# - Training lengths in the hundreds of thousands of steps; no teacher–student distillation, no real robot.

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # one high-level training run per method and seed
tuning_seeds = [100]              # tuning seeds, disjoint from `seeds`
tuning_dir = "scratch/motion_priors/tuning"  # raw tuning trials, stored the same way as the runs
tuning_budget = 1                 # step sizes tried per tuned method (the same for ours and no-prior)
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/motion_priors"  # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/motion_priors/runs"  # raw per-task results: stored once, loaded on every later run
device = "auto"                   # "auto", "cpu" or "cuda": recorded only, this notebook computes on the CPU
methods = ["prior-residual", "no-prior", "zero-penalty", "latent-only"]  # the first is the paper's method
prior_path = "data/motion_priors/prior.pt"  # the frozen low-level prior (DVC stage motion_priors_prior)
high_updates = 3                  # PPO updates of the high level (training length)
no_prior_updates = 3              # PPO updates of no-prior: its own steps match the prior's plus the high level's
n_envs = 8                        # Ants per rollout
rollout_steps = 64                # control steps per env per PPO update (25 Hz)
ppo_epochs = 5                    # PPO epochs per update
ppo_minibatches = 4               # minibatches per epoch
gamma = 0.99                      # discount per control step
gae_lambda = 0.95                 # GAE lambda
hidden = 64                       # width of the two hidden layers of the high-level actor and critic
w_res = -0.1                      # residual penalty weight (paper, Table 2)
residual_scale = 0.3              # rad per unit of residual action
train_roughness = 0.08            # curriculum: highest bump (m) reached at the end of the first half of training
n_boxes = 8                       # box obstacles per terrain
eval_roughness = [0.0, 0.08]      # evaluation terrains, highest bump (m); roughness 0 is truly flat (no boxes)
eval_episodes = 4                 # evaluation episodes per method, seed and roughness (terrains drawn per seed)
tuning_episodes = 2               # validation episodes per roughness of a tuning trial
episode_steps = 200               # control steps per episode (8 s at 25 Hz)

# %% [markdown]
# What each parameter may be: checked in the setup cell below before any compute (and on params.yaml by the
# pipeline). A wrong value, a NaN, a float where an integer is needed, a repeated list entry, a missing file or an
# unknown name fails there, naming the parameter and what is allowed.

# %% tags=["schema"]
from hrlkit import params as P

SLUG = "motion_priors"
ALL_METHODS = ("prior-residual", "no-prior", "zero-penalty", "latent-only")
OURS = "prior-residual"
Roughness = P.Number(ge=0, le=0.2)          # m: the terrain generator's range


class MotionPriorsParameters(P.Parameters):
    tuning_seeds: P.Seeds
    tuning_dir: P.OutDir
    tuning_budget: P.Int(ge=1, le=3)
    methods: P.Subset(*ALL_METHODS, first=OURS)
    prior_path: P.FilePath
    high_updates: P.Int(ge=1)
    no_prior_updates: P.Int(ge=1)
    n_envs: P.Int(ge=1)
    rollout_steps: P.Int(ge=1)
    ppo_epochs: P.Int(ge=1)
    ppo_minibatches: P.Int(ge=1)
    gamma: P.Number(ge=0, le=1)
    gae_lambda: P.Number(ge=0, le=1)
    hidden: P.Int(ge=1)
    w_res: P.Number(le=0)
    residual_scale: P.Number(gt=0, le=1)
    train_roughness: Roughness
    n_boxes: P.Int(ge=0, le=20)
    eval_roughness: P.UniqueList(Roughness, min_len=2)
    eval_episodes: P.Int(ge=1)
    tuning_episodes: P.Int(ge=1)
    episode_steps: P.Int(ge=1)


# %% [markdown]
# ## Setup: parameter check, imports, seeding

# %%
PARAMS = MotionPriorsParameters.from_notebook(globals())   # fails here, naming the parameter, before any compute

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from hrlkit import figures, runs, stats, tune
from hrlkit.claims import Claim, ClaimsTable, build_metrics, headline_entry, write_metrics
from hrlkit.envs.ant import gaits as G
from hrlkit.envs.ant.prior import load_prior
from hrlkit.envs.ant.terrain import N_PROPRIO, SCAN_POINTS, AntTerrainConfig, AntTerrainCore
from hrlkit.provenance import repo_root
from hrlkit.rl.core import ActorCritic, PPOConfig, RunningMeanStd, ppo_update
from hrlkit.rl.onpolicy import StepResult, collect_rollout
from hrlkit.runner import Runner
from hrlkit.seeding import derive_seed, resolve_device, seed_everything

PAPER = {"slug": SLUG, "arxiv": "2505.16084",
         "title": "Motion Priors Reimagined: Adapting Flat-Terrain Skills for Complex Quadruped Mobility"}

DEVICE = resolve_device(device)
OUT = runs.prepare_out_dir(out_dir)
clock = runs.WallClock()
figures.set_theme()
seed_everything(0)      # the notebook's own streams; every task reseeds from its own seed
SAVE = dict(out_dir=OUT, slug=SLUG, params=PARAMS)
print(f"profile={profile} workers={workers} device={DEVICE} out_dir={out_dir}")

# %% [markdown]
# ## Environment: Ants on rough terrain (`hrlkit.envs.ant.terrain`)
#
# Many Ants are stepped in one process on raw MuJoCo (`benchmarks/ant_speed.py` measures it against Gymnasium's
# Ant-v5). Each env has its own terrain: a height field of smooth bumps up to `roughness` metres plus `n_boxes`
# boxes, and a goal 4–6 m away. The eight actuators are PD servos on joint-angle targets (25 Hz control). An episode
# ends when the torso is within 0.5 m of the goal (success), when it falls, or after `episode_steps` steps.
#
# **The frozen prior** (`hrlkit.envs.ant.prior`, trained by its own DVC stage on flat ground): given proprioception
# and a latent z = (gait, f, a_h, a_k, heading ψ, phase φ), it outputs joint targets
# π_low(s, z) = q_ref(z, φ) + 0.3·clip(μ(s, z)), where q_ref is the reference gait (`hrlkit.envs.ant.gaits`):
#
# $$q^{hip}_i = q^0_{hip,i} + a_h \sin(\psi - \alpha_i)\sin(\varphi + \Phi_{g,i}),\qquad
#   q^{ank}_i = q^0_{ank,i} - \sigma_i a_k \max(0, \sin(\varphi + \Phi_{g,i} + \pi/2)),\qquad
#   \varphi_{t+1} = \varphi_t + 2\pi f \Delta t.$$

# %%
PRIOR, PRIOR_LOG = load_prior(repo_root() / prior_path)
GAIT = ("trot",)        # the gait the high level drives; the prior knows PRIOR.cfg.gaits
LATENT = G.GaitLatent()
# budget parity: no-prior trains for as many environment steps as the prior and the high level together
PRIOR_STEPS = PRIOR.cfg.updates * PRIOR.cfg.n_envs * PRIOR.cfg.rollout_steps
HIGH_STEPS = high_updates * n_envs * rollout_steps
NO_PRIOR_STEPS = no_prior_updates * n_envs * rollout_steps
if profile == "repro" and NO_PRIOR_STEPS < PRIOR_STEPS + HIGH_STEPS:
    raise ValueError(f"no_prior_updates = {no_prior_updates} gives no-prior {NO_PRIOR_STEPS} steps; budget parity needs "
                     f"at least the prior's {PRIOR_STEPS} plus the high level's {HIGH_STEPS}, i.e. no_prior_updates "
                     f">= {-(-(PRIOR_STEPS + HIGH_STEPS) // (n_envs * rollout_steps))}")
display(Markdown(f"Prior: gaits {list(PRIOR.cfg.gaits)}, {PRIOR.cfg.updates} PPO updates × {PRIOR.cfg.n_envs} envs × "
                 f"{PRIOR.cfg.rollout_steps} steps; at the end of its training: tracking term "
                 f"{PRIOR_LOG['track'][-1]:.3f}, speed along the commanded heading "
                 f"{PRIOR_LOG['heading_speed'][-1]:.3f} m/s, falls per episode "
                 f"{PRIOR_LOG['falls_per_episode'][-1]:.3f}."))

# %% [markdown]
# ## Method: the goal-conditioned high level with latent commands and residuals
#
# **Observation**: proprioception (30), the 7×7 height scan around the torso relative to its height (49), the goal
# direction in the heading frame (2), the goal distance capped at 5 m, the prior's phase (cos, sin).
#
# **Action** (`prior-residual`): 5 latent numbers and an 8-D residual. The latent numbers map to the prior's command:
# f, a_h, a_k rescaled from [−1, 1] into their ranges, and the heading ψ = atan2(u₅, u₄). The executed joint target is
#
# $$q^* = \pi_{low}(s, z) + a_{res},\qquad a_{res} = 0.3\,\mathrm{clip}(u_{6..13}, -1, 1).$$
#
# **Reward** (the same terms for every method): velocity towards the goal, +10 on reaching it, −5 on a fall, and the
# residual penalty on the policy's residual output u_res = clip(u_{6..13}, −1, 1)
#
# $$r = \frac{d_{t-1} - d_t}{\Delta t} + 10\cdot\mathbb 1[\text{reached}] - 5\cdot\mathbb 1[\text{fell}]
#   + w_{res} \sum_j u_{res,j}^2,\qquad w_{res} = -0.1.$$
#
# The penalty is on the action the policy emits, before it is scaled into radians. That is the convention of the
# authors' lab's legged_gym (its action penalties use the raw actions, the scale to joint space is applied after),
# and it is what makes w_res = −0.1 bite here: in single-seed pilots the radian form (0.3·u) was an order of
# magnitude smaller than the goal reward and barely shaped the residual (see the deviations table).
#
# **Curriculum**: each env's terrain roughness at a reset is drawn uniformly up to a maximum that grows linearly
# from 0 to `train_roughness` over the first half of training.
#
# **Baselines.** `no-prior`: the high level outputs the 8 joint targets directly (standing pose + 0.5·u), with the
# same reward terms (no residual, so no residual penalty). `zero-penalty`: `prior-residual` with w_res = 0.
# `latent-only`: only the latent command, no residual.

# %%
N_HIGH_OBS = N_PROPRIO + SCAN_POINTS + 2 + 1 + 2
DT = AntTerrainConfig().control_dt            # s per control step (25 Hz)
ACT_DIM = {"prior-residual": 13, "zero-penalty": 13, "latent-only": 5, "no-prior": 8}


def latent_command(u: np.ndarray, phase: np.ndarray) -> dict:
    """Map the high level's 5 latent numbers in [-1, 1] to the prior's trot latent (the phase is the prior's own)."""
    lo = np.array([LATENT.frequency[0], LATENT.hip_amplitude[0], LATENT.ankle_amplitude[0]])
    hi = np.array([LATENT.frequency[1], LATENT.hip_amplitude[1], LATENT.ankle_amplitude[1]])
    p = lo + (hi - lo) * (u[:, :3] + 1.0) / 2.0
    return {"gait": np.full(len(u), PRIOR.cfg.gaits.index("trot")), "frequency": p[:, 0], "hip_amplitude": p[:, 1],
            "ankle_amplitude": p[:, 2], "heading": np.arctan2(u[:, 4], u[:, 3]), "phase": phase.copy()}


def local_roughness(scan: np.ndarray) -> np.ndarray:
    """Per env: the RMS deviation of the 7×7 height scan from its best-fit plane (m), so a uniform slope reads 0."""
    design = np.c_[np.ones(SCAN_POINTS), SCAN_LOCAL]                       # [1, x, y] per scan point
    fitted = scan @ np.linalg.pinv(design).T @ design.T                    # least-squares plane through each scan
    return np.sqrt(((scan - fitted) ** 2).mean(1))


SCAN_LOCAL = AntTerrainCore(AntTerrainConfig(), 1, seed=0).scan_local   # (49, 2) scan offsets in the heading frame


class GoalTask:
    """The high-level MDP of one method for ``n`` Ants: ``step(u) -> StepResult``, with per-step records."""

    def __init__(self, method: str, n: int, seed: int, roughness: float, record: bool = False,
                 boxes: int | None = None) -> None:
        self.method, self.n, self.record = method, n, record
        self.w_res = 0.0 if method == "zero-penalty" else w_res
        self.core = AntTerrainCore(AntTerrainConfig(roughness=roughness, n_boxes=n_boxes if boxes is None else boxes,
                                                    max_steps=episode_steps), n, seed=seed)
        self.rng = np.random.default_rng([seed, 7])
        self.phase = np.zeros(n)
        self.prev_target = self.core.qpos[:, self.core.joint_qpos].copy()
        self.start_xy = self.core.qpos[:, :2].copy()
        self.records: list[dict] = []
        self.penalty_sum, self.penalty_steps = 0.0, 0    # w_res Σ u_res² summed over steps and envs

    def observation(self) -> np.ndarray:
        o = self.core.observe()
        g = o["goal_body"]
        return np.concatenate([self.core.proprioception(o), o["height_scan"] - o["height"][:, None],
                               g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-6),
                               np.minimum(o["goal_distance"], 5.0)[:, None], np.cos(self.phase)[:, None],
                               np.sin(self.phase)[:, None]], axis=1)

    def residual_action(self, u: np.ndarray) -> np.ndarray:
        """u_res: the policy's residual output in [−1, 1] (zero for methods without a residual)."""
        return u[:, 5:] if self.method in ("prior-residual", "zero-penalty") else np.zeros((self.n, 8))

    def joint_targets(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(q*, a_res) for actions u; a_res in radians."""
        if self.method == "no-prior":
            return G.STANDING_POSE + 0.5 * u, np.zeros((self.n, 8))
        z = latent_command(u[:, :5], self.phase)
        self.command = z                     # kept for the records (the prior's own gait replays it)
        # a_res = residual_scale · u_res
        residual = residual_scale * self.residual_action(u)
        self.phase = G.advance_phase(z, self.core.cfg.control_dt)["phase"]
        # q* = π_low(s, z) + a_res
        return PRIOR.targets(self.core, z) + residual, residual

    def step(self, action: np.ndarray, curriculum_max: float | None = None) -> StepResult:
        u = np.clip(action, -1.0, 1.0)
        scan = local_roughness(self.core.observe()["height_scan"]) if self.record else None   # what the policy saw
        target, residual = self.joint_targets(u)
        target = self.core.clip_targets(target)
        info = self.core.step(target)
        # r = (d_{t−1} − d_t)/Δt + 10·reached − 5·fell + w_res Σ u_res²
        penalty = self.w_res * (self.residual_action(u) ** 2).sum(1)
        reward = (info["progress"] / self.core.cfg.control_dt + 10.0 * info["reached"] - 5.0 * info["fell"]
                  + penalty)
        self.penalty_sum, self.penalty_steps = self.penalty_sum + float(penalty.sum()), self.penalty_steps + self.n
        if self.record:
            self.records.append({"reached": info["reached"].copy(), "fell": info["fell"].copy(),
                                 "truncated": info["truncated"].copy(), "joint_acc": np.abs(info["joint_acc"]).mean(1),
                                 "action_rate": np.linalg.norm(target - self.prev_target, axis=1),
                                 "torque2": (info["torque"] ** 2).mean(1), "foot_slip": info["foot_slip"].copy(),
                                 "residual": np.sqrt((residual ** 2).mean(1)),
                                 "joints": self.core.qpos[:, self.core.joint_qpos].copy(),
                                 "progress": info["progress"].copy(), "xy": self.core.qpos[:, :2].copy(),
                                 "contact": info["foot_contact"].copy(), "scan_roughness": scan,
                                 "command": None if self.method == "no-prior" else {
                                     k: np.array(v, copy=True) for k, v in self.command.items()}})
        self.prev_target = target
        terminated = info["reached"] | info["fell"]
        truncated = info["truncated"] & ~terminated
        final_obs = self.observation()
        done = terminated | truncated
        if done.any() and not self.record:
            ended = np.nonzero(done)[0]
            rough = None if curriculum_max is None else self.rng.uniform(0.0, curriculum_max, size=len(ended))
            self.core.reset(ended, roughness=rough)
            self.phase[ended] = 0.0
            self.prev_target[ended] = self.core.qpos[ended][:, self.core.joint_qpos]
        return StepResult(obs=self.observation(), reward=reward, terminated=terminated, truncated=truncated,
                          final_obs=final_obs)


# %% [markdown]
# ## Experiments
#
# Each method and seed trains a high-level PPO policy for `high_updates` updates of `n_envs` × `rollout_steps`
# steps with the roughness curriculum. It is then evaluated, with the mean action, on `eval_episodes` fresh episodes
# per roughness in `eval_roughness`; the terrains, boxes and goals are the same for every method and seed.
#
# Everything runs on the CPU whatever `device` says: the simulator is CPU MuJoCo and the policies (two hidden layers
# of `hidden` units, and the prior) act on `n_envs` observations per control step inside the simulation loop, where a
# GPU round trip would cost more than the matrix products. `timing.json` records the device that was available.

# %%
def make_policy(method: str, seed: int) -> ActorCritic:
    torch.manual_seed(derive_seed(seed, method, "init"))
    return ActorCritic(N_HIGH_OBS, "gaussian", ACT_DIM[method], hidden=(hidden, hidden))


def training_updates(method: str) -> int:
    """PPO updates of a method: no-prior's budget includes the steps the others inherit from the prior."""
    return no_prior_updates if method == "no-prior" else high_updates


def train_high(method: str, seed: int, learning_rate: float) -> tuple[ActorCritic, RunningMeanStd, list[dict]]:
    task = GoalTask(method, n_envs, derive_seed(seed, "train"), roughness=0.0)
    model = make_policy(method, seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n_updates = training_updates(method)
    ppo = PPOConfig(update_epochs=ppo_epochs, num_minibatches=ppo_minibatches)
    norm = RunningMeanStd(shape=(N_HIGH_OBS,))
    generator = torch.Generator().manual_seed(derive_seed(seed, method, "ppo"))
    obs, start, curve = task.observation(), np.ones(n_envs, dtype=bool), []
    for update in range(1, n_updates + 1):
        level = train_roughness * min(1.0, update / max(1.0, n_updates / 2))   # linear ramp over the first half

        def env_step(u, level=level):
            return task.step(u, curriculum_max=level)

        rollout = collect_rollout(model, env_step, obs, start, rollout_steps, generator, gamma, gae_lambda,
                                  obs_norm=norm)
        obs, start = rollout.next_obs, rollout.next_start
        ppo_update(model, optimiser, rollout.batch, ppo, generator)
        penalty = task.penalty_sum / task.penalty_steps
        task.penalty_sum, task.penalty_steps = 0.0, 0
        curve.append({"update": update, "curriculum_roughness": level,
                      "train_return_per_step": float(rollout.rewards.mean()),
                      "train_goal_reward_per_step": float(rollout.rewards.mean()) - penalty,
                      "train_episodes": float(rollout.dones.sum())})
    return model, norm, curve


def evaluate(model: ActorCritic, norm: RunningMeanStd, method: str, roughness: float, seed: int,
             episodes: int, purpose: str = "eval", replay_prior: bool = False) -> dict:
    """One episode per env on terrains drawn for this seed (the same for every method: paired), mean actions.
    Roughness 0 is truly flat: no boxes either."""
    task = GoalTask(method, episodes, derive_seed(seed, purpose, roughness), roughness=roughness, record=True,
                    boxes=0 if roughness == 0 else None)
    active = np.ones(episodes, dtype=bool)
    for _ in range(episode_steps):
        with torch.no_grad():
            obs = torch.as_tensor(norm.normalize(task.observation()), dtype=torch.float32)
            u = model.distribution(obs).mean.numpy()
        task.step(u)
        rec = task.records[-1]
        rec["active"] = active.copy()
        active &= ~(rec["reached"] | rec["fell"] | rec["truncated"])
        if not active.any():
            break
    out = summarise(task, method)
    if replay_prior and method != "no-prior":
        out.update(prior_flat_gait(task, seed))
    return out


def prior_flat_gait(task: GoalTask, seed: int) -> dict[str, float]:
    """The prior alone on truly flat ground replaying, step by step, the latent commands the high level sent in
    ``task``'s episodes (no residual, no bumps, no boxes): its own gait under the same commands."""
    act = np.array([r["active"] for r in task.records])
    core = AntTerrainCore(AntTerrainConfig(roughness=0.0, n_boxes=0, max_steps=episode_steps), act.shape[1],
                          seed=derive_seed(seed, "prior-flat"))
    contacts = []
    for rec in task.records:
        info = core.step(core.clip_targets(PRIOR.targets(core, rec["command"])))
        contacts.append(info["foot_contact"].copy())
    return {f"prior_flat_{k}": v for k, v in episode_gaits(np.array(contacts), act).items()}


WINDOW = int(round(1.0 / DT))      # control steps in the 1-s windows of the gait statistics


def gait_statistics(contact: np.ndarray) -> dict[str, float]:
    """Foot-contact statistics of one episode (contact: (T, 4) booleans, legs 1..4), as medians over its 1-s windows
    after the first second: the duty factor (share of the window a foot is on the ground, feet averaged), the stride
    frequency (touchdowns per foot per second) and the diagonal synchrony (share of steps in which both diagonal pairs
    (1, 3) and (2, 4), in phase in a trot, agree). NaN when the episode is shorter than two seconds."""
    windows = [contact[s_:s_ + WINDOW] for s_ in range(WINDOW, len(contact) - WINDOW + 1, WINDOW)]
    if not windows:
        return {"duty_factor": float("nan"), "stride_frequency": float("nan"), "diagonal_sync": float("nan")}
    rows = [(w.mean(), (~w[:-1] & w[1:]).sum(0).mean() / (WINDOW * DT),
             ((w[:, 0] == w[:, 2]) & (w[:, 1] == w[:, 3])).mean()) for w in windows]
    duty, stride, sync = np.median(np.array(rows, dtype=float), axis=0)
    return {"duty_factor": float(duty), "stride_frequency": float(stride), "diagonal_sync": float(sync)}


def episode_gaits(contact: np.ndarray, act: np.ndarray) -> dict[str, float]:
    """Mean over the episodes (of at least two seconds) of their gait statistics."""
    per_episode = [gait_statistics(contact[:act[:, e].sum(), e].astype(bool)) for e in range(act.shape[1])]
    return {k: float(np.nanmean([g[k] for g in per_episode])) if any(np.isfinite(g[k]) for g in per_episode)
            else float("nan") for k in per_episode[0]}


def summarise(task: GoalTask, method: str) -> dict:
    records = task.records
    act = np.array([r["active"] for r in records])                         # (T, E) steps of each episode
    reached = np.array([r["reached"] for r in records]) & act
    fell = np.array([r["fell"] for r in records]) & act
    steps_to_goal = np.where(reached.any(0), reached.argmax(0) + 1, np.nan)
    out = {"success": float(reached.any(0).mean()), "fall": float(fell.any(0).mean()),
           "time_to_goal_s": float(np.nanmean(steps_to_goal) * DT) if reached.any() else float("nan"),
           # net distance covered towards the goal per episode, Σ_t (d_{t−1} − d_t)
           "progress_m": float((np.array([r["progress"] for r in records]) * act).sum(0).mean())}
    for key in ("joint_acc", "action_rate", "torque2", "foot_slip", "residual"):
        values = np.array([r[key] for r in records])
        out[key] = float((values * act).sum() / act.sum())
    # per metre walked: Σ over the steps of all episodes / Σ of their path lengths (standing still earns nothing)
    xy = np.array([r["xy"] for r in records])                                # (T, E, 2) after each step
    step_length = np.linalg.norm(np.diff(np.concatenate([task.start_xy[None], xy]), axis=0), axis=2)
    path = float((step_length * act).sum())
    out["path_m"] = path / act.shape[1]
    for key in ("joint_acc", "action_rate"):
        values = np.array([r[key] for r in records])
        out[f"{key}_per_m"] = float((values * act).sum() / max(path, 1e-6))
    out.update(episode_gaits(np.array([r["contact"] for r in records]), act))
    # the per-step pairs (local roughness of the scan the policy saw, residual RMS) of the active steps
    out["scan_residual"] = np.stack([np.array([r["scan_roughness"] for r in records])[act],
                                     np.array([r["residual"] for r in records])[act]], -1).astype(np.float32)
    out["goals"], out["boxes"] = task.core.goal.astype(np.float32), task.core.boxes.astype(np.float32)
    joints = np.array([r["joints"] for r in records])                      # (T, E, 8)
    out["gait_similarity"] = float(np.mean([gait_similarity(joints[:act[:, e].sum(), e])
                                            for e in range(act.shape[1])]))
    # torso path of each episode, float32 (x, y) per step: plotted, and kept compact in the raw results
    out["trajectories"] = [np.array([r["xy"][e] for r, a in zip(records, act[:, e]) if a], dtype=np.float32)
                           for e in range(act.shape[1])]
    return out


# %% [markdown]
# **Similarity to the reference gait.** For a joint trajectory q_{1..T} (8 joints), the best Pearson correlation
# with a reference trot trajectory q_ref(φ₀ + 2πf t Δt) over a grid of frequencies, amplitudes fixed at their
# mid-range, 8 headings and 12 initial phases (both series centred per joint). 1 means the joints move exactly like
# some trot; the no-prior policy is measured the same way.

# %%
SIM_FREQS = np.linspace(LATENT.frequency[0], LATENT.frequency[1], 7)
SIM_HEADINGS = np.linspace(-np.pi, np.pi, 8, endpoint=False)
SIM_PHASES = np.linspace(0, 2 * np.pi, 12, endpoint=False)


def gait_similarity(q: np.ndarray) -> float:
    t = len(q)
    if t < 25:                       # under one second: too short to call a gait
        return float("nan")
    f, psi, phi0 = (a.ravel() for a in np.meshgrid(SIM_FREQS, SIM_HEADINGS, SIM_PHASES, indexing="ij"))
    phase = phi0[:, None] + 2 * np.pi * f[:, None] * np.arange(t)[None, :] * DT       # (K, T)
    k = len(f)
    latent = {"gait": np.zeros(k * t, int), "frequency": np.repeat(f, t),
              "hip_amplitude": np.full(k * t, np.mean(LATENT.hip_amplitude)),
              "ankle_amplitude": np.full(k * t, np.mean(LATENT.ankle_amplitude)),
              "heading": np.repeat(psi, t), "phase": phase.ravel()}
    ref = G.reference_pose(latent, GAIT).reshape(k, t, 8)
    ref = ref - ref.mean(1, keepdims=True)
    x = q - q.mean(0, keepdims=True)
    num = (ref * x[None]).sum((1, 2))
    den = np.sqrt((ref ** 2).sum((1, 2)) * (x ** 2).sum()) + 1e-12
    return float((num / den).max())


ROUGHNESS_BINS_CM = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0)   # local roughness bins of the residual profile


def residual_profile(evals: dict) -> dict:
    """Per-step residual RMS against the local roughness of the scan the policy saw, pooled over the evaluation
    terrains: the OLS slope (rad per cm) and intercept, and the mean residual and step count per roughness bin."""
    pairs = np.concatenate([ev.pop("scan_residual") for ev in evals.values()])
    rough_cm, residual = 100.0 * pairs[:, 0].astype(float), pairs[:, 1].astype(float)
    # residual_t = β0 + β1 · roughness_t + ε_t, least squares over the active steps
    slope = stats.slope(rough_cm, residual) if np.ptp(rough_cm) > 0 else 0.0
    intercept = float(residual.mean() - slope * rough_cm.mean())
    which = np.digitize(rough_cm, ROUGHNESS_BINS_CM[1:-1])
    return {"slope_rad_per_cm": float(slope), "intercept_rad": float(intercept),
            "bin_mean": [float(residual[which == b].mean()) if (which == b).any() else float("nan")
                         for b in range(len(ROUGHNESS_BINS_CM) - 1)],
            "bin_steps": [int((which == b).sum()) for b in range(len(ROUGHNESS_BINS_CM) - 1)]}


def run(method: str, seed: int, learning_rate: float) -> dict:
    torch.set_num_threads(1)
    start = time.perf_counter()
    model, norm, curve = train_high(method, seed, learning_rate)
    train_s = time.perf_counter() - start
    evals = {r: evaluate(model, norm, method, r, seed, eval_episodes, replay_prior=(r == max(eval_roughness)))
             for r in eval_roughness}
    return {"method": method, "seed": seed, "learning_rate": learning_rate, "curve": curve, "eval": evals,
            "residual_profile": residual_profile(evals) if method != "no-prior" else None,
            "timing": {"train_s": train_s}}   # wall clock: kept apart from the results


# %% [markdown]
# ## Tuning: the same budget for ours and for no-prior
#
# Declared before tuning: the paper's method and the no-prior baseline each get `tuning_budget` Adam step sizes from
# the grid below, each trained for its full run on each tuning seed (disjoint from the reported seeds), and are
# selected by the highest **mean progress towards the goal per episode** on validation terrains (drawn from the
# tuning seed, never the test terrains) at every evaluation roughness, `tuning_episodes` episodes each. The two
# ablations (zero penalty, latent only) change one part of ours and keep its selected step size, as ablations do.
# The grid brackets the step size every method used before tuning existed (3e-4).

# %%
STEP_SIZE_GRID = (1e-4, 3e-4, 1e-3)
TUNED_METHODS = ("prior-residual", "no-prior")
SPACES = {meth: tune.Space(learning_rate=tune.Grid(*STEP_SIZE_GRID)) for meth in TUNED_METHODS}
SETUP = tune.Setup(metric="validation_progress_m", direction="maximize", budget=tuning_budget,
                   seeds=tuning_seeds, sampler="grid")


def trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial: a full training run, then validation episodes at every evaluation roughness."""
    torch.set_num_threads(1)
    model, norm, _ = train_high(method, seed, config["learning_rate"])
    evals = [evaluate(model, norm, method, r, seed, tuning_episodes, purpose="validation") for r in eval_roughness]
    return {"validation_progress_m": float(np.mean([ev["progress_m"] for ev in evals])),
            "validation_success": float(np.mean([ev["success"] for ev in evals]))}


# %% tags=["tuning"]
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
TUNED = tune.tune(TUNING_RUNNER, trial, {m: space for m, space in SPACES.items() if m in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
print(TUNED.summary())

# %% tags=["experiments"]
# the ablations keep the step size selected for ours
CONFIG = {meth: TUNED.selected[meth] if meth in TUNED.selected else TUNED.selected[OURS] for meth in methods}
TASKS = [dict(method=m, seed=s, **CONFIG[m]) for m in methods for s in seeds]
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
RESULTS = RUNNER.run("runs", run, TASKS, desc="high-level training runs",
                     cost=lambda task: training_updates(task["method"]))


# %%
# analysis side: tables, facts, tuning summary (never used by a task, so editing them never retrains)
from hrlkit.claims import Fact, FactsTable, equivalence
from hrlkit.display import prose, table


def runs_rows():
    for r in RESULTS:
        key = dict(method=r["method"], seed=r["seed"])
        last = training_updates(r["method"])
        for point in r["curve"]:
            for metric in ("train_return_per_step", "train_goal_reward_per_step", "curriculum_roughness",
                           "train_episodes"):
                yield dict(key, metric=metric, value=point[metric], step=point["update"])
        for rough, ev in r["eval"].items():
            for metric, value in ev.items():
                if np.isscalar(value):          # trajectories, goals and boxes stay in the raw results
                    yield dict(key, metric=metric, value=value, step=last, roughness=rough)
        profile_ = r["residual_profile"]
        if profile_:
            for metric in ("slope_rad_per_cm", "intercept_rad"):
                yield dict(key, metric=f"residual_{metric}", value=profile_[metric], step=last)
            for b, (mean_, steps_) in enumerate(zip(profile_["bin_mean"], profile_["bin_steps"])):
                yield dict(key, metric="residual_bin_mean", value=mean_, step=last, bin=b)
                yield dict(key, metric="residual_bin_steps", value=steps_, step=last, bin=b)


GAIT_KEYS = ("duty_factor", "stride_frequency", "diagonal_sync")
RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT, missing={
    "time_to_goal_s": "no evaluation episode of the run reached the goal",
    "residual_bin_mean": "no evaluation step of the run fell in that roughness bin",
    **{k: "no evaluation episode of the run lasted two seconds" for k in GAIT_KEYS},
    **{f"prior_flat_{k}": "no evaluation episode of the run lasted two seconds" for k in GAIT_KEYS}})
print(f"runs.csv: {len(RUNS)} rows from {len(RESULTS)} runs")

# %% [markdown]
# ## Tuning
#
# The step-size trials (mean over the tuning seeds), and where each selection sits in the grid: an edge selection
# says the best step size may lie beyond it.

# %%
TUNING_TABLE = TUNED.configuration_table([SETUP.metric, "validation_success"])
display(table(TUNING_TABLE.assign(**{"config.learning_rate": TUNING_TABLE["config.learning_rate"].map("{:g}".format)})
              .round({SETUP.metric: 3, "validation_success": 3}).rename(columns={
                  "config.learning_rate": "step size", SETUP.metric: "validation progress to goal (m)",
                  "validation_success": "validation success"}), f"Mean over tuning seeds {tuning_seeds}. "
              + TUNED.summary()))
display(prose([f"Selected step sizes on the grid {{{', '.join(f'{v:g}' for v in STEP_SIZE_GRID)}}}: "
               + "; ".join(f"{m_} {TUNED.selected[m_]['learning_rate']:g} "
                           f"({TUNED.position(m_, 'learning_rate')})" for m_ in TUNED.selected)
               + f". The ablations use ours' ({CONFIG[OURS]['learning_rate']:g})."]))

# %% [markdown]
# ## Results
#
# ### Training curves
#
# Against the environment steps of each run. No-prior trains for as many steps as the prior and the high level
# together (budget parity). Every curve starts at 0: the prior's own steps, which the prior-based methods inherit,
# are not drawn.

# %%
COLOURS = dict(zip(methods, sns.color_palette(n_colors=len(methods))))   # one colour per method in every figure
curves = RUNS[RUNS["metric"].isin(["train_return_per_step", "train_goal_reward_per_step"])].copy()
curves["env_steps"] = curves["step"] * n_envs * rollout_steps
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
for ax, metric, label in [(axes[0], "train_return_per_step", "reward per step (with the residual penalty)"),
                          (axes[1], "train_goal_reward_per_step", "goal terms of the reward per step")]:
    sns.lineplot(data=curves[curves["metric"] == metric], x="env_steps", y="value", hue="method", hue_order=methods,
                 palette=COLOURS, ax=ax, legend=(ax is axes[1]), **figures.SEEDS_BAND)
    ax.set(xlabel="environment steps of the run", ylabel=label)
sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "training", f"High-level training reward per step vs environment steps "
                    f"({figures.band_caption()}): left the full reward, right without the residual penalty; the "
                    "roughness curriculum ramps over the first half of each run.", **SAVE)
plt.show()

LAST_QUARTER = 0.25   # the plateau check: the slope of the goal reward over the last quarter of the updates


def late_slope(method: str) -> np.ndarray:
    """Per seed: least-squares slope of the goal reward per step over the last quarter of updates, per 100 updates."""
    sel = RUNS[(RUNS["metric"] == "train_goal_reward_per_step") & (RUNS["method"] == method)]
    last = training_updates(method)
    sel = sel[sel["step"] > last - max(3, int(LAST_QUARTER * last))]     # at least three updates
    return stats.Sample([100 * stats.slope(g["step"], g["value"]) for _, g in sel.groupby("seed")],
                        f"late slope of {method}")


CHECKABLE = min(training_updates(m_) for m_ in methods) >= 3
RISING = [m_ for m_ in methods if CHECKABLE and stats.bootstrap_ci(late_slope(m_))[1][0] > 0]
PLATEAU_TEXT = ("Too few updates in this profile for the plateau check." if not CHECKABLE else
                f"Still improving at the end of training (slope of the goal reward over the last quarter of the "
                f"updates, 95 % CI above 0): {', '.join(RISING) if RISING else 'none'}."
                + (" Their comparisons are between methods that have not converged." if RISING else ""))
display(prose([PLATEAU_TEXT] + [f"- {m_}: {stats.format_ci(late_slope(m_), spec='.3g')} per 100 updates"
                                for m_ in methods if CHECKABLE]))

# %% [markdown]
# ### Success, time to goal and falls per roughness (T1)

# %%
def per_seed(metric: str, method: str, rough: float) -> np.ndarray:
    return runs.per_seed(RUNS, metric, method, roughness=rough)


fmt = stats.format_ci      # time to goal is missing (—) when no episode of any seed reached the goal


T1 = pd.DataFrame([{"method": m, "roughness (m)": r, "success": fmt(per_seed("success", m, r)),
                    "time to goal (s)": fmt(per_seed("time_to_goal_s", m, r)), "falls": fmt(per_seed("fall", m, r)),
                    "progress to goal (m)": fmt(per_seed("progress_m", m, r)),
                    "path walked (m)": fmt(per_seed("path_m", m, r))}
                   for r in eval_roughness for m in methods])
display(table(T1, f"IQM over {len(seeds)} seeds [95 % CI], {eval_episodes} episodes per seed and roughness, on "
                  "terrains drawn per seed and shared by every method (time to goal over the seeds with at least one "
                  "success). Roughness 0 is flat ground without boxes."))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for ax, metric, label in [(axes[0], "success", "success rate"), (axes[1], "fall", "fall rate")]:
    sns.lineplot(data=RUNS[RUNS["metric"] == metric], x="roughness", y="value", hue="method", hue_order=methods,
                 palette=COLOURS, marker="o", ax=ax, legend=(metric == "fall"), **figures.SEEDS_BAND)
    ax.set(xlabel="terrain roughness (m)", ylabel=label, ylim=(-0.05, 1.05))
sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "success", f"Success and fall rates vs terrain roughness ({figures.band_caption()}).",
                    **SAVE)
plt.show()

# %% [markdown]
# ### Motion regularity (T2), per step and per metre walked
#
# Per step, a policy that stands still scores best; per metre walked (the sum over every step of the seed's
# episodes divided by the distance its torso travelled), standing still earns nothing.

# %%
REGULARITY = {"joint_acc": "|joint acc| per step (rad/s²)", "joint_acc_per_m": "|joint acc| per metre",
              "action_rate": "action rate per step (rad)", "action_rate_per_m": "action rate per metre (rad/m)",
              "torque2": "torque² (N²m²)", "foot_slip": "foot slip (m/s)", "gait_similarity": "similarity to trot"}
T2 = pd.DataFrame([{"method": m, "roughness (m)": r, **{label: fmt(per_seed(k, m, r)) for k, label in
                                                        REGULARITY.items()}}
                   for r in eval_roughness for m in methods])
display(table(T2, "IQM over seeds [95 % CI]."))

# %% [markdown]
# ### Does the gait survive rough terrain? The prior's own gait as the reference
#
# Foot contacts give, per 1-s window, the duty factor, the stride frequency and the diagonal synchrony (the share of
# steps in which both diagonal leg pairs, in phase in a trot, agree). The reference is the prior alone on flat
# ground without boxes, replaying step by step the latent commands the high level sent in its episodes at the
# roughest terrain: the same commands, without the residual and without the terrain.

# %%
GAIT_LABELS = {"duty_factor": "duty factor", "stride_frequency": "touchdowns per foot per second",
               "diagonal_sync": "diagonal synchrony"}
gait_rows = [{"who": f"{m} at {max(eval_roughness)} m", **{label: fmt(per_seed(k, m, max(eval_roughness)))
                                                          for k, label in GAIT_LABELS.items()}} for m in methods]
gait_rows += [{"who": f"the prior alone, flat, replaying {m}'s commands",
               **{label: fmt(per_seed(f"prior_flat_{k}", m, max(eval_roughness))) for k, label in GAIT_LABELS.items()}}
              for m in methods if m != "no-prior"]
display(table(pd.DataFrame(gait_rows), "Medians over 1-s windows after the first second, mean over episodes, IQM "
              "over seeds [95 % CI]."))

# %% [markdown]
# ### Residual magnitude against the local roughness under the robot (F1)
#
# Every evaluation step pairs the residual's RMS with the roughness of the height scan the policy saw at that step
# (the RMS deviation of the 7×7 scan from its best-fit plane, so a uniform slope reads 0), pooled over the
# evaluation terrains, flat ground included. A per-seed least-squares slope measures how the residual grows with the
# local roughness.

# %%
bins = RUNS[RUNS["metric"] == "residual_bin_mean"].copy()
bins["local roughness (cm)"] = [f"{ROUGHNESS_BINS_CM[int(b)]:g}–{ROUGHNESS_BINS_CM[int(b) + 1]:g}" for b in bins["bin"]]
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
sns.pointplot(data=bins, x="local roughness (cm)", y="value", hue="method", palette=COLOURS, ax=axes[0],
              order=[f"{a:g}–{b:g}" for a, b in zip(ROUGHNESS_BINS_CM[:-1], ROUGHNESS_BINS_CM[1:])],
              dodge=0.3, linestyle="none", capsize=0.1, **figures.SEEDS_BAND)
axes[0].set(ylabel="residual RMS (rad)")
sns.move_legend(axes[0], "lower left", bbox_to_anchor=(0, 1.02), ncol=3, frameon=False)
sns.lineplot(data=RUNS[RUNS["metric"] == "gait_similarity"], x="roughness", y="value", hue="method",
             hue_order=methods, palette=COLOURS, marker="o", ax=axes[1], legend=False, **figures.SEEDS_BAND)
axes[1].set(xlabel="terrain roughness (m)", ylabel="similarity to the reference trot")
fig.tight_layout()
figures.save_figure(fig, "residuals", "Left: residual RMS per bin of the local roughness of the scan the policy saw "
                    f"(every evaluation step, {figures.band_caption()}). Right: similarity of the joint trajectories "
                    "to the reference trot vs terrain roughness.", **SAVE)
plt.show()
slopes = {m_: runs.per_seed(RUNS, "residual_slope_rad_per_cm", m_) for m_ in methods if m_ != "no-prior"}
display(prose([f"- {m_}: slope {stats.format_ci(v, spec='.3g')} rad per cm of local roughness (IQM over seeds)"
               for m_, v in slopes.items()]))

# %% [markdown]
# ### Top-down trajectories through the obstacle field (F3)

# %%
rough_max = max(eval_roughness)
SHOWN_EPISODES = 3
fig, axes = plt.subplots(SHOWN_EPISODES, len(methods), figsize=(3.2 * len(methods), 3.2 * SHOWN_EPISODES),
                         sharex=True, sharey=True, squeeze=False)
for col, m in enumerate(methods):
    r = next(x for x in RESULTS if x["method"] == m and x["seed"] == seeds[0])
    ev = r["eval"][rough_max]
    for row, path in enumerate(ev["trajectories"][:SHOWN_EPISODES]):
        ax = axes[row, col]
        for b in ev["boxes"][row]:
            ax.add_patch(plt.Rectangle((b[0] - b[2], b[1] - b[3]), 2 * b[2], 2 * b[3], color="0.6"))
        path = np.array(path)
        ax.plot(path[:, 0], path[:, 1], lw=1.5, color=COLOURS[m])
        ax.plot(*ev["goals"][row], marker="*", ms=12, color="crimson")
        ax.plot(path[0, 0], path[0, 1], marker="o", color="k")
        ax.set(xlim=(-7, 7), ylim=(-7, 7), aspect="equal", xlabel="x (m)", ylabel="y (m)",
               title=f"{m}, episode {row + 1}")
fig.tight_layout()
figures.save_figure(fig, "trajectories", f"Top-down torso paths of the first {SHOWN_EPISODES} evaluation episodes at "
                    f"roughness {rough_max} m (seed {seeds[0]}, the same terrains for every method): boxes grey, "
                    "start black, goal red.", **SAVE)
plt.show()

# %% [markdown]
# ## Claims
#
# Every method is evaluated on the same terrains, boxes and goals for a given seed and roughness, and trained on the
# same seeds, so comparisons are **paired**: the statistic is the IQM of per-seed differences, with a 95 % bootstrap
# CI that resamples seeds (`hrlkit.claims`).
#
# **Declared and post hoc.** The rows without a suffix keep the sentence, statistic and threshold of the first
# version of this notebook (C1a now has a truly flat end: no boxes at roughness 0). The rows with a suffix were
# written for this version, after the first version's results had been seen and before this version's runs: the
# residual against the local roughness (C1a-local), the gait against the prior's own (C1b-duty, C1b-sync), and
# regularity per metre walked (C2a-m, C2b-m). They are exploratory, get no Holm p-value, and never replace a declared
# verdict. The paper compares regularity "at similar task success", a precondition of C2a–b checked as an
# equivalence (the whole paired CI of the success difference inside ±`SIMILAR_SUCCESS`, a tolerance declared in
# the first version without a source); the per-metre rows need instead that both methods walk (`MIN_PROGRESS`).
# The gait rows' tolerance `GAIT_TOLERANCE` is declared here, before the runs: a tenth of the range of each
# statistic (both lie in [0, 1]).

# %%
SIMILAR_SUCCESS = 0.15     # "at similar task success": |success difference| below this
SIMILAR = f"similar task success: the paired 95 % CI of the success difference inside ±{SIMILAR_SUCCESS:g}"
MIN_PROGRESS = 2.0         # m: both methods cover at least this much of the 4–6 m to the goal per episode (mean)
GAIT_TOLERANCE = 0.1       # duty factor and diagonal synchrony, both in [0, 1]
INSTRUMENT = ("the foot-contact instrument is valid: the prior alone, replaying ours' commands on flat ground, shows "
              "no more touchdowns per foot per second than the highest trot frequency it can be commanded")
WALKS = f"both methods walk: progress to the goal at least {MIN_PROGRESS:g} m per episode (IQM over terrains)"
CLAIMS = ClaimsTable([
    Claim("C1a", "Learned residuals adapt to progressively challenging terrain",
          "residual RMS of prior-residual at the roughest vs the flattest evaluation terrain",
          "IQM residual(rough) − IQM residual(flat)", threshold=0.0, direction=">"),
    Claim("C1a-local", "… residuals grow with the roughness under the robot",
          "per-step residual RMS regressed on the local roughness of the height scan, all evaluation terrains",
          "IQM over seeds of the least-squares slope (rad per cm)", threshold=0.0, direction=">", post_hoc=True),
    Claim("C1b", "… while still preserving the locomotion characteristics of the prior",
          "similarity to the reference trot at the roughest terrain, prior-residual vs no-prior",
          "IQM similarity(prior-residual) − IQM similarity(no-prior)", threshold=0.0, direction=">"),
    Claim("C1b-duty", "… preserving the prior's gait: the duty factor",
          f"duty factor at {max(eval_roughness)} m vs the prior alone on flat ground under the same commands",
          "IQM over seeds of |duty(prior-residual) − duty(prior, flat)|", threshold=GAIT_TOLERANCE, direction="<",
          precondition=INSTRUMENT, post_hoc=True),
    Claim("C1b-sync", "… preserving the prior's gait: the diagonal (trot) synchrony",
          f"diagonal synchrony at {max(eval_roughness)} m vs the prior alone on flat ground under the same commands",
          "IQM over seeds of sync(prior, flat) − sync(prior-residual)", threshold=GAIT_TOLERANCE, direction="<",
          precondition=INSTRUMENT, post_hoc=True),
    Claim("C2a", "Better motion regularisation than a policy trained without motion priors (action rate)",
          "action rate, averaged over the evaluation terrains", "IQM rate(no-prior) − IQM rate(prior-residual)",
          threshold=0.0, direction=">", precondition=SIMILAR),
    Claim("C2a-m", "… (action rate per metre walked)", "action rate per metre walked, averaged over the terrains",
          "IQM over seeds of rate/m(no-prior) − rate/m(prior-residual)", threshold=0.0, direction=">",
          precondition=WALKS, post_hoc=True),
    Claim("C2b", "Better motion regularisation than a policy trained without motion priors (joint acceleration)",
          "|joint acceleration|, averaged over the evaluation terrains",
          "IQM acc(no-prior) − IQM acc(prior-residual)", threshold=0.0, direction=">", precondition=SIMILAR),
    Claim("C2b-m", "… (joint acceleration per metre walked)",
          "|joint acceleration| per metre walked, averaged over the terrains",
          "IQM over seeds of acc/m(no-prior) − acc/m(prior-residual)", threshold=0.0, direction=">",
          precondition=WALKS, post_hoc=True),
    Claim("C3a", "A zero residual penalty degrades the style (similarity to the gait)",
          "similarity to the reference trot, averaged over terrains",
          "IQM similarity(prior-residual) − IQM similarity(zero-penalty)", threshold=0.0, direction=">"),
    Claim("C3b", "A zero residual penalty degrades the style (action rate)",
          "action rate, averaged over terrains", "IQM rate(zero-penalty) − IQM rate(prior-residual)",
          threshold=0.0, direction=">"),
    Claim("C4", "Residuals are needed on rugged terrain (latent-only is not enough)",
          "success at the roughest terrain", "IQM success(prior-residual) − IQM success(latent-only)",
          threshold=0.0, direction=">"),
    Claim("H1", "Real-world ANYmal-D experiments", "—", "—", threshold=0.0, direction=">"),
])


def averaged(metric: str, method: str) -> np.ndarray:
    """Per seed: mean over the evaluation terrains."""
    return stats.Sample(np.mean([per_seed(metric, method, r) for r in eval_roughness], axis=0),
                        f"{metric} of {method}, mean over terrains")


lo_r, hi_r = min(eval_roughness), max(eval_roughness)
CLAIMS["C1a"].compare(per_seed("residual", OURS, hi_r), per_seed("residual", OURS, lo_r), ("rough", "flat"))
# found in review: the regression cannot separate the terrain from the boxes (no per-step box flag is stored)
CLAIMS["C1a-local"].untestable(
    f"confounded (found in review): the bumps give little local roughness, so the rough end of the regression is "
    f"mostly steps with a box in view, and below it local roughness follows the terrain level, so the slope "
    f"({stats.format_ci(slopes[OURS], spec='.3g')} rad per cm) mixes the boxes' effect with C1a's between-terrain "
    "contrast; separating them needs a per-step box flag, which this version does not store")
TOUCHDOWNS = float(stats.iqm(per_seed("prior_flat_stride_frequency", OURS, hi_r)))
INSTRUMENT_OK = TOUCHDOWNS <= LATENT.frequency[1]
INSTRUMENT_WHAT = (f"the prior alone shows {TOUCHDOWNS:.3g} touchdowns per foot per second (IQM over seeds) against "
                   f"a highest commandable trot frequency of {LATENT.frequency[1]:g} Hz: the tip touch sensors "
                   "chatter or miss stance, so duty factor and synchrony are not yet valid measures of the gait")
# |duty(prior-residual at the roughest) − duty(prior alone on flat ground, same commands)| per seed
if CLAIMS["C1b-duty"].require(INSTRUMENT_OK, INSTRUMENT_WHAT):
    CLAIMS["C1b-duty"].measure_units(
        np.abs(per_seed("duty_factor", OURS, hi_r) - per_seed("prior_flat_duty_factor", OURS, hi_r)),
        note=f"prior-residual {fmt(per_seed('duty_factor', OURS, hi_r))}, the prior alone "
             f"{fmt(per_seed('prior_flat_duty_factor', OURS, hi_r))}")
if CLAIMS["C1b-sync"].require(INSTRUMENT_OK, INSTRUMENT_WHAT):
    CLAIMS["C1b-sync"].measure_units(
        per_seed("prior_flat_diagonal_sync", OURS, hi_r) - per_seed("diagonal_sync", OURS, hi_r),
        note=f"prior-residual {fmt(per_seed('diagonal_sync', OURS, hi_r))}, the prior alone "
             f"{fmt(per_seed('prior_flat_diagonal_sync', OURS, hi_r))}")
SIMILARITY = {}
if "no-prior" in methods:
    SIMILARITY = {m: stats.iqm(per_seed("gait_similarity", m, hi_r)) for m in (OURS, "no-prior")}
    # the executed joint target *is* the reference gait plus a bounded residual: this similarity cannot come out
    # lower for the prior-based policy, so it is a fact (F1), not a test
    CLAIMS["C1b"].untestable(f"holds by construction: prior-residual executes the reference gait plus a residual of "
                             f"at most {residual_scale:g} rad (fact F1); C1b-duty and C1b-sync test the gait instead")
    similar, what = equivalence(averaged("success", OURS), averaged("success", "no-prior"), SIMILAR_SUCCESS)
    for cid, metric in [("C2a", "action_rate"), ("C2b", "joint_acc")]:
        if CLAIMS[cid].require(similar, f"success {what}"):
            CLAIMS[cid].compare(averaged(metric, "no-prior"), averaged(metric, OURS), ("no-prior", OURS))
    progress = {m_: float(stats.iqm(averaged("progress_m", m_))) for m_ in (OURS, "no-prior")}
    walks = min(progress.values()) >= MIN_PROGRESS
    for cid, metric in [("C2a-m", "action_rate_per_m"), ("C2b-m", "joint_acc_per_m")]:
        if CLAIMS[cid].require(walks, "progress to the goal per episode: " + ", ".join(
                f"{m_} {v:.3g} m" for m_, v in progress.items()) + f" (needs ≥ {MIN_PROGRESS:g} m each)"):
            # found in review: a faster walker takes fewer steps per metre, and the torso path counts sway
            CLAIMS[cid].untestable(
                "confounded with speed (found in review): a per-metre sum favours the faster walker, and the "
                "torso path counts sway as metres; a matched-speed comparison needs the episode durations, which "
                "this version does not store (per-metre values "
                + fmt(averaged(metric, "no-prior") - averaged(metric, OURS)) + ", no-prior − ours, are in T2)")
else:
    for cid in ("C1b", "C2a", "C2b", "C2a-m", "C2b-m"):
        CLAIMS[cid].untestable("needs no-prior in `methods`")
if "zero-penalty" in methods:
    CLAIMS["C3a"].compare(averaged("gait_similarity", OURS), averaged("gait_similarity", "zero-penalty"),
                          (OURS, "zero-penalty"))
    CLAIMS["C3b"].compare(averaged("action_rate", "zero-penalty"), averaged("action_rate", OURS),
                          ("zero-penalty", OURS))
    _cap = float(stats.iqm(averaged("residual", "zero-penalty"))) / residual_scale
    for cid in ("C3a", "C3b"):
        CLAIMS[cid].note += (f"; the residual is clipped at {residual_scale:g} rad, so even without a penalty it "
                             f"cannot stray far from the prior: zero-penalty's residual RMS is {_cap:.0%} of the cap")
else:
    for cid in ("C3a", "C3b"):
        CLAIMS[cid].untestable("needs zero-penalty in `methods`")
if "latent-only" in methods:
    CLAIMS["C4"].compare(per_seed("success", OURS, hi_r), per_seed("success", "latent-only", hi_r),
                         (OURS, "latent-only"))
else:
    CLAIMS["C4"].untestable("needs latent-only in `methods`")
CLAIMS["H1"].untestable("no robot; the Ant in simulation only")
display(CLAIMS)

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests: what holds by construction, and what only describes the runs.

# %%
FACTS = FactsTable([f for f in [
    Fact("F1", f"similarity to the reference trot at {hi_r} m: prior-residual (IQM over seeds)", SIMILARITY[OURS],
         "by construction", note=f"no-prior {SIMILARITY['no-prior']:.3g}") if SIMILARITY else None,
    Fact("F2", "progress towards the goal per episode, averaged over terrains: no-prior (m, IQM over seeds)",
         stats.iqm(averaged("progress_m", "no-prior")), "descriptive",
         note=f"prior-residual {stats.iqm(averaged('progress_m', OURS)):.3g} m") if "no-prior" in methods else None,
    Fact("F3", "largest residual the high level can add to the prior's joint target (rad)", residual_scale,
         "by construction"),
    Fact("F4", "environment steps of no-prior's training (budget parity)", NO_PRIOR_STEPS, "by construction",
         note=f"the prior's {PRIOR_STEPS} plus the high level's {HIGH_STEPS}"),
] if f is not None])
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
DEVIATIONS = pd.DataFrame([
    ("Robot", "ANYmal-D (12 joints)", "Gymnasium's MuJoCo Ant (8 joints), PD joint-target servos, 25 Hz",
     "no ANYmal model offline; the Ant ships with gymnasium"),
    ("Reference motions", "retargeted animal mocap (walk, pace, canter)",
     f"parametric CPG gaits {list(PRIOR.cfg.gaits)} (hrlkit.envs.ant.gaits)", "no data download"),
    ("Latent", "FLD encoder (16-D latent)", "the generator's own parameters (gait, f, a_h, a_k, heading, phase)",
     "a latent with the same role and no encoder to train"),
    ("Low-level action", "joint targets", f"the analytic CPG pose plus a learned correction of at most "
     f"{PRIOR.cfg.action_scale:g} rad, q_ref + {PRIOR.cfg.action_scale:g}·Δq", "makes the prior learnable in ~1 M "
     "steps; the style therefore comes mostly from the generator, not from learned imitation"),
    ("Prior's command", "a latent from the FLD encoder", "the prior is trained with a heading-velocity reward and the "
     "high level sends an explicit heading: the latent acts as a velocity and heading command", "our latent's design"),
    ("High-level latent", "16-D latent command, any gait", "5 numbers → (f, a_h, a_k, heading), trot only",
     "our latent's size; the high level never switches gait"),
    ("Reward", "goal, velocity and other terms (not published)", "velocity to goal, +10 reached, −5 fall, "
     f"w_res = {w_res}", "only w_res is known; +10 and −5 were set in pilots of prior-residual, not tuned"),
    ("Residual penalty units", "w_res Σ a_res² (units not stated)",
     f"w_res Σ u_res² on the policy's output in [−1, 1]; a_res = {residual_scale}·u_res rad",
     "legged_gym's convention (penalties on raw actions); chosen after pilots in which the radian form was an order "
     "of magnitude below the goal reward"),
    ("Residual range", "not stated", f"±{residual_scale:g} rad per joint (clipped)", "set in pilots; it bounds what "
     "a missing penalty can do (C3a–b)"),
    ("No-prior action scale", "joint targets (scale not stated)", "standing pose + 0.5·u rad",
     "about the half-range of the Ant's hip joints"),
    ("Terrain", "stairs, obstacle fields, uneven terrain", f"bumps up to {max(eval_roughness)} m + {n_boxes} boxes; "
     "flat ground without boxes at roughness 0", "CPU budget"),
    ("Curriculum", "terrain curriculum (details not published)", "roughness up to a maximum that grows linearly "
     "over the first half of each run", "a simple curriculum of our own"),
    ("Training", "teacher–student, billions of steps", f"PPO, {high_updates} × {n_envs} × {rollout_steps} steps "
     f"(no-prior {no_prior_updates} updates: budget parity with the prior's steps)", "CPU budget; no student"),
    ("Tuning", "not described", f"the Adam step size of ours and of no-prior, {tuning_budget} values on tuning seeds "
     f"{tuning_seeds}; the ablations keep ours'", "equal budgets for the two compared policies"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={"success_roughest": headline_entry({m: per_seed("success", m, hi_r) for m in methods}),
              "progress_m": headline_entry({m: averaged("progress_m", m) for m in methods}),
              "action_rate_per_m": headline_entry({m: averaged("action_rate_per_m", m) for m in methods}),
              "gait_similarity": headline_entry({m: averaged("gait_similarity", m) for m in methods})},
    claims=CLAIMS, facts=FACTS, tuning=TUNED.to_json())
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=RUNNER.timing(),
            tuning=TUNING_RUNNER.timing(),
            train_seconds={f"{r['method']}/seed{r['seed']}": round(r["timing"]["train_s"], 1) for r in RESULTS})


def verdict_of(cid: str) -> str:
    c = CLAIMS[cid]
    return c.verdict + (f" ({c.value:+.3g})" if c.value is not None else "")


h = metrics_doc["headline"]
lines = [f"**In short.** Declared rows: " + ", ".join(f"{c.id} {c.verdict}" for c in CLAIMS if not c.post_hoc)
         + f". Exploratory rows: residual against local roughness {verdict_of('C1a-local')}; the prior's gait kept "
         f"on rough terrain, duty factor {verdict_of('C1b-duty')}, trot synchrony {verdict_of('C1b-sync')}; "
         f"regularity per metre against no-prior, action rate {verdict_of('C2a-m')}, joint acceleration "
         f"{verdict_of('C2b-m')}. {PLATEAU_TEXT}", ""]
lines += CLAIMS.summary_lines()
for m in methods:
    lines.append(f"- **{m}**: success at {hi_r} m {h['success_roughest'][m]['iqm']:.3g}, progress "
                 f"{h['progress_m'][m]['iqm']:.3g} m, action rate per metre {h['action_rate_per_m'][m]['iqm']:.3g} "
                 f"rad/m, similarity to trot {h['gait_similarity'][m]['iqm']:.3g} (IQM over {len(seeds)} seeds)")
display(prose(lines))
