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
# # Quadruped robot soccer: learned skills under a 5 Hz MAPPO team policy trained by fictitious self-play
#
# **Paper.** *Toward Real-World Cooperative and Competitive Soccer with Quadrupedal Robot Teams*, arXiv
# [2505.13834](https://arxiv.org/abs/2505.13834) (CoRL 2025). No public code was found. The abstract and a third-party
# [summary](https://www.themoonlight.io/en/review/toward-real-world-cooperative-and-competitive-soccer-with-quadrupedal-robot-teams)
# give the structure; the rewards, the FSP details and the ablation numbers are not public.
#
# **The hierarchy.** Three low-level skills (Walk, Dribble, Kick) are trained separately with PPO and frozen. They
# run at 50 Hz on a command: a velocity to walk at, a velocity to carry the ball at, or a kick direction and
# speed. Above them, a **5 Hz team policy** picks for every robot a pair (skill, command) from egocentric
# observations. It is trained with **MAPPO**: one actor shared by the teammates and a critic on the global state.
# Opponents come from **fictitious self-play (FSP)**, a growing pool of the learner's own past policies. The team
# must beat the mixture of its history, not only its latest self. The paper reports coordinated passing,
# interception and dynamic role allocation, and an ablation study in which the method has "significant advantages";
# a design note quoting the CoRL version (PMLR vol. 305) adds that the end-to-end baseline gives "less accurate and
# more erratic ball trajectories".
#
# **Reproduced.**
# - The two-level control: learned skills at 50 Hz under a learned 5 Hz team policy whose action is a discrete skill
#   and a continuous command (a hybrid action), decided from egocentric observations.
# - MAPPO with a shared actor and a centralised critic, and FSP with an opponent pool of periodic snapshots.
# - The ablations the paper's claims need, each tuned with the same budget: plain self-play, IPPO (a decentralised
#   critic), an end-to-end policy on 50 Hz motor actions with the same total number of environment steps (the
#   skills' steps included), and a scripted team, tuned over a grid.
# - A cross-play tournament between every trained team, with Bradley–Terry ratings bootstrapped over seeds, a
#   held-out opponent pool, and behaviour statistics defined before the runs (passes, interceptions, ball-path jerk,
#   shot accuracy, role split).
#
# **Scaled or reconstructed.**
# - The quadrupeds are discs on a plane with second-order dynamics and a heading (`hrlkit.envs.soccer.soccer2d`). The
#   skills' motor action is a body-frame force and turn rate, not joint targets tracked by PD at 200 Hz.
# - 2 v 2 on a 9 × 6 m pitch; 30 s games in the repro profile (`episode_steps`), restarted from kickoff after every goal and decided by the goal difference.
# - The team reward is reconstructed: ±1 per goal plus a shaping term identical for every method.
# - The team policy is an MLP on the current observation and its previous action, not a GRU.
# - Training is far shorter than a robot-scale run (the paper's training length is not published).
# The deviations table at the end lists every difference.

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # reported seeds: one training run per learned method and seed
e2e_seeds = [0]                   # reported seeds of the end-to-end baseline (among `seeds`; its runs cost most)
tuning_seeds = [100]              # tuning and pilot seeds, disjoint from `seeds`
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/quadruped_soccer"  # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/quadruped_soccer/runs"  # raw per-task results: stored once, loaded on every later run
tuning_dir = "scratch/quadruped_soccer/tuning"  # raw tuning trials, stored the same way
device = "cpu"                    # only "cpu": small networks stepped with a numpy simulator, one decision at a time
methods = ["mappo-fsp", "mappo-sp", "ippo-fsp", "e2e-mappo-fsp", "scripted"]  # first is ours
skills_path = "data/quadruped_soccer/skills.pt"  # the frozen Walk/Dribble/Kick library (DVC stage)
tuning_budget = 1                 # step sizes tried per learned method (the same for every learned method)
episode_steps = 100               # physics steps per game (50 Hz); after a goal play restarts from kickoff
games = 4                         # games simulated in parallel per rollout (every learned method)
horizon = 4                       # 5 Hz decisions per game per rollout (hierarchical methods)
updates = 2                       # PPO updates of the hierarchical methods
e2e_horizon = 8                   # 50 Hz steps per game per rollout of the end-to-end method
e2e_updates = 2                   # PPO updates of the end-to-end method, 0 for the equal-budget count (see below)
snapshot_every = 1                # FSP: hierarchical updates between snapshots (e2e: the same environment steps)
ppo_epochs = 4                    # PPO epochs per update
ppo_minibatches = 4               # minibatches per epoch
gamma = 0.98                      # discount per 5 Hz decision (e2e: gamma^(1/10) per 50 Hz step, the same in seconds)
gae_lambda = 0.95                 # GAE λ per decision (e2e: λ^(1/10) per step)
clip_coef = 0.2                   # PPO clip range
entropy_coef = 0.003              # entropy bonus
shaping = 1.0                     # team reward per metre the ball moves towards the opponent's goal (every method)
hidden = 64                       # width of the actor's and the critic's two hidden layers
curve_points = 2                  # points of the training curve against the scripted team (evenly spaced; the
                                  # last is the final learning check)
curve_games = 2                   # games per side of each of those evaluations
learn_check_games = 2             # games per side of the initial and of the final policy against the scripted team
scripted_games = 2                # games per side of each pair in the scripted round-robin
crossplay_games = 1               # games per side of each pair of players in the tournament
pool_games = 2                    # games per side against each held-out pool member (half select the worst member)
tournament_tasks = 1              # tasks the tournament is split into (each seeds its own games; workers do not matter)

# %% [markdown]
# What each parameter may be: checked in the setup cell below before any compute (and on params.yaml by the
# pipeline). A wrong value, a NaN, a float where an integer is needed, a repeated list entry, a missing file or an
# unknown name fails there, naming the parameter and what is allowed.

# %% tags=["schema"]
from pydantic import model_validator

from hrlkit import params as P

SLUG = "quadruped_soccer"
ALL_METHODS = ("mappo-fsp", "mappo-sp", "ippo-fsp", "e2e-mappo-fsp", "scripted")
OURS = "mappo-fsp"
E2E = "e2e-mappo-fsp"


class SoccerParameters(P.Parameters):
    device: P.Choice("cpu")
    e2e_seeds: P.Seeds
    tuning_seeds: P.Seeds
    tuning_dir: P.OutDir
    methods: P.Subset(*ALL_METHODS, first=OURS, min_len=2)
    skills_path: P.FilePath
    tuning_budget: P.Int(ge=1, le=2)
    episode_steps: P.Int(ge=50, multiple_of=10)
    games: P.Int(ge=1)
    horizon: P.Int(ge=1)
    updates: P.Int(ge=2)
    e2e_horizon: P.Int(ge=1)
    e2e_updates: P.Int(ge=0)
    snapshot_every: P.Int(ge=1)
    ppo_epochs: P.Int(ge=1)
    ppo_minibatches: P.Int(ge=1)
    gamma: P.Number(gt=0, le=1)
    gae_lambda: P.Number(ge=0, le=1)
    clip_coef: P.Number(gt=0, le=1)
    entropy_coef: P.Number(ge=0)
    shaping: P.Number(ge=0)
    hidden: P.Int(ge=4)
    curve_points: P.Int(ge=1)
    curve_games: P.Int(ge=1)
    learn_check_games: P.Int(ge=1)
    scripted_games: P.Int(ge=1)
    crossplay_games: P.Int(ge=1)
    pool_games: P.Int(ge=2)
    tournament_tasks: P.Int(ge=1)

    @model_validator(mode="after")
    def relations(self):
        P.require(set(self.e2e_seeds) <= set(self.seeds), "e2e_seeds", self.e2e_seeds,
                  f"must be among seeds {self.seeds} (its runs reuse the reported seeds)")
        P.require(self.ppo_minibatches <= self.games * self.horizon, "ppo_minibatches", self.ppo_minibatches,
                  f"must be <= games * horizon = {self.games * self.horizon} (one decision per minibatch at least)")
        P.require(self.curve_points <= self.updates, "curve_points", self.curve_points,
                  f"must be <= updates = {self.updates}")
        P.require(self.snapshot_every <= self.updates, "snapshot_every", self.snapshot_every,
                  f"must be <= updates = {self.updates} (FSP needs a snapshot during training)")
        P.require("scripted" in self.methods, "methods", self.methods,
                  "must include 'scripted' (the learned methods' curves and tuning are measured against it)")
        return self

# %% [markdown]
# ## Setup: parameter check, imports, seeding

# %%
PARAMS = SoccerParameters.from_notebook(globals())   # fails here, naming the parameter, before any compute

import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from torch import nn
from torch.distributions import Categorical, Normal

from hrlkit import figures, runs, tune
from hrlkit.envs.soccer.soccer2d import Soccer2DConfig, observation_names, state_names
from hrlkit.envs.soccer.skills import SKILLS, load_skills
from hrlkit.envs.soccer.team import HIGH_LEVEL_PERIOD, SCRIPTED_STYLES, Match, ScriptedTeam, Seat, team_slice
from hrlkit.games import ratings
from hrlkit.games.selfplay import OpponentPool
from hrlkit.rl.core import RunningMeanStd
from hrlkit.rl.marl import mlp, per_agent_gae, with_agent_ids
from hrlkit.runner import Runner
from hrlkit.seeding import derive_seed, resolve_device, seed_everything

PAPER = {"slug": SLUG, "arxiv": "2505.13834",
         "title": "Toward Real-World Cooperative and Competitive Soccer with Quadrupedal Robot Teams"}
LEARNED = tuple(m for m in ALL_METHODS if m != "scripted")
HIERARCHICAL = ("mappo-fsp", "mappo-sp", "ippo-fsp")

DEVICE = resolve_device(device)
OUT = runs.prepare_out_dir(out_dir)
clock = runs.WallClock()
figures.set_theme()
seed_everything(0)      # the notebook's own streams; every task reseeds from its own seed
SAVE = dict(out_dir=OUT, slug=SLUG, params=PARAMS)
print(f"profile={profile} workers={workers} device={DEVICE} out_dir={out_dir}")

# %% [markdown]
# ## The world: `Soccer2D`, and the frozen skills
#
# `hrlkit.envs.soccer.soccer2d.Soccer2DCore` simulates many 2 v 2 games at once at 50 Hz (Δt = 0.02 s). A robot is a disc
# (radius 0.25 m, 15 kg) driven by a body-frame force of at most 60 N and a turn rate of at most 3 rad/s, against
# a drag that caps its speed at 2 m/s: v ← v + Δt·(F − c_d·v)/m. The ball (0.45 kg) rolls with friction. A contact
# with a robot gives it an impulse along the contact normal with restitution 0.5. The walls reflect it, except at the
# 1.5 m goal mouths. A game lasts `episode_steps` (30 s in the repro profile). After a goal the robots and the ball are kicked off
# again and play goes on; the goal difference decides the game (`MatchStats(match_steps=…)`), level goals are a
# draw. The observations
# are egocentric (`observation_names`): own velocity and turn rate, then the ball, teammate, opponents and both
# goals relative to the robot in its body frame, and the time left. A team-1 robot therefore sees exactly what a
# team-0 robot sees in the mirrored game, and one policy plays either side. The same core is a PettingZoo
# `ParallelEnv` (`soccer2d_v0`), checked by `parallel_api_test` and `parallel_seed_test` in the tests.
#
# **The skills** (`hrlkit.envs.soccer.skills`, trained by the `quadruped_soccer_skills` DVC stage and frozen) map
# the last five proprioceptive frames, the ball relative to the robot, the command and the previous action to the
# 50 Hz motor action. Walk tracks a velocity, r = exp(−‖v − c‖²/0.25) − 0.01‖a‖². Dribble carries the ball at a
# commanded velocity. Kick has a multi-stage, state-conditioned reward (approach the striking spot, strike the ball
# at speed s along direction û, recover). `hrlkit.envs.soccer.team.Match` runs any mix of controllers in one
# vectorised game: a 5 Hz skill controller's (skill, command) is held for 10 physics steps, while a 50 Hz motor
# controller acts every step.

# %%
GAME = Soccer2DConfig(episode_steps=episode_steps)
N_PER_TEAM = GAME.n_per_team
OBS_DIM, STATE_DIM = len(observation_names(N_PER_TEAM)), len(state_names(N_PER_TEAM))
LIBRARY, SKILL_LOG = load_skills(skills_path)
SKILL_STEPS = int(SKILL_LOG["total_env_steps"])


def skill_table() -> pd.DataFrame:
    """The skills stage's own evaluation: learned skill, zero actions and a scripted controller, per skill."""
    rows = []
    for skill in SKILLS:
        for controller, metrics in SKILL_LOG[skill]["eval"].items():
            rows.append({"skill": skill, "controller": controller, "env steps": SKILL_LOG[skill]["env_steps"],
                         **{k: v for k, v in metrics.items() if k != "episode_return"}})
    return pd.DataFrame(rows)


display(skill_table().round(3))
print(f"skills trained on {SKILL_STEPS:,} environment steps in all; observation {OBS_DIM} dims per robot, "
      f"global state {STATE_DIM} dims")

# %% [markdown]
# ## Method: the 5 Hz team policy
#
# **Action.** Robot i picks a skill k ∈ {Walk, Dribble, Kick} and a command for it. The policy is a categorical
# over skills and, for each skill, a Gaussian over a pre-squash command u ∈ ℝ²:
#
# $$\pi(k, u \mid o_i) = \mathrm{softmax}(\ell(o_i))_k \cdot \mathcal N\big(u;\ \mu_k(o_i),\ \mathrm{diag}\,\sigma_k^2\big),
# \qquad c = \big(a_k + (b_k - a_k)\tanh\lVert u\rVert\big)\,\frac{u}{\lVert u\rVert}$$
#
# with c in the robot's body frame: its direction is u's, and its speed is squashed into the range the skill was
# trained on, [a_k, b_k]. That range is walking speed 0–1.8 m/s, ball speed while dribbling 0.2–1 m/s, and ball
# speed of a kick 1–2.5 m/s (`LIBRARY.cfg`), so the team level never sends a skill a command it has not learned. The
# match turns c into a world-frame command once, at decision time, as the skills expect. PPO's ratio uses
# log π(k, u); the squash is the same function for the old and the new policy, so its Jacobian cancels. The entropy
# is H(k) + Σ_k π(k)·H(𝒩_k). Evaluation games use the mode, the most likely skill and its mean command, for every
# learned team. The skills themselves always play their mean action.
#
# **Observation.** o_i = [egocentric observation, previous decision (one-hot skill, c/s_k), one-hot robot id],
# normalised by a running mean and variance. A snapshot carries the normaliser with the weights.
#
# **The end-to-end baseline** has the same trunk and observations. Its previous decision is its previous motor
# action, and its head is a Gaussian over the 3-D motor action at 50 Hz, clipped to [−1, 1] by the simulator.

