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
# - **The prior does not imitate its reference gaits** here: the Ant's servos cannot follow them (facts F10, F11 and
#   the deviations). It is a clocked walking controller driven by the latent, so the style claims test whether the
#   high level keeps *the prior's own* gait, and the rows read against the reference trot are gated on imitation.
# - Training lengths in the hundreds of thousands of steps; no teacher–student distillation, no real robot.

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # one high-level training run per method and seed
tuning_seeds = [100]              # tuning seeds, disjoint from `seeds`
tuning_dir = "scratch/motion_priors/tuning"  # raw tuning trials, stored the same way as the runs
tuning_budget = 1                 # step sizes tried per tuned method (the same for every tuned method)
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
no_prior_scale = 0.5              # rad per unit of no-prior's action around the standing pose
train_roughness = 0.08            # curriculum: highest bump (m) reached at the end of the first half of training
n_boxes = 8                       # box obstacles per terrain
eval_roughness = [0.0, 0.08]      # evaluation terrains, highest bump (m); roughness 0 is truly flat (no boxes)
eval_episodes = 2                 # evaluation episodes per method, seed and roughness (terrains drawn per seed)
tuning_episodes = 2               # validation episodes per roughness of a tuning trial
episode_steps = 150               # control steps per episode (6 s at 25 Hz)

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
    no_prior_scale: P.Number(gt=0, le=1)
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
# π_low(s, z) = q_ref(z, φ) + s_low·clip(μ(s, z)), with its action scale s_low printed below, where q_ref is the
# reference gait (`hrlkit.envs.ant.gaits`):
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
display(Markdown(f"Prior: gaits {list(PRIOR.cfg.gaits)}, action scale s_low = {PRIOR.cfg.action_scale:g} rad, {PRIOR.cfg.updates} PPO updates × {PRIOR.cfg.n_envs} envs × "
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
# $$q^* = \pi_{low}(s, z) + a_{res},\qquad a_{res} = s_{res}\,\mathrm{clip}(u_{\mathrm{res}}, -1, 1),$$
#
# with u_res the last 8 of the 13 action numbers and s_res = `residual_scale` rad.
#
# **Reward** (the same terms for every method): velocity towards the goal, +10 on reaching it, −5 on a fall, and the
# residual penalty on the policy's residual output u_res, clipped to [−1, 1]
#
# $$r = \frac{d_{t-1} - d_t}{\Delta t} + 10\cdot\mathbb 1[\text{reached}] - 5\cdot\mathbb 1[\text{fell}]
#   + w_{res} \sum_j u_{res,j}^2,\qquad w_{res} = -0.1.$$
#
# The penalty is on the action the policy emits, before it is scaled into radians. That is the convention of the
# authors' lab's legged_gym (its action penalties use the raw actions, the scale to joint space is applied after),
# and it is what makes w_res = −0.1 bite here: in single-seed pilots of the first version (not kept) the radian
# form, on the residual in radians, was much smaller than the goal reward and barely shaped the residual.
#
# **Curriculum**: each env's terrain roughness at a reset is drawn uniformly up to a maximum that grows linearly
# from 0 to `train_roughness` over the first half of training.
#
# **Baselines.** `no-prior`: the high level outputs the 8 joint targets directly (standing pose + s·u, with
# s = `no_prior_scale` rad), with the same reward terms (no residual, so no residual penalty). It has no prior and
# so no phase clock: its clock inputs stay constant. `zero-penalty`: `prior-residual` with w_res = 0.
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


class GoalTask:
    """The high-level MDP of one method for ``n`` Ants: ``step(u) -> StepResult``. With ``evaluation=True`` an
    ended episode is not reset (one episode per env) and ``last`` keeps what the step executed."""

    def __init__(self, method: str, n: int, seed: int, roughness: float, evaluation: bool = False,
                 boxes: int | None = None) -> None:
        self.method, self.n, self.evaluation = method, n, evaluation
        self.w_res = 0.0 if method == "zero-penalty" else w_res
        self.core = AntTerrainCore(AntTerrainConfig(roughness=roughness, n_boxes=n_boxes if boxes is None else boxes,
                                                    max_steps=episode_steps), n, seed=seed)
        self.rng = np.random.default_rng([seed, 7])
        self.phase = np.zeros(n)
        self.command: dict | None = None
        self.prev_target = self.core.qpos[:, self.core.joint_qpos].copy()
        self.start_xy = self.core.qpos[:, :2].copy()
        self.last: dict = {}
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
            # q* = q_stand + s·u (no prior, no phase: the clock inputs stay cos 0, sin 0)
            return G.STANDING_POSE + no_prior_scale * u, np.zeros((self.n, 8))
        z = latent_command(u[:, :5], self.phase)
        self.command = z                     # kept for the evaluation (the prior's own gait replays it)
        # a_res = residual_scale · u_res
        residual = residual_scale * self.residual_action(u)
        self.phase = G.advance_phase(z, self.core.cfg.control_dt)["phase"]
        # q* = π_low(s, z) + a_res
        return PRIOR.targets(self.core, z) + residual, residual

    def step(self, action: np.ndarray, curriculum_max: float | None = None) -> StepResult:
        u = np.clip(action, -1.0, 1.0)
        target, residual = self.joint_targets(u)
        target = self.core.clip_targets(target)
        info = self.core.step(target)
        # r = (d_{t−1} − d_t)/Δt + 10·reached − 5·fell + w_res Σ u_res²
        penalty = self.w_res * (self.residual_action(u) ** 2).sum(1)
        reward = (info["progress"] / self.core.cfg.control_dt + 10.0 * info["reached"] - 5.0 * info["fell"]
                  + penalty)
        self.penalty_sum, self.penalty_steps = self.penalty_sum + float(penalty.sum()), self.penalty_steps + self.n
        self.last = {"info": info, "target": target, "previous_target": self.prev_target, "residual": residual,
                     "command": self.command}
        self.prev_target = target
        terminated = info["reached"] | info["fell"]
        truncated = info["truncated"] & ~terminated
        final_obs = self.observation()
        done = terminated | truncated
        if done.any() and not self.evaluation:
            ended = np.nonzero(done)[0]
            rough = None if curriculum_max is None else self.rng.uniform(0.0, curriculum_max, size=len(ended))
            self.core.reset(ended, roughness=rough)
            self.phase[ended] = 0.0
            self.prev_target[ended] = self.core.qpos[ended][:, self.core.joint_qpos]
        return StepResult(obs=self.observation(), reward=reward, terminated=terminated, truncated=truncated,
                          final_obs=final_obs)


# %% [markdown]
# ## Training
#
# Each method and seed trains a high-level PPO policy for `high_updates` updates of `n_envs` × `rollout_steps`
# steps with the roughness curriculum (no-prior: `no_prior_updates`, budget parity). The trained policy (its weights
# and observation normaliser) is stored by a runner cut at the `training` cell below, keyed only on the cells up to
# it: the evaluation that follows can change without retraining anything.
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


def train_policy(method: str, seed: int, learning_rate: float) -> dict:
    """Train one high-level policy; returns its weights, its observation normaliser and its training curve."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    task = GoalTask(method, n_envs, derive_seed(seed, "train"), roughness=0.0)
    model = make_policy(method, seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n_updates = training_updates(method)
    ppo = PPOConfig(update_epochs=ppo_epochs, num_minibatches=ppo_minibatches)
    norm = RunningMeanStd(shape=(N_HIGH_OBS,))
    generator = torch.Generator().manual_seed(derive_seed(seed, method, "ppo"))
    obs, start_flags, curve = task.observation(), np.ones(n_envs, dtype=bool), []
    for update in range(1, n_updates + 1):
        level = train_roughness * min(1.0, update / max(1.0, n_updates / 2))   # linear ramp over the first half

        def env_step(u, level=level):
            return task.step(u, curriculum_max=level)

        rollout = collect_rollout(model, env_step, obs, start_flags, rollout_steps, generator, gamma, gae_lambda,
                                  obs_norm=norm)
        obs, start_flags = rollout.next_obs, rollout.next_start
        ppo_update(model, optimiser, rollout.batch, ppo, generator)
        penalty = task.penalty_sum / task.penalty_steps
        task.penalty_sum, task.penalty_steps = 0.0, 0
        curve.append({"update": update, "curriculum_roughness": level,
                      "train_return_per_step": float(rollout.rewards.mean()),
                      "train_goal_reward_per_step": float(rollout.rewards.mean()) - penalty,
                      "train_episodes": float(rollout.dones.sum())})
    return {"weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "norm": {"mean": norm.mean, "var": norm.var, "count": norm.count}, "curve": curve,
            "timing": {"train_s": time.perf_counter() - start}}   # wall clock: kept apart from the results


def restore(policy: dict, method: str) -> tuple[ActorCritic, RunningMeanStd]:
    """The stored policy as a model and its frozen observation normaliser."""
    model = make_policy(method, 0)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in policy["weights"].items()})
    norm = RunningMeanStd(shape=(N_HIGH_OBS,))
    norm.mean, norm.var, norm.count = (np.asarray(policy["norm"]["mean"]), np.asarray(policy["norm"]["var"]),
                                       float(policy["norm"]["count"]))
    return model, norm


# %% tags=["training"]
# the trained policies: those of the reported seeds (runs stage) and of the tuning seeds (tune stage)
POLICY_RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers, cut="training")
TUNING_POLICY_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="training")

# %% [markdown]
# ## Evaluation
#
# Each trained policy is evaluated, with the mean action, on `eval_episodes` fresh episodes per roughness in
# `eval_roughness`, on terrains, boxes and goals drawn from the seed (the same for every method: paired). Roughness
# 0 is truly flat: no boxes either. Every step records what the policy saw (the local roughness of its height scan,
# whether a box is in it), what it did (residual, action rate, joint acceleration) and where its feet were.
#
# **Local roughness** of a scan: the RMS deviation of the 7×7 height scan from its best-fit plane, so a uniform slope
# reads 0. **Speed**: the torso's displacement over the last second, per second.
#
# **Gait, from the feet's heights above the ground.** The tip touch sensors chatter (in the previous version the
# prior alone on flat ground read more touchdowns per second than the highest trot frequency it can be commanded),
# and many strides lift a foot so little that no clearance threshold separates stance from swing. So the gait is
# read from the clearance signal h_k(t) of each foot k as an oscillation, over an episode after its first second:
#
# $$f^* = \underset{f \in [0.5,\, 5]\ \mathrm{Hz}}{\operatorname{arg\,max}} \sum_k |H_k(f)|^2,\qquad
#   H_k(f) = \sum_t (h_k(t) - \bar h_k)\, e^{-2\pi i f t \Delta t},\qquad
#   c_{diag} = \tfrac12\left[\cos\angle\left(H_1(f^*)\,H_3(f^*)^{*}\right) + \cos\angle\left(H_2(f^*)\,H_4(f^*)^{*}\right)\right]:$$
#
# the **stride frequency** f* and the **diagonal coherence** c_diag, +1 when each diagonal pair of feet (1, 3) and
# (2, 4) moves in phase (a trot), −1 in anti-phase (a pace or a bound), 0 for unrelated feet. A motion shared by all
# four feet (heave, a slope under the robot) pushes it towards +1, so it is compared only between walkers on the same
# ground or against the prior's own gait. The instrument is checked below on the reference gaits themselves (joint
# angles set to q_ref, feet from MuJoCo's forward kinematics) and on the prior alone, at known frequencies.

# %%
import dataclasses

from hrlkit.envs.ant.terrain import FOOT_NAMES

SCAN_LOCAL = AntTerrainCore(AntTerrainConfig(), 1, seed=0).scan_local   # (49, 2) scan offsets in the heading frame
WINDOW = int(round(1.0 / DT))      # control steps per second
GAIT_BAND_HZ = (0.5, 5.0)          # the band searched for the stride frequency
FFT_POINTS = 4096                  # zero-padded FFT length: a frequency grid of 1 / (FFT_POINTS Δt) Hz


def local_roughness(scan: np.ndarray) -> np.ndarray:
    """Per env: the RMS deviation of the 7×7 height scan from its best-fit plane (m), so a uniform slope reads 0."""
    design = np.c_[np.ones(SCAN_POINTS), SCAN_LOCAL]                       # [1, x, y] per scan point
    fitted = scan @ np.linalg.pinv(design).T @ design.T                    # least-squares plane through each scan
    return np.sqrt(((scan - fitted) ** 2).mean(1))


def box_in_view(core: AntTerrainCore) -> np.ndarray:
    """Per env: whether any point of the height scan lies on a box."""
    if not core.cfg.n_boxes:
        return np.zeros(core.n, dtype=bool)
    w, x, y, z = core.qpos[:, 3:7].T                                       # MuJoCo's (w, x, y, z) quaternion
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    px = core.qpos[:, 0:1] + c * SCAN_LOCAL[:, 0] - s * SCAN_LOCAL[:, 1]    # (n, P) world scan points
    py = core.qpos[:, 1:2] + s * SCAN_LOCAL[:, 0] + c * SCAN_LOCAL[:, 1]
    b = core.boxes[:, None]                                                # (n, 1, B, 5): x, y, half x, half y, h
    inside = (np.abs(px[..., None] - b[..., 0]) <= b[..., 2]) & (np.abs(py[..., None] - b[..., 1]) <= b[..., 3])
    return inside.any((1, 2))


def box_contact(core: AntTerrainCore) -> np.ndarray:
    """Per env: whether the Ant touches a box after the last physics step (boxes and ground belong to the world
    body, which MuJoCo never collides with itself, so any contact of a box geom is with the Ant)."""
    boxes = set(int(g) for g in core.box_ids)
    return np.array([any(int(c.geom1) in boxes or int(c.geom2) in boxes for c in data.contact[:data.ncon])
                     for data in core.datas])


def foot_clearance(core: AntTerrainCore) -> np.ndarray:
    """(n, 4): height of each foot tip above the ground (terrain and boxes) under it (m)."""
    foot = core.observe()["foot_pos"]
    return foot[..., 2] - core.ground_height(np.arange(core.n)[:, None], foot[..., :2])


def foot_oscillation(clearance: np.ndarray) -> tuple[float, float]:
    """(f*, c_diag) of one episode's clearance (T, 4) after its first second; NaNs under two seconds left."""
    h = clearance[WINDOW:]
    if len(h) < 2 * WINDOW:
        return float("nan"), float("nan")
    spectrum = np.fft.rfft(h - h.mean(0), n=FFT_POINTS, axis=0)            # H_k(f) on the zero-padded grid
    freqs = np.fft.rfftfreq(FFT_POINTS, DT)
    band = np.nonzero((freqs >= GAIT_BAND_HZ[0]) & (freqs <= GAIT_BAND_HZ[1]))[0]
    # f* = argmax_f Σ_k |H_k(f)|²
    peak = band[(np.abs(spectrum[band]) ** 2).sum(1).argmax()]
    hk = spectrum[peak]
    # c_diag = ½ [cos∠H1 H3* + cos∠H2 H4*]
    coherence = 0.5 * (np.cos(np.angle(hk[0] * np.conj(hk[2]))) + np.cos(np.angle(hk[1] * np.conj(hk[3]))))
    return float(freqs[peak]), float(coherence)


def episode_gaits(clearance: np.ndarray, act: np.ndarray) -> dict[str, float]:
    """Mean over the episodes (of at least three seconds) of their stride frequency and diagonal coherence."""
    per_episode = np.array([foot_oscillation(clearance[:act[:, e].sum(), e]) for e in range(act.shape[1])])
    valid = np.isfinite(per_episode[:, 0])
    if not valid.any():
        return {"stride_frequency": float("nan"), "diagonal_coherence": float("nan")}
    return {"stride_frequency": float(per_episode[valid, 0].mean()),
            "diagonal_coherence": float(per_episode[valid, 1].mean())}


INSTRUMENT_FREQUENCIES = tuple(np.linspace(*LATENT.frequency, 4).round(3))   # Hz: the commandable range, ends included
INSTRUMENT_ENVS = 4                              # Ants per commanded frequency


def reference_feet(latent: dict) -> np.ndarray:
    """(T, 4) foot-tip heights of the reference gait played kinematically: the torso held still in the air, the joint
    angles set to q_ref(z, φ_t) for each step's latent, the feet from MuJoCo's forward kinematics."""
    import mujoco

    core = AntTerrainCore(AntTerrainConfig(roughness=0.0, n_boxes=0), 1, seed=0)
    model, data = core.models[0], mujoco.MjData(core.models[0])
    sites = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, f"foot_{name}") for name in FOOT_NAMES]
    heights = []
    for q in G.reference_pose(latent, PRIOR.cfg.gaits):
        data.qpos[:] = 0.0
        data.qpos[2], data.qpos[3] = 1.0, 1.0                    # torso 1 m up, upright
        data.qpos[core.joint_qpos] = q
        mujoco.mj_kinematics(model, data)
        heights.append(data.site_xpos[sites, 2].copy())
    return np.array(heights)