# %%
# [a_k, b_k], m/s: the command speeds each skill was trained on (Walk, Dribble, Kick)
SPEED_RANGE = torch.tensor([[0.0, LIBRARY.cfg.walk_speed_max],
                            [LIBRARY.cfg.dribble_speed_min, LIBRARY.cfg.dribble_speed_max],
                            [LIBRARY.cfg.kick_speed_min, LIBRARY.cfg.kick_speed_max]])


class NumpyTanh(torch.autograd.Function):
    """tanh through numpy, d tanh(x)/dx = 1 − tanh²(x). On these CPUs torch's tanh kernel is several times slower
    than numpy's on small batches, and every network here is small and steps one decision at a time."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.from_numpy(np.tanh(x.detach().numpy()))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class Tanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return NumpyTanh.apply(x)


_probe = torch.linspace(-4, 4, 101, dtype=torch.float64, requires_grad=True)
assert torch.allclose(NumpyTanh.apply(_probe), torch.tanh(_probe), atol=1e-12)
assert torch.autograd.gradcheck(NumpyTanh.apply, (_probe,))


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (g, n, i) @ W(g, o, i)ᵀ + b(g, o): one linear layer with its own weights per game (batched opponents)."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def pick(per_skill: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
    """(..., 3, 2) per-skill values → (..., 2) those of the chosen skill."""
    return per_skill.gather(-2, skill[..., None, None].expand(*skill.shape, 1, 2)).squeeze(-2)


class SkillPolicy(nn.Module):
    """π(k, u | o): the 5 Hz hybrid (skill, command) policy shared by the teammates."""

    period, uses_skills, prev_dim = HIGH_LEVEL_PERIOD, True, 5

    def __init__(self, width: int = hidden) -> None:
        super().__init__()
        self.trunk = mlp([OBS_DIM + self.prev_dim + N_PER_TEAM, width, width], activation=Tanh)
        self.trunk.append(Tanh())
        self.skill_logits = nn.Linear(width, 3)
        self.command_mean = nn.Linear(width, 6)
        for head in (self.skill_logits, self.command_mean):
            nn.init.orthogonal_(head.weight, 0.01)
            nn.init.zeros_(head.bias)
        self.command_log_std = nn.Parameter(torch.full((3, 2), -0.5))

    def forward(self, x: torch.Tensor):
        h = self.trunk(with_agent_ids(x))
        return (self.skill_logits(h), self.command_mean(h).unflatten(-1, (3, 2)),
                self.command_log_std.expand(*x.shape[:-1], 3, 2))

    @staticmethod
    def batched(p: dict, x: torch.Tensor):
        """``forward`` with per-game weights ``p[name]`` (g, ...) on x (g, n, d)."""
        h = with_agent_ids(x)
        h = NumpyTanh.apply(linear(h, p["trunk.0.weight"], p["trunk.0.bias"]))
        h = NumpyTanh.apply(linear(h, p["trunk.2.weight"], p["trunk.2.bias"]))
        mean = linear(h, p["command_mean.weight"], p["command_mean.bias"]).unflatten(-1, (3, 2))
        return (linear(h, p["skill_logits.weight"], p["skill_logits.bias"]), mean,
                p["command_log_std"][:, None].expand(*mean.shape))

    @staticmethod
    def mode(heads) -> torch.Tensor:
        """The most likely skill and its mean command (evaluation)."""
        logits, mean, _ = heads
        skill = logits.argmax(-1)
        return torch.cat([skill[..., None].float(), pick(mean, skill)], -1)

    @staticmethod
    def sample(heads, generator: torch.Generator) -> torch.Tensor:
        """(..., 3) actions [k, u₁, u₂]: k ~ softmax(ℓ), u ~ 𝒩(μ_k, σ_k²)."""
        logits, mean, log_std = heads
        probs = torch.softmax(logits, -1)
        skill = torch.multinomial(probs.reshape(-1, 3), 1, generator=generator).reshape(probs.shape[:-1])
        mu, std = pick(mean, skill), pick(log_std, skill).exp()
        return torch.cat([skill[..., None].float(), mu + std * torch.randn(mu.shape, generator=generator)], -1)

    def log_prob_entropy(self, x: torch.Tensor, action: torch.Tensor):
        logits, mean, log_std = self(x)
        skill, u = action[..., 0].long(), action[..., 1:]
        choice = Categorical(logits=logits)
        # log π(k, u | o) = log softmax(ℓ)_k + log 𝒩(u; μ_k, σ_k²)
        log_prob = choice.log_prob(skill) + Normal(pick(mean, skill), pick(log_std, skill).exp()).log_prob(u).sum(-1)
        # H = H(k) + Σ_k π(k)·H(𝒩_k)
        gaussian_entropy = Normal(torch.zeros(3, 2), self.command_log_std.exp()).entropy().sum(-1)
        return log_prob, choice.entropy() + (choice.probs * gaussian_entropy).sum(-1)

    @staticmethod
    def decision(action: torch.Tensor):
        """The match's decision (skill, body-frame command c) and the previous-decision features."""
        skill, u = action[..., 0].long(), action[..., 1:]
        norm = u.norm(dim=-1, keepdim=True)
        direction = u / norm.clamp_min(1e-12)
        low, high = SPEED_RANGE[skill][..., :1], SPEED_RANGE[skill][..., 1:]
        # c = (a_k + (b_k − a_k)·tanh‖u‖)·u/‖u‖
        command = (low + (high - low) * torch.tanh(norm)) * direction
        previous = torch.cat([nn.functional.one_hot(skill, 3).float(), torch.tanh(norm) * direction], -1)
        return {"skill": skill.numpy(), "command": command.double().numpy()}, previous.numpy()


class MotorPolicy(nn.Module):
    """The end-to-end baseline: a Gaussian over the 3-D motor action, every 50 Hz step."""

    period, uses_skills, prev_dim = 1, False, 3

    def __init__(self, width: int = hidden) -> None:
        super().__init__()
        self.mean = mlp([OBS_DIM + self.prev_dim + N_PER_TEAM, width, width, 3], activation=Tanh, out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((3,), -0.5))

    def forward(self, x: torch.Tensor):
        mu = self.mean(with_agent_ids(x))
        return mu, self.log_std.expand_as(mu)

    @staticmethod
    def batched(p: dict, x: torch.Tensor):
        h = with_agent_ids(x)
        h = NumpyTanh.apply(linear(h, p["mean.0.weight"], p["mean.0.bias"]))
        h = NumpyTanh.apply(linear(h, p["mean.2.weight"], p["mean.2.bias"]))
        mu = linear(h, p["mean.4.weight"], p["mean.4.bias"])
        return mu, p["log_std"][:, None].expand_as(mu)

    @staticmethod
    def mode(heads) -> torch.Tensor:
        return heads[0]

    @staticmethod
    def sample(heads, generator: torch.Generator) -> torch.Tensor:
        mu, log_std = heads
        return mu + log_std.exp() * torch.randn(mu.shape, generator=generator)

    def log_prob_entropy(self, x: torch.Tensor, action: torch.Tensor):
        mu, log_std = self(x)
        dist = Normal(mu, log_std.exp())
        return dist.log_prob(action).sum(-1), dist.entropy().sum(-1)

    @staticmethod
    def decision(action: torch.Tensor):
        clipped = action.clamp(-1.0, 1.0)
        return {"action": clipped.double().numpy()}, clipped.numpy()


def policy_class(method: str):
    return MotorPolicy if method == E2E else SkillPolicy

# %% [markdown]
# **Critic.** MAPPO's critic is centralised on the *agent-specific global state* of the MAPPO paper (Yu et al.
# 2022, "AS"): V_i = V([S, o_i, onehot(i)]), the global state S (ball, all four robots' positions, velocities,
# headings and turn rates, and the time left, in the mirrored frame for team 1), normalised by its own running mean
# and variance, next to the robot's own normalised input o_i. IPPO's critic reads only [o_i, onehot(i)]. In this
# fully observed game o_i already holds every position and velocity, in the robot's frame, so the two critics see
# the same information; the centralised one adds the world frame. The ablation tests the critic's input, not extra
# information. (The second design's critic read [S, onehot(i)] only; see the design history.) Each robot gets its
# own advantage from its own value and the shared team reward (per-agent
# GAE, `hrlkit.rl.marl.per_agent_gae`):
#
# $$\delta_t = r_t + \gamma (1 - d_t) V(s_{t+1}) - V(s_t), \qquad \hat A_t = \delta_t + \gamma\lambda (1 - d_t)\hat A_{t+1},
# \qquad \hat R_t = \hat A_t + V(s_t).$$
#
# **Team reward** (reconstructed; the same for every method). For team 0, per decision from s to s′:
#
# $$r = (\text{goals}_0 - \text{goals}_1) + w_{sh}\,\big(x^{ball}(s') - x^{ball}(s)\big),$$
#
# where x is measured towards the opponent's goal and w_sh = `shaping` per metre; both terms are counted up to the
# step at which the game ended. The shaping term is zero-sum and rewards ball progress. It is *not* policy-invariant:
# it equals the potential-based term γΦ(s′) − Φ(s) with Φ = w_sh·x_ball (Ng et al. 1999) plus (1 − γ)·Φ(s′), a
# small reward per decision for keeping the ball in the opponent's half. So the learners optimise goals plus
# territory, the same objective for every method. (A development pilot with the exact potential-based form learned
# nothing in the budget: its advantages carry no more signal than the sparse goals.) The end-to-end method sums the
# same terms per physics step, so its reward over any 0.2 s equals the hierarchical one's. The discount γ is per
# decision; the end-to-end method uses γ^{1/10} per physics step, the same discount per second. The time left is in
# the observation, so the time limit is part of the state and its end is treated as terminal.

# %%
class Critic(nn.Module):
    """V_i: from [S, o_i, onehot(i)] (centralised on the agent-specific global state, MAPPO) or from the robot's
    own input [o_i, onehot(i)] (IPPO)."""

    def __init__(self, central: bool, local_dim: int, width: int = hidden) -> None:
        super().__init__()
        self.central = central
        self.net = mlp([(STATE_DIM if central else 0) + local_dim + N_PER_TEAM, width, width, 1], activation=Tanh)

    def forward(self, state: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """state (..., S), local (..., n, d) → values (..., n)."""
        x = (torch.cat([state[..., None, :].expand(*local.shape[:-1], state.shape[-1]), local], -1) if self.central
             else local)
        return self.net(with_agent_ids(x)).squeeze(-1)

# %% [markdown]
# **Playing.** `Learner` plays team 0 with the live policy and keeps what PPO needs. `FrozenTeam` plays a set of
# frozen snapshots, one per game, in one batched forward pass: each game has its own weights, so a pool of past
# policies costs one call per decision. `PoolTeam` is the FSP opponent. At each kickoff a game draws its opponent
# from the `OpponentPool` (`hrlkit.games.selfplay`) and keeps it for the whole game. This plays the mixture of past
# policies as a mixed strategy, which is FSP's average policy. Plain self-play is the same pool with the newest
# snapshot always drawn, and a snapshot taken after every update: the opponent is the current policy.

# %%
def snapshot(policy: nn.Module, norm: RunningMeanStd) -> dict:
    return {"policy": {k: v.detach().clone() for k, v in policy.state_dict().items()}, "norm": norm.state_dict()}


def policy_input(match: Match, seat: Seat, previous: np.ndarray) -> np.ndarray:
    """(g, n, obs + prev) raw input of the seat's robots: egocentric observation and previous decision."""
    obs = match.observations()[seat.games][:, team_slice(seat.team, N_PER_TEAM)]
    return np.concatenate([obs, previous], axis=-1)


class Learner:
    """The live policy on team 0; stores (input, action, global state) of the latest decision, raw and normalised."""

    def __init__(self, policy: nn.Module, norm: RunningMeanStd, state_norm: RunningMeanStd, n_games: int,
                 seed: int) -> None:
        self.policy, self.norm, self.state_norm = policy, norm, state_norm
        self.period, self.uses_skills = policy.period, policy.uses_skills
        self.generator = torch.Generator().manual_seed(seed)
        self.previous = np.zeros((n_games, N_PER_TEAM, policy.prev_dim))
        self.last = None

    def normalised(self, raw: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self.norm.normalize(raw), dtype=torch.float32)

    def normalised_state(self, raw_state: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self.state_norm.normalize(raw_state), dtype=torch.float32)

    def decide(self, match: Match, seat: Seat) -> dict:
        raw = policy_input(match, seat, self.previous)
        x = self.normalised(raw)
        with torch.no_grad():
            action = self.policy.sample(self.policy(x), self.generator)
        decision, self.previous = self.policy.decision(action)
        raw_state = match.core.global_state(seat.team)[seat.games]
        self.last = (raw, x, action, raw_state, self.normalised_state(raw_state))
        return decision

    def kickoff(self, seat: Seat, mask: np.ndarray) -> None:
        self.previous[mask] = 0.0


class FrozenTeam:
    """Frozen snapshots of one policy class, ``which[g]`` = the snapshot that plays game g (batched forward);
    sampled actions (training opponents) or the policies' modes (``deterministic``, evaluation games)."""

    def __init__(self, cls, snapshots: list[dict], which: np.ndarray, seed: int, deterministic: bool = False) -> None:
        self.cls, self.period, self.uses_skills = cls, cls.period, cls.uses_skills
        self.deterministic = deterministic
        self.generator = torch.Generator().manual_seed(seed)
        self.which = np.asarray(which, dtype=np.int64)
        self.previous = np.zeros((len(self.which), N_PER_TEAM, cls.prev_dim))
        self.load(snapshots)

    def load(self, snapshots: list[dict]) -> None:
        self.params = {k: torch.stack([s["policy"][k] for s in snapshots]) for k in snapshots[0]["policy"]}
        self._per_game, self._per_game_of = None, None      # the weights gathered per game, for self.which
        self.mean = np.stack([s["norm"]["mean"] for s in snapshots])
        self.std = np.sqrt(np.stack([s["norm"]["var"] for s in snapshots]) + 1e-8)

    def decide(self, match: Match, seat: Seat) -> dict:
        raw = policy_input(match, seat, self.previous)
        # z = clip((x − mean)/√(var + 1e-8), ±10), each game with its snapshot's normaliser
        z = np.clip((raw - self.mean[self.which][:, None]) / self.std[self.which][:, None], -10.0, 10.0)
        if self._per_game_of is None or not np.array_equal(self._per_game_of, self.which):
            index = torch.as_tensor(self.which)
            self._per_game, self._per_game_of = {k: v[index] for k, v in self.params.items()}, self.which.copy()
        with torch.no_grad():
            heads = self.cls.batched(self._per_game, torch.as_tensor(z, dtype=torch.float32))
            action = self.cls.mode(heads) if self.deterministic else self.cls.sample(heads, self.generator)
        decision, self.previous = self.cls.decision(action)
        return decision

    def kickoff(self, seat: Seat, mask: np.ndarray) -> None:
        self.previous[mask] = 0.0


class PoolTeam(FrozenTeam):
    """FSP opponents: each game draws a snapshot from ``pool`` at kickoff and keeps it for the game."""

    def __init__(self, cls, pool: OpponentPool, n_games: int, seed: int) -> None:
        self.pool, self.rng = pool, np.random.default_rng(seed)
        self.follow_newest = pool.latest_prob == 1.0        # plain self-play: every game plays the newest
        self.assigned = pool.sample(n_games, self.rng)
        self.ids: tuple = ()
        super().__init__(cls, [pool[int(pool.ids[-1])].state_dict], np.zeros(n_games, dtype=np.int64), seed)
        self.refresh()

    def refresh(self) -> None:
        """Restack the pool's snapshots when it changed; map each game's snapshot id to its row."""
        ids = tuple(int(i) for i in self.pool.ids)
        if self.follow_newest:
            self.assigned[:] = ids[-1]
        if ids != self.ids:
            self.load([self.pool[i].state_dict for i in ids])
            self.ids = ids
        row = {sid: r for r, sid in enumerate(ids)}
        self.which = np.array([row[int(a)] for a in self.assigned], dtype=np.int64)

    def decide(self, match: Match, seat: Seat) -> dict:
        self.refresh()
        return super().decide(match, seat)

    def kickoff(self, seat: Seat, mask: np.ndarray) -> None:
        super().kickoff(seat, mask)
        if mask.any():
            self.assigned[mask] = self.pool.sample(int(mask.sum()), self.rng)

# %% [markdown]
# **Matches between players.** A *player* is a frozen snapshot of a policy class, or a scripted team with its
# configuration. `play_pairs` seats every pair on both sides, `games_per_side` games each, in one vectorised
# `Match` of fixed-length games (`episode_steps`, restarts after goals). It returns one row per game with the
# outcome, the goals and the match statistics of both teams
# (`hrlkit.envs.soccer.team.MatchStats`, whose definitions are fixed in that module: pass, interception, shot,
# shot on target, ball-path jerk, role split). A game counts 1 for a win, ½ for a draw, 0 for a loss (its
# *score*); its *goal difference* is goals for − goals against.

# %%
STAT_COLUMNS = ("goals_for", "goals_against", "touches", "passes", "interceptions", "shots", "on_target", "role_split", "role_switches",
                "jerk_sum", "jerk_steps")


def scripted_player(config: dict) -> dict:
    return {"kind": "scripted", "config": dict(config)}


def policy_player(cls, snap: dict) -> dict:
    return {"kind": "policy", "cls": cls, "snapshot": snap}


def seats_for(team: int, keys: list, players: dict, seed: int) -> list[Seat]:
    """The seats of one team: a batched FrozenTeam per policy class, a ScriptedTeam per scripted player."""
    keys = np.array(keys, dtype=object)
    seats = []
    for cls in (SkillPolicy, MotorPolicy):
        mine = sorted({k for k in keys if players[k]["kind"] == "policy" and players[k]["cls"] is cls})
        if mine:
            games = np.flatnonzero([players[k]["kind"] == "policy" and players[k]["cls"] is cls for k in keys])
            which = np.array([mine.index(k) for k in keys[games]])
            team_seed = derive_seed(seed, f"team {team} {cls.__name__}")
            seats.append(Seat(FrozenTeam(cls, [players[k]["snapshot"] for k in mine], which, team_seed,
                                         deterministic=True), games, team))
    for key in sorted({k for k in keys if players[k]["kind"] == "scripted"}):
        games = np.flatnonzero([k == key for k in keys])
        seats.append(Seat(ScriptedTeam(**players[key]["config"]), games, team))
    return seats


def play_pairs(pairs: list[tuple], players: dict, games_per_side: int, seed: int) -> pd.DataFrame:
    """Every pair (a, b) plays ``games_per_side`` games with a as team 0 and as many with b as team 0."""
    first, second, a_team, repeat = [], [], [], []
    for a, b in pairs:
        for side in (0, 1):
            first += [a] * games_per_side
            second += [b] * games_per_side
            a_team += [side] * games_per_side
            repeat += list(range(games_per_side))
    a_team = np.array(a_team)
    team0 = [a if t == 0 else b for a, b, t in zip(first, second, a_team)]
    team1 = [b if t == 0 else a for a, b, t in zip(first, second, a_team)]
    match = Match(GAME, len(first), seed, LIBRARY, seats_for(0, team0, players, seed) + seats_for(1, team1, players, seed),
                  match_steps=episode_steps)
    stats_ = match.play()
    if not stats_.finished.all():
        raise RuntimeError("play_pairs: a game did not last episode_steps")
    per_team = [stats_.per_game(0), stats_.per_game(1)]

    def of(team_index: np.ndarray, name: str) -> np.ndarray:
        return np.where(team_index == 0, per_team[0][name], per_team[1][name])

    frame = {"a": first, "b": second, "a_team": a_team, "repeat": repeat,
             "score_a": of(a_team, "win") + 0.5 * of(a_team, "draw"), "steps": stats_.steps}
    for name in STAT_COLUMNS:
        frame[f"{name}_a"] = of(a_team, name)
        frame[f"{name}_b"] = of(1 - a_team, name)
    frame["goal_diff_a"] = frame["goals_for_a"] - frame["goals_against_a"]
    return pd.DataFrame(frame)


def mean_score(pairs: list[tuple], players: dict, games_per_side: int, seed: int) -> float:
    return float(play_pairs(pairs, players, games_per_side, seed)["score_a"].mean())


def against_scripted(players: dict, games_per_side: int, seed: int) -> dict:
    """Each player's mean score, goal difference and behaviour per game against the tuned scripted team (one
    vectorised match for all of them)."""
    frame = play_pairs([(name, "scripted") for name in players], {**players, "scripted": scripted_player(SCRIPTED)},
                       games_per_side, seed)
    return {name: {"score": float(rows["score_a"].mean()), "goal_diff": float(rows["goal_diff_a"].mean()),
                   **{stat: float(rows[f"{stat}_a"].mean()) for stat in ("passes", "interceptions", "role_split")}}
            for name, rows in frame.groupby("a", sort=False)}

# %% [markdown]
# **MAPPO.** For each update the learner plays `horizon` decisions in each of `games` games against its opponents
# (team 1). Per robot, GAE over its own values (per-agent GAE) gives advantages Â and returns; the PPO loss on a
# minibatch, with advantages normalised per minibatch, is
#
# $$L = -\mathbb E\big[\min(\rho\hat A,\ \mathrm{clip}(\rho, 1 \pm \epsilon)\hat A)\big] + \tfrac12\,\mathbb E\big[\tfrac12(V_i - \hat R)^2\big]
# - c_H\,\mathbb E[H], \qquad \rho = \pi_\theta(a \mid o)/\pi_{old}(a \mid o).$$
#
# The actor and the critic share one Adam optimiser; the gradient norm is clipped at 0.5.
#
# **FSP.** The pool starts with the initial (random) policy. Every `snapshot_every` updates the learner's snapshot
# joins it, and all of it is kept (capacity unbounded). A game draws its opponent uniformly from the pool at
# kickoff and keeps it for the whole game (`latest_prob` = 0 in `hrlkit.games.selfplay.OpponentPool`):
#
# $$P(\text{opponent} = \pi_j) = \frac{1}{K}, \qquad j = 0, \dots, K - 1 \text{ (the K snapshots so far)},$$
#
# a mixed strategy that plays Fictitious Self-Play's average of past policies. The end-to-end method snapshots at the
# same spacing in environment steps.
#
# **Budget.** A hierarchical run takes updates × games × horizon decisions, each 10 physics steps. The end-to-end
# run gets the skills' training steps plus that many physics steps (`E2E_UPDATES` below), so both sides of the
# comparison cost the same number of environment steps.

# %%
HIER_STEPS = updates * games * horizon * HIGH_LEVEL_PERIOD
E2E_STEPS_PER_UPDATE = games * e2e_horizon
EQUAL_E2E_UPDATES = math.ceil((SKILL_STEPS + HIER_STEPS) / E2E_STEPS_PER_UPDATE)
E2E_UPDATES = EQUAL_E2E_UPDATES if e2e_updates == 0 else e2e_updates
E2E_SNAPSHOT_EVERY = max(1, round(snapshot_every * games * horizon * HIGH_LEVEL_PERIOD / E2E_STEPS_PER_UPDATE))
BUDGET_IS_EQUAL = E2E_UPDATES == EQUAL_E2E_UPDATES
print(f"hierarchical runs: {HIER_STEPS:,} physics steps (+ {SKILL_STEPS:,} of the skills); end-to-end runs: "
      f"{E2E_UPDATES} updates × {E2E_STEPS_PER_UPDATE} = {E2E_UPDATES * E2E_STEPS_PER_UPDATE:,} physics steps"
      + ("" if BUDGET_IS_EQUAL else f" (NOT the equal budget of {EQUAL_E2E_UPDATES} updates: e2e_updates is set)"))


def schedule(method: str) -> dict:
    """Per-method loop settings: the hierarchical ones per 5 Hz decision, the end-to-end ones per 50 Hz step."""
    if method == E2E:
        return {"updates": E2E_UPDATES, "horizon": e2e_horizon, "snapshot_every": E2E_SNAPSHOT_EVERY,
                "gamma": gamma ** (1 / HIGH_LEVEL_PERIOD), "lam": gae_lambda ** (1 / HIGH_LEVEL_PERIOD)}
    return {"updates": updates, "horizon": horizon, "snapshot_every": snapshot_every, "gamma": gamma,
            "lam": gae_lambda}


def collect(match: Match, learner: Learner, n_decisions: int) -> dict:
    """``n_decisions`` decisions of the learner in every game, with the team reward of each (see the text)."""
    period, n_games = learner.period, match.core.n_games
    buffer = {k: [] for k in ("raw", "x", "action", "raw_state", "state", "reward", "done", "goals")}
    for _ in range(n_decisions):
        ended, goal_reward, goals = np.zeros(n_games, dtype=bool), np.zeros(n_games), np.zeros(n_games)
        ball_start = match.core.ball_pos[:, 0].copy()
        ball_end = ball_start.copy()
        for sub in range(period):
            events = match.step()
            if sub == 0:
                raw, x, action, raw_state, state = learner.last
            live = ~ended
            goal_reward += np.where(live, events["goals"][:, 0] - events["goals"][:, 1], 0.0)
            goals += np.where(live, events["goals"].sum(axis=1), 0.0)
            # the ball's x at the decision's last step, or at the step its game ended (before the restart)
            ball_end = np.where(live, events["ball_pos"][:, 0], ball_end)
            ended |= events["done"]
        # r = (goals₀ − goals₁) + w_sh·(x_ball(s') − x_ball(s))
        reward = goal_reward + shaping * (ball_end - ball_start)
        for key, value in (("raw", raw), ("x", x), ("action", action), ("raw_state", raw_state), ("state", state),
                           ("reward", reward), ("done", ended), ("goals", goals)):
            buffer[key].append(value)
    return buffer


def ppo_update(policy, critic, optimiser, buffer, bootstrap, settings, generator) -> dict:
    """One MAPPO/IPPO update on a collected buffer (decisions × games × robots)."""
    x, action = torch.stack(buffer["x"]), torch.stack(buffer["action"])
    state = torch.stack(buffer["state"])
    reward = torch.as_tensor(np.stack(buffer["reward"]), dtype=torch.float32)
    done = torch.as_tensor(np.stack(buffer["done"]), dtype=torch.float32)
    with torch.no_grad():
        old_log_prob, _ = policy.log_prob_entropy(x, action)
        values = critic(state, x)
        last_values = critic(*bootstrap)
    # a decision after one whose game ended starts a new episode
    starts = torch.cat([torch.zeros_like(done[:1]), done[:-1]])
    advantages, returns = per_agent_gae(reward[..., None].expand_as(values), values, starts, last_values, done[-1],
                                        settings["gamma"], settings["lam"])
    flat = [t.flatten(0, 1) for t in (x, action, state, old_log_prob, advantages, returns)]
    n = flat[0].shape[0]
    params = list(policy.parameters()) + list(critic.parameters())
    for _ in range(ppo_epochs):
        for index in torch.randperm(n, generator=generator).chunk(ppo_minibatches):
            xb, ab, sb, old_b, adv_b, ret_b = (t[index] for t in flat)
            log_prob, entropy = policy.log_prob_entropy(xb, ab)
            ratio = (log_prob - old_b).exp()
            adv_b = (adv_b - adv_b.mean()) / (adv_b.std() + 1e-8)
            policy_loss = -torch.min(ratio * adv_b, ratio.clamp(1 - clip_coef, 1 + clip_coef) * adv_b).mean()
            value_loss = 0.5 * (critic(sb, xb) - ret_b).pow(2).mean()
            loss = policy_loss + 0.5 * value_loss - entropy_coef * entropy.mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"PPO loss is {loss.item()} (policy {policy_loss.item()}, value "
                                         f"{value_loss.item()})")
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 0.5)
            optimiser.step()
    minutes = reward.shape[0] * reward.shape[1] * policy.period * GAME.dt / 60
    return {"goals_per_minute": float(np.sum(buffer["goals"]) / minutes)}