def flat_walk(n: int, seed: int, latents, with_prior: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` Ants on flat ground without boxes, driven by one latent per control step: the prior's joint targets, or
    the reference pose q_ref played open loop (no prior). Returns the foot clearances (T, n, 4), the joint angles
    q_{t+1} after each step (T, n, 8) and the reference q_ref(φ_{t+1}) they imitate at that moment (T, n, 8)."""
    core = AntTerrainCore(AntTerrainConfig(roughness=0.0, n_boxes=0, max_steps=episode_steps), n, seed=seed)
    clearance, joints, reference = [], [], []
    for z in latents:
        core.step(core.clip_targets(PRIOR.targets(core, z) if with_prior else G.reference_pose(z, PRIOR.cfg.gaits)))
        clearance.append(foot_clearance(core))
        joints.append(core.qpos[:, core.joint_qpos].copy())
        reference.append(G.reference_pose(G.advance_phase(z, DT), PRIOR.cfg.gaits))
    return np.array(clearance), np.array(joints), np.array(reference)


def relative_tracking_error(joints: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per Ant, after the first second: the RMS tracking error over the RMS size of the reference motion,
    √mean_{t,j}(q − q_ref)² / √mean_{t,j}(q_ref − q̄_ref)². 0 is perfect imitation; a statue at the reference's
    mean pose scores 1."""
    q, ref = joints[WINDOW:], reference[WINDOW:]
    error = np.sqrt(((q - ref) ** 2).mean((0, 2)))
    size = np.sqrt(((ref - ref.mean(0)) ** 2).mean((0, 2)))
    return error / size


def clocked(z: dict):
    """The latents of an episode under a fixed command: z, then z with its phase advanced, ``episode_steps`` in all."""
    for _ in range(episode_steps):
        yield z
        z = G.advance_phase(z, DT)


def walk_flat(z: dict, gait: str, with_prior: bool) -> np.ndarray:
    """(k, 3) stride frequency, diagonal coherence and relative tracking error of Ants walking on flat ground under
    the command ``z``."""
    clearance, joints, reference = flat_walk(len(z["frequency"]), derive_seed(0, "instrument", gait), clocked(z),
                                             with_prior)
    reads = np.array([foot_oscillation(clearance[:, e]) for e in range(clearance.shape[1])])
    return np.c_[reads, relative_tracking_error(joints, reference)]


def gait_instrument(gait: str) -> dict:
    """The instrument on ``gait`` commanded at each frequency of INSTRUMENT_FREQUENCIES (mid-range amplitudes,
    straight ahead): what it reads on the reference motion played kinematically (torso held in the air), on the
    reference pose played open loop on flat ground, and on the prior alone walking on flat ground."""
    torch.set_num_threads(1)
    k = len(INSTRUMENT_FREQUENCIES) * INSTRUMENT_ENVS
    z = {"gait": np.full(k, PRIOR.cfg.gaits.index(gait)),
         "frequency": np.repeat(INSTRUMENT_FREQUENCIES, INSTRUMENT_ENVS).astype(float),
         "hip_amplitude": np.full(k, np.mean(LATENT.hip_amplitude)),
         "ankle_amplitude": np.full(k, np.mean(LATENT.ankle_amplitude)), "heading": np.zeros(k),
         "phase": np.zeros(k)}
    read, open_loop = walk_flat(z, gait, with_prior=True), walk_flat(z, gait, with_prior=False)
    phase = 2 * np.pi * np.outer(np.arange(1, episode_steps + 1) * DT, z["frequency"])           # (T, k)
    reference = np.array([foot_oscillation(reference_feet({**{key: np.repeat(v[e], episode_steps) for key, v in z.items()
                                                               if key != "phase"}, "phase": phase[:, e]}))
                          for e in range(0, k, INSTRUMENT_ENVS)]).repeat(INSTRUMENT_ENVS, axis=0)
    return {"commanded_hz": z["frequency"], "stride_frequency": read[:, 0], "diagonal_coherence": read[:, 1],
            "tracking_error": read[:, 2],
            "reference_stride_frequency": reference[:, 0], "reference_diagonal_coherence": reference[:, 1],
            "open_loop_stride_frequency": open_loop[:, 0], "open_loop_diagonal_coherence": open_loop[:, 1],
            "open_loop_tracking_error": open_loop[:, 2]}


SPEED_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, np.inf)   # m/s: strata of the matched-speed comparison
KEPT_PATHS = 4                     # torso paths kept per evaluation (the first episodes)


def record_step(task: GoalTask, scan_roughness: np.ndarray, box: np.ndarray, previous_residual: np.ndarray) -> dict:
    """What one evaluation step executed and measured, per env."""
    executed, sim = task.last, task.last["info"]
    return {"reached": sim["reached"].copy(), "fell": sim["fell"].copy(), "truncated": sim["truncated"].copy(),
            "joint_acc": np.abs(sim["joint_acc"]).mean(1),
            "action_rate": np.linalg.norm(executed["target"] - executed["previous_target"], axis=1),
            "torque2": (sim["torque"] ** 2).mean(1), "foot_slip": sim["foot_slip"].copy(),
            "residual": np.sqrt((executed["residual"] ** 2).mean(1)),
            # the residual's own action rate ‖a_res,t − a_res,t−1‖ (the target's rate also moves with q_ref's clock)
            "residual_rate": np.linalg.norm(executed["residual"] - previous_residual, axis=1),
            "joints": task.core.qpos[:, task.core.joint_qpos].copy(), "progress": sim["progress"].copy(),
            "xy": task.core.qpos[:, :2].copy(), "clearance": foot_clearance(task.core),
            "scan_roughness": scan_roughness, "box_in_view": box, "box_contact": box_contact(task.core),
            "command": None if executed["command"] is None else {k: np.array(v, copy=True)
                                                                  for k, v in executed["command"].items()}}


def evaluate(policy: dict, method: str, roughness: float, seed: int, episodes: int, purpose: str = "eval",
             replay_prior: bool = False, blind: bool = False, deadline: int | None = None) -> dict:
    """One episode per env on terrains drawn for this seed (the same for every method: paired), mean actions. With
    ``blind`` the policy sees a flat height scan (zeros) whatever the ground: does it use its perception? With
    ``deadline`` an episode times out after that many control steps instead of ``episode_steps`` (the policy does not
    observe time, so it acts as in training)."""
    model, norm = restore(policy, method)
    task = GoalTask(method, episodes, derive_seed(seed, purpose, roughness), roughness=roughness, evaluation=True,
                    boxes=0 if roughness == 0 else None)
    steps = deadline or episode_steps
    task.core.cfg = dataclasses.replace(task.core.cfg, max_steps=steps)
    active, records, previous_residual = np.ones(episodes, dtype=bool), [], np.zeros((episodes, 8))
    for _ in range(steps):
        obs = task.observation()
        seen = local_roughness(obs[:, N_PROPRIO:N_PROPRIO + SCAN_POINTS]), box_in_view(task.core)   # what it saw
        if blind:
            obs[:, N_PROPRIO:N_PROPRIO + SCAN_POINTS] = 0.0
        with torch.no_grad():
            u = model.distribution(torch.as_tensor(norm.normalize(obs), dtype=torch.float32)).mean.numpy()
        task.step(u)
        rec = record_step(task, *seen, previous_residual)
        previous_residual = task.last["residual"].copy()
        rec["active"] = active.copy()
        records.append(rec)
        active &= ~(rec["reached"] | rec["fell"] | rec["truncated"])
        if not active.any():
            break
    out = summarise(records, task)
    if replay_prior and method != "no-prior":
        out.update(prior_flat_gait(records, seed))
    return out


def prior_flat_gait(records: list[dict], seed: int) -> dict[str, float]:
    """The prior alone on truly flat ground replaying, step by step, the latent commands the high level sent in
    these episodes (no residual, no bumps, no boxes): its own gait under the same commands."""
    act = np.array([r["active"] for r in records])
    clearance = flat_walk(act.shape[1], derive_seed(seed, "prior-flat"), (r["command"] for r in records))[0]
    return {f"prior_flat_{k}": v for k, v in episode_gaits(clearance, act).items()}


def trailing_speed(start_xy: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(T, E): ‖xy_t − xy_{t−W}‖ / (W Δt) over the last second (W steps); NaN in the first second."""
    path = np.concatenate([start_xy[None], xy])
    speed = np.full(xy.shape[:2], np.nan)
    speed[WINDOW - 1:] = np.linalg.norm(path[WINDOW:] - path[:-WINDOW], axis=2) / (WINDOW * DT)
    return speed


def summarise(records: list[dict], task: GoalTask) -> dict:
    stack = {k: np.array([r[k] for r in records]) for k in records[0] if k != "command"}
    act = stack["active"]                                                  # (T, E) steps of each episode
    reached, fell = stack["reached"] & act, stack["fell"] & act
    steps_to_goal = np.where(reached.any(0), reached.argmax(0) + 1, np.nan)
    timed_out = stack["truncated"] & act & ~reached & ~fell
    out = {"success": float(reached.any(0).mean()), "fall": float(fell.any(0).mean()),
           "timeout": float(timed_out.any(0).mean()),
           "box_contact": float((stack["box_contact"] & act).any(0).mean()),
           "time_to_goal_s": float(np.nanmean(steps_to_goal) * DT) if reached.any() else float("nan"),
           # net distance covered towards the goal per episode, Σ_t (d_{t−1} − d_t)
           "progress_m": float((stack["progress"] * act).sum(0).mean()),
           "episode_s": float(act.sum(0).mean() * DT)}
    for key in ("joint_acc", "action_rate", "torque2", "foot_slip", "residual", "residual_rate"):
        out[key] = float((stack[key] * act).sum() / act.sum())
    step_length = np.linalg.norm(np.diff(np.concatenate([task.start_xy[None], stack["xy"]]), axis=0), axis=2)
    out["path_m"] = float((step_length * act).sum() / act.shape[1])
    # matched-speed strata: steps, Σ action rate and Σ |joint acc| per speed bin (steps after the first second)
    speed = trailing_speed(task.start_xy, stack["xy"])
    which = np.where(act & np.isfinite(speed), np.digitize(np.nan_to_num(speed), SPEED_BINS[1:-1]), -1)
    out["speed_strata"] = {"steps": [int((which == b).sum()) for b in range(len(SPEED_BINS) - 1)],
                           **{key: [float(stack[key][which == b].sum()) for b in range(len(SPEED_BINS) - 1)]
                              for key in ("action_rate", "joint_acc")}}
    out.update(episode_gaits(stack["clearance"], act))
    # per active step: local roughness of the scan the policy saw, residual RMS, box in view, speed
    out["steps"] = np.stack([stack["scan_roughness"][act], stack["residual"][act], stack["box_in_view"][act],
                             np.nan_to_num(speed, nan=-1.0)[act]], -1)
    out["goals"], out["boxes"] = task.core.goal.astype(np.float32), task.core.boxes.astype(np.float32)
    similarity = np.array([gait_similarity(stack["joints"][:act[:, e].sum(), e]) for e in range(act.shape[1])])
    # mean over the episodes long enough for one window after the first second
    out["gait_similarity"] = float(np.nanmean(similarity)) if np.isfinite(similarity).any() else float("nan")
    # torso paths of the first episodes, float32 (x, y) per step: plotted; the rest are not kept (raw results stay small)
    out["trajectories"] = [stack["xy"][act[:, e], e].astype(np.float32) for e in range(min(KEPT_PATHS, act.shape[1]))]
    return out


# %% [markdown]
# **Similarity to the reference gait.** For the joint trajectory of an episode (8 joints), its own stride frequency
# f_q (the peak of the joints' summed power spectrum, as for the feet above), then, per 2-s window after the first
# second, the best Pearson correlation with a reference trot q_ref(φ₀ + 2π f t Δt) over f ∈ f_q·{0.96, 1, 1.04},
# 8 headings and 24 initial phases, amplitudes at their mid-range (both series centred per joint); the episode's
# similarity is the mean over its windows. 1 means the joints move exactly like some trot; every method is measured
# the same way. The frequency is fitted, not taken from a grid: a grid of frequencies would score a perfect trot
# between two grid points far below one (the previous version's metric did), and the short windows follow a walker
# that changes its cadence. The check below scores pure reference gaits at frequencies off any grid.
#
# **Residual against local roughness.** Per run, pooled over the evaluation terrains, a least-squares fit of the
# per-step residual RMS on the local roughness (cm) of the scan the policy saw, over the steps with no box in the
# scan, with the torso speed and one intercept per terrain level as covariates:
#
# $$\mathrm{res}_t = \beta_1\,\rho_t + \beta_2\,v_t + \sum_\ell \gamma_\ell\,\mathbb 1[\ell_t = \ell] + \varepsilon_t:$$
#
# β₁ is how the residual grows with the roughness under the robot *within* a terrain level, apart from boxes and
# speed (C1a-local).

# %%
SIM_WINDOW = 2 * WINDOW                                   # control steps per similarity window
SIM_FREQ_FACTORS = (0.96, 1.0, 1.04)                      # around the fitted stride frequency
SIM_HEADINGS = np.linspace(-np.pi, np.pi, 8, endpoint=False)
SIM_PHASES = np.linspace(0, 2 * np.pi, 24, endpoint=False)


def joint_frequency(q: np.ndarray) -> float:
    """The peak of the summed power spectrum of the centred joint angles (T, 8) in GAIT_BAND_HZ."""
    spectrum = np.abs(np.fft.rfft(q - q.mean(0), n=FFT_POINTS, axis=0)) ** 2
    freqs = np.fft.rfftfreq(FFT_POINTS, DT)
    band = np.nonzero((freqs >= GAIT_BAND_HZ[0]) & (freqs <= GAIT_BAND_HZ[1]))[0]
    return float(freqs[band[spectrum[band].sum(1).argmax()]])


def window_similarity(q: np.ndarray, frequency: float, gait: str = "trot") -> float:
    """max over f ∈ frequency·SIM_FREQ_FACTORS, headings and initial phases of corr(q, q_ref) on one window."""
    t = len(q)
    f, psi, phi0 = (a.ravel() for a in np.meshgrid(frequency * np.array(SIM_FREQ_FACTORS), SIM_HEADINGS, SIM_PHASES,
                                                   indexing="ij"))
    phase = phi0[:, None] + 2 * np.pi * f[:, None] * np.arange(t)[None, :] * DT       # (K, T)
    k = len(f)
    latent = {"gait": np.full(k * t, PRIOR.cfg.gaits.index(gait)), "frequency": np.repeat(f, t),  # GAIT by default
              "hip_amplitude": np.full(k * t, np.mean(LATENT.hip_amplitude)),
              "ankle_amplitude": np.full(k * t, np.mean(LATENT.ankle_amplitude)),
              "heading": np.repeat(psi, t), "phase": phase.ravel()}
    ref = G.reference_pose(latent, PRIOR.cfg.gaits).reshape(k, t, 8)
    ref = ref - ref.mean(1, keepdims=True)
    x = q - q.mean(0, keepdims=True)
    # corr = Σ ref·x / sqrt(Σ ref² Σ x²), both centred per joint
    num = (ref * x[None]).sum((1, 2))
    den = np.sqrt((ref ** 2).sum((1, 2)) * (x ** 2).sum()) + 1e-12
    return float((num / den).max())


def gait_similarity(q: np.ndarray, gait: str = "trot") -> float:
    """Mean over the 2-s windows after the first second of the best correlation with the reference ``gait``; NaN for
    an episode without one full window."""
    q = q[WINDOW:]
    if len(q) < SIM_WINDOW:
        return float("nan")
    frequency = joint_frequency(q)
    return float(np.mean([window_similarity(q[s_:s_ + SIM_WINDOW], frequency, gait)
                          for s_ in range(0, len(q) - SIM_WINDOW + 1, SIM_WINDOW)]))


ROUGHNESS_BINS_CM = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0)   # local roughness bins of the residual profile


def residual_profile(evals: dict) -> dict:
    """Per-step residual RMS against the local roughness of the scan the policy saw, pooled over the evaluation
    terrains: the plain OLS slope (rad per cm, every step), the within-terrain slope β₁ on box-free steps with speed
    as a covariate, and the mean residual and step count per roughness bin of the box-free steps."""
    level = np.concatenate([np.full(len(ev["steps"]), i) for i, ev in enumerate(evals.values())])
    steps = np.concatenate([ev.pop("steps") for ev in evals.values()])
    rough_cm, residual, box, speed = 100.0 * steps[:, 0], steps[:, 1], steps[:, 2] > 0.5, steps[:, 3]
    # residual_t = b0 + b1 · roughness_t + e_t, least squares over every active step
    slope = stats.slope(rough_cm, residual) if np.ptp(rough_cm) > 0 else 0.0
    keep = ~box & (speed >= 0)                                   # no box in the scan, after the first second
    levels = np.unique(level[keep])
    design = np.c_[rough_cm[keep], speed[keep], level[keep][:, None] == levels[None, :]].astype(float)
    # res_t = β1 ρ_t + β2 v_t + Σ_ℓ γ_ℓ 1[ℓ_t = ℓ] + ε_t
    beta = np.linalg.lstsq(design, residual[keep], rcond=None)[0] if keep.sum() > design.shape[1] else [np.nan] * 2
    which = np.digitize(rough_cm[keep], ROUGHNESS_BINS_CM[1:-1])
    return {"slope_rad_per_cm": float(slope), "within_slope_rad_per_cm": float(beta[0]),
            "box_free_share": float(keep.sum() / max(1, (speed >= 0).sum())),
            "bin_mean": [float(residual[keep][which == b].mean()) if (which == b).any() else float("nan")
                         for b in range(len(ROUGHNESS_BINS_CM) - 1)],
            "bin_steps": [int((which == b).sum()) for b in range(len(ROUGHNESS_BINS_CM) - 1)]}


BLIND_METHODS = ("prior-residual", "no-prior", "latent-only")   # also evaluated with a flat scan
BLIND_KEYS = ("success", "fall", "timeout", "progress_m", "box_contact")
LATE_DEADLINE = 2                  # the longer deadline, in multiples of episode_steps


def evaluate_perturbed(method: str, seed: int, policy: dict) -> dict:
    """The policy at the roughest terrain (the same episodes as its evaluation) with its height scan replaced by a
    flat one, what perception is worth to it; and with the real scan but a deadline LATE_DEADLINE times longer,
    whether it fails by being slow or by being unable."""
    torch.set_num_threads(1)
    blind = evaluate(policy, method, max(eval_roughness), seed, eval_episodes, blind=True)
    late = evaluate(policy, method, max(eval_roughness), seed, eval_episodes, deadline=LATE_DEADLINE * episode_steps)
    return {"method": method, "seed": seed, **{f"blind_{k}": blind[k] for k in BLIND_KEYS},
            **{f"late_{k}": late[k] for k in BLIND_KEYS}}


def evaluate_run(method: str, seed: int, policy: dict) -> dict:
    """The evaluation of one trained policy at every evaluation roughness."""
    torch.set_num_threads(1)
    evals = {r: evaluate(policy, method, r, seed, eval_episodes, replay_prior=(r == max(eval_roughness)))
             for r in eval_roughness}
    if method == "no-prior":                     # no residual to profile
        for ev in evals.values():
            ev.pop("steps")
    return {"method": method, "seed": seed, "eval": evals,
            "residual_profile": residual_profile(evals) if method != "no-prior" else None}


# %% [markdown]
# ## Tuning: the same budget for every method that carries a comparison
#
# Declared before tuning: the paper's method, the no-prior baseline and the latent-only baseline each get
# `tuning_budget` Adam step sizes from the grid below, each trained for its full run on each tuning seed (disjoint
# from the reported seeds), and are selected by the highest **mean progress towards the goal per episode** on
# validation terrains (drawn from the tuning seed, never the test terrains) at every evaluation roughness,
# `tuning_episodes` episodes each. The zero-penalty ablation changes one term of ours and keeps its selected step
# size, as an ablation does. The grid is the previous version's grid moved up one step (3e-4 … 3e-3): there
# no-prior selected the grid's upper edge.

# %%
STEP_SIZE_GRID = (3e-4, 1e-3, 3e-3)
TUNED_METHODS = ("prior-residual", "no-prior", "latent-only")
SPACES = {meth: tune.Space(learning_rate=tune.Grid(*STEP_SIZE_GRID)) for meth in TUNED_METHODS}
SETUP = tune.Setup(metric="validation_progress_m", direction="maximize", budget=tuning_budget,
                   seeds=tuning_seeds, sampler="grid")


def trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial: the stored policy of (method, step size, tuning seed), evaluated on validation episodes at
    every evaluation roughness."""
    torch.set_num_threads(1)
    policy = TUNING_POLICIES[(method, config["learning_rate"], seed)]
    evals = [evaluate(policy, method, r, seed, tuning_episodes, purpose="validation") for r in eval_roughness]
    return {"validation_progress_m": float(np.mean([ev["progress_m"] for ev in evals])),
            "validation_success": float(np.mean([ev["success"] for ev in evals]))}


# %% tags=["tuning"]
TUNING_TASKS = [dict(method=m, seed=s, learning_rate=lr) for m in TUNED_METHODS if m in methods
                for lr in STEP_SIZE_GRID for s in tuning_seeds]         # every grid value: the grid sampler's trials
TUNING_POLICIES = {(t["method"], t["learning_rate"], t["seed"]): p for t, p in zip(TUNING_TASKS, TUNING_POLICY_RUNNER.run(
    "tuning-policies", train_policy, TUNING_TASKS, desc="tuning policies",
    cost=lambda task: training_updates(task["method"])))}
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
TUNED = tune.tune(TUNING_RUNNER, trial, {m: space for m, space in SPACES.items() if m in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
print(TUNED.summary())

# %% tags=["experiments"]
# the zero-penalty ablation keeps the step size selected for ours
CONFIG = {meth: TUNED.selected[meth] if meth in TUNED.selected else TUNED.selected[OURS] for meth in methods}
TASKS = [dict(method=m, seed=s, **CONFIG[m]) for m in methods for s in seeds]
POLICIES = POLICY_RUNNER.run("policies", train_policy, TASKS, desc="high-level training runs",
                             cost=lambda task: training_updates(task["method"]))
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
EVALUATED = RUNNER.run("evaluation", evaluate_run, [dict(method=t["method"], seed=t["seed"], policy=p)
                                                    for t, p in zip(TASKS, POLICIES)], desc="evaluation")
RESULTS = [{**t, **e, "curve": p["curve"], "timing": p["timing"]} for t, p, e in zip(TASKS, POLICIES, EVALUATED)]
PERTURBED = RUNNER.run("perturbed", evaluate_perturbed, [dict(method=t["method"], seed=t["seed"], policy=p)
                                             for t, p in zip(TASKS, POLICIES) if t["method"] in BLIND_METHODS],
                   desc="flat-scan and long-deadline evaluation")
INSTRUMENT = dict(zip(PRIOR.cfg.gaits, RUNNER.run("instrument", gait_instrument,
                                                   [dict(gait=g) for g in PRIOR.cfg.gaits], desc="gait instrument")))


# %%
# analysis side: tables, facts, tuning summary (never used by a task, so editing them never retrains)
from hrlkit.claims import Fact, FactsTable, equivalence, fmt_interval, fmt_number
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
            for metric, per_bin in ev["speed_strata"].items():
                for b, value in enumerate(per_bin):
                    yield dict(key, metric=f"speed_{metric}", value=value, step=last, roughness=rough, speed_bin=b)
        profile_ = r["residual_profile"]
        if profile_:
            for metric in ("slope_rad_per_cm", "within_slope_rad_per_cm", "box_free_share"):
                yield dict(key, metric=f"residual_{metric}", value=profile_[metric], step=last)
            for b, (mean_, steps_) in enumerate(zip(profile_["bin_mean"], profile_["bin_steps"])):
                yield dict(key, metric="residual_bin_mean", value=mean_, step=last, bin=b)
                yield dict(key, metric="residual_bin_steps", value=steps_, step=last, bin=b)
    for b in PERTURBED:
        for metric in (f"{kind}_{k}" for kind in ("blind", "late") for k in BLIND_KEYS):
            yield dict(method=b["method"], seed=b["seed"], metric=metric, value=b[metric],
                       step=training_updates(b["method"]), roughness=max(eval_roughness))
    for gait, read in INSTRUMENT.items():        # one row per Ant (prior) or commanded frequency (reference)
        for who, key in (("prior alone", "tracking_error"), ("reference, open loop", "open_loop_tracking_error")):
            for e, (hz, value) in enumerate(zip(read["commanded_hz"], read[key])):
                yield dict(method=who, seed=e, metric="instrument_tracking_error", value=value, gait=gait,
                           commanded_hz=hz)
        for metric in ("stride_frequency", "diagonal_coherence"):
            for who, key in (("prior alone", metric), ("reference, open loop", f"open_loop_{metric}")):
                for e, (hz, value) in enumerate(zip(read["commanded_hz"], read[key])):
                    yield dict(method=who, seed=e, metric=f"instrument_{metric}", value=value, gait=gait,
                               commanded_hz=hz)
            for e, (hz, value) in enumerate(zip(read["commanded_hz"][::INSTRUMENT_ENVS],
                                                read[f"reference_{metric}"][::INSTRUMENT_ENVS])):
                yield dict(method="reference gait", seed=e, metric=f"instrument_{metric}", value=value, gait=gait,
                           commanded_hz=hz)


GAIT_KEYS = ("stride_frequency", "diagonal_coherence")
RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT, missing={
    "time_to_goal_s": "no evaluation episode of the run reached the goal",
    "residual_bin_mean": "no box-free evaluation step of the run fell in that roughness bin",
    **{k: "no evaluation episode of the run lasted three seconds" for k in (*GAIT_KEYS, "gait_similarity")},
    **{f"prior_flat_{k}": "no evaluation episode of the run lasted three seconds" for k in GAIT_KEYS}})
print(f"runs.csv: {len(RUNS)} rows from {len(RESULTS)} runs")

# %% [markdown]
# ## Tuning results
#
# The step-size trials (mean over the tuning seeds), and where each selection sits in the grid: an edge selection
# says the best step size may lie beyond it.

# %%
TUNING_TABLE = TUNED.configuration_table([SETUP.metric, "validation_success"])


def edge_gap(method: str) -> float:
    """Validation progress of the grid neighbour of an edge selection minus the selection's (NaN if untried)."""
    tried = TUNING_TABLE[TUNING_TABLE["method"] == method].set_index("config.learning_rate")[SETUP.metric]
    chosen = TUNED.selected[method]["learning_rate"]
    neighbour = min((v for v in STEP_SIZE_GRID if v != chosen), key=lambda v: abs(np.log(v / chosen)))
    return float(tried.get(neighbour, np.nan) - tried.get(chosen, np.nan))

display(table(TUNING_TABLE.assign(**{"config.learning_rate": TUNING_TABLE["config.learning_rate"].map("{:g}".format)})
              .round({SETUP.metric: 3, "validation_success": 3}).rename(columns={
                  "config.learning_rate": "step size", SETUP.metric: "validation progress to goal (m)",
                  "validation_success": "validation success"}), f"Mean over tuning seeds {tuning_seeds}. "
              + TUNED.summary()))
display(prose([f"Selected step sizes on the grid {{{', '.join(f'{v:g}' for v in STEP_SIZE_GRID)}}}: "
               + "; ".join(f"{m_} {TUNED.selected[m_]['learning_rate']:g} "
                           f"({TUNED.position(m_, 'learning_rate')})" for m_ in TUNED.selected)
               + (f". Zero-penalty uses ours' ({CONFIG[OURS]['learning_rate']:g})." if "zero-penalty" in methods
                  else ".")]
              + [f"{m_} selects an edge of the grid; its neighbour inside the grid scores {gap:+.3g} m of validation "
                 f"progress against it over {len(tuning_seeds)} tuning seeds: the step size beyond the edge is untried."
                 for m_ in TUNED.selected if "edge" in TUNED.position(m_, "learning_rate")
                 for gap in [edge_gap(m_)] if np.isfinite(gap)]))

# %% [markdown]
# ## Results
#
# ### Training curves
#
# Against the environment steps that went into each policy: the prior-based methods' curves start after the prior's
# own training steps, which they inherit; no-prior trains from scratch for as many steps in all (budget parity).

# %%
COLOURS = dict(zip(methods, sns.color_palette(n_colors=len(methods))))   # one colour per method in every figure
curves = RUNS[RUNS["metric"].isin(["train_return_per_step", "train_goal_reward_per_step"])].copy()
curves["env_steps"] = (curves["step"] * n_envs * rollout_steps
                       + np.where(curves["method"] == "no-prior", 0, PRIOR_STEPS))
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
for ax, metric, label in [(axes[0], "train_return_per_step", "reward per step (with the residual penalty)"),
                          (axes[1], "train_goal_reward_per_step", "goal terms of the reward per step")]:
    sns.lineplot(data=curves[curves["metric"] == metric], x="env_steps", y="value", hue="method", hue_order=methods,
                 palette=COLOURS, ax=ax, legend=(ax is axes[1]), **figures.SEEDS_BAND)
    ax.axvline(PRIOR_STEPS, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="environment steps, the prior's included", ylabel=label)
sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "training", f"High-level training reward per step vs environment steps "
                    f"({figures.band_caption()}): left the full reward, right without the residual penalty. The dotted "
                    "line marks the end of the prior's training, where the prior-based methods start; the roughness "
                    "curriculum ramps over the first half of each run.", **SAVE)
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
                    "timeouts": fmt(per_seed("timeout", m, r)),
                    "touched a box": fmt(per_seed("box_contact", m, r)),
                    "progress to goal (m)": fmt(per_seed("progress_m", m, r)),
                    "episode length (s)": fmt(per_seed("episode_s", m, r)),
                    "path walked (m)": fmt(per_seed("path_m", m, r))}
                   for r in eval_roughness for m in methods])
display(table(T1, f"IQM over {len(seeds)} seeds [95 % CI], {eval_episodes} episodes per seed and roughness, on "
                  "terrains drawn per seed and shared by every method (time to goal over the seeds with at least one "
                  f"success). An episode fails by a fall or by a timeout (the goal not reached in {episode_steps * DT:g} "
                  "s). Touched a box: the share of episodes in which the Ant touched a box at least once (a method "
                  "that walks farther meets more boxes). Roughness 0 is flat ground without boxes."))
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
# ### Motion regularity (T2), per step and at matched speed
#
# Per step, a policy that stands still scores best, and a policy that walks faster moves its joints more. So the
# comparison with no-prior is also made **at matched speed**: the steps after each episode's first second are
# stratified by the torso's speed over the last second (bins below), and per seed the difference of the mean per
# stratum is averaged over the strata both methods visit (each with at least `MIN_STRATUM_STEPS` steps), weighted
# by n₁n₂/(n₁+n₂), the usual weight of a stratified comparison.

# %%
REGULARITY = {"joint_acc": "|joint acc| per step (rad/s²)", "action_rate": "action rate per step (rad)",
              "residual_rate": "residual's own action rate (rad)", "torque2": "torque² (N²m²)", "foot_slip": "foot slip (m/s)", "gait_similarity": "similarity to trot"}
T2 = pd.DataFrame([{"method": m, "roughness (m)": r, **{label: fmt(per_seed(k, m, r)) for k, label in
                                                        REGULARITY.items()}}
                   for r in eval_roughness for m in methods])
display(table(T2, "IQM over seeds [95 % CI]."))

MIN_STRATUM_STEPS = 50     # steps a method needs in a speed stratum, per seed, for the stratum to count


def strata(method: str) -> dict[str, np.ndarray]:
    """Per seed × speed bin, pooled over the evaluation terrains: steps and the sums of action rate and |joint acc|."""
    sel = RUNS[(RUNS["method"] == method) & RUNS["metric"].str.startswith("speed_")]
    wide = sel.pivot_table(index=["metric", "seed"], columns="speed_bin", values="value", aggfunc="sum")
    return {k: wide.loc[f"speed_{k}"].loc[list(seeds)].to_numpy() for k in ("steps", "action_rate", "joint_acc")}


def matched_speed(metric: str, first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the stratified difference of the per-step mean (first − second) over the shared speed strata, and
    the share of each method's timed steps those strata hold (the smaller of the two)."""
    a, b = strata(first), strata(second)
    shared = (a["steps"] >= MIN_STRATUM_STEPS) & (b["steps"] >= MIN_STRATUM_STEPS)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = a[metric] / a["steps"] - b[metric] / b["steps"]
        weight = np.where(shared, a["steps"] * b["steps"] / (a["steps"] + b["steps"]), 0.0)
        # Δ_seed = Σ_b w_b (mean_first,b − mean_second,b) / Σ_b w_b,  w_b = n1 n2 / (n1 + n2)
        value = np.where(weight.sum(1) > 0, (weight * np.nan_to_num(diff)).sum(1) / weight.sum(1), np.nan)
    coverage = np.minimum((a["steps"] * shared).sum(1) / a["steps"].sum(1), (b["steps"] * shared).sum(1) / b["steps"].sum(1))
    return value, coverage


SPEED_LABELS = [f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}" for lo, hi in zip(SPEED_BINS[:-1], SPEED_BINS[1:])]
speed_rows = []
for m in methods:
    s_ = strata(m)
    for k, label in (("action_rate", "action rate per step (rad)"), ("joint_acc", "|joint acc| per step (rad/s²)")):
        for i, seed in enumerate(seeds):
            for b, name in enumerate(SPEED_LABELS):
                if s_["steps"][i, b] >= MIN_STRATUM_STEPS:
                    speed_rows.append({"method": m, "seed": seed, "what": label, "speed (m/s)": name,
                                       "value": s_[k][i, b] / s_["steps"][i, b]})
speed_frame = pd.DataFrame(speed_rows)
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
for ax, label in zip(axes, ("action rate per step (rad)", "|joint acc| per step (rad/s²)")):
    sns.pointplot(data=speed_frame[speed_frame["what"] == label], x="speed (m/s)", y="value", hue="method",
                  hue_order=methods, order=SPEED_LABELS, palette=COLOURS, ax=ax, dodge=0.3, linestyle="none",
                  capsize=0.1, legend=(ax is axes[1]), **figures.SEEDS_BAND)
    ax.set(ylabel=label, xlabel="torso speed over the last second (m/s)")
sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "regularity_speed", "Action rate and |joint acceleration| per step against the torso's speed, "
                    f"every evaluation terrain pooled ({figures.band_caption()}; a seed counts in a speed bin where it "
                    f"has at least {MIN_STRATUM_STEPS} steps).", **SAVE)
plt.show()

# %% [markdown]
# ### Does the gait survive rough terrain? The prior's own gait as the reference
#
# First the instruments. The foot instrument on the reference gaits played kinematically (joint angles set to q_ref,
# torso held still) must read the commanded frequency, and a diagonal coherence of +1 for the trot and −1 for the pace
# and the bound; on the prior alone walking on flat ground it reads what the prior actually does with each command.
# Whether the prior imitates at all is read from its joints: the **relative tracking error**, the RMS of q − q_ref
# over the RMS size of the reference motion (q_ref minus its mean pose), after the first second; 0 is perfect
# imitation, 1 what a statue at the reference's mean pose would score.
# The gait-similarity metric on pure reference gaits at frequencies off any grid must score a trot near 1.
# Then the gait of each method at the roughest terrain, against the prior alone on flat ground without boxes
# replaying, step by step, the latent commands the high level sent in those episodes: the same commands without the
# residual and without the terrain.

# %%
FREQ_TOLERANCE = 0.10      # relative: the largest stride-frequency error the foot instrument may show
inst = RUNS[RUNS["metric"].str.startswith("instrument_")].pivot_table(
    index=["gait", "commanded_hz"], columns=["method", "metric"], values="value", aggfunc="mean")
inst.columns = [f"{who}: {what.removeprefix('instrument_').replace('_', ' ')}" for who, what in inst.columns]
display(table(inst.reset_index().rename(columns={"commanded_hz": "commanded f (Hz)"}).round(3),
              f"Reference gait: joint angles set to q_ref, torso held in the air, feet from forward kinematics. "
              f"Reference, open loop: q_ref sent to the servos of Ants on flat ground, no prior. Prior alone: "
              f"walking on flat ground. Means over {INSTRUMENT_ENVS} Ants per row."))


def instrument_reads(who: str, metric: str) -> pd.DataFrame:
    return RUNS[(RUNS["method"] == who) & (RUNS["metric"] == f"instrument_{metric}")]


FREQ_ERROR = float(max((np.abs(r["value"] - r["commanded_hz"]) / r["commanded_hz"]).max()
                       for r in (instrument_reads(who, "stride_frequency") for who in ("reference gait", "prior alone"))))
REFERENCE_COHERENCE = instrument_reads("reference gait", "diagonal_coherence").groupby("gait")["value"].mean()
PRIOR_COHERENCE = instrument_reads("prior alone", "diagonal_coherence").groupby("gait")["value"].mean()
OPEN_LOOP_COHERENCE = instrument_reads("reference, open loop", "diagonal_coherence").groupby("gait")["value"].mean()
# the trot's distance to the nearest other gait on the coherence index, as the instrument reads the reference gaits
TROT_SEPARATION = (float(REFERENCE_COHERENCE["trot"] - REFERENCE_COHERENCE.drop("trot").max())
                   if len(REFERENCE_COHERENCE) > 1 else float("nan"))
# C1b-sync's tolerance: a tenth of that distance, to two decimals
SYNC_TOLERANCE = round(0.1 * max(TROT_SEPARATION, 0.0), 2)
TROT_READ_OK = FREQ_ERROR <= FREQ_TOLERANCE and TROT_SEPARATION >= 1.0
# Does the prior imitate? Its relative tracking error per gait (the worst commanded frequency), against a gate
# declared by the second review before it was measured: at most 0.3, i.e. an error under a third of the motion.
IMITATION_GATE = 0.3
PRIOR_TRACKING = (instrument_reads("prior alone", "tracking_error").groupby(["gait", "commanded_hz"])["value"].mean()
                  .groupby("gait").max())
OPEN_LOOP_TRACKING = (instrument_reads("reference, open loop", "tracking_error").groupby(["gait", "commanded_hz"])
                      ["value"].mean().groupby("gait").max())
IMITATES = bool(PRIOR_TRACKING["trot"] <= IMITATION_GATE)
# whether the prior's trot stands apart from its other gaits on the coherence index (by at least half the reference's
# separation)
F7_SEPARATES = bool(len(PRIOR_COHERENCE) > 1 and PRIOR_COHERENCE["trot"] - PRIOR_COHERENCE.drop("trot").max()
                    >= 0.5 * TROT_SEPARATION)
OFF_GRID_HZ = (1.55, 1.6, 1.68, 2.1, 2.9)   # frequencies between any two of a coarse grid's points


def pure_reference(gait: str, frequency: float) -> np.ndarray:
    """(T, 8) joint angles of a reference gait at one frequency, mid-range amplitudes, straight ahead."""
    t = episode_steps
    return G.reference_pose({"gait": np.full(t, PRIOR.cfg.gaits.index(gait)), "frequency": np.full(t, frequency),
                             "hip_amplitude": np.full(t, np.mean(LATENT.hip_amplitude)),
                             "ankle_amplitude": np.full(t, np.mean(LATENT.ankle_amplitude)),
                             "heading": np.zeros(t), "phase": 2 * np.pi * frequency * np.arange(t) * DT},
                            PRIOR.cfg.gaits)


SIMILARITY_CHECK = pd.DataFrame([{"gait": g, "f (Hz)": f, "similarity to trot": gait_similarity(pure_reference(g, f))}
                                 for g in PRIOR.cfg.gaits for f in OFF_GRID_HZ])
display(table(SIMILARITY_CHECK.pivot(index="gait", columns="f (Hz)", values="similarity to trot").round(3)
              .reset_index(), "The similarity metric on pure reference gaits at frequencies off any grid."))
SIMILARITY_FLOOR = float(SIMILARITY_CHECK[SIMILARITY_CHECK["gait"] == "trot"]["similarity to trot"].min())
display(prose([f"Foot instrument: largest relative error of the stride frequency read, reference and prior: "
               f"{FREQ_ERROR:.3g} (allowed {FREQ_TOLERANCE:g}). Diagonal coherence read on the reference gaits: "
               + ", ".join(f"{g} {v:+.3g}" for g, v in REFERENCE_COHERENCE.items())
               + f"; the trot's distance to the nearest other gait {TROT_SEPARATION:.3g} (needs ≥ 1, half the index's "
               f"range), so C1b-sync's tolerance, a tenth of it, is {SYNC_TOLERANCE:.3g}. On the prior alone the "
               "same index reads " + ", ".join(f"{g} {v:+.3g}" for g, v in PRIOR_COHERENCE.items())
               + (": its trot stands apart from its other gaits" if F7_SEPARATES else
                  ": its trot does not stand apart from its other gaits (half the reference's separation needed)")
               + "; the reference pose played open loop on the ground reads " + ", ".join(f"{g} {v:+.3g}" for g, v in
                                                                                  OPEN_LOOP_COHERENCE.items())
               + ". "
               f"Imitation: the prior's relative tracking error (worst commanded frequency) "
               + ", ".join(f"{g} {v:.3g}" for g, v in PRIOR_TRACKING.items())
               + f" against a gate of {IMITATION_GATE:g} on the trot, the gait the high level drives; the reference "
               "pose sent open loop to the servos, with no prior, scores " + ", ".join(f"{g} {v:.3g}" for g, v in
                                                                                      OPEN_LOOP_TRACKING.items())
               + " (0 is perfect imitation, 1 a statue at the reference's mean pose). "
               f"Similarity metric: a pure reference trot scores at least {SIMILARITY_FLOOR:.3g} at the off-grid "
               "frequencies."]))
GAIT_LABELS = {"stride_frequency": "stride frequency (Hz)", "diagonal_coherence": "diagonal coherence"}
gait_rows = [{"who": f"{m} at {max(eval_roughness)} m", **{label: fmt(per_seed(k, m, max(eval_roughness)))
                                                          for k, label in GAIT_LABELS.items()}} for m in methods]
gait_rows += [{"who": f"the prior alone, flat, replaying {m}'s commands",
               **{label: fmt(per_seed(f"prior_flat_{k}", m, max(eval_roughness))) for k, label in GAIT_LABELS.items()}}
              for m in methods if m != "no-prior"]
display(table(pd.DataFrame(gait_rows), "Per episode after its first second, mean over episodes, IQM over seeds "
              "[95 % CI]."))

# %% [markdown]
# ### Residual magnitude against the local roughness under the robot
#
# Left: the residual's RMS per bin of the local roughness of the scan the policy saw, over the steps with no box in
# the scan, pooled over the evaluation terrains (flat ground included), for the methods with a residual; bins that no
# step reached are left out. Below it, per seed, the within-terrain slope β₁ of the regression above (box-free steps,
# speed and terrain level as covariates).

# %%
RESIDUAL_METHODS = [m_ for m_ in methods if m_ in ("prior-residual", "zero-penalty")]
bins = RUNS[(RUNS["metric"] == "residual_bin_mean") & RUNS["method"].isin(RESIDUAL_METHODS)].dropna(subset=["value"])
bins["local roughness (cm)"] = [f"{ROUGHNESS_BINS_CM[int(b)]:g}–{ROUGHNESS_BINS_CM[int(b) + 1]:g}" for b in bins["bin"]]
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
sns.pointplot(data=bins, x="local roughness (cm)", y="value", hue="method", hue_order=RESIDUAL_METHODS,
              palette=COLOURS, ax=axes[0], order=[f"{a:g}–{b:g}" for a, b in zip(ROUGHNESS_BINS_CM[:-1],
                                                                                 ROUGHNESS_BINS_CM[1:])
                                                  if f"{a:g}–{b:g}" in set(bins["local roughness (cm)"])],
              dodge=0.3, linestyle="none", capsize=0.1, **figures.SEEDS_BAND)
axes[0].set(ylabel="residual RMS (rad)")
sns.move_legend(axes[0], "lower left", bbox_to_anchor=(0, 1.02), ncol=3, frameon=False)
sns.lineplot(data=RUNS[RUNS["metric"] == "gait_similarity"], x="roughness", y="value", hue="method",
             hue_order=methods, palette=COLOURS, marker="o", ax=axes[1], **figures.SEEDS_BAND)
axes[1].set(xlabel="terrain roughness (m)", ylabel="similarity to the reference trot")
sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "residuals", "Left: residual RMS per bin of the local roughness of the scan the policy saw "
                    f"(evaluation steps with no box in the scan, {figures.band_caption()}). Right: similarity of the "
                    "joint trajectories to the reference trot vs terrain roughness.", **SAVE)
plt.show()
slopes = {m_: runs.per_seed(RUNS, "residual_within_slope_rad_per_cm", m_) for m_ in RESIDUAL_METHODS}
display(prose([f"- {m_}: within-terrain slope {stats.format_ci(v, spec='.3g')} rad per cm of local roughness; "
               f"plain slope over every step {stats.format_ci(runs.per_seed(RUNS, 'residual_slope_rad_per_cm', m_), spec='.3g')}; "
               f"box-free share of the steps {stats.format_ci(100 * runs.per_seed(RUNS, 'residual_box_free_share', m_), spec='.3g')} %"
               for m_, v in slopes.items()]))

# %% [markdown]
# ### Top-down trajectories through the obstacle field

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
# written after earlier versions' results had been seen, and are exploratory: no Holm p-value, and they never
# replace a declared verdict. This version rewrote them before its runs, after a review of the previous one:
# - C1a-local regresses the residual on the local roughness within each terrain level, on steps without a box in
#   the scan, with speed as a covariate (the previous slope mixed boxes, terrain level and roughness).
# - C1b-sync compares the gait with the prior's own, read from the feet's heights above the ground (the previous
#   rows read the touch sensors, which chatter; the previous C1b-duty is dropped, as the clearance has no threshold
#   that separates stance from swing). It is two-sided: the gait may not move either way. Its tolerance is declared
#   as a tenth of the distance from the trot to its nearest other gait on the same index, as the instrument measures
#   it. After this version's runs, a second review showed that the instrument had been checked on the prior, which
#   walks with one footfall pattern whatever gait it is commanded; the check (and so the tolerance) now uses the
#   reference gaits themselves, where the instrument reads them exactly. This changed the row from untestable to a
#   verdict after its measurement was seen; the verdict is the same for any tolerance below the lower end of its CI.
# - C2a-speed and C2b-speed compare regularity with no-prior at matched speed (the previous per-metre rows
#   favoured the faster walker). They need the shared speed strata to hold at least `MATCHED_COVERAGE` of each
#   method's steps (median over seeds), so that the comparison speaks for most of the walking.
#
# Changed after the second review, before this evaluation was rerun: the gait-similarity metric fits the stride
# frequency instead of a coarse grid (see above), which C1b, C3a and the headline read; C1b is a test again (its
# similarity is not a construction: the prior does not follow q_ref closely, and the executed target may leave it by
# the prior's correction plus the residual); the stride-frequency row C1b-freq is dropped, because the prior's clock
# sets the frequency for every prior-based method (latent-only, without a residual, deviates from its prior replay as
# much as ours does), so it could barely fail.
#
# Changed after that evaluation had been seen (the second review's remaining points; evaluation only, no policy
# retrained):
# - C1b and C3a read the similarity to the *reference* trot, which says something about the prior's style only if the
#   prior imitates that reference. They now require it: the prior's relative tracking error on the trot at most
#   `IMITATION_GATE`, a gate the review proposed. The review's rough check had already suggested that the prior
#   fails it, so this precondition was added knowing it would probably withdraw both verdicts; when it fails, the
#   rows are untestable and show their gap unjudged. C1b-sync tests the same sentence against the prior's own gait.
# - C3a-sync (exploratory): the zero-penalty ablation moves the prior's trot coherence more than ours does.
# - C3b-res (exploratory): the residual's own action rate, because the target's action rate also moves with the
#   clock of q_ref, and zero-penalty commands a different stride frequency.
# - C5 (exploratory): the abstract's "perceptive locomotion": the same evaluation episodes with the height scan
#   replaced by a flat one (a test of what the trained policy does with its scan, not a policy trained blind).
# - C4-late (exploratory): C4 with a deadline twice as long, on the same episodes, so that a slow walker is not
#   counted as unable.
# - Latent-only's failures on the roughest terrain are mostly timeouts against the episode's deadline, not falls. The
#   reading of "cannot handle rugged terrain" that does not depend on the deadline, whether latent-only falls more, is
#   fact F12 (falls are too rare at this design for a per-seed test: most seeds have none).
#
# The paper compares regularity "at similar task success", a precondition of C2a–b checked as an equivalence (the
# whole paired CI of the success difference inside ±`SIMILAR_SUCCESS`, a tolerance declared in the first version
# without a source).

# %%
SIMILAR_SUCCESS = 0.15     # "at similar task success": |success difference| below this
SIMILAR = f"similar task success: the paired 95 % CI of the success difference inside ±{SIMILAR_SUCCESS:g}"
MATCHED_COVERAGE = 0.5     # the shared speed strata hold at least half of each method's steps
MATCHED = f"the shared speed strata hold at least {MATCHED_COVERAGE:.0%} of each method's steps (median over seeds)"
IMITATION = (f"the prior imitates the reference trot it was trained on: relative tracking error at most "
             f"{IMITATION_GATE:g}")
TROT_READ = (f"the foot instrument reads the reference gaits' frequency within {FREQ_TOLERANCE:.0%} and separates the "
             "reference trot from the other reference gaits by at least half the coherence index's range")
CLAIMS = ClaimsTable([
    Claim("C1a", "Learned residuals adapt to progressively challenging terrain",
          "residual RMS of prior-residual at the roughest vs the flattest evaluation terrain",
          "IQM over seeds of residual(rough) − residual(flat)", threshold=0.0, direction=">"),
    Claim("C1a-local", "… residuals grow with the roughness under the robot",
          "per-step residual RMS regressed on the local roughness of the height scan within terrain levels, "
          "box-free steps, speed as a covariate", "IQM over seeds of the slope β₁ (rad per cm)", threshold=0.0,
          direction=">", post_hoc=True),
    Claim("C1b", "… while still preserving the locomotion characteristics of the prior",
          "similarity to the reference trot at the roughest terrain, prior-residual vs no-prior",
          "IQM over seeds of similarity(prior-residual) − similarity(no-prior)", threshold=0.0, direction=">",
          precondition=IMITATION),
    Claim("C1b-sync", "… preserving the prior's gait: the diagonal (trot) coherence",
          f"diagonal coherence at {max(eval_roughness)} m vs the prior alone on flat ground under the same commands",
          "IQM over seeds of |c(prior-residual) − c(prior, flat)|", threshold=SYNC_TOLERANCE, direction="<",
          precondition=TROT_READ, post_hoc=True),
    Claim("C2a", "Better motion regularisation than a policy trained without motion priors (action rate)",
          "action rate, averaged over the evaluation terrains", "IQM over seeds of rate(no-prior) − rate(prior-residual)",
          threshold=0.0, direction=">", precondition=SIMILAR),
    Claim("C2a-speed", "… (action rate at matched speed)",
          "action rate per step, stratified by torso speed, every terrain pooled",
          "IQM over seeds of the stratified difference rate(no-prior) − rate(prior-residual)", threshold=0.0,
          direction=">", precondition=MATCHED, post_hoc=True),
    Claim("C2b", "Better motion regularisation than a policy trained without motion priors (joint acceleration)",
          "|joint acceleration|, averaged over the evaluation terrains",
          "IQM over seeds of acc(no-prior) − acc(prior-residual)", threshold=0.0, direction=">",
          precondition=SIMILAR),
    Claim("C2b-speed", "… (joint acceleration at matched speed)",
          "|joint acceleration| per step, stratified by torso speed, every terrain pooled",
          "IQM over seeds of the stratified difference acc(no-prior) − acc(prior-residual)", threshold=0.0,
          direction=">", precondition=MATCHED, post_hoc=True),
    Claim("C3a", "A zero residual penalty degrades the style (similarity to the gait)",
          "similarity to the reference trot, averaged over terrains",
          "IQM over seeds of similarity(prior-residual) − similarity(zero-penalty)", threshold=0.0,
          direction=">", precondition=IMITATION),
    Claim("C3a-sync", "… (the prior's gait: diagonal coherence)",
          f"shift of the diagonal coherence at {max(eval_roughness)} m from the prior alone on flat ground under the "
          "same commands", "IQM over seeds of |Δc|(zero-penalty) − |Δc|(prior-residual)", threshold=0.0,
          direction=">", precondition=TROT_READ, post_hoc=True),
    Claim("C3b", "A zero residual penalty degrades the style (action rate)",
          "action rate, averaged over terrains", "IQM over seeds of rate(zero-penalty) − rate(prior-residual)",
          threshold=0.0, direction=">"),
    Claim("C3b-res", "… (the residual's own action rate)",
          "‖a_res,t − a_res,t−1‖ per step, averaged over terrains",
          "IQM over seeds of rate_res(zero-penalty) − rate_res(prior-residual)", threshold=0.0, direction=">",
          post_hoc=True),
    Claim("C4", "Residuals are needed on rugged terrain (latent-only is not enough)",
          "success at the roughest terrain", "IQM over seeds of success(prior-residual) − success(latent-only)",
          threshold=0.0, direction=">"),
    Claim("C4-late", "… (with a deadline that does not bind)",
          f"success at the roughest terrain within {LATE_DEADLINE}× the episode's deadline",
          "IQM over seeds of success(prior-residual) − success(latent-only)", threshold=0.0, direction=">",
          post_hoc=True),
    Claim("C5", "Residuals enable perceptive locomotion (the policy uses its height scan)",
          f"success at {max(eval_roughness)} m with the real height scan vs the same episodes with a flat one",
          "IQM over seeds of success(prior-residual) − success(prior-residual, flat scan)", threshold=0.0,
          direction=">", post_hoc=True),
    Claim("H1", "Real-world ANYmal-D experiments", "—", "—", threshold=0.0, direction=">"),
])


def averaged(metric: str, method: str) -> np.ndarray:
    """Per seed: mean over the evaluation terrains."""
    return stats.Sample(np.mean([per_seed(metric, method, r) for r in eval_roughness], axis=0),
                        f"{metric} of {method}, mean over terrains")


lo_r, hi_r = min(eval_roughness), max(eval_roughness)
CLAIMS["C1a"].compare(per_seed("residual", OURS, hi_r), per_seed("residual", OURS, lo_r), ("rough", "flat"))
CLAIMS["C1a-local"].measure_units(slopes[OURS], note="box-free share of the steps "
                                  + fmt(runs.per_seed(RUNS, "residual_box_free_share", OURS)))
def coherence_shift(method: str) -> np.ndarray:
    """Per seed: |c(method at the roughest) − c(the prior alone on flat ground replaying its commands)|."""
    return np.abs(per_seed("diagonal_coherence", method, hi_r) - per_seed("prior_flat_diagonal_coherence", method, hi_r))


if CLAIMS["C1b-sync"].require(TROT_READ_OK, f"frequency error {FREQ_ERROR:.3g}, trot separation "
                              f"{TROT_SEPARATION:.3g}"):
    CLAIMS["C1b-sync"].measure_units(
        coherence_shift(OURS), note=f"prior-residual {fmt(per_seed('diagonal_coherence', OURS, hi_r))}, the prior "
        f"alone {fmt(per_seed('prior_flat_diagonal_coherence', OURS, hi_r))}"
        + (f"; latent-only, the terrain without a residual, shifts by {fmt(coherence_shift('latent-only'))}"
           if "latent-only" in methods else ""))
IMITATION_NUMBERS = f"the prior's trot tracking error {PRIOR_TRACKING['trot']:.3g}"


def similarity_gap(first: np.ndarray, second: np.ndarray) -> str:
    """The measurement a row gated on IMITATION would have used, shown, not judged, when the gate fails."""
    return f"; its similarity gap, not judged: {fmt(first - second)}"


if "no-prior" in methods:
    gap = (per_seed("gait_similarity", OURS, hi_r), per_seed("gait_similarity", "no-prior", hi_r))
    if CLAIMS["C1b"].require(IMITATES, IMITATION_NUMBERS + similarity_gap(*gap)):
        CLAIMS["C1b"].compare(*gap, (OURS, "no-prior"))
    similar, what = equivalence(averaged("success", OURS), averaged("success", "no-prior"), SIMILAR_SUCCESS)
    for cid, metric in [("C2a", "action_rate"), ("C2b", "joint_acc")]:
        if CLAIMS[cid].require(similar, f"success {what}"):
            CLAIMS[cid].compare(averaged(metric, "no-prior"), averaged(metric, OURS), ("no-prior", OURS))
    for cid, metric in [("C2a-speed", "action_rate"), ("C2b-speed", "joint_acc")]:
        value, coverage = matched_speed(metric, "no-prior", OURS)
        if CLAIMS[cid].require(bool(np.median(coverage) >= MATCHED_COVERAGE) and np.isfinite(value).all(),
                               f"shared strata hold {fmt(100 * coverage)} % of the steps (IQM over seeds; "
                               f"median {np.median(coverage):.0%})"):
            CLAIMS[cid].measure_units(value, note=f"shared strata hold {fmt(100 * coverage)} % of the steps")
    CLAIMS["C2a-speed"].note += (f"; measured on the commanded joint targets: no-prior's are the standing pose plus "
                                 f"{no_prior_scale:g}·u, a scale set by hand, not tuned, that the rate grows with")
else:
    for cid in ("C1b", "C2a", "C2b", "C2a-speed", "C2b-speed"):
        CLAIMS[cid].untestable("needs no-prior in `methods`")
if "zero-penalty" in methods:
    gap = (averaged("gait_similarity", OURS), averaged("gait_similarity", "zero-penalty"))
    if CLAIMS["C3a"].require(IMITATES, IMITATION_NUMBERS + similarity_gap(*gap)):
        CLAIMS["C3a"].compare(*gap, (OURS, "zero-penalty"))
    if CLAIMS["C3a-sync"].require(TROT_READ_OK, f"frequency error {FREQ_ERROR:.3g}, trot separation "
                                  f"{TROT_SEPARATION:.3g}"):
        CLAIMS["C3a-sync"].measure_units(coherence_shift("zero-penalty") - coherence_shift(OURS),
                                         note=f"|Δc| zero-penalty {fmt(coherence_shift('zero-penalty'))}, "
                                         f"prior-residual {fmt(coherence_shift(OURS))}")
    CLAIMS["C3b"].compare(averaged("action_rate", "zero-penalty"), averaged("action_rate", OURS),
                          ("zero-penalty", OURS))
    CLAIMS["C3b-res"].compare(averaged("residual_rate", "zero-penalty"), averaged("residual_rate", OURS),
                              ("zero-penalty", OURS))
    _cap = {m_: float(stats.iqm(averaged("residual", m_))) / residual_scale for m_ in (OURS, "zero-penalty")}
    for cid in ("C3a", "C3a-sync", "C3b", "C3b-res"):
        CLAIMS[cid].note += (f"; the residual is clipped at ±{residual_scale:g} rad (and the prior's own correction "
                             f"adds up to ±{PRIOR.cfg.action_scale:g} rad, fact F3): its RMS is {_cap['zero-penalty']:.0%} "
                             f"of the clip without a penalty, {_cap[OURS]:.0%} with it")
    # the residual's action rate per radian of residual: does the penalty make the residual smoother, or only smaller?
    per_radian = {m_: averaged("residual_rate", m_) / averaged("residual", m_) for m_ in (OURS, "zero-penalty")}
    CLAIMS["C3b-res"].note += (f"; per radian of residual RMS the rate is {fmt(per_radian['zero-penalty'])} without the "
                               f"penalty and {fmt(per_radian[OURS])} with it (difference "
                               f"{fmt(per_radian['zero-penalty'] - per_radian[OURS])}): a difference near 0 means the "
                               "penalty makes the residual smaller, not smoother")
else:
    for cid in ("C3a", "C3a-sync", "C3b", "C3b-res"):
        CLAIMS[cid].untestable("needs zero-penalty in `methods`")
if "latent-only" in methods:
    CLAIMS["C4"].compare(per_seed("success", OURS, hi_r), per_seed("success", "latent-only", hi_r),
                         (OURS, "latent-only"))
    CLAIMS["C4"].note += (f"; latent-only's failures at {hi_r} m are timeouts {fmt(per_seed('timeout', 'latent-only', hi_r))} "
                          f"more than falls {fmt(per_seed('fall', 'latent-only', hi_r))}: the prior was trained to walk "
                          f"at up to {PRIOR.cfg.heading_speed:g} m/s, and an episode lasts {episode_steps * DT:g} s")
    CLAIMS["C4-late"].compare(per_seed("late_success", OURS, hi_r), per_seed("late_success", "latent-only", hi_r),
                              (OURS, "latent-only"))
    CLAIMS["C4-late"].note += (f"; timeouts with the longer deadline: latent-only "
                               f"{fmt(per_seed('late_timeout', 'latent-only', hi_r))}, prior-residual "
                               f"{fmt(per_seed('late_timeout', OURS, hi_r))}")
else:
    for cid in ("C4", "C4-late"):
        CLAIMS[cid].untestable("needs latent-only in `methods`")
blind_drop = {m_: per_seed("success", m_, hi_r) - per_seed("blind_success", m_, hi_r) for m_ in BLIND_METHODS
              if m_ in methods}
CLAIMS["C5"].compare(per_seed("success", OURS, hi_r), per_seed("blind_success", OURS, hi_r), (OURS, "flat scan"))
CLAIMS["C5"].note += ("; the same drop for the other methods: " + ", ".join(f"{m_} {fmt(v)}" for m_, v in
                                                                           blind_drop.items() if m_ != OURS)
                      + f"; box contacts with a flat scan {fmt(per_seed('blind_box_contact', OURS, hi_r))}, with the "
                      f"real one {fmt(per_seed('box_contact', OURS, hi_r))}")
CLAIMS["H1"].untestable("no robot; the Ant in simulation only")
# a robustness check of the bootstrap verdicts at few seeds: decided rows whose two-sided t test of the per-seed values
# against the threshold is not significant at 5 % are marked in their note
FRAGILE = [c for c in CLAIMS if c.verdict in ("reproduced", "not reproduced") and c.p_value is not None
           and c.p_value >= 0.05]
for c in FRAGILE:
    c.note += f"; fragile: the t test of the per-seed values does not confirm it (p {c.p_value:.2g})"
display(CLAIMS)

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests: what holds by construction, and what only describes the runs.

# %%
RESIDUAL_CAP_SHARE = float(stats.iqm(per_seed("residual", OURS, lo_r))) / residual_scale   # on flat ground
# the servos' natural frequency f_n = √(k_p / I) / 2π, with I the rotor inertia (armature) of a leg joint, which
# dominates the light leg links
_ANT = AntTerrainCore(AntTerrainConfig(), 1, seed=0)


def pooled_falls(method: str) -> tuple[int, int, float, float]:
    """Episodes that fell at the roughest terrain, every seed pooled: count, episodes, exact binomial 95 % interval."""
    from scipy.stats import binomtest

    k = int(round(float(np.sum(per_seed("fall", method, hi_r))) * eval_episodes))
    n = len(seeds) * eval_episodes
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return k, n, float(ci.low), float(ci.high)


FALLS = {m_: pooled_falls(m_) for m_ in (OURS, "latent-only") if m_ in methods}
SERVO_HZ = float(np.sqrt(_ANT.cfg.kp / _ANT.models[0].dof_armature[_ANT.joint_dof].min()) / (2 * np.pi))
FACTS = FactsTable([f for f in [
    Fact("F1", "similarity metric: lowest score of a pure reference trot at frequencies off any grid",
         SIMILARITY_FLOOR, "descriptive", note=f"at {', '.join(f'{f:g}' for f in OFF_GRID_HZ)} Hz"),
    Fact("F2", "progress towards the goal per episode, averaged over terrains: no-prior (m, IQM over seeds)",
         stats.iqm(averaged("progress_m", "no-prior")), "descriptive",
         note=f"prior-residual {stats.iqm(averaged('progress_m', OURS)):.3g} m") if "no-prior" in methods else None,
    Fact("F3", "largest distance of the executed joint target from the reference gait (rad per joint)",
         PRIOR.cfg.action_scale + residual_scale, "by construction",
         note=f"the prior's correction {PRIOR.cfg.action_scale:g} plus the residual {residual_scale:g}"),
    Fact("F4", "environment steps of no-prior's training (budget parity)", NO_PRIOR_STEPS, "by construction",
         note=f"the prior's {PRIOR_STEPS} plus the high level's {HIGH_STEPS}"),
    Fact("F5", "foot instrument: largest relative error of the stride frequency read (reference and prior)",
         FREQ_ERROR, "descriptive", note=f"commanded {', '.join(f'{f:g}' for f in INSTRUMENT_FREQUENCIES)} Hz"),
    Fact("F6", "foot instrument: diagonal coherence of the reference trot minus the nearest other reference gait's",
         TROT_SEPARATION, "descriptive", note=", ".join(f"{g} {v:+.3g}" for g, v in REFERENCE_COHERENCE.items())),
    Fact("F7", "the prior alone: diagonal coherence of its trot minus that of its nearest other gait",
         float(PRIOR_COHERENCE["trot"] - PRIOR_COHERENCE.drop("trot").max()) if len(PRIOR_COHERENCE) > 1
         else float("nan"), "descriptive", note=("the trot stands apart: " if F7_SEPARATES else
                                                 "the trot does not stand apart from the other gaits: ")
         + ", ".join(f"{g} {v:+.3g}" for g, v in PRIOR_COHERENCE.items())),
    Fact("F8", "residual RMS of prior-residual on flat ground, as a share of its cap (IQM over seeds)",
         RESIDUAL_CAP_SHARE, "descriptive",
         note=f"at {hi_r} m: {float(stats.iqm(per_seed('residual', OURS, hi_r))) / residual_scale:.0%}"),
    Fact("F9", "the reference pose played open loop on flat ground: coherence of its trot minus its nearest other "
         "gait's", float(OPEN_LOOP_COHERENCE["trot"] - OPEN_LOOP_COHERENCE.drop("trot").max())
         if len(OPEN_LOOP_COHERENCE) > 1 else float("nan"), "descriptive",
         note=", ".join(f"{g} {v:+.3g}" for g, v in OPEN_LOOP_COHERENCE.items())),
    Fact("F10", "the prior alone: relative tracking error of its trot (worst commanded frequency)",
         float(PRIOR_TRACKING["trot"]), "descriptive",
         note="0 imitates exactly, 1 is a statue at the reference's mean pose; other gaits "
         + ", ".join(f"{g} {v:.3g}" for g, v in PRIOR_TRACKING.drop("trot").items())
         + "; the reference pose sent open loop, no prior: "
         + ", ".join(f"{g} {v:.3g}" for g, v in OPEN_LOOP_TRACKING.items())),
    Fact("F11", "natural frequency of the joint servos (Hz), from their stiffness and the joints' rotor inertia",
         SERVO_HZ, "by construction", note=f"k_p {_ANT.cfg.kp:g} N·m/rad, rotor inertia "
         f"{_ANT.models[0].dof_armature[_ANT.joint_dof].min():g} kg·m²; the reference gaits run at "
         f"{LATENT.frequency[0]:g}–{LATENT.frequency[1]:g} Hz"),
    Fact("F12", f"episodes that fell at {hi_r} m, latent-only (share of all its episodes, every seed pooled)",
         FALLS["latent-only"][0] / FALLS["latent-only"][1], "descriptive",
         note="; ".join(f"{m}: {k} of {n} [{lo:.3g}, {hi:.3g}]" for m, (k, n, lo, hi) in FALLS.items())
         + " (exact binomial 95 % intervals)") if "latent-only" in methods else None,
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
     f"{PRIOR.cfg.action_scale:g} rad, q_ref + {PRIOR.cfg.action_scale:g}·Δq", f"makes the prior learnable in its "
     f"{PRIOR_STEPS} steps"),
    ("Servos", "ANYmal-D's actuators", f"PD position servos k_p {_ANT.cfg.kp:g} N·m/rad, k_d {_ANT.cfg.kd:g} "
     f"N·m·s/rad, with the rotor inertia of Gymnasium's ant.xml "
     f"({_ANT.models[0].dof_armature[_ANT.joint_dof].min():g} kg·m² per leg joint)", "their natural frequency lies "
     "below the gaits' (fact F11), so the reference cannot be followed. Pilots (not kept) with lighter rotors, stiffer "
     "servos, a sharper tracking reward and a narrower frequency range gave a prior that passed the imitation gate, "
     "but under that physics the high-level policies, ours and latent-only, mostly fell or timed out within this "
     "notebook's training budget; redesigning the high level for it did not fit this round"),
    ("Prior's imitation", "the prior reproduces the animal gaits it is trained on",
     f"relative tracking error of the trot {PRIOR_TRACKING['trot']:.2f} against the gate {IMITATION_GATE:g} (fact "
     "F10); by the foot instrument the gaits' footfall patterns are " + ("kept" if F7_SEPARATES else "not kept") +
     " (facts F6, F7)", "the gate decides whether the rows read against the reference trot (C1b, C3a) are tested"),
    ("Prior's speed", "not stated", f"trained to walk along the commanded heading, paid up to "
     f"{PRIOR.cfg.heading_speed:g} m/s; goals 4–6 m away within {episode_steps * DT:g} s need more, which the "
     "residual supplies", "our prior's reward; it makes timeouts the failure mode of latent-only (C4's note)"),
    ("Prior's command", "a latent from the FLD encoder", "the prior is trained with a heading-velocity reward and the "
     "high level sends an explicit heading: the latent acts as a velocity and heading command", "our latent's design"),
    ("High-level latent", "16-D latent command, any gait", "5 numbers → (f, a_h, a_k, heading), trot only",
     "our latent's size; the high level never switches gait"),
    ("Reward", "goal, velocity and other terms (not published)", "velocity to goal, +10 reached, −5 fall, "
     f"w_res = {w_res}", "only w_res is known; +10 and −5 were set in pilots of prior-residual, not tuned"),
    ("Residual penalty units", "w_res Σ a_res² (units not stated)",
     f"w_res Σ u_res² on the policy's output in [−1, 1]; a_res = {residual_scale}·u_res rad",
     "legged_gym's convention (penalties on raw actions); chosen after pilots in which the radian form barely "
     "shaped the residual"),
    ("Residual range", "not stated", f"±{residual_scale:g} rad per joint (clipped)", "set in pilots; it bounds what "
     "a missing penalty can do (C3a–b)"),
    ("No-prior action", "joint targets (scale not stated)", f"standing pose + {no_prior_scale:g}·u rad; no phase "
     "clock (its clock inputs are constant)", "about the half-range of the Ant's hip joints; a clock belongs to the "
     "prior"),
    ("Terrain", "stairs, obstacle fields, uneven terrain", f"smooth hills up to {max(eval_roughness)} m (metres "
     f"apart, so the ground under the robot is mostly sloped, with centimetres of local roughness) + {n_boxes} boxes; "
     "flat ground without boxes at roughness 0", "CPU budget"),
    ("Curriculum", "terrain curriculum (details not published)", "roughness up to a maximum that grows linearly "
     "over the first half of each run", "a simple curriculum of our own"),
    ("Training", "teacher–student, billions of steps", f"PPO, {high_updates} × {n_envs} × {rollout_steps} steps "
     f"(no-prior {no_prior_updates} updates: budget parity with the prior's steps)", "CPU budget; no student"),
    ("Seeds", "not stated", f"{len(seeds)} per method; the claims table gives each row's minimum detectable effect "
     "and the seeds a decision would need", "the 45-minute budget of a MuJoCo notebook, tuning included"),
    ("Gait measure", "not stated (style judged on the robot)", "stride frequency and diagonal coherence of the "
     "feet's heights above the ground, checked on the prior alone", "the tip touch sensors chatter"),
    ("Tuning", "not described", f"the Adam step size of ours, no-prior and latent-only, {tuning_budget} values on "
     f"tuning seeds {tuning_seeds}; zero-penalty keeps ours'", "equal budgets for the policies that are compared"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={"success_roughest": headline_entry({m: per_seed("success", m, hi_r) for m in methods}),
              "progress_m": headline_entry({m: averaged("progress_m", m) for m in methods}),
              "action_rate": headline_entry({m: averaged("action_rate", m) for m in methods}),
              "gait_similarity": headline_entry({m: averaged("gait_similarity", m) for m in methods})},
    claims=CLAIMS, facts=FACTS, tuning=TUNED.to_json())
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=POLICY_RUNNER.timing(),
            evaluation=RUNNER.timing(), tuning=TUNING_RUNNER.timing(), tuning_training=TUNING_POLICY_RUNNER.timing(),
            train_seconds={f"{r['method']}/seed{r['seed']}": round(r["timing"]["train_s"], 1) for r in RESULTS})


def verdict_of(cid: str) -> str:
    c = CLAIMS[cid]
    return c.verdict + (f" ({c.value:+.3g})" if c.value is not None else "")


h = metrics_doc["headline"]

def paired_gap(metric: str) -> str:
    """no-prior − ours, per seed, averaged over the terrains: IQM [95 % CI]."""
    return fmt(averaged(metric, "no-prior") - averaged(metric, OURS)) if "no-prior" in methods else "n/a"


lines = [f"**In short.** Declared rows: " + ", ".join(f"{c.id} {c.verdict}" for c in CLAIMS if not c.post_hoc)
         + ". Exploratory rows (written after earlier results): "
         + ", ".join(f"{c.id} {c.verdict}" for c in CLAIMS if c.post_hoc) + f". {PLATEAU_TEXT}", "",
         "What a reader should weigh with these rows:",
         f"- On flat ground, with no roughness to adapt to, the residual's RMS is {RESIDUAL_CAP_SHARE:.0%} of its cap "
         f"(fact F8).",
         (f"- The prior does not imitate its reference: its trot's tracking error is {PRIOR_TRACKING['trot']:.0%} of "
          "the reference motion's size (fact F10; a statue scores 100 %). So the style claims test the prior's own "
          "gait (C1b-sync, C3a-sync), not an animal's, and the rows read against the reference trot (C1b, C3a) are "
          "untestable." if not IMITATES else f"- The prior imitates its reference trot within the gate: tracking error "
          f"{PRIOR_TRACKING['trot']:.0%} of the reference motion's size (fact F10); by the foot instrument its trot "
          + ("stands apart from" if F7_SEPARATES else "does not stand apart from") + " its other gaits (fact F7)."),
         (f"- C4 reads the episode's deadline as much as the terrain: latent-only fails mostly by timing out, and "
          f"with a deadline {LATE_DEADLINE}× longer the success gap is {fmt_number(CLAIMS['C4-late'].value)} "
          f"{fmt_interval(CLAIMS['C4-late'].ci95)} instead of {fmt_number(CLAIMS['C4'].value)} "
          f"{fmt_interval(CLAIMS['C4'].ci95)} (C4-late)." if CLAIMS["C4-late"].value is not None
          and CLAIMS["C4"].value is not None else "- C4-late was not measured."),
         f"- With a flat height scan in place of the real one, ours' success at {hi_r} m changes by "
         f"{fmt(-blind_drop[OURS])} (C5), and " + ", ".join(f"{m_}'s by {fmt(-v)}" for m_, v in blind_drop.items()
                                                             if m_ != OURS)
         + " (a positive change: more successes with the flat scan). At this design the height scan does not help "
         "any policy reach the goal.",
         f"- Torque² and foot slip, no-prior − ours (paired, averaged over terrains): {paired_gap('torque2')} N²m² and "
         f"{paired_gap('foot_slip')} m/s.",
         f"- With {len(seeds)} seeds an IQM is the mean of the middle seeds only, and a percentile bootstrap over so "
         "few seeds covers less than its nominal 95 %; the claims table gives each row's minimum detectable effect. "
         "Decided rows that a two-sided t test of the per-seed values against the threshold does not confirm at 5 %: "
         + (", ".join(f"{c.id} (p {c.p_value:.2g})" for c in FRAGILE) if FRAGILE else "none") + ".",
         ""]
lines += CLAIMS.summary_lines()
for m in methods:
    lines.append(f"- **{m}**: success at {hi_r} m {h['success_roughest'][m]['iqm']:.3g}, progress "
                 f"{h['progress_m'][m]['iqm']:.3g} m, action rate {h['action_rate'][m]['iqm']:.3g} rad per step, "
                 f"similarity to trot {h['gait_similarity'][m]['iqm']:.3g} (IQM over {len(seeds)} seeds)")
display(prose(lines))