def train_team(method: str, seed: int, config: dict) -> dict:
    """One training run of a learned method; returns snapshots (initial, middle, final), the curve against the
    scripted team and the learning check (initial and final policy against the scripted team)."""
    torch.manual_seed(derive_seed(seed, "weights"))
    settings = schedule(method)
    cls = policy_class(method)
    policy, critic = cls(), Critic(central=method != "ippo-fsp", local_dim=OBS_DIM + cls.prev_dim)
    norm, state_norm = RunningMeanStd((OBS_DIM + cls.prev_dim,)), RunningMeanStd((STATE_DIM,))
    optimiser = torch.optim.Adam(list(policy.parameters()) + list(critic.parameters()), lr=config["learning_rate"],
                                 eps=1e-5)
    self_play = method == "mappo-sp"
    pool = OpponentPool(capacity=1 if self_play else None, latest_prob=1.0 if self_play else 0.0,
                        seed=derive_seed(seed, "pool"))
    initial = snapshot(policy, norm)
    pool.add(initial, "update 0")
    every = 1 if self_play else settings["snapshot_every"]
    all_games = np.arange(games)
    learner = Learner(policy, norm, state_norm, games, derive_seed(seed, "learner"))
    opponents = PoolTeam(cls, pool, games, derive_seed(seed, "opponents"))
    match = Match(GAME, games, derive_seed(seed, "games"), LIBRARY,
                  [Seat(learner, all_games, 0), Seat(opponents, all_games, 1)], record=False)
    generator = torch.Generator().manual_seed(derive_seed(seed, "minibatches"))
    n_updates = settings["updates"]
    # evenly spaced curve points; the last one, at the end of training, is the final learning check below
    curve_at = set(np.linspace(n_updates / curve_points, n_updates, curve_points).round().astype(int).tolist()[:-1])
    curve, middle = [], None
    for update in range(1, n_updates + 1):
        buffer = collect(match, learner, settings["horizon"])
        raw_last = policy_input(match, Seat(learner, all_games, 0), learner.previous)
        bootstrap = (learner.normalised_state(match.core.global_state(0)), learner.normalised(raw_last))
        info = ppo_update(policy, critic, optimiser, buffer, bootstrap, settings, generator)
        # the normalisers move after the update, so that the update sees its inputs as they were acted on
        norm.update(np.concatenate(buffer["raw"]).reshape(-1, OBS_DIM + cls.prev_dim))
        state_norm.update(np.concatenate(buffer["raw_state"]))
        if update % every == 0:
            pool.add(snapshot(policy, norm), f"update {update}")
        if update == n_updates // 2:
            middle = snapshot(policy, norm)
        if update in curve_at:
            point = against_scripted({"learner": policy_player(cls, snapshot(policy, norm))}, curve_games,
                                     derive_seed(seed, f"curve {update}"))["learner"]
            curve.append({"update": update, "env_steps": update * games * settings["horizon"] * cls.period,
                          "score_vs_scripted": point["score"], "goal_diff_vs_scripted": point["goal_diff"], **info})
    final = snapshot(policy, norm)
    # the learning check: the initial and the final policy play the scripted team in one batch of games
    check = {}
    results = against_scripted({"initial": policy_player(cls, initial), "final": policy_player(cls, final)},
                               learn_check_games, derive_seed(seed, "learning check"))
    for when, result in results.items():
        check[f"{when}_vs_scripted"] = result["score"]
        check[f"{when}_goal_diff_vs_scripted"] = result["goal_diff"]
        for stat in ("passes", "interceptions", "role_split"):     # the initial and the final policy's behaviour
            check[f"{when}_vs_scripted_{stat}"] = result[stat]
    curve.append({"update": n_updates, "env_steps": n_updates * games * settings["horizon"] * cls.period,
                  "score_vs_scripted": check["final_vs_scripted"],
                  "goal_diff_vs_scripted": check["final_goal_diff_vs_scripted"], **info})
    return {"method": method, "seed": seed, "final": final, "middle": middle, "curve": curve, **check,
            "env_steps": n_updates * games * settings["horizon"] * cls.period, "pool_size": len(pool)}

# %% [markdown]
# ## Baselines
#
# - **mappo-sp** (plain self-play): the same MAPPO learner, whose opponent is always its current policy (a pool
#   holding only the newest snapshot, refreshed after every update).
# - **ippo-fsp** (IPPO): the same FSP learner with a decentralised critic V(o_i) in place of V(S, o_i, i).
# - **e2e-mappo-fsp** (end-to-end): MAPPO + FSP on 50 Hz motor actions, with no skills. Its run has the skills'
#   environment steps plus the hierarchical run's, its γ and λ give the same discount per second, and its network
#   is the same size.
# - **scripted**: "chase the ball and carry or kick it to goal" over the same skills (`ScriptedTeam`). The robot
#   closer to the ball attacks, by dribbling and shooting from `shoot_range` or by kicking from anywhere. The other
#   guards a point between its own goal and the ball.
#
# Every learned method has the same tuning budget (`tuning_budget` step sizes), the same selection metric (mean
# goal difference per game against the tuned scripted team at the end of a full training run on the tuning seeds)
# and the same
# training length in environment steps. The scripted team is tuned first, on its whole grid of 6 strategies, by a
# round-robin among them on the tuning seeds. Its grid is larger than the learned methods' budget, which favours
# the baseline.

# %%
SCRIPTED_SPACE = tune.Space(style=tune.Grid(*SCRIPTED_STYLES), guard=tune.Grid(0.25, 0.5, 0.75))
SCRIPTED_GRID = SCRIPTED_SPACE.grid()
SCRIPTED_SETUP = tune.Setup(metric="round_robin_score", direction="maximize", budget=len(SCRIPTED_GRID),
                            seeds=tuning_seeds, sampler="grid")
LEARNED_SPACE = tune.Space(learning_rate=tune.Grid(1e-3, 3e-4))
SETUP = tune.Setup(metric="validation_goal_diff_vs_scripted", direction="maximize", budget=tuning_budget,
                   seeds=tuning_seeds, sampler="grid")


def scripted_key(config: dict) -> str:
    return f"{config['style']}/{config['guard']}"


def scripted_trial(method: str, config: dict, seed: int) -> dict:
    """The mean score of one scripted strategy against every other strategy of the grid (both sides)."""
    players = {scripted_key(c): scripted_player(c) for c in SCRIPTED_GRID}
    me = scripted_key(config)
    pairs = [(me, scripted_key(c)) for c in SCRIPTED_GRID if scripted_key(c) != me]
    return {"round_robin_score": mean_score(pairs, players, scripted_games, derive_seed(seed, f"round robin {me}"))}


def learned_trial(method: str, config: dict, seed: int) -> dict:
    """A full training run on a tuning seed; its final goal difference per game against the tuned scripted team
    (the run's own learning-check games, on the tuning seed: validation games)."""
    result = train_team(method, seed, config)
    return {"validation_goal_diff_vs_scripted": result["final_goal_diff_vs_scripted"],
            "gain_goal_diff_vs_scripted": (result["final_goal_diff_vs_scripted"]
                                           - result["initial_goal_diff_vs_scripted"]),
            "validation_score_vs_scripted": result["final_vs_scripted"],
            **{f"curve_{p['update']}": p["goal_diff_vs_scripted"] for p in result["curve"]}}

# %% [markdown]
# ## Claims, declared before the runs
#
# Each measurable sentence of the abstract is a row, and so are the natural ablations of its claims. Every test,
# threshold and precondition below was fixed before the reported runs.
#
# - **Cross-play goal difference** of method A against method B: the mean over A's seeds, and over B's players, of
#   A's goals for − goals against per game (a game of `episode_steps` with restarts after goals) in the tournament. Its CI
#   resamples both A's seeds and B's seeds (a two-way bootstrap, `Claim.compare_items` against 0). The points (win 1,
#   draw ½) are reported too, but most games are draws, so the points carry less of the games' information.
# - **Robustness** (FSP's claim): a player's worst-case goal difference over a held-out pool. The pool is the scripted
#   strategies of the grid plus the mid-training snapshots of every hierarchical run of the other seeds. No
#   learner trained against them.
# - **Behaviour counts** per game (passes, interceptions), the role split, the ball-path jerk and the shot accuracy
#   are averaged over a player's tournament games. The tournament has the same opponents for every player except
#   itself. The definitions are in `hrlkit.envs.soccer.team` and were fixed before the runs.
# - **A baseline that cannot learn cannot carry a verdict.** Every comparison of trained behaviour, C1b included,
#   requires each learned method in it to have learned. Over its seeds, its goal difference per game against the
#   tuned scripted team at the end of training, minus that of its initial policy (the same number of games, played
#   in one batch), must be > 0 by a one-sided t-test at `LEARNED_ALPHA`. Otherwise the row is untestable.
# - **Emergence** (C6d, C7d, C8b) is measured against the method's own starting point. The initial (random) policy
#   and the final one play the tuned scripted team in the learning-check games, and the behaviour counts of the two
#   are compared seed by seed.
# - **Pairing.** The hierarchical methods share their seeds and their seeded streams, so their comparisons are
#   paired. The end-to-end method has a different architecture and fewer seeds (its runs cost most), so its
#   comparisons are unpaired: the difference of the IQMs, with a CI that resamples each side's seeds.
#

# %%
from hrlkit.claims import Claim, ClaimsTable

LEARNED_ALPHA = 0.05       # one-sided t-test level of "its goal difference against the scripted team rose over training"
MIN_SHOTS = 10             # shots per seed in the tournament, for a shot accuracy to be defined

CROSS_PLAY = {"C1": E2E, "C2": "mappo-sp", "C3": "ippo-fsp"}
ABLATIONS = {"a": E2E, "b": "mappo-sp", "c": "ippo-fsp"}
LEARN_PRE = (f"every learned method in the comparison learned: over its seeds, its goal difference per game against "
             f"the tuned scripted team at the end minus at the start of training is > 0 by a "
             f"one-sided t-test at p < {LEARNED_ALPHA}")
E2E_NOTE = f"unpaired (independent seeds of different architectures: {OURS} on `seeds`, {E2E} on `e2e_seeds`)"


def emergence(cid: str, what: str, stat: str) -> Claim:
    return Claim(cid, f"{what} emerges: the trained team does it more than its own initial (random) policy",
                 f"{stat} per game against the tuned scripted team, final − initial policy of {OURS}, paired by seed",
                 "IQM of the per-seed difference", 0.0, ">", precondition=LEARN_PRE)


CLAIMS = ClaimsTable([
    *[Claim(cid, f"Hierarchical MAPPO + FSP beats {other} in cross-play (the ablation study's 'significant "
                 f"advantages in the cooperative and competitive game')",
            f"cross-play goal difference per game of {OURS} against {other}, two-way bootstrap over both "
            f"methods' seeds", "mean goal difference per game", 0.0, ">", precondition=LEARN_PRE)
      for cid, other in CROSS_PLAY.items()],
    Claim("C1b", "The skill hierarchy learns a stronger team than end-to-end control with the same environment steps "
                 "(the skills' steps counted)",
          f"final goal difference per game against the tuned scripted team, {OURS} − {E2E}, {E2E_NOTE}",
          "difference of the IQMs over seeds", 0.0, ">", precondition=LEARN_PRE),
    Claim("C4", "FSP lets agents adapt to diverse opponent strategies: more robust than plain self-play",
          "held-out worst-case goal difference per game (worst pool member chosen on half of the games, scored on "
          "the other half), mappo-fsp − mappo-sp, paired by seed", "IQM of the per-seed difference", 0.0, ">",
          precondition=LEARN_PRE),
    Claim("C5", "The learned team beats the tuned scripted team (a fixed opponent outside the learners' pools)",
          f"goal difference per game of {OURS} against the scripted team in the tournament, per seed",
          "IQM of the per-seed goal difference", 0.0, ">", precondition=LEARN_PRE),
    *[Claim(f"C6{k}", f"Coordinated passing emerges, more than in the {other} ablation",
            f"passes per game in the tournament, {OURS} − {other}, " + (E2E_NOTE if other == E2E else
                                                                         "paired by seed"),
            "difference of the IQMs" if other == E2E else "IQM of the per-seed difference", 0.0, ">",
            precondition=LEARN_PRE) for k, other in ABLATIONS.items()],
    emergence("C6d", "Coordinated passing", "passes"),
    *[Claim(f"C7{k}", f"Interception emerges, more than in the {other} ablation",
            f"interceptions per game in the tournament, {OURS} − {other}, " + (E2E_NOTE if other == E2E else
                                                                                "paired by seed"),
            "difference of the IQMs" if other == E2E else "IQM of the per-seed difference", 0.0, ">",
            precondition=LEARN_PRE) for k, other in ABLATIONS.items()],
    emergence("C7d", "Interception", "interceptions"),
    Claim("C8", "Dynamic role allocation emerges (one robot engages the ball while the other holds a position), more "
                "than end-to-end",
          f"role split (share of time one robot is within 0.6 m of the ball and its teammate > 2 m from it) in the "
          f"tournament, {OURS} − {E2E}, {E2E_NOTE}", "difference of the IQMs", 0.0, ">", precondition=LEARN_PRE),
    emergence("C8b", "Role allocation", "role split"),
    Claim("C9a", "The end-to-end baseline gives more erratic ball trajectories",
          f"mean ball-path jerk ‖Δ³p‖/Δt³ while the team controls the ball, tournament games, {E2E} − {OURS}, "
          f"{E2E_NOTE}", "difference of the IQMs (m/s³)", 0.0, ">", precondition=LEARN_PRE),
    Claim("C9b", "The end-to-end baseline gives less accurate ball trajectories",
          f"shot accuracy (shots on target / shots) in the tournament, {OURS} − {E2E}, {E2E_NOTE}",
          "difference of the IQMs", 0.0, ">",
          precondition=LEARN_PRE + f"; every compared seed took >= {MIN_SHOTS} shots"),
    Claim("C10", "The learned policies deploy on real quadrupeds with onboard proprioception and decentralised "
                 "localisation", "—", "—", 0.0, ">"),
    Claim("C11", "Autonomous robot–robot and robot–human matches on indoor and outdoor courts", "—", "—", 0.0, ">"),
])

# %% [markdown]
# ## Tuning and pilot
#
# The scripted team first, then every learned method with the same budget: `tuning_budget` step sizes of the grid
# {10⁻³, 3·10⁻⁴}, each a full training run on every tuning seed, selected by the highest mean goal difference
# per game against the tuned scripted team. The pilot reads the same runs: it checks that the regime the paper
# targets exists (below, after the tuning cell) and measures the seed-to-seed spread that sizes the comparisons.
#
# **Design history.** This is the notebook's third design. The earlier two were run in full and their results are
# not reported as verdicts.
# - *First design*: games ended at the first goal, most were goalless draws, and each learning check played 24
#   games of win/draw/loss. Ours gained against the scripted team, but not enough to pass its learning check, so
#   every declared claim was untestable.
# - *Second design* (seeds 0–9): every evaluation game lasts `episode_steps` with restarts after goals and is decided
#   by the goal difference; the learning check and the tuning selection use the goal difference per game; the
#   networks run numpy's tanh. Two MAPPO learners (ours and plain self-play) again did not pass their learning
#   checks, while IPPO, whose critic reads the robot's own input, did. Its per-seed results are shipped as this
#   design's pilot (`pilot_design2_runs.csv`, read in the pilot section below).
# - *Third design* (this one): the MAPPO critic reads MAPPO's agent-specific global state [S, o_i, i] instead of
#   [S, i] (chosen after an exploratory side run on six seeds outside every reported set; its runs are not part of
#   the collection); the cross-play, robustness and scripted-team claims measure goal difference instead of points;
#   the tuning runs on one seed (the repro budget); the reported seeds are fresh (10–19, end-to-end 10–12), so no
#   reported seed was looked at before; the recorded replay is a full game with restarts. The world, reward, skills,
#   budgets, networks and step-size grid are those of the second design. The claims were declared again before
#   this design's runs.

# %% tags=["tuning"]
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
TUNED_SCRIPTED = tune.tune(TUNING_RUNNER, scripted_trial, {"scripted": SCRIPTED_SPACE}, SCRIPTED_SETUP,
                           reported_seeds=PARAMS["seeds"])
SCRIPTED = TUNED_SCRIPTED.selected["scripted"]
TUNED = tune.tune(TUNING_RUNNER, learned_trial, {m: LEARNED_SPACE for m in LEARNED if m in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
print(TUNED_SCRIPTED.summary())
print(TUNED.summary())

# %% [markdown]
# ## Experiments
#
# The runs train every learned method on its reported seeds. Then:
# - a **cross-play tournament** between every trained player and the tuned scripted team, all pairs, both sides;
# - the **held-out pool**: every hierarchical player against the scripted strategies of the grid and the mid-training
#   snapshots of the hierarchical runs of the other seeds;
# - one recorded **replay** game for the figure.
#
# Every task's result is stored under `runs_dir` (`hrlkit.runner`). A later run with the same training code and
# parameters loads it instead of recomputing, and the pipeline's report stage only ever loads.

# %%
def player_key(method: str, seed: int) -> str:
    return f"{method}/{seed}"


def tournament_chunk(chunk: int, n_chunks: int, seed: int) -> pd.DataFrame:
    """Every ``n_chunks``-th pair of the round-robin among PLAYERS, starting at ``chunk``."""
    keys = list(PLAYERS)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]][chunk::n_chunks]
    return play_pairs(pairs, PLAYERS, crossplay_games, derive_seed(seed, f"tournament {chunk}/{n_chunks}"))


def held_out_pool(seed: int) -> pd.DataFrame:
    """The hierarchical players of ``seed`` against the scripted grid and the other seeds' mid-training snapshots."""
    pool = {f"scripted {scripted_key(c)}": scripted_player(c) for c in SCRIPTED_GRID}
    pool.update({f"middle {r['method']}/{r['seed']}": policy_player(SkillPolicy, r["middle"]) for r in TRAINED
                 if r["method"] in HIERARCHICAL and r["seed"] != seed})
    mine = {player_key(r["method"], seed): policy_player(SkillPolicy, r["final"]) for r in TRAINED
            if r["method"] in HIERARCHICAL and r["seed"] == seed}
    pairs = [(a, b) for a in mine for b in pool]
    return play_pairs(pairs, {**mine, **pool}, pool_games, derive_seed(seed, "held-out pool"))


def replay(seed: int) -> dict:
    """One fixed-length game (restarts after goals) of ours (first seed) against the end-to-end player (or the
    scripted team), every position kept, with the steps at which play restarted after a goal."""
    a = player_key(OURS, seeds[0])
    b = player_key(E2E, e2e_seeds[0]) if E2E in methods else "scripted"
    match = Match(GAME, 1, seed, LIBRARY, seats_for(0, [a], PLAYERS, seed) + seats_for(1, [b], PLAYERS, seed),
                  match_steps=episode_steps)
    robots, ball, skills = [match.core.robot_pos[0].copy()], [match.core.ball_pos[0].copy()], []
    restarts, goals = [], np.zeros(2)
    while not match.stats.finished[0]:
        events = match.step()
        goals += events["goals"][0]
        if events["done"][0]:
            restarts.append(len(ball))      # the frame recorded next is a kickoff
        if not match.stats.finished[0]:
            robots.append(match.core.robot_pos[0].copy())
            ball.append(match.core.ball_pos[0].copy())
            skills.append(match.skill[0].copy())
    return {"a": a, "b": b, "robots": np.array(robots), "ball": np.array(ball), "skills": np.array(skills),
            "restarts": np.array(restarts, dtype=np.int64), "goals": goals,
            "outcome": float(match.stats.outcome[0])}


def run_job(kind: str, **task):
    return {"tournament": tournament_chunk, "pool": held_out_pool, "replay": replay}[kind](**task)


# %% tags=["experiments"]
CONFIG = {m: TUNED.selected[m] for m in methods if m in LEARNED}
TRAIN_TASKS = [dict(method=m, seed=s, config=CONFIG[m]) for m in methods if m in LEARNED
               for s in (e2e_seeds if m == E2E else seeds)]
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
TRAINED = RUNNER.run("train", train_team, TRAIN_TASKS, cost=lambda t: 10.0 if t["method"] == E2E else 1.0,
                     desc="training runs")
PLAYERS = {player_key(r["method"], r["seed"]): policy_player(policy_class(r["method"]), r["final"])
           for r in TRAINED}
if "scripted" in methods:
    PLAYERS["scripted"] = scripted_player(SCRIPTED)
JOBS = ([dict(kind="tournament", chunk=k, n_chunks=tournament_tasks, seed=0) for k in range(tournament_tasks)]
        + [dict(kind="pool", seed=s) for s in seeds if any(m in HIERARCHICAL for m in methods)]
        + [dict(kind="replay", seed=1)])
OUTPUTS = RUNNER.run("evaluation", run_job, JOBS, desc="tournament, held-out pool, replay")
GAMES = pd.concat([o for j, o in zip(JOBS, OUTPUTS) if j["kind"] == "tournament"], ignore_index=True)
POOL_GAMES = pd.concat([o for j, o in zip(JOBS, OUTPUTS) if j["kind"] == "pool"], ignore_index=True)
REPLAY = OUTPUTS[-1]

# %%
# analysis side: tables, facts, statistics (never used by a task, so editing them never retrains)
from scipy import stats as scipy_stats

from hrlkit import stats
from hrlkit.claims import Fact, FactsTable, build_metrics, headline_entry, write_metrics
from hrlkit.display import prose, table

fmt = stats.format_ci


def summary_cell(values: pd.Series) -> str:
    """IQM [95 % CI] over a method's seeds; a single player (the scripted team) has no CI."""
    v = values.dropna().to_numpy()
    return "—" if len(v) == 0 else (f"{v[0]:.3g}" if len(v) == 1 else fmt(v))


METHOD_OF = {key: key.split("/")[0] for key in PLAYERS}
SEEDS_OF = {m: (e2e_seeds if m == E2E else seeds) for m in methods if m in LEARNED}


def per_player_games(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (player, game) from the a/b rows: the player's score and its team's statistics."""
    sides = []
    for me, other, flip in (("a", "b", False), ("b", "a", True)):
        side = pd.DataFrame({"player": frame[me], "opponent": frame[other],
                             "score": 1.0 - frame["score_a"] if flip else frame["score_a"]})
        for name in STAT_COLUMNS:
            side[name] = frame[f"{name}_{me}"].to_numpy()
        sides.append(side)
    return pd.concat(sides, ignore_index=True)


PLAYER_GAMES = per_player_games(GAMES)
PLAYER_GAMES["method"] = PLAYER_GAMES["player"].map(METHOD_OF)
PLAYER_GAMES["opponent_method"] = PLAYER_GAMES["opponent"].map(METHOD_OF)


def behaviour(player_rows: pd.DataFrame) -> dict:
    """A player's statistics over its tournament games (per game, or pooled ratios)."""
    shots = player_rows["shots"].sum()
    return {"score": player_rows["score"].mean(),
            "goal_diff": (player_rows["goals_for"] - player_rows["goals_against"]).mean(),
            "goals_per_game": player_rows["goals_for"].mean(), "passes_per_game": player_rows["passes"].mean(),
            "interceptions_per_game": player_rows["interceptions"].mean(),
            "touches_per_game": player_rows["touches"].mean(), "shots_per_game": player_rows["shots"].mean(),
            "shots": shots, "shot_accuracy": player_rows["on_target"].sum() / shots if shots > 0 else np.nan,
            "role_split": player_rows["role_split"].mean(), "role_switches_per_game": player_rows["role_switches"].mean(),
            "ball_jerk": (player_rows["jerk_sum"].sum() / player_rows["jerk_steps"].sum()
                          if player_rows["jerk_steps"].sum() > 0 else np.nan)}


BEHAVIOUR = pd.DataFrame([{"player": p, "method": METHOD_OF[p], **behaviour(rows)}
                          for p, rows in PLAYER_GAMES.groupby("player", sort=False)])


def worst_case(frame: pd.DataFrame) -> pd.DataFrame:
    """Per player: the pool member it does worst against, chosen on half of the games (the first half of the repeats
    on each side), and its goal difference per game against that member on the other half, so the minimum's
    selection bias does not enter the value; with the mean over the whole pool (goal difference and points)."""
    half = pool_games // 2
    select, hold_out = frame[frame["repeat"] < half], frame[frame["repeat"] >= half]
    chosen = select.groupby(["a", "b"], sort=True)["goal_diff_a"].mean().reset_index()
    worst_member = chosen.loc[chosen.groupby("a", sort=False)["goal_diff_a"].idxmin(), ["a", "b"]]
    scored = hold_out.merge(worst_member, on=["a", "b"]).groupby("a", sort=False)["goal_diff_a"].mean()
    by_player = frame.groupby("a", sort=False)
    return pd.DataFrame({"worst_case": scored, "pool_mean": by_player["goal_diff_a"].mean(),
                         "pool_mean_score": by_player["score_a"].mean()})


WORST = (worst_case(POOL_GAMES) if len(POOL_GAMES)
         else pd.DataFrame(columns=["worst_case", "pool_mean", "pool_mean_score"]))


def runs_rows():
    for r in TRAINED:
        key = dict(method=r["method"], seed=r["seed"])
        for point in r["curve"]:
            for metric in ("score_vs_scripted", "goal_diff_vs_scripted", "goals_per_minute"):
                yield dict(key, metric=metric, value=point[metric], step=point["env_steps"])
        last = r["env_steps"]
        for metric in ("initial_vs_scripted", "final_vs_scripted", "initial_goal_diff_vs_scripted",
                       "final_goal_diff_vs_scripted",
                       *[f"{when}_vs_scripted_{stat}" for when in ("initial", "final")
                         for stat in ("passes", "interceptions", "role_split")]):
            yield dict(key, metric=metric, value=r[metric], step=last)
        yield dict(key, metric="gain_vs_scripted", value=r["final_vs_scripted"] - r["initial_vs_scripted"], step=last)
        yield dict(key, metric="gain_goal_diff_vs_scripted",
                   value=r["final_goal_diff_vs_scripted"] - r["initial_goal_diff_vs_scripted"], step=last)
        row = BEHAVIOUR[BEHAVIOUR["player"] == player_key(r["method"], r["seed"])].iloc[0]
        for metric in ("score", "goal_diff", "goals_per_game", "passes_per_game", "interceptions_per_game",
                       "touches_per_game", "shots_per_game",
                       "shot_accuracy", "role_split", "role_switches_per_game", "ball_jerk"):
            if np.isfinite(row[metric]):
                yield dict(key, metric=f"tournament_{metric}", value=float(row[metric]), step=last)
        mine = PLAYER_GAMES[PLAYER_GAMES["player"] == player_key(r["method"], r["seed"])]
        for other, rows in mine.groupby("opponent_method", sort=True):
            yield dict(key, metric=f"tournament_vs_{other}", value=float(rows["score"].mean()), step=last)
            yield dict(key, metric=f"tournament_goal_diff_vs_{other}",
                       value=float((rows["goals_for"] - rows["goals_against"]).mean()), step=last)
        if player_key(r["method"], r["seed"]) in WORST.index:
            for metric in ("worst_case", "pool_mean", "pool_mean_score"):
                yield dict(key, metric=f"held_out_{metric}", value=float(WORST.loc[player_key(r["method"], r["seed"]),
                                                                                   metric]), step=last)
    if "scripted" in PLAYERS:
        row = BEHAVIOUR[BEHAVIOUR["player"] == "scripted"].iloc[0]
        for metric in ("score", "passes_per_game", "interceptions_per_game", "shot_accuracy", "role_split",
                       "ball_jerk"):
            if np.isfinite(row[metric]):
                yield dict(method="scripted", seed=0, metric=f"tournament_{metric}", value=float(row[metric]))


RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT)
print(f"runs.csv: {len(RUNS)} rows from {len(TRAINED)} training runs, {len(GAMES)} tournament games, "
      f"{len(POOL_GAMES)} held-out pool games")


def per_seed(metric: str, method: str, among=None) -> np.ndarray:
    frame = RUNS if among is None else RUNS[RUNS["seed"].isin(among)]
    return runs.per_seed(frame, metric, method)

# %% [markdown]
# ## Tuning and pilot: does the regime exist?
#
# Before any reported run, the tuning runs (on a seed disjoint from the reported ones) and the second design's runs
# (seeds 0–9, also disjoint) answer three questions.
# - Do the skills make the team game learnable in the budget? The hierarchical learner's goal difference against the
#   scripted team should rise over training.
# - Does each baseline learn? Its goal difference against the scripted team should rise over training.
# - How large is the seed-to-seed spread, and so how many seeds do a comparison and a learning check need? One
#   tuning seed has no spread, so this comes from the second design's ten seeds.

# %%
display(table(TUNED_SCRIPTED.configuration_table(["round_robin_score"]).round({"round_robin_score": 3})))
CURVE_COLUMNS = sorted([c for c in TUNED.trials.columns if c.startswith("curve_")], key=lambda c: int(c[6:]))
TUNING_METRICS = ["validation_goal_diff_vs_scripted", "gain_goal_diff_vs_scripted", "validation_score_vs_scripted",
                  *CURVE_COLUMNS]
TUNING_TABLE = TUNED.configuration_table(TUNING_METRICS).round({c: 3 for c in TUNING_METRICS})
for family in (TUNING_TABLE[TUNING_TABLE["method"] != E2E], TUNING_TABLE[TUNING_TABLE["method"] == E2E]):
    if len(family):       # the curves' update counts differ between the families: each shows its own columns
        display(table(family.dropna(axis=1, how="all")))
# The pilot of the spread: the second design's reported runs (seeds 0-9, end-to-end 0-2; the same world, skills,
# budgets and reward, a MAPPO critic on [S, i]), shipped in data/ and never read by a training task.
PILOT_PATH = "data/quadruped_soccer/pilot_design2_runs.csv"
PILOT_RUNS = pd.read_csv(PILOT_PATH)


def pilot_values(metric: str, method: str) -> np.ndarray:
    return np.asarray(runs.per_seed(PILOT_RUNS, metric, method), dtype=float)


STEP_SIZE_GAP = {m: float(np.ptp(TUNED.trials[TUNED.trials["method"] == m]
                                   .groupby("config.learning_rate")["validation_goal_diff_vs_scripted"].mean()))
                 for m in TUNED.selected}
print("Selected step sizes, on a grid of two (so always at an edge): "
      + ", ".join(f"{m}: {TUNED.selected[m]['learning_rate']:g}" for m in TUNED.selected)
      + f"; the scripted team's guard: {TUNED_SCRIPTED.position('scripted', 'guard')} of its grid. Gap between the "
      "two step sizes' validation goal differences: " + ", ".join(f"{m} {g:.2f}" for m, g in STEP_SIZE_GAP.items())
      + f", on {len(tuning_seeds)} tuning seed(s); one seed's goal difference varies by "
      f"{stats.spread(pilot_values('final_goal_diff_vs_scripted', OURS)):.2f} (sd over the second design's seeds, ours), "
      "so a gap smaller than about twice that is not a reliable choice.")
EFFECT_OF_INTEREST = 0.1     # goals per game: the smallest difference between two methods the comparisons should see
def design2_pilot(other: str) -> tune.Pilot:
    """Spread of the final goal difference against the scripted team, ours − other, in the second design's runs:
    of the per-seed differences (hierarchical methods, shared seeds) or pooled (end-to-end, independent seeds)."""
    ours, theirs = pilot_values("final_goal_diff_vs_scripted", OURS), pilot_values("final_goal_diff_vs_scripted", other)
    paired = other != E2E
    sd = stats.spread(ours - theirs) if paired else stats.spread(ours, theirs)
    return tune.Pilot("final goal difference vs scripted (second design)", sd, len(theirs), paired=paired)


PILOTS = {m: design2_pilot(m) for m in CONFIG if m != OURS}
for m, p in PILOTS.items():
    mde = p.mde(len(SEEDS_OF[m]))
    print(f"{OURS} − {m}: second design's {p.n} seeds, sd of {p.metric}{' differences' if p.paired else ''} "
          f"{p.sd:.3g}; detecting {EFFECT_OF_INTEREST:g} goals per game with 80 % power needs "
          f"{p.seeds_for(EFFECT_OF_INTEREST)} seeds; the {len(SEEDS_OF[m])} seeds of this run detect "
          + (f"{mde:.3g}" if mde is not None else "nothing (one seed)"))


def regime_row(method: str) -> dict:
    """The selected configuration's tuning run(s), and the second design's seeds as a pilot of the learning check."""
    trials = TUNED.selected_trials(method)
    earlier = pilot_values("gain_goal_diff_vs_scripted", method)
    return {"method": method, "tuning seeds": len(trials),
            "validation goal difference vs scripted": trials["validation_goal_diff_vs_scripted"].mean(),
            "gain over training (tuning)": trials["gain_goal_diff_vs_scripted"].mean(),
            "second design: seeds": len(earlier), "second design: mean gain": earlier.mean(),
            "second design: sd of gain": earlier.std(ddof=1), "second design: t-test p (gain > 0)": one_sided_p(earlier),
            "seeds the learning check needs at that gain and spread (80 % power)": seeds_for_gain(earlier)}


def one_sided_p(gains: np.ndarray) -> float:
    """One-sided one-sample t-test of mean gain > 0 (the learning precondition's test)."""
    if len(gains) < 2 or gains.std() == 0:
        return 0.0 if gains.min() > 0 else 1.0
    return float(scipy_stats.ttest_1samp(gains, 0.0, alternative="greater").pvalue)


def seeds_for_gain(gains: np.ndarray):
    """Seeds the precondition's t-test would need to detect the observed mean gain, from its spread (80 % power)."""
    if len(gains) < 2 or gains.std(ddof=1) == 0 or gains.mean() <= 0:
        return "—"
    return stats.units_needed(float(gains.mean()), float(gains.std(ddof=1)), paired=True)


REGIME = pd.DataFrame([regime_row(m) for m in CONFIG])
display(table(REGIME.round({c: 3 for c in REGIME.columns if REGIME[c].dtype.kind == "f"})))
print(f"The tuning ran on {len(tuning_seeds)} seed(s), so the spread comes from the second design's runs. Its MAPPO "
      "critic read [S, i] and this design's reads [S, o_i, i], so its spread and gains are a guide, not a measurement "
      "of this design.")

# %% [markdown]
# ## Training curves
#
# Goal difference per game against the tuned scripted team during training, against environment steps. The
# hierarchical curves start after the skills' steps, which they spent before their first update.

# %%
start = RUNS[RUNS["metric"] == "initial_goal_diff_vs_scripted"].assign(step=0)   # the untrained policy, before update 1
curves = pd.concat([start, RUNS[RUNS["metric"] == "goal_diff_vs_scripted"]], ignore_index=True)
curves["environment steps"] = curves["step"] + np.where(curves["method"] == E2E, 0, SKILL_STEPS)
fig, ax = plt.subplots(figsize=(7, 3.6))
sns.lineplot(data=curves, x="environment steps", y="value", hue="method", hue_order=list(CONFIG),
             palette=dict(zip(CONFIG, [sns.color_palette("colorblind")[i] for i in (0, 1, 2, 4, 7)])), estimator="median",
             errorbar=("pi", 50), ax=ax, marker="o")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
ax.axhline(0.0, color="grey", lw=0.8, ls="--")
ax.axvline(SKILL_STEPS, color="grey", lw=0.8, ls=":")
ax.set_ylabel("goal difference per game vs scripted")
ax.set_title("Training curves")
figures.save_figure(fig, "training_curves", f"Goal difference per game against the tuned scripted team "
                    f"({2 * curve_games} games per point; the first and the last point, the learning check, "
                    f"{2 * learn_check_games} games each) against environment "
                    f"steps, median and interquartile range over seeds ({len(seeds)} per hierarchical method, "
                    f"{len(e2e_seeds)} end-to-end); the hierarchical "
                    "curves are shifted by the skills' steps (dotted line).", **SAVE)
plt.show()

# %% [markdown]
# ## Cross-play tournament
#
# Every trained player met every other player and the scripted team, on both sides. Left: the mean goal difference
# per game of the row method against the column method, pooled over their seeds (the cross-play claims' measure). Right: Bradley–Terry ratings on the Elo scale
# (`hrlkit.games.ratings`, scripted team at 0), IQM over each method's seeds, with 95 % CIs from resampling each
# method's seeds.

# %%
MATRIX = (PLAYER_GAMES.assign(goal_diff=PLAYER_GAMES["goals_for"] - PLAYER_GAMES["goals_against"])
          .groupby(["method", "opponent_method"])["goal_diff"].mean().unstack().reindex(index=methods, columns=methods))


def as_player(key: str) -> tuple:
    method = METHOD_OF[key]
    return (method, 0 if method == "scripted" else int(key.split("/")[1]))


RATING_GAMES = pd.DataFrame({"player_a": GAMES["a"].map(as_player), "player_b": GAMES["b"].map(as_player),
                             "score_a": GAMES["score_a"]})
RATINGS = ratings.rating_bootstrap(RATING_GAMES, aggregate="iqm",
                                   anchor_method="scripted" if "scripted" in PLAYERS else None)
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})
# a method against itself is zero by symmetry (every game counted from both sides): left blank
sns.heatmap(MATRIX, annot=True, fmt=".2f", cmap="vlag", center=0.0, ax=left, cbar=False,
            mask=np.eye(len(MATRIX), dtype=bool))
left.set_xlabel("opponent")
left.set_ylabel("player")
order = RATINGS.sort_values("iqm").index
right.errorbar(RATINGS.loc[order, "iqm"], range(len(order)),
               xerr=[RATINGS.loc[order, "iqm"] - RATINGS.loc[order, "ci_low"],
                     RATINGS.loc[order, "ci_high"] - RATINGS.loc[order, "iqm"]], fmt="o", capsize=3)
right.set_yticks(range(len(order)), order)
right.set_xlabel("Elo (scripted = 0)")
fig.tight_layout()
figures.save_figure(fig, "crossplay", f"Left: mean goal difference per game of the row method against the column "
                    f"method in the tournament ({2 * crossplay_games} games per pair of players; the diagonal, a "
                    "method against itself, is zero by symmetry and left blank). Right: Bradley–Terry Elo, IQM "
                    "over seeds with a 95 % bootstrap CI over seeds.", **SAVE)
plt.show()
display(table(RATINGS.reset_index().round(1)))

# %% [markdown]
# ## Robustness against a held-out pool
#
# Each hierarchical player met the scripted strategies of the grid and the mid-training snapshots of every hierarchical run of
# the other seeds, opponents that no learner trained against. FSP's claim is about the worst case. The minimum over
# many noisy means is biased low, more so for noisier players. So each player's worst member is chosen on half of
# the games (the first half of the repeats on each side) and scored on the other half. The values are goal
# differences per game; `pool_mean_score` is the mean points (win 1, draw ½) over the whole pool.

# %%
if len(WORST):
    robust = WORST.reset_index().rename(columns={"a": "player"})
    robust["method"] = robust["player"].map(METHOD_OF)
    display(table(robust.groupby("method", sort=False)[["worst_case", "pool_mean", "pool_mean_score"]]
                  .agg(summary_cell).reset_index()))

# %% [markdown]
# ## Behaviour statistics
#
# These are per player, over its tournament games, with the definitions of `hrlkit.envs.soccer.team` fixed before
# the runs. Passes are releases aimed within 30° of a teammate who then touches the ball at least 1 m on.
# Interceptions are opponents' long balls (≥ 1.5 m/s) cut off at least 1 m on. Touches are counted per game. Shot
# accuracy is shots on target over shots, where a shot is the first touch of a strike sending the ball at the goal
# line at ≥ 1.5 m/s. The role split is the share of time one robot is within 0.6 m of the ball while its teammate is
# more than 2 m away; role switches are counted per game. The ball-path jerk is measured while the team controls the
# ball.

# %%
BEHAVIOUR_METRICS = ["passes_per_game", "interceptions_per_game", "touches_per_game", "shots_per_game",
                     "shot_accuracy", "role_split", "role_switches_per_game", "ball_jerk"]
display(table(BEHAVIOUR.groupby("method", sort=False)[BEHAVIOUR_METRICS].agg(summary_cell).reset_index()))
PANEL_TITLES = {"passes_per_game": "passes per game", "interceptions_per_game": "interceptions per game",
                "shot_accuracy": "shot accuracy", "role_split": "role split (share of time)",
                "ball_jerk": "ball-path jerk in control (m/s³)"}
long_behaviour = BEHAVIOUR.melt(id_vars=["player", "method"], value_vars=list(PANEL_TITLES))
long_behaviour["variable"] = long_behaviour["variable"].map(PANEL_TITLES)
grid = sns.catplot(data=long_behaviour, x="method", y="value", col="variable", kind="strip", sharey=False,
                   height=3, aspect=0.9, col_wrap=5, hue="method", legend=False)
grid.set_titles("{col_name}")
grid.set_ylabels("")
for ax in grid.axes.flat:
    ax.tick_params(axis="x", rotation=60)
figures.save_figure(grid.figure, "behaviour", "Behaviour statistics per player (one dot per seed; the scripted team "
                    "is one player), over its tournament games.", **SAVE)
plt.show()

# %% [markdown]
# ## A replay
#
# One recorded game of ours (first seed, team 0, attacking right) against the end-to-end player (team 1), a full
# fixed-length game with restarts after goals, drawn every second for its first seconds. The lines are the last
# second of motion. It is one game, shown as it came out: an illustration of the play, not evidence for a claim.

# %%
def replay_strip(rep: dict, every: int = 50, panels: int = 8):
    frames = list(range(0, len(rep["ball"]), every))[:panels]
    fig, axes = plt.subplots(1, len(frames), figsize=(2.2 * len(frames), 1.9), squeeze=False)
    half_l, half_w = GAME.field_length / 2, GAME.field_width / 2
    for ax, t in zip(axes[0], frames):
        ax.add_patch(plt.Rectangle((-half_l, -half_w), 2 * half_l, 2 * half_w, fill=False, lw=0.8, edgecolor="k"))
        for side in (-1, 1):
            ax.plot([side * half_l] * 2, [-GAME.goal_width / 2, GAME.goal_width / 2], lw=3, color="k")
        # the trail of the last second, cut at a kickoff (play restarts after a goal)
        start = max([t - every, 0] + [k for k in rep["restarts"] if k <= t])
        for robot in range(2 * N_PER_TEAM):
            colour = "tab:blue" if robot < N_PER_TEAM else "tab:red"
            ax.plot(rep["robots"][start:t + 1, robot, 0], rep["robots"][start:t + 1, robot, 1], color=colour, lw=0.8)
            ax.plot(*rep["robots"][t, robot], "o", color=colour, ms=5)
        ax.plot(rep["ball"][start:t + 1, 0], rep["ball"][start:t + 1, 1], color="k", lw=0.8)
        ax.plot(*rep["ball"][t], "o", color="k", ms=3)
        ax.set_xlim(-half_l - 0.3, half_l + 0.3)
        ax.set_ylim(-half_w - 0.3, half_w + 0.3)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_title(f"t = {t * GAME.dt:.0f} s", fontsize=8)
    return fig


fig = replay_strip(REPLAY)
OUTCOME = {1.0: "a win for blue", 0.0: "a draw", -1.0: "a loss for blue"}[REPLAY["outcome"]]
figures.save_figure(fig, "replay", f"Top-down frames, one per second for the first {min(8, len(REPLAY['ball']) // 50)} "
                    f"s of a {len(REPLAY['ball']) * GAME.dt:.0f} s game, of {REPLAY['a']} (blue) against "
                    f"{REPLAY['b']} (red); the game was {OUTCOME} ({REPLAY['goals'][0]:.0f}–"
                    f"{REPLAY['goals'][1]:.0f}).",
                    **SAVE)
plt.show()

# %% [markdown]
# ## Claims: verdicts

# %%
def learned_check(*compared: str) -> tuple[bool, str]:
    """Every learned method in a comparison improved against the scripted team over training (one-sided t-test)."""
    parts, ok = [], True
    for m in compared:
        if m in LEARNED:
            gains = np.asarray(per_seed("gain_goal_diff_vs_scripted", m), dtype=float)
            p = one_sided_p(gains)
            ok &= p < LEARNED_ALPHA
            parts.append(f"{m} mean gain {gains.mean():.3g} (p = {p:.2g})")
    return ok, "goal difference per game against the scripted team, end − start of training: " + ", ".join(parts) + \
        f" (needed p < {LEARNED_ALPHA})"


def goal_diff_matrix(first: str, second: str) -> np.ndarray:
    """(first's seeds × second's players) mean goal difference per game of each first-seed player against each
    second player."""
    rows = PLAYER_GAMES[(PLAYER_GAMES["method"] == first) & (PLAYER_GAMES["opponent_method"] == second)]
    matrix = rows.assign(goal_diff=rows["goals_for"] - rows["goals_against"]).groupby(
        ["player", "opponent"])["goal_diff"].mean().unstack()
    order = [player_key(first, s) for s in SEEDS_OF[first]]
    return matrix.loc[order].to_numpy(dtype=float)


MEASURES = {}      # claim id → (methods it compares, how it is measured): reused by the post-hoc rows below


def run(claim: Claim, needed: tuple, measure) -> None:
    """Measure ``claim`` when every method it needs was run and the learning check holds."""
    MEASURES[claim.id] = (needed, measure)
    missing = [m for m in needed if m not in methods]
    if missing:
        claim.untestable(f"{missing} not in this run's methods")
        return
    if claim.require(*learned_check(*needed)):
        measure(claim)


for cid, other in CROSS_PLAY.items():
    run(CLAIMS[cid], (OURS, other), lambda c, o=other: c.compare_items(
        goal_diff_matrix(OURS, o), np.zeros_like(goal_diff_matrix(OURS, o)), (OURS, "level"), aggregate="mean"))
run(CLAIMS["C4"], (OURS, "mappo-sp"), lambda c: c.compare(
    per_seed("held_out_worst_case", OURS), per_seed("held_out_worst_case", "mappo-sp"), (OURS, "mappo-sp")))
run(CLAIMS["C5"], (OURS, "scripted"), lambda c: c.measure_units(
    per_seed("tournament_goal_diff_vs_scripted", OURS),
    note=f"per-seed goal difference per game of {OURS} against the scripted team"))


def versus(claim: Claim, metric: str, first: str, second: str) -> None:
    """first − second on a per-seed metric: paired over shared seeds for the hierarchical methods, unpaired (all
    seeds of each) when the end-to-end method is one side."""
    undefined = {m: sorted(set(SEEDS_OF[m]) - set(RUNS[(RUNS["metric"] == metric) & (RUNS["method"] == m)]["seed"]))
                 for m in (first, second)}
    if any(undefined.values()):       # e.g. no ball-path jerk for a team that never controlled the ball
        claim.untestable(f"{metric} is undefined for seeds " + "; ".join(f"{m}: {v}" for m, v in undefined.items() if v))
        return
    unpaired = E2E in (first, second)
    if unpaired:
        claim.compare(per_seed(metric, first), per_seed(metric, second), (first, second), paired=False)
    else:
        shared = sorted(set(SEEDS_OF[first]) & set(SEEDS_OF[second]))
        claim.compare(per_seed(metric, first, among=shared), per_seed(metric, second, among=shared), (first, second))


run(CLAIMS["C1b"], (OURS, E2E), lambda c: versus(c, "final_goal_diff_vs_scripted", OURS, E2E))
for k, other in ABLATIONS.items():
    run(CLAIMS[f"C6{k}"], (OURS, other), lambda c, o=other: versus(c, "tournament_passes_per_game", OURS, o))
    run(CLAIMS[f"C7{k}"], (OURS, other), lambda c, o=other: versus(c, "tournament_interceptions_per_game", OURS, o))
for cid, stat in (("C6d", "passes"), ("C7d", "interceptions"), ("C8b", "role_split")):
    run(CLAIMS[cid], (OURS,), lambda c, st=stat: c.compare(
        per_seed(f"final_vs_scripted_{st}", OURS), per_seed(f"initial_vs_scripted_{st}", OURS),
        (f"{OURS} final", f"{OURS} initial")))
run(CLAIMS["C8"], (OURS, E2E), lambda c: versus(c, "tournament_role_split", OURS, E2E))
run(CLAIMS["C9a"], (OURS, E2E), lambda c: versus(c, "tournament_ball_jerk", E2E, OURS))


def shot_accuracy_claim(claim: Claim) -> None:
    shots = BEHAVIOUR.set_index("player")["shots"]
    few = {p: int(shots[p]) for m in (OURS, E2E) for p in (player_key(m, s) for s in SEEDS_OF[m])
           if shots[p] < MIN_SHOTS}
    if claim.require(not few, f"players with fewer than {MIN_SHOTS} shots: {few}"):
        versus(claim, "tournament_shot_accuracy", OURS, E2E)


run(CLAIMS["C9b"], (OURS, E2E), shot_accuracy_claim)
CLAIMS["C10"].untestable("no robots here: the bodies are discs in a planar simulator, and every robot observes the "
                         "true state (no onboard state estimation, no localisation)")
CLAIMS["C11"].untestable("no robots, no human players, no real courts")

# Post hoc (shown, never replacing a verdict): every row that is untestable only because a learning check failed,
# measured without that precondition, so that a reader sees what the untestable rows hide. The rule is fixed: all
# such rows, none chosen. Each is conditional on the learners named in it, which did not pass their check.


def failed_learners(needed: tuple) -> list[str]:
    return [m for m in needed if m in LEARNED and not learned_check(m)[0]]


POST_HOC = []
for cid, (needed, measure) in MEASURES.items():
    claim = CLAIMS[cid]
    if claim.verdict != "untestable" or not failed_learners(needed) or any(m not in methods for m in needed):
        continue
    row = Claim(f"P{cid[1:]}", f"{claim.claim} — measured although {', '.join(failed_learners(needed))} did not "
                f"pass the learning check", claim.test, claim.statistic, claim.threshold, claim.direction,
                precondition=(claim.precondition or "").replace(LEARN_PRE, "").lstrip("; ") or None, post_hoc=True)
    measure(row)
    POST_HOC.append(row)
# Post hoc, after the referee's review of the third design: two behaviour rows read on a fairer footing, shown beside
# the declared C7a and C9a and never replacing them. C7a counts interceptions per game, which grows with how much a
# team plays the ball; C9a pools each player's games against different opponents, and the opponent moves the jerk.
MATCHED_OPPONENTS = [m for m in ("mappo-sp", "ippo-fsp", "scripted") if m in methods]


def interceptions_per_touch(method: str) -> np.ndarray:
    return (np.asarray(per_seed("tournament_interceptions_per_game", method), dtype=float)
            / np.asarray(per_seed("tournament_touches_per_game", method), dtype=float))


def matched_jerk(method: str) -> np.ndarray:
    """Per seed: ball-path jerk over the player's games against MATCHED_OPPONENTS only (the same set for all)."""
    rows = PLAYER_GAMES[(PLAYER_GAMES["method"] == method) & PLAYER_GAMES["opponent_method"].isin(MATCHED_OPPONENTS)]
    sums = rows.groupby("player")[["jerk_sum", "jerk_steps"]].sum()
    order = [player_key(method, s) for s in SEEDS_OF[method]]
    return (sums["jerk_sum"] / sums["jerk_steps"].replace(0, np.nan)).reindex(order).to_numpy(dtype=float)


REVIEW_ROWS = [
    (Claim("P7a-rate", "Interception emerges more than in the end-to-end ablation, per touch of the ball",
           f"interceptions per touch in the tournament, {OURS} − {E2E}, {E2E_NOTE}", "difference of the IQMs", 0.0,
           ">", precondition=LEARN_PRE, post_hoc=True), interceptions_per_touch),
    (Claim("P9a-matched", "The end-to-end baseline gives more erratic ball trajectories, against the same opponents",
           f"ball-path jerk while the team controls the ball, games against {', '.join(MATCHED_OPPONENTS)} only, "
           f"{E2E} − {OURS}, {E2E_NOTE}", "difference of the IQMs (m/s³)", 0.0, ">", precondition=LEARN_PRE,
           post_hoc=True), matched_jerk),
]
for row, per_seed_of in REVIEW_ROWS:
    if E2E not in methods:
        row.untestable(f"{E2E} not in this run's methods")
    elif row.require(*learned_check(OURS, E2E)):
        first, second = (OURS, E2E) if row.id == "P7a-rate" else (E2E, OURS)
        a, b = per_seed_of(first), per_seed_of(second)
        if np.isfinite(a).all() and np.isfinite(b).all():
            row.compare(a, b, (first, second), paired=False)
        else:
            row.untestable("undefined for a seed that never touched (or controlled) the ball")
    POST_HOC.append(row)
CLAIMS = ClaimsTable([*CLAIMS, *POST_HOC])
CLAIMS.apply_holm()
display(CLAIMS)

# %% [markdown]
# ### Facts
#
# These numbers support the claims but are not tests: what holds by construction, and what only describes the runs.

# %%
def skill_fact(skill: str, metric: str) -> str:
    evaluation = SKILL_LOG[skill]["eval"]
    return (f"learned {evaluation['learned'][metric]:.3g}, scripted {evaluation['scripted'][metric]:.3g}, "
            f"zero actions {evaluation['zero'][metric]:.3g}")


def interception_gain(method: str) -> float:
    final = np.asarray(per_seed("final_vs_scripted_interceptions", method), dtype=float)
    return float(stats.iqm(final - np.asarray(per_seed("initial_vs_scripted_interceptions", method), dtype=float)))


draws = float((GAMES["score_a"] == 0.5).mean())
untrained_vs_e2e = (stats.difference_ci(per_seed("initial_goal_diff_vs_scripted", OURS),
                                        per_seed("final_goal_diff_vs_scripted", E2E)) if E2E in methods else None)
goalless = float(((GAMES["goals_for_a"] + GAMES["goals_against_a"]) == 0).mean())
FACTS = FactsTable([f for f in [
    Fact("F1", "environment steps of one training run: end-to-end / (skills + hierarchical team level)",
         E2E_UPDATES * E2E_STEPS_PER_UPDATE / (SKILL_STEPS + HIER_STEPS), "by construction",
         note=f"skills {SKILL_STEPS:,}, team level {HIER_STEPS:,}, end-to-end {E2E_UPDATES * E2E_STEPS_PER_UPDATE:,}"),
    Fact("F2", "Walk: velocity-tracking error (m/s) on the skills stage's evaluation",
         SKILL_LOG["walk"]["eval"]["learned"]["velocity_error"], "descriptive", note=skill_fact("walk", "velocity_error")),
    Fact("F3", "Dribble: share of time the ball is within reach", SKILL_LOG["dribble"]["eval"]["learned"]["in_reach"],
         "descriptive", note=skill_fact("dribble", "in_reach")),
    Fact("F4", "Kick: share of kicks leaving within 30° of the commanded direction",
         SKILL_LOG["kick"]["eval"]["learned"]["within_30deg"], "descriptive",
         note=skill_fact("kick", "within_30deg")),
    Fact("F5", "share of tournament games drawn (level goals after the full game)", draws, "descriptive",
         note=f"{len(GAMES)} games of {episode_steps * GAME.dt:g} s; goalless: {goalless:.3g}"),
    Fact("F6", f"passes per game of {OURS} (tournament; IQM over seeds)",
         *stats.bootstrap_ci(per_seed("tournament_passes_per_game", OURS))[:1], "descriptive",
         ci95=stats.bootstrap_ci(per_seed("tournament_passes_per_game", OURS))[1]),
    Fact("F7", f"role switches per game of {OURS} (tournament; IQM over seeds)",
         *stats.bootstrap_ci(per_seed("tournament_role_switches_per_game", OURS))[:1], "descriptive",
         ci95=stats.bootstrap_ci(per_seed("tournament_role_switches_per_game", OURS))[1]),
    Fact("F8", "tuned scripted team", scripted_key(SCRIPTED), "descriptive",
         note=f"round-robin score {TUNED_SCRIPTED.scores['scripted']:.3g} among the {len(SCRIPTED_GRID)} strategies")
    if "scripted" in methods else None,
    Fact("F9", f"goal difference per game against the scripted team: the untrained {OURS} team (initial policy, "
               f"frozen skills) − the trained {E2E} team, difference of the IQMs over seeds", untrained_vs_e2e[0],
         "descriptive", ci95=untrained_vs_e2e[1], note="how much of a hierarchical-vs-end-to-end gap the frozen "
         "skills give before the team level learns anything") if E2E in methods else None,
    Fact("F10", "interceptions per game against the scripted team, final − initial policy, IQM over seeds, every "
                "learned method (is C7d's gain specific to ours?)",
         ", ".join(f"{m} {interception_gain(m):.3g}" for m in CONFIG), "descriptive"),
]])
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
TASK_MINUTES = (RUNNER.timing()["task_seconds_total"] + TUNING_RUNNER.timing()["task_seconds_total"]) / 60
DEVIATIONS = pd.DataFrame([
    ("Robots", "quadrupeds (MuJoCo/Isaac in training; real robots)", "discs with second-order dynamics and a heading "
     "(hrlkit.envs.soccer.soccer2d); the motor action is a body-frame force and turn rate", "a legged body cannot be "
     "trained for a team game on 2 CPU cores in minutes; kept: learned motor skills below, a learned team level "
     "above, and the 50 Hz / 5 Hz split"),
    ("Skills", "joint targets at 50 Hz tracked by PD at 200 Hz; 25 frames of proprioception; an estimator of "
     "privileged quantities", f"PPO skills on 5 frames of (v, ω), ball, command and previous action; no estimator "
     f"(the true state is observed); {SKILL_STEPS:,} steps in all", "scale; rewards of Walk and Dribble follow the "
     "usual tracking forms, Kick a state-conditioned multi-stage reward as in the paper"),
    ("Team size and pitch", "not stated in what we could read", f"2 v 2 on {GAME.field_length:g} × "
     f"{GAME.field_width:g} m, goals {GAME.goal_width:g} m; a game lasts {episode_steps * GAME.dt:g} s, "
     "play restarts from kickoff after a goal, and the goal difference decides the game", "assumed"),
    ("High-level policy", "MLP + GRU on egocentric observations and the previous action",
     f"MLP ({hidden}, {hidden}) on the current egocentric observation and the previous decision", "CPU budget; "
     "the observation holds velocities, so the current frame is close to Markov"),
    ("Team reward", "not published", f"±1 per goal + {shaping:g} per metre of ball progress towards the opponent's "
     "goal (zero-sum; potential-based plus a small territory term, so not policy-invariant), the same for every "
     "method", "reconstructed; the exact potential-based form learned nothing in a development pilot"),
    ("FSP", "opponents from a pool of past policies; details not published", "snapshot every "
     f"{snapshot_every} updates (end-to-end: the same environment steps), unbounded pool, uniform draw per game "
     "at kickoff, starting from the initial policy", "the FSP average policy; our choice of spacing"),
    ("Training length", "not published (robot scale)", f"{updates} updates × {games} games × {horizon} decisions "
     f"({HIER_STEPS:,} physics steps) for the hierarchical methods", f"CPU budget: this run's tuning and training "
     f"tasks took {TASK_MINUTES:.0f} CPU-minutes (timing.json), {'over' if TASK_MINUTES > 60 else 'within'} the "
     "60 of the collection's limit (30 minutes on 2 cores)"),
    ("End-to-end baseline", "a direct end-to-end policy (details not published)", f"MAPPO + FSP on the 3-D motor "
     f"action at 50 Hz, same trunk, observation = the egocentric observation + its previous action (no 5-frame "
     f"history as the skills have), {E2E_UPDATES} updates × {E2E_STEPS_PER_UPDATE} steps = the skills' plus the "
     f"team level's steps; seeds {e2e_seeds}; only the team reward (the skills had their own reward engineering, "
     "e.g. the approach-progress term added to Dribble after a failed pilot)", "equal environment steps; fewer "
     "seeds because a run costs several times a hierarchical one (timing.json), so its comparisons are unpaired"),
    ("Skills", "trained per robot", f"one frozen library ({SKILL_STEPS:,} steps, seeds fixed in params.yaml "
     "quadruped_soccer_skills) serves every seed and method", "the skills stage is cached; the skills' own "
     "seed-to-seed variance is not in the confidence intervals"),
    ("Evaluation policy", "deployed policies (details not published)", "every learned team plays its mode (most "
     "likely skill and mean command; the end-to-end team its mean motor action) in every evaluation game; the "
     "skills always play their mean action; training opponents sample", "so that exploration noise is not "
     "measured as behaviour (e.g. a jittery end-to-end ball path)"),
    ("Restarts in training", "not described", "after a goal a game restarts at once; a 5 Hz learner's held "
     "decision (and its FSP opponent's) runs on for at most 9 physics steps into the new game, whose reward is "
     "dropped; a 50 Hz learner reacts at once; evaluation games restart the same way", "batched decisions on a "
     "global clock; the carry-over is the same for both teams of a game between 5 Hz teams"),
    ("Contact order", "(a physics engine)", "robot–ball contacts are resolved in agent order, team 0 first, so the "
     "mirrored game is not bit-exact; the learner always plays team 0", "every evaluation pair plays both sides"),
    ("Constants", "not published", f"γ = {gamma:g}, λ = {gae_lambda:g}, shaping {shaping:g}/m, entropy bonus "
     f"{entropy_coef:g}, width {hidden}, the learning-rate grid and the skills' settings were chosen in a "
     "development pilot of the hierarchical learner (mappo-fsp) before the reported runs, and are the same for "
     "every method", "the tuning budget went to the step size; these choices favour ours if anything"),
    ("Other ablations", "not confirmed in what we could read", "plain self-play, IPPO, a scripted team",
     "the natural ablations of the abstract's claims"),
    ("Tuning", "not described", f"{tuning_budget} step sizes {{10⁻³, 3·10⁻⁴}} per learned method on tuning seeds "
     f"{tuning_seeds}; the selection may differ between the ablations (ours: "
     f"{TUNED.selected[OURS]['learning_rate']:g}; " + ", ".join(f"{m}: {TUNED.selected[m]['learning_rate']:g}"
                                                               for m in TUNED.selected if m != OURS) + ")",
     "equal budgets; the MAPPO-vs-IPPO and FSP-vs-SP rows then compare critic or opponents together with the step "
     "size the tuning picked"),
    ("MAPPO critic input", "a centralised critic (details not published)", "V(S, o_i, i): MAPPO's agent-specific "
     "global state, the global state in the world frame (team 0's view) next to the robot's own normalised input "
     "and its id; unnormalised returns", "MAPPO's reference implementation also offers value normalisation, not used "
     "here (for any method); the second design's critic read [S, i] only and learned less in a pilot"),
    ("Time left after a goal", "(matches restart after goals)", "the observation's time left counts down per episode: "
     "after a goal it restarts at the full game length although the evaluation game goes on for what is left of it",
     "the same for every method; the learned teams saw the same per-episode clock in training"),
    ("Observability", "decentralised robots with onboard sensing", "every robot observes the whole game "
     "(egocentric positions and velocities of all robots and the ball)", "so the centralised critic adds no "
     "information, only a different frame: the MAPPO-vs-IPPO ablation is weak by design"),
    ("Seeds", "not published", f"{len(seeds)} seeds for the hierarchical methods, {len(e2e_seeds)} for the "
     "end-to-end one", "an end-to-end run costs several hierarchical ones (timing.json)"),
    ("Behaviour statistics", "passing, interception and role allocation reported from robot games", "counted "
     "from contacts, release directions and distances (hrlkit.envs.soccer.team, definitions fixed before the runs)",
     "reconstructed: the paper's definitions are not public"),
    ("Evaluation", "real and simulated matches", f"cross-play tournament ({2 * crossplay_games} games per pair), "
     f"held-out pool ({2 * pool_games} games per member), learning checks ({2 * learn_check_games} games)",
     "the paper's numbers are not public; the trend is what is reproduced"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
TOURNAMENT_SCORE = {m: per_seed("tournament_score", m) for m in methods if m in LEARNED}
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={"tournament_goal_diff": headline_entry({m: per_seed("tournament_goal_diff", m)
                                                      for m in TOURNAMENT_SCORE}),
              "tournament_score": headline_entry(TOURNAMENT_SCORE),
              **({"tournament_goal_diff_vs_scripted": headline_entry(
                  {m: per_seed("tournament_goal_diff_vs_scripted", m) for m in TOURNAMENT_SCORE})}
                 if "scripted" in methods else {}),
              "elo_vs_scripted": {m: {"iqm": stats.round_sig(float(RATINGS.loc[m, "iqm"])),
                                      "ci95": [stats.round_sig(float(RATINGS.loc[m, "ci_low"])),
                                               stats.round_sig(float(RATINGS.loc[m, "ci_high"]))]}
                                  for m in RATINGS.index}},
    claims=CLAIMS, facts=FACTS, tuning={"scripted": TUNED_SCRIPTED.to_json(), **TUNED.to_json()},
    extra={"pilot": {f"{OURS} - {m}": {"source": PILOT_PATH, "sd": stats.round_sig(p.sd),
                                       "effect": EFFECT_OF_INTEREST,
                                       "seeds_for_effect": p.seeds_for(EFFECT_OF_INTEREST)}
                     for m, p in PILOTS.items() if np.isfinite(p.sd)},
           "budget": {"skills_env_steps": SKILL_STEPS, "hierarchical_env_steps": HIER_STEPS,
                      "end_to_end_env_steps": E2E_UPDATES * E2E_STEPS_PER_UPDATE, "equal": BUDGET_IS_EQUAL}})
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=RUNNER.timing(),
            tuning=TUNING_RUNNER.timing())
DECLARED = [c for c in CLAIMS if not c.post_hoc]
BLOCKED = [c for c in DECLARED if c.verdict == "untestable" and c.id in MEASURES and failed_learners(MEASURES[c.id][0])]
NOT_LEARNED = sorted({m for c in BLOCKED for m in failed_learners(MEASURES[c.id][0])}, key=list(methods).index)
lines = ([f"- **{len(BLOCKED)} of the {len(DECLARED)} declared rows are untestable because a learning check failed** "
          f"({', '.join(NOT_LEARNED)}: not shown to have learned against the scripted team). The post-hoc rows "
          "measure them anyway; read them as conditional on teams that did not pass their check."]
         if BLOCKED else []) + CLAIMS.summary_lines()


def still_rising(method: str) -> tuple[bool, float]:
    """Last − previous curve point per seed > 0 by a one-sided t-test at LEARNED_ALPHA (a rise beyond noise)."""
    frame = curves[curves["method"] == method].pivot_table(index="seed", columns="step", values="value")
    rise = (frame.iloc[:, -1] - frame.iloc[:, -2]).to_numpy(dtype=float)
    p = one_sided_p(rise)
    return p < LEARNED_ALPHA, p


for m in TOURNAMENT_SCORE:
    gains = np.asarray(per_seed("gain_goal_diff_vs_scripted", m), dtype=float)
    points = curves[curves["method"] == m].groupby("step")["value"].median().sort_index()
    rising, rise_p = still_rising(m)
    lines.append(f"- **{m}** learning check: goal difference per game against the scripted team "
                 f"{stats.iqm(per_seed('initial_goal_diff_vs_scripted', m)):.2f} → "
                 f"{stats.iqm(per_seed('final_goal_diff_vs_scripted', m)):.2f} (IQM), mean gain {gains.mean():.3g}, one-sided "
                 f"p = {one_sided_p(gains):.2g}: {'learned' if learned_check(m)[0] else 'not shown to learn'}; "
                 f"median curve over the last two points {points.iloc[-2]:.2f} → {points.iloc[-1]:.2f}"
                 + (f" (still rising: one-sided p = {rise_p:.2g})" if rising
                    else f" (the last rise is not significant, p = {rise_p:.2g}; with {curve_points} curve "
                         "points after the start this does not show a plateau)"))
CARE = CLAIMS.read_with_care()
fragile, underpowered = CARE["not_holm"], CARE["underpowered"]
with_e2e = [c.id for c in DECLARED if c.verdict in ("reproduced", "not reproduced") and c.id in MEASURES
            and E2E in MEASURES[c.id][0]]
if fragile or underpowered:
    lines.append(f"- **Read with care.** Decided rows that do not survive a Holm correction across the declared rows: "
                 f"{', '.join(fragile) or 'none'}. Decided rows whose minimum detectable effect (80 % power) exceeds "
                 f"the measured effect, so the design is underpowered for what it found: {', '.join(underpowered) or 'none'}. "
                 f"Decided rows that compare with {E2E} rest on its {len(e2e_seeds)} seeds: {', '.join(with_e2e) or 'none'}.")
if TASK_MINUTES / max(workers, 1) > 30:
    lines.append(f"- **Run time over the target.** The tuning and training tasks took {TASK_MINUTES:.0f} CPU-minutes, "
                 f"at least {TASK_MINUTES / workers:.0f} minutes on {workers} workers, more than the collection's "
                 "30-minute target per notebook; the end-to-end runs take most of it.")
below = [m for m in TOURNAMENT_SCORE if RATINGS.loc[m, "ci_high"] < 0]
lines.append(f"- Learned teams whose Elo CI lies below the tuned scripted team: {', '.join(below) or 'none'}; "
             f"{100 * draws:.0f} % of tournament games were drawn, {100 * goalless:.0f} % goalless")
for m in TOURNAMENT_SCORE:
    lines.append(f"- **{m}**: tournament goal difference per game {fmt(per_seed('tournament_goal_diff', m))}, "
                 f"score {fmt(TOURNAMENT_SCORE[m])}, Elo {RATINGS.loc[m, 'iqm']:.0f} "
                 f"[{RATINGS.loc[m, 'ci_low']:.0f}, {RATINGS.loc[m, 'ci_high']:.0f}] (scripted = 0), "
                 f"IQM over {len(SEEDS_OF[m])} seeds")
display(prose(lines))
