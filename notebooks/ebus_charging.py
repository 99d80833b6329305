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
# # Electric-bus fleet charging with DAC-MAPPO-E: options over chargers and trips, MAPPO over charging power
#
# **Paper.** Jiaju Qi, Lei Lei, Thorsteinn Jonsson, Dusit Niyato. *Optimizing Electric Bus Charging Scheduling with
# Uncertainties Using Hierarchical Deep Reinforcement Learning*, arXiv [2505.10296](https://arxiv.org/abs/2505.10296)
# (IEEE Internet of Things Journal, 2025). No public code.
#
# **The hierarchy.** Decisions are split over two augmented MDPs of the Double Actor-Critic (DAC) option framework.
# The **high level** picks, for every bus, an *option*: which charger it holds (or none) and whether it is assigned
# to the next departing trip. It also decides when to *terminate* that option, so a bus can keep its charger and
# its assignment over several 15-minute steps until its termination function fires. The **low level** picks each bus's
# charging power given its option, every step. DAC-MAPPO-E ("enhanced") adds two things. The high-level actor is
# decentralised: one shared network per bus, with attention over the global state, so its size does not grow with
# the fleet. The low level is trained with MAPPO: shared decentralised actors and a centralised critic.
#
# **Reproduced.**
# - The DAC composition π^H(o | o_prev, S) = (1 − β)·1[o = o_prev] + β·μ(o | S), with one critic q(S, o) giving
#   v^H and v^L, and PPO on both augmented MDPs from the same rollouts (written out in this notebook).
# - The attention-based per-bus high-level actor (`hrlkit.rl.marl.EntityAttention`) and the MAPPO low level
#   (`hrlkit.rl.marl`).
# - A fleet simulator with the paper's three uncertainties: travel time, energy use and price (`hrlkit.envs.ebfleet`).
# - Baselines, each tuned with the same budget as ours: DAC-MAPPO with a centralised high-level actor (the "E"
#   ablation), DAC with a single-agent low level (the MAPPO ablation), flat MAPPO without options, and a rule-based
#   charger whose knobs are grid-tuned. An ablation with fixed termination (β ≡ 1) tests the temporal abstraction.
# - Figures and tables: training curves, option statistics, scalability and computational cost with the fleet size,
#   one day's Gantt chart, and held-out costs.
#
# **Scaled or reconstructed.**
# - The data are synthetic: timetable, tariff, trip distributions.
# - The reward weights are reconstructed.
# - Fleets are small and training is short (the sizes and lengths are in params.yaml and the deviations table).
# - The network shapes are our own; the paper's are not published.

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # reported seeds: one training run per method, fleet size and seed
tuning_seeds = [100]              # tuning and pilot seeds, disjoint from `seeds`
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/ebus_charging"  # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/ebus_charging/runs"  # raw per-task results: stored once, loaded on every later run
tuning_dir = "scratch/ebus_charging/tuning"  # raw tuning trials, stored the same way
device = "auto"                   # "auto" (CUDA when present), "cpu" or "cuda"
methods = ["dac-mappo-e", "dac-mappo", "dac-single-low", "flat-mappo", "dac-fixed-beta", "rule"]  # first is ours
tuning_budget = 2                 # configurations per tuned method (the same for every tuned method, rule included)
fleet_size = 4                    # M of the main comparison (a multiple of 4, for M/4 chargers)
scaling_fleet_sizes = [8]         # larger M for the scalability study (DAC-MAPPO-E and dac-mappo)
scaling_seeds = [0]               # seeds of the scalability runs
long_seeds = [0]                  # seeds whose main runs go on to long_factor × updates (is the budget enough?)
long_factor = 2                   # how much longer the long runs train
complexity_fleet_sizes = [4, 8]  # M at which parameters and FLOPs are counted (no training)
updates = 2                       # PPO updates at the main fleet size (larger fleets train proportionally more)
days_per_update = 4               # days simulated in parallel per rollout
ppo_epochs = 4                    # PPO epochs per update
ppo_minibatches = 4               # minibatches per epoch
gamma = 1.0                       # discount per 15-minute step (1: the daily cost itself)
gae_lambda = 1.0                  # GAE lambda (1: Monte Carlo returns minus the critic baseline)
clip_coef = 0.2                   # PPO clip range
value_coef = 0.5                  # weight of the critic loss
reward_scale = 0.1                # each bus learns from team reward times reward_scale over M
hidden = 32                       # width of the networks
eval_days = 10                    # validation days of the training curve and of tuning (fresh uncertainty draws)
eval_every = 2                    # updates between evaluations of the training curve
final_eval_days = 10              # held-out test days of the final evaluation (other draws than validation)
bound_days = 1                    # test days also solved by the perfect-information MILP (main fleet size)
bound_mip_gap = 0.01              # the MILP stops at this relative gap (its dual bound is a valid bound)

# %% [markdown]
# What each parameter may be: checked in the setup cell below before any compute (and on params.yaml by the
# pipeline). A wrong value, a NaN, a float where an integer is needed, a repeated list entry or an unknown name fails
# there, naming the parameter and what is allowed.

# %% tags=["schema"]
from pydantic import model_validator

from hrlkit import params as P

SLUG = "ebus_charging"
ALL_METHODS = ("dac-mappo-e", "dac-mappo", "dac-single-low", "flat-mappo", "dac-fixed-beta", "rule")
OURS = "dac-mappo-e"
FleetSize = P.Int(ge=4, multiple_of=4)     # K = M/4 chargers


class EBusParameters(P.Parameters):
    tuning_seeds: P.Seeds
    tuning_dir: P.OutDir
    methods: P.Subset(*ALL_METHODS, first=OURS)
    tuning_budget: P.Int(ge=1, le=4)
    fleet_size: FleetSize
    scaling_fleet_sizes: P.UniqueList(FleetSize, min_len=0)
    scaling_seeds: P.Seeds
    long_seeds: P.UniqueList(P.Int(ge=0), min_len=0)
    long_factor: P.Int(ge=2)
    complexity_fleet_sizes: P.UniqueList(FleetSize, min_len=2)
    updates: P.Int(ge=1)
    days_per_update: P.Int(ge=1)
    ppo_epochs: P.Int(ge=1)
    ppo_minibatches: P.Int(ge=1)
    gamma: P.Number(ge=0, le=1)
    gae_lambda: P.Number(ge=0, le=1)
    clip_coef: P.Number(gt=0, le=1)
    value_coef: P.Number(ge=0)
    reward_scale: P.Number(gt=0)
    hidden: P.Int(ge=4, multiple_of=4)     # 4 attention heads
    eval_days: P.Int(ge=1)
    eval_every: P.Int(ge=1)
    final_eval_days: P.Int(ge=1)
    bound_days: P.Int(ge=0)
    bound_mip_gap: P.Number(ge=0, le=1)

    @model_validator(mode="after")
    def relations(self):
        P.require(self.bound_days <= self.final_eval_days, "bound_days", self.bound_days,
                  f"must be <= final_eval_days = {self.final_eval_days} (the bound is solved on test days)")
        P.require(self.ppo_minibatches <= self.days_per_update * 96, "ppo_minibatches", self.ppo_minibatches,
                  "must be <= days_per_update * 96 (one 15-minute step per minibatch at least)")
        P.require(set(self.scaling_seeds) <= set(self.seeds), "scaling_seeds", self.scaling_seeds,
                  f"must be among seeds {self.seeds} (the scaling study reads the M = fleet_size row from the main "
                  "runs)")
        P.require(set(self.long_seeds) <= set(self.seeds), "long_seeds", self.long_seeds,
                  f"must be among seeds {self.seeds} (a long run continues a main run)")
        P.require(all(m > self.fleet_size for m in self.scaling_fleet_sizes), "scaling_fleet_sizes",
                  self.scaling_fleet_sizes, f"must all be larger than fleet_size = {self.fleet_size}")
        P.require(self.fleet_size in self.complexity_fleet_sizes, "complexity_fleet_sizes",
                  self.complexity_fleet_sizes, f"must contain fleet_size = {self.fleet_size} (C4 reads it)")
        return self


# %% [markdown]
# ## Setup: parameter check, imports, seeding

# %%
PARAMS = EBusParameters.from_notebook(globals())   # fails here, naming the parameter, before any compute

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from torch import nn

from hrlkit import figures, runs, tune
from hrlkit.envs.ebfleet import (BUS_FEATURES, N_GLOBAL_FEATURES, EBFleetConfig, EBFleetCore,
                                 perfect_information_bound, realise_days, tou_price)
from hrlkit.rl import PPOConfig, marl, options, ppo_loss
from hrlkit.runner import Runner
from hrlkit.seeding import derive_seed, resolve_device, seed_everything

PAPER = {"slug": SLUG, "arxiv": "2505.10296",
         "title": "Optimizing Electric Bus Charging Scheduling with Uncertainties Using Hierarchical Deep "
                  "Reinforcement Learning"}
LEARNED = ("dac-mappo-e", "dac-mappo", "dac-single-low", "flat-mappo", "dac-fixed-beta")

DEVICE = resolve_device(device)
OUT = runs.prepare_out_dir(out_dir)
clock = runs.WallClock()
figures.set_theme()
seed_everything(0)      # the notebook's own streams; every task reseeds from its own seed
SAVE = dict(out_dir=OUT, slug=SLUG, params=PARAMS)
print(f"profile={profile} workers={workers} device={DEVICE} out_dir={out_dir}")

# %% [markdown]
# ## Environment: `EBFleet`
#
# `hrlkit.envs.ebfleet.EBFleetCore` simulates many days at once (one row per day). A day has 96 steps of 15 minutes,
# $M$ buses and $K = M/4$ chargers at one terminal. Each step the simulator does four things. It dispatches the
# timetabled trips that are due to the buses the high level assigned, highest SoC first. A trip that is not served
# is *late* every step it waits; it is *missed* when no bus took it within `max_wait_steps` steps of its departure. It then allocates chargers: on a conflict the lowest bus index wins
# and every other request is penalised. Buses holding a charger charge at the low level's power, with
# SoC ← min(1, SoC + η c Δt / C). Buses on a trip lose energy. Three quantities are uncertain: trip duration
# (log-normal), trip energy (normal) and the price, TOU × (1 + AR(1) noise), revealed step by step. The reward is
#
# $$r_t = -\text{price}_t \sum_i E^{grid}_{i,t} - w_{late}\,\#late_t - w_{miss}\,\#missed_t - w_{soc} \sum_i [\text{SoC}_{min} - \text{SoC}_{i,t}]^+ - w_{conf}\,\#conflicts_t,$$
#
# and at the end of the day the energy each bus ends with, relative to its morning charge, is valued at the
# overnight tariff $p_{end}$ (the cheapest TOU band):
#
# $$r_T \mathrel{+}= p_{end}\,\frac{C}{\eta} \sum_i \big(\text{SoC}_{i,T} - \text{SoC}_{i,0}\big).$$
#
# A policy that ends the day emptier than it started pays for the refill at the cheapest price there is, and one that
# ends fuller is credited the same. So the end-of-day state cannot hide cost: buying a kWh at the mid-day tariff only
# pays when a trip needs it. The other weights are reconstructed (deviations table). The same simulator is a
# PettingZoo `ParallelEnv` for one day (`EBFleetParallelEnv`, checked by `parallel_api_test` in the tests).

# %%
def fleet_config(m: int) -> EBFleetConfig:
    return EBFleetConfig(n_buses=m)


_cfg = fleet_config(fleet_size)
display(Markdown(f"M = {fleet_size}: K = {_cfg.chargers} chargers, {len(EBFleetCore(_cfg).departures)} trips "
                 f"per day, max_wait_steps = {_cfg.max_wait_steps}, median trip {_cfg.trip_steps_median} steps, "
                 f"battery {_cfg.battery_kwh:g} kWh, "
                 f"power levels {list(_cfg.power_levels_kw)} kW, TOU {sorted(set(tou_price(_cfg).tolist()))} "
                 f"USD/kWh, stored energy valued at p_end = {_cfg.end_price:g} USD/kWh."))


def observe(core: EBFleetCore) -> dict:
    """Torch views of the simulator state: buses (D, M, 4), global (D, G), chargers (D, K, 2), full state S."""
    bus = torch.as_tensor(core.bus_features(), dtype=torch.float32)
    glob = torch.as_tensor(core.global_features(), dtype=torch.float32)
    holder = torch.as_tensor(core.holder)
    held_soc = torch.where(holder >= 0, bus[..., 0].gather(1, holder.clamp_min(0)),
                           torch.zeros_like(holder, dtype=torch.float32))
    chargers = torch.stack([(holder >= 0).float(), held_soc], dim=-1)
    state = torch.cat([bus.flatten(1), glob, chargers.flatten(1)], dim=1)
    return {"bus": bus, "glob": glob, "chargers": chargers, "state": state}


def index_feature(n: int, batch: int) -> torch.Tensor:
    """(batch, n, 1): entity i's index as (i + 1)/n, an identity whose size does not depend on n."""
    return ((torch.arange(n, dtype=torch.float32) + 1) / n).expand(batch, n)[..., None]

# %% [markdown]
# ## Method: DAC-MAPPO-E
#
# **Options.** The option of bus $i$ is $o_i = (\omega_i, k_i)$: charger $\omega_i \in \{0 = \text{none}, 1..K\}$
# and trip assignment $k_i \in \{0, 1\}$, one categorical over $(K+1) \cdot 2$ values, row-major
# ($o = 2\omega + k$; `hrlkit.rl.options` builds a categorical over a product space from one logit head per factor).
#
# **DAC** (Zhang & Whiteson 2019) turns the options into two augmented MDPs. The high MDP has state
# $(o_{t-1}, S_t)$, action $o_t$ and the policy below; the low MDP has state $(S_t, o_t)$ and action $c_t$ (the
# power), with policy $\pi^L(c \mid S, o)$:
#
# $$\pi^H(o \mid o_{t-1}, S) = (1 - \beta_{o_{t-1}}(S))\,\mathbb 1[o = o_{t-1}] + \beta_{o_{t-1}}(S)\,\mu(o \mid S).$$
#
# One critic $q_i(S, o)$ per bus serves both: $v^H_i = \sum_o \pi^H_i(o \mid o_{i,t-1}, S)\, q_i(S, o)$ and
# $v^L_i = q_i(S, o_{i,t})$. Both MDPs have the return of the original one, so PPO optimises both from the same
# rollouts, each with its own per-bus GAE. DAC is a general algorithm (not this paper's): its composition lives in
# `hrlkit.rl.options`, unit-tested on hand-computed cases; the equations are repeated above the lines that call it.

# %% [markdown]
# **"E": the attention high-level actor.** There is one network for every bus. Its query is the bus's embedding:
# its features, its index $i/M$ and the global features. Its keys and values are the embeddings of all buses and
# all chargers (state and index $c/K$; `hrlkit.rl.marl.EntityAttention`), which gives $h_i$. The policy over
# options reads $h_i$ only, $\mu(o \mid S)$ as in DAC: the charger head is a pointer, the logit of charger $c$ is
# $\langle W_q h_i, W_k e_c \rangle / \sqrt d$, and "none" gets its own logit; the trip head is linear in $h_i$. The
# termination of the previous option reads $h_i$ and that option, $\beta_{o_{t-1}}(S) = \sigma(w^\top [h_i,
# \mathbb 1[\omega_{t-1} > 0], k_{t-1}, e_{\omega_{t-1}}])$ with $e_{\omega_{t-1}}$ the embedding of the charger
# it held (zero for none). Nothing in the actor depends on $M$ or $K$.
#
# **MAPPO low level.** A shared actor reads [own features, global features, own option, one-hot bus id] and gives
# the power logits. Its centralised value is $q_i(S, o_i)$. Advantages and ratios are per bus.

# %%
N_BUS, N_GLOB = len(BUS_FEATURES), N_GLOBAL_FEATURES


def option_parts(option: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(charger ω, trip k) of a joint option index o = 2ω + k."""
    charger, trip = options.option_factors(option, (k + 1, 2))
    return charger, trip


class AttentionHighActor(nn.Module):
    """DAC-MAPPO-E's per-bus high-level actor: μ(ω, k | S) and β_{o_prev}(S), size independent of M and K.
    ``fixed_beta`` replaces the learned termination by a constant (the β ≡ 1 ablation)."""

    def __init__(self, d: int, fixed_beta: float | None = None) -> None:
        super().__init__()
        self.bus_in = marl.mlp([N_BUS + 1 + N_GLOB, d, d])
        self.charger_in = marl.mlp([3, d, d])
        self.attend = marl.EntityAttention(d, n_heads=4)
        self.query, self.key = nn.Linear(d, d), nn.Linear(d, d)
        self.none_logit, self.trip_logits = nn.Linear(d, 1), nn.Linear(d, 2)
        self.termination = nn.Linear(2 * d + 2, 1) if fixed_beta is None else None
        self.d, self.fixed_beta = d, fixed_beta

    def forward(self, obs: dict, prev: torch.Tensor):
        (batch, m, _), k = obs["bus"].shape, obs["chargers"].shape[1]
        tokens_in = torch.cat([obs["bus"], index_feature(m, batch), obs["glob"][:, None, :].expand(-1, m, -1)], -1)
        bus_tok = self.bus_in(tokens_in)
        chg_tok = self.charger_in(torch.cat([obs["chargers"], index_feature(k, batch)], dim=-1))
        h = self.attend(bus_tok, torch.cat([bus_tok, chg_tok], dim=1))                    # (D, M, d)
        # μ(o | S): charger logit <W_q h_i, W_k e_c>/√d, "none" its own logit; trip logits linear in h_i
        pointer = self.query(h) @ self.key(chg_tok).transpose(1, 2) / self.d ** 0.5       # (D, M, K)
        charger_logits = torch.cat([self.none_logit(h), pointer], dim=-1)
        mu_log_probs = options.factorised_log_probs([charger_logits, self.trip_logits(h)])
        if self.fixed_beta is not None:
            return mu_log_probs, torch.full(h.shape[:-1], self.fixed_beta)
        prev_charger, prev_trip = option_parts(prev, k)
        held = torch.cat([torch.zeros_like(chg_tok[:, :1]), chg_tok], dim=1)               # e_0 = 0: no charger
        held = held.gather(1, prev_charger[..., None].expand(-1, -1, self.d))             # (D, M, d)
        # β_{o_prev}(S) = σ(w^T [h_i, 1[ω_prev > 0], k_prev, e_{ω_prev}])
        features = torch.cat([h, (prev_charger > 0).float()[..., None], prev_trip.float()[..., None], held], -1)
        return mu_log_probs, torch.sigmoid(self.termination(features)).squeeze(-1)


class CentralHighActor(nn.Module):
    """DAC's centralised high-level actor: μ from one MLP on S with per-bus heads; β_{o_prev}(S) from one MLP on
    (S, all previous options)."""

    def __init__(self, d: int, m: int, k: int) -> None:
        super().__init__()
        self.m, self.n_charger, self.n_options = m, k + 1, 2 * (k + 1)
        state_dim = N_BUS * m + N_GLOB + 2 * k
        self.mu = marl.mlp([state_dim, 2 * d, 2 * d, m * (self.n_charger + 2)], out_gain=0.01)
        self.termination = marl.mlp([state_dim + m * self.n_options, 2 * d, m], out_gain=0.01)

    def forward(self, obs: dict, prev: torch.Tensor):
        out = self.mu(obs["state"]).view(-1, self.m, self.n_charger + 2)
        mu_log_probs = options.factorised_log_probs([out[..., :self.n_charger], out[..., self.n_charger:]])
        prev_onehot = nn.functional.one_hot(prev, self.n_options).float().flatten(1)
        return mu_log_probs, torch.sigmoid(self.termination(torch.cat([obs["state"], prev_onehot], dim=1)))


class MappoLowActor(nn.Module):
    """MAPPO low level: a shared per-bus actor over [own features, global, own option] + bus id."""

    def __init__(self, d: int, m: int, n_power: int) -> None:
        super().__init__()
        self.actor = marl.SharedActor(N_BUS + N_GLOB + 2, m, n_power, hidden=(d, d))

    def forward(self, obs: dict, option: torch.Tensor) -> torch.Tensor:
        charger, trip = option_parts(option, obs["chargers"].shape[1])
        m = obs["bus"].shape[1]
        local = torch.cat([obs["bus"], obs["glob"][:, None, :].expand(-1, m, -1), (charger > 0).float()[..., None],
                           trip.float()[..., None]], dim=-1)
        return self.actor(local)                                                           # (D, M, n_power)


class SingleLowActor(nn.Module):
    """Single-agent low level: one MLP on (S, all options) giving the joint power vector (factorised logits)."""

    def __init__(self, d: int, m: int, k: int, n_power: int) -> None:
        super().__init__()
        self.m, self.n_power, self.n_options = m, n_power, 2 * (k + 1)
        state_dim = N_BUS * m + N_GLOB + 2 * k
        self.net = marl.mlp([state_dim + m * self.n_options, 2 * d, 2 * d, m * n_power], out_gain=0.01)

    def forward(self, obs: dict, option: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(option, self.n_options).float().flatten(1)
        return self.net(torch.cat([obs["state"], onehot], dim=1)).view(-1, self.m, self.n_power)


class DACAgent(nn.Module):
    """A DAC learner: high actor (attention or central), low actor (MAPPO or single), one critic q_i(S, o)."""

    def __init__(self, method: str, m: int, k: int, n_power: int, d: int) -> None:
        super().__init__()
        self.method, self.m, self.k = method, m, k
        self.high = (CentralHighActor(d, m, k) if method == "dac-mappo"
                     else AttentionHighActor(d, fixed_beta=1.0 if method == "dac-fixed-beta" else None))
        self.low = SingleLowActor(d, m, k, n_power) if method == "dac-single-low" else MappoLowActor(d, m, n_power)
        self.critic = marl.CentralCritic(N_BUS * m + N_GLOB + 2 * k, m, hidden=(2 * d, 2 * d), n_outputs=2 * (k + 1))

    def actor_parameters(self) -> int:
        return self.high_parameters() + sum(p.numel() for p in self.low.parameters())

    def high_parameters(self) -> int:
        return sum(p.numel() for p in self.high.parameters())

    def outputs(self, obs: dict, prev: torch.Tensor, first: torch.Tensor, option: torch.Tensor,
                power: torch.Tensor) -> dict:
        """log π^H, log π^L, entropies and the DAC values v^H, v^L of given options and powers."""
        mu_log_probs, beta = self.high(obs, prev)
        beta = torch.where(first[:, None], torch.ones_like(beta), beta)   # start of the day: an option must be chosen
        # π^H(o | o_prev, S) = (1 − β_{o_prev}(S)) 1[o = o_prev] + β_{o_prev}(S) μ(o | S)
        pi_high = options.high_policy_probs(beta, mu_log_probs.exp(), prev)
        low_log_probs = torch.log_softmax(self.low(obs, option), dim=-1)
        # v^H = Σ_o π^H(o | o_prev, S) q_i(S, o);   v^L = q_i(S, o_t)
        v_high, v_low = options.dac_values(self.critic(obs["state"]), pi_high, option)
        # log π^H(o_t | o_prev, S): log β + log μ(o_t) on a switch, log((1 − β) + β μ(o_t)) on a keep
        return {"logp_high": options.high_log_prob(beta, mu_log_probs, prev, option),
                "entropy_high": options.high_entropy(beta, mu_log_probs.exp(), prev),
                "logp_low": low_log_probs.gather(-1, power[..., None]).squeeze(-1),
                "entropy_low": -(low_log_probs.exp() * low_log_probs).sum(-1),
                "v_high": v_high, "v_low": v_low}

    def act(self, obs: dict, prev: torch.Tensor, first: torch.Tensor, generator) -> tuple:
        """(option, power, β) sampled from π^H and π^L."""
        mu_log_probs, beta = self.high(obs, prev)
        beta = torch.where(first[:, None], torch.ones_like(beta), beta)
        option, _ = options.sample_high(beta, mu_log_probs.exp(), prev, generator)   # terminate w.p. β, then o ~ μ
        power = sample_categorical(self.low(obs, option), generator)
        return option, power, beta


class FlatAgent(nn.Module):
    """Flat MAPPO without options: a shared per-bus actor picks (charger, trip, power) every step. It reads its own
    features and the whole state S (every bus and charger), so it sees what ours' attention actor sees."""

    def __init__(self, m: int, k: int, n_power: int, d: int) -> None:
        super().__init__()
        self.method, self.m, self.k, self.n_power = "flat-mappo", m, k, n_power
        state_dim = N_BUS * m + N_GLOB + 2 * k
        self.actor = marl.SharedActor(N_BUS + state_dim, m, 2 * (k + 1) * n_power, hidden=(d, d))
        self.critic = marl.CentralCritic(state_dim, m, hidden=(2 * d, 2 * d))

    def actor_parameters(self) -> int:
        return sum(p.numel() for p in self.actor.parameters())

    def high_parameters(self) -> int:
        return self.actor_parameters()

    def _log_probs(self, obs: dict) -> torch.Tensor:
        m = obs["bus"].shape[1]
        local = torch.cat([obs["bus"], obs["state"][:, None, :].expand(-1, m, -1)], -1)
        return torch.log_softmax(self.actor(local), -1)

    def outputs(self, obs, prev, first, option, power) -> dict:
        log_probs = self._log_probs(obs)
        joint = option * self.n_power + power
        value = self.critic(obs["state"]).squeeze(-1)
        return {"logp_low": log_probs.gather(-1, joint[..., None]).squeeze(-1),
                "entropy_low": -(log_probs.exp() * log_probs).sum(-1), "v_low": value}

    def act(self, obs, prev, first, generator) -> tuple:
        joint = sample_categorical(self._log_probs(obs), generator)
        return torch.div(joint, self.n_power, rounding_mode="floor"), joint % self.n_power, None


def sample_categorical(logits: torch.Tensor, generator) -> torch.Tensor:
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(probs.shape[:-1])


def make_agent(method: str, m: int, seed: int) -> nn.Module:
    cfg = fleet_config(m)
    torch.manual_seed(derive_seed(seed, method, m, "init"))
    if method == "flat-mappo":
        return FlatAgent(m, cfg.chargers, len(cfg.power_levels_kw), hidden)
    return DACAgent(method, m, cfg.chargers, len(cfg.power_levels_kw), hidden)


# %% [markdown]
# ## Baselines and ablation
#
# - `dac-mappo`: DAC-MAPPO without "E". The high-level actor is centralised: $\mu$ is one MLP on $S$ with per-bus
#   charger and trip heads, and $\beta$ one MLP on $S$ and all previous options with a head per bus. The joint option space $((K+1)\cdot 2)^M$ has
#   $6^8 \approx 1.7 \cdot 10^6$ options at $M = 8$ and $10^{16}$ at $M = 16$, so its logits are factorised per bus. Its input
#   and output layers grow with $M$. The low level is the same MAPPO as ours: this baseline isolates "E".
# - `dac-single-low`: ours with a single-agent PPO low level. One MLP on $(S, \text{all options})$ outputs the
#   fleet's joint power vector, trained with one joint ratio and the team advantage, instead of MAPPO's per-bus
#   ratios and advantages. It isolates MAPPO.
# - `flat-mappo`: no options. A shared per-bus MAPPO actor reads its own features and the whole state $S$ and picks
#   (charger, trip, power) every step, with a centralised value.
# - `dac-fixed-beta` (ablation): ours with the termination fixed at $\beta \equiv 1$. Every step each bus
#   re-draws its option from $\mu$, so no option lasts longer than one step unless $\mu$ picks it again: it tests
#   the temporal abstraction (learned termination). It is tuned like every learned method.
# - `rule`: a bus at the terminal is assigned to trips when its SoC ≥ `threshold`. Free chargers go to the
#   lowest-SoC buses that need them: buses below `threshold` at any time, and buses below full charge when the
#   tariff is cheap (`cheap`: below the peak tariff, or only the cheapest band). They charge at maximum power. The
#   threshold is tuned with the same budget as the learned methods, charging in the cheapest band.
#
# The original DAC (centralised high level and single-agent low level together) is not run: the two single-swap
# baselines separate the two enhancements, and the budget went to seeds instead (deviations table).

# %%
def rule_policy(core: EBFleetCore, threshold: float, cheap: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cfg = core.cfg
    bands = sorted(b[2] for b in cfg.tou_bands)
    cheap_now = core.tou[core.t] < bands[-1] if cheap == "below-peak" else core.tou[core.t] <= bands[0]
    soc, at = core.soc, core.at_terminal
    assign = (at & (soc >= threshold)).astype(int)
    wants = at & ((soc < threshold) | (cheap_now & (soc < 1.0)))
    # lowest SoC first; the first K buses that want a charger get chargers 1..K
    order = np.argsort(np.where(wants, soc, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(core.M)[None, :].repeat(core.n_days, 0), axis=1)
    charger = np.where(wants & (rank < core.K), rank + 1, 0)
    assign = np.where(charger > 0, 0, assign)
    power = np.full_like(charger, len(cfg.power_levels_kw) - 1)
    return charger, assign, power


# %% [markdown]
# ## Training and evaluation
#
# Each PPO update simulates `days_per_update` fresh days (new uncertainty draws) of 96 steps. Every bus receives
# the team reward divided by $M$, and GAE is computed per bus. A day ends by termination, with no bootstrap. The
# policy is evaluated on `eval_days` *validation* days with a fixed sampling stream before training and every
# `eval_every` updates: that is the training curve, and tuning selects on it. After training it is evaluated once on
# `final_eval_days` *test* days, other draws of the same uncertainties. Both sets of days are the same for every
# method and seed, so every comparison is paired by seed and by day. The first `bound_days` test days are also solved
# by the perfect-information MILP (`hrlkit.envs.ebfleet`): with the whole day revealed in advance, power continuous
# and no conflicts, its optimum is a lower bound on the penalised cost of any policy on that day.
#
# **Option statistics** are counted on the test days over the bus-steps at the terminal (the only place where an
# option has an effect): how often a bus's option changes, the mean β, charger requests and conflicts, and how long a
# bus keeps a charger once it has one (charging spells).

# %%
class Rule:
    """The rule-based charger as a policy: knobs `threshold` and `cheap` (see Baselines)."""

    method = "rule"

    def __init__(self, threshold: float, cheap: str) -> None:
        self.threshold, self.cheap = threshold, cheap


DAY_TOTALS = ("cost", "late", "missed", "soc_shortfall", "conflicts", "energy_kwh", "stored_change_kwh",
              "end_value")
OPTION_TOTALS = ("terminal_steps", "option_changes", "beta_sum", "charger_requests", "charging_steps",
                 "charging_spells")


def play_day(policy, core: EBFleetCore, generator, record: bool = False) -> dict:
    """Run every day of ``core`` to the end; returns per-step tensors (for PPO), per-day totals and option counts."""
    m, k, n = core.M, core.K, core.n_days
    prev = torch.zeros(n, m, dtype=torch.long)
    totals = {key: np.zeros(n) for key in (*DAY_TOTALS, *OPTION_TOTALS, "penalised_cost")}
    steps, trace, charging_before = [], [], np.zeros((n, m), dtype=bool)
    for t in range(core.cfg.steps_per_day):
        obs = observe(core)
        first = torch.full((n,), t == 0)
        at_terminal = core.at_terminal.copy()
        if isinstance(policy, Rule):
            charger, assign, power = rule_policy(core, policy.threshold, policy.cheap)
            option, power_t, beta = torch.as_tensor(charger * 2 + assign), torch.as_tensor(power), None
        else:
            with torch.no_grad():
                option, power_t, beta = policy.act(obs, prev, first, generator)
            charger, assign = (x.numpy() for x in option_parts(option, k))
        price_now = float(core.price[0])
        reward, info = core.step(charger, assign, power_t.numpy())
        for key in DAY_TOTALS:
            totals[key] += info[key]
        totals["penalised_cost"] -= reward
        # option statistics over the bus-steps at the terminal after the first step (where an option continues)
        if t > 0:
            totals["terminal_steps"] += at_terminal.sum(1)
            totals["option_changes"] += (at_terminal & (option != prev).numpy()).sum(1)
            if beta is not None:
                totals["beta_sum"] += (beta.numpy() * at_terminal).sum(1)
        totals["charger_requests"] += (at_terminal & (charger > 0)).sum(1)
        totals["charging_steps"] += core.charging.sum(1)
        totals["charging_spells"] += (core.charging & ~charging_before).sum(1)
        charging_before = core.charging.copy()
        if record:
            trace.append({"t": t, "soc": core.soc[0].copy(), "holder": core.holder[0].copy(), "price": price_now,
                          "soc_morning": core.soc_morning[0].copy()})
        steps.append({"obs": obs, "prev": prev, "first": first, "option": option, "power": power_t,
                      "charged": torch.as_tensor(core.charging.copy()),
                      "reward": torch.as_tensor(reward, dtype=torch.float32)})
        prev = option
    return {"steps": steps, "totals": totals, "trace": trace}


def stack_steps(steps: list[dict]) -> dict:
    """(T, D, ...) tensors of a day, flattened to B = T·D samples."""
    out = {k: torch.stack([s[k] for s in steps]).flatten(0, 1) for k in ("prev", "first", "option", "power",
                                                                         "charged")}
    out["obs"] = {k: torch.stack([s["obs"][k] for s in steps]).flatten(0, 1) for k in steps[0]["obs"]}
    out["reward"] = torch.stack([s["reward"] for s in steps])                               # (T, D)
    return out


def subset(batch: dict, idx: torch.Tensor) -> tuple:
    """(obs, prev, first, option, power) of the samples ``idx``."""
    return ({k: v[idx] for k, v in batch["obs"].items()}, *(batch[k][idx] for k in ("prev", "first", "option",
                                                                                     "power")))


def gae(rewards: torch.Tensor, values: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bus GAE over a whole day (rewards (T, D) shared by the M buses; values (T·D, M))."""
    t, d = rewards.shape
    # r_i,t = r_t · reward_scale / M for every bus i
    per_bus = (rewards * reward_scale / m)[..., None].expand(t, d, m)
    return marl.per_agent_gae(per_bus, values.view(t, d, m), torch.zeros(t, d), torch.zeros(d, m), torch.ones(d),
                              gamma, gae_lambda)


def decision_masks(agent, obs: dict, charged: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where an action has an effect: the high level (or flat actor) only at the terminal; DAC's power only when
    the bus did charge this step (it held a charger: otherwise the power had no effect)."""
    at_terminal = obs["bus"][..., BUS_FEATURES.index("at_terminal")] > 0.5
    if agent.method == "flat-mappo":
        return at_terminal, at_terminal
    return at_terminal, charged


def clipped_surrogate(logp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PPO's clipped surrogate (`hrlkit.rl.ppo_loss`, advantages normalised) over the samples with a decision."""
    if not mask.any():
        return logp.sum() * 0.0
    zeros = torch.zeros(int(mask.sum()))
    loss, _ = ppo_loss(logp[mask], old[mask], adv[mask], zeros, zeros, zeros, zeros, SURROGATE)
    return loss


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` holds (0 when none does)."""
    return (x * mask).sum() / mask.sum().clamp_min(1)


SURROGATE = PPOConfig(clip_coef=clip_coef, ent_coef=0.0, vf_coef=0.0, norm_adv=True, clip_vloss=False)


def ppo_update(agent, optimiser, batch: dict, generator, entropy_coef: float) -> None:
    m = agent.m
    with torch.no_grad():
        old = agent.outputs(batch["obs"], batch["prev"], batch["first"], batch["option"], batch["power"])
    adv_low, ret_low = (x.flatten(0, 1) for x in gae(batch["reward"], old["v_low"], m))
    if "v_high" in old:
        adv_high = gae(batch["reward"], old["v_high"], m)[0].flatten(0, 1)
    for _ in range(ppo_epochs):
        for idx in torch.randperm(adv_low.shape[0], generator=generator).tensor_split(ppo_minibatches):
            sample = subset(batch, idx)
            new = agent.outputs(*sample)
            high_mask, low_mask = decision_masks(agent, sample[0], batch["charged"][idx])
            # critic: q_i(S, o_i) (DAC) or V_i(S) (flat) regressed on the low-level TD(λ) return
            loss = value_coef * 0.5 * ((new["v_low"] - ret_low[idx]) ** 2).mean()
            if agent.method == "dac-single-low":   # one agent: joint ratio Π_i π_i, team advantage mean_i A_i
                loss = loss + clipped_surrogate((new["logp_low"] * low_mask).sum(-1),
                                                (old["logp_low"][idx] * low_mask).sum(-1), adv_low[idx].mean(-1),
                                                low_mask.any(-1))
            else:                                   # MAPPO: per-bus ratio and advantage
                loss = loss + clipped_surrogate(new["logp_low"], old["logp_low"][idx], adv_low[idx], low_mask)
            # entropy bonuses averaged over the decisions that have an effect (the masks of the surrogates)
            loss = loss - entropy_coef * masked_mean(new["entropy_low"], low_mask)
            if "v_high" in new:                     # high MDP: PPO on π^H with advantages from v^H
                loss = loss + clipped_surrogate(new["logp_high"], old["logp_high"][idx], adv_high[idx], high_mask)
                loss = loss - entropy_coef * masked_mean(new["entropy_high"], high_mask)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{agent.method}: PPO loss is {loss.item()}")
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
            optimiser.step()


def held_out_days(m: int, split: str) -> tuple[int, int]:
    """(number of days, simulator seed) of the validation or test days at fleet size m."""
    return (eval_days, derive_seed("ebus-validation", m)) if split == "validation" else \
        (final_eval_days, derive_seed("ebus-test", m))


def evaluate(policy, m: int, split: str = "validation") -> dict:
    """Per-day totals of the (stochastic) policy on the held-out days of ``split``; the sampling stream is fixed,
    so the result is deterministic. (The mode of a factorised per-bus policy is a poor policy: when two buses
    share a charger, "request it half of the time" has the mode "never".)"""
    n_days, seed = held_out_days(m, split)
    generator = torch.Generator().manual_seed(derive_seed("ebus-eval-sampling", m, split))
    return play_day(policy, EBFleetCore(fleet_config(m), n_days, seed=seed), generator)["totals"]


def validation_point(policy, m: int) -> dict:
    """Per-bus means over the validation days of the curve's metrics."""
    totals = evaluate(policy, m)
    return {f"eval_{k}": float(np.mean(totals[k])) / m for k in ("penalised_cost", "cost", "missed", "conflicts")}


def train_agent(method: str, seed: int, m: int, config: dict, n_updates: int, test_at: int | None = None) -> tuple:
    """PPO training of one learned method; returns (agent, curve, wall-clock seconds per update, test evaluation
    after update ``test_at`` or None). Nothing in training depends on ``n_updates``, so a longer run repeats a
    shorter one of the same seed update by update before going on."""
    agent, checkpoint = make_agent(method, m, seed), None
    optimiser = torch.optim.Adam(agent.parameters(), lr=config["learning_rate"])
    generator = torch.Generator().manual_seed(derive_seed(seed, method, m, "sampling"))
    curve, elapsed = [{"update": 0, **validation_point(agent, m)}], 0.0
    for update in range(1, n_updates + 1):
        start = time.perf_counter()
        core = EBFleetCore(fleet_config(m), days_per_update, seed=derive_seed(seed, m, "train", update))
        day = play_day(agent, core, generator)
        ppo_update(agent, optimiser, stack_steps(day["steps"]), generator, config["entropy_coef"])
        elapsed += time.perf_counter() - start
        point = {"update": update, "train_penalised_cost": float(np.mean(day["totals"]["penalised_cost"])) / m}
        if update % eval_every == 0 or update in (n_updates, test_at):
            point.update(validation_point(agent, m))
        curve.append(point)
        if update == test_at:
            checkpoint = test_evaluation(agent, m)
    return agent, curve, elapsed / n_updates, checkpoint


def test_evaluation(policy, m: int) -> dict:
    """Means over the test days of every per-day total, the per-day penalised costs of the MILP days, and the
    option statistics."""
    totals = evaluate(policy, m, "test")
    out = {k: float(np.mean(v)) for k, v in totals.items() if k not in OPTION_TOTALS}
    out["option_totals"] = {k: float(np.sum(totals[k])) for k in OPTION_TOTALS}
    out["bound_day_costs"] = [float(c) for c in totals["penalised_cost"][:bound_days]]
    return out


def run_training(method: str, seed: int, m: int, config: dict, n_updates: int, keep_state: bool,
                 report_at: int | None = None) -> dict:
    """One run. With ``report_at`` (a long run), training goes on to ``n_updates`` but the reported result is the
    test evaluation after update ``report_at``, identical to a run of that length; the end's goes under "long"."""
    if method == "rule":   # no training: its validation cost is the same at every point of the curve
        rule = Rule(**config)
        point = validation_point(rule, m)
        curve = [{"update": u, **point} for u in range(n_updates + 1) if u % eval_every == 0 or u == n_updates]
        return {"method": method, "seed": seed, "m": m, "curve": curve, "final": test_evaluation(rule, m),
                "long": None, "actor_parameters": 0, "state": None, "timing": {"seconds_per_update": 0.0}}
    agent, curve, seconds, checkpoint = train_agent(method, seed, m, config, n_updates, report_at)
    end = test_evaluation(agent, m)
    return {"method": method, "seed": seed, "m": m, "curve": curve, "final": checkpoint if report_at else end,
            "long": {"updates": n_updates, "final": end} if report_at else None,
            "actor_parameters": agent.actor_parameters(),
            "state": {k: v.detach().clone() for k, v in agent.state_dict().items()} if keep_state else None,
            "timing": {"seconds_per_update": seconds}}   # wall clock: kept apart from the results


def complexity(method: str, m: int) -> dict:
    """Deterministic cost of a method at fleet size m: actor parameters, and the FLOPs per simulated step of acting
    (both levels) and of one training pass (forward + backward of both levels and the critic), counted by
    ``torch.utils.flop_counter`` on one day at initialisation."""
    from torch.utils.flop_counter import FlopCounterMode

    agent = make_agent(method, m, 0)
    core = EBFleetCore(fleet_config(m), 1, seed=derive_seed("ebus-complexity", m))
    with FlopCounterMode(display=False) as acting:
        day = play_day(agent, core, torch.Generator().manual_seed(0))
    batch = stack_steps(day["steps"])
    samples = batch["first"].shape[0]
    with FlopCounterMode(display=False) as training:
        out = agent.outputs(*subset(batch, torch.arange(samples)))
        sum(v.sum() for v in out.values()).backward()
    return {"method": method, "m": m, "actor_parameters": agent.actor_parameters(),
            "high_parameters": agent.high_parameters(), "act_flops_per_step": acting.get_total_flops() / samples,
            "train_flops_per_step": training.get_total_flops() / samples}


def solve_bound(day: int) -> dict:
    """The perfect-information MILP bound of test day ``day`` at M = fleet_size (stopped at ``bound_mip_gap``)."""
    cfg = fleet_config(fleet_size)
    n_days, seed = held_out_days(fleet_size, "test")
    realised = realise_days(cfg, n_days, seed)[day]
    return {"day": day, **perfect_information_bound(cfg, realised, time_limit=600.0, mip_rel_gap=bound_mip_gap)}


def run_job(kind: str, **task) -> dict:
    return {"train": run_training, "bound": solve_bound, "complexity": complexity}[kind](**task)


# %% [markdown]
# ## Tuning: the same budget for ours, every learned baseline and the rule
#
# Declared before tuning: every tuned method gets `tuning_budget` configurations of its grid below, trained for the
# full run on each tuning seed (disjoint from the reported seeds) at the main fleet size, and is selected by the
# lowest **mean penalised cost per bus on the validation days** at the end of training. The learned methods' knob
# (the fixed-β ablation's too) is the Adam step size, on a grid of four values a factor of about 3 apart (the entropy
# bonus of both levels is fixed); the rule's is its SoC threshold, from SoC_min up, charging in the cheapest band. The scalability runs reuse the selection made at the main fleet size.
#
# A **pilot** reads the tuning runs: the spread over tuning seeds of each baseline's cost minus ours (paired, the
# same tuning seeds) says how many seeds a difference of `EFFECT_OF_INTEREST` needs; the spread of the missed-trip
# rate sets the tolerance of "no more missed trips" (C1e) before any reported result exists.

# %%
# four configurations per method: the learned methods' step size on a grid that brackets it (the entropy bonus
# fixed at 0.003, the value four of the five learned methods selected when it was tuned on {0.003, 0.01}); the rule's
# SoC threshold from SoC_min = 0.2 up, charging in the cheapest band (charging whenever the tariff is below the peak
# made the threshold irrelevant: no configuration is wasted on it)
SPACES = {
    **{meth: tune.Space(learning_rate=tune.Grid(3e-4, 1e-3, 3e-3, 1e-2), entropy_coef=tune.Grid(0.003))
       for meth in LEARNED},
    "rule": tune.Space(threshold=tune.Grid(0.2, 0.25, 0.3, 0.35), cheap=tune.Grid("cheapest")),
}
SETUP = tune.Setup(metric="validation_penalised_cost", direction="minimize", budget=tuning_budget,
                   seeds=tuning_seeds, sampler="grid")
EFFECT_OF_INTEREST = 1.0     # USD per bus and day: the smallest cost difference the comparisons should detect


def trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial: train (learned methods) at the main fleet size, then the validation days' per-bus means."""
    policy = Rule(**config) if method == "rule" else train_agent(method, seed, fleet_size, config, updates)[0]
    totals = evaluate(policy, fleet_size)
    return {"validation_penalised_cost": float(np.mean(totals["penalised_cost"])) / fleet_size,
            "missed_per_bus": float(np.mean(totals["missed"])) / fleet_size}


# %% tags=["tuning"]
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
# which methods are tuned, and the check that no reported seed is a tuning seed, change no trial's result: they are
# read from PARAMS so that the trials' identity does not include the reported seeds or the method list
TUNED = tune.tune(TUNING_RUNNER, trial, {m: space for m, space in SPACES.items() if m in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
print(TUNED.summary())

# %% [markdown]
# ## Experiments
#
# Every task's result is stored under `runs_dir` (`hrlkit.runner`): a later run with the same training code and
# parameters loads it instead of training again, and the pipeline's report stage only ever loads. A fleet of size $M$
# trains for `updates`·M/`fleet_size` updates (more buses, more updates).

# %% tags=["experiments"]
CONFIG = {meth: TUNED.selected[meth] for meth in methods}
SCALING_METHODS = [meth for meth in (OURS, "dac-mappo") if meth in methods]
MAIN_TASKS = [dict(method=meth, seed=s, m=fleet_size, config=CONFIG[meth], keep_state=meth == OURS and s == seeds[0],
                   # a long seed's run goes on to long_factor × updates; its reported result is the one at `updates`
                   **(dict(n_updates=long_factor * updates, report_at=updates)
                      if s in long_seeds and meth != "rule" else dict(n_updates=updates)))
              for meth in methods for s in seeds]
SCALING_TASKS = [dict(method=meth, seed=s, m=mm, config=CONFIG[meth], n_updates=updates * mm // fleet_size,
                      keep_state=False) for mm in scaling_fleet_sizes for meth in SCALING_METHODS
                 for s in scaling_seeds]
COMPLEXITY_TASKS = [dict(method=meth, m=mm) for mm in complexity_fleet_sizes
                    for meth in ("dac-mappo-e", "dac-mappo", "dac-single-low", "flat-mappo")]
# longest jobs first, so that the last ones to finish are short (results are in a fixed order whatever the workers)
COST_RANK = {OURS: 0, "dac-fixed-beta": 1, "dac-single-low": 2, "dac-mappo": 3, "flat-mappo": 4, "rule": 5}
JOBS = sorted([dict(kind="train", **t) for t in MAIN_TASKS + SCALING_TASKS],
              key=lambda t: (-t["m"] * t["n_updates"], COST_RANK[t["method"]], t["seed"]))
JOBS[1:1] = [dict(kind="bound", day=d) for d in range(bound_days)]
JOBS += [dict(kind="complexity", **t) for t in COMPLEXITY_TASKS]
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
OUTPUTS = RUNNER.run("jobs", run_job, JOBS, desc="training runs, MILP bounds, FLOP counts")
RESULTS = [r for job, r in zip(JOBS, OUTPUTS) if job["kind"] == "train"]
BOUNDS = [r for job, r in zip(JOBS, OUTPUTS) if job["kind"] == "bound"]
COMPLEXITY = pd.DataFrame([r for job, r in zip(JOBS, OUTPUTS) if job["kind"] == "complexity"])


# %%
# analysis side: tables, facts, statistics (never used by a task, so editing them never retrains)
from hrlkit import stats
from hrlkit.claims import Claim, ClaimsTable, Fact, FactsTable, build_metrics, headline_entry, write_metrics
from hrlkit.display import prose, table


def option_statistics(final: dict) -> dict:
    """Per-run option statistics from the test days' counts (bus-steps at the terminal)."""
    o = final["option_totals"]
    stats_ = {"option_change_rate": o["option_changes"] / max(o["terminal_steps"], 1.0),
              "charging_spell_steps": o["charging_steps"] / max(o["charging_spells"], 1.0),
              "conflicts_per_request": final["conflicts"] * final_eval_days / max(o["charger_requests"], 1.0)}
    if o["beta_sum"] > 0:
        stats_["mean_beta"] = o["beta_sum"] / max(o["terminal_steps"], 1.0)
    return stats_


def runs_rows():
    for r in RESULTS:
        key = dict(method=r["method"], seed=r["seed"], fleet_size=r["m"])
        # a long run's reported curve stops where its reported result was taken; all of it goes under long_*
        reported = [p for p in r["curve"] if r["long"] is None or p["update"] <= updates]
        for point in reported:
            for metric, value in point.items():
                if metric != "update":
                    yield dict(key, metric=metric, value=value, step=point["update"])
        last = reported[-1]["update"]
        if r["long"] is not None:
            for point in r["curve"]:
                if "eval_penalised_cost" in point:
                    yield dict(key, metric="long_eval_penalised_cost", value=point["eval_penalised_cost"],
                               step=point["update"])
            for metric in ("penalised_cost", "missed", "conflicts"):
                yield dict(key, metric=f"long_final_{metric}_per_bus", value=r["long"]["final"][metric] / r["m"],
                           step=r["long"]["updates"])
        for metric, value in r["final"].items():
            if metric not in ("bound_day_costs", "option_totals"):
                yield dict(key, metric=f"final_{metric}_per_bus", value=value / r["m"], step=last)
        for metric, value in option_statistics(r["final"]).items():
            yield dict(key, metric=metric, value=value, step=last)
        if r["m"] == fleet_size:
            for day, value in enumerate(r["final"]["bound_day_costs"]):
                yield dict(key, metric="test_day_penalised_cost_per_bus", value=value / r["m"], step=last,
                           test_day=day)
        yield dict(key, metric="actor_parameters", value=float(r["actor_parameters"]), step=last)
    for b in BOUNDS:   # deterministic: no seed of its own (seed column 0)
        yield dict(method="milp-bound", seed=0, fleet_size=fleet_size, metric="bound_penalised_cost_per_bus",
                   value=b["bound"] / fleet_size, test_day=b["day"])
    for row in COMPLEXITY.to_dict("records"):   # deterministic architecture counts (seed column 0)
        for metric in ("act_flops_per_step", "train_flops_per_step"):
            yield dict(method=row["method"], seed=0, fleet_size=row["m"], metric=metric, value=float(row[metric]))


RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT)
MAIN = RUNS[RUNS["fleet_size"] == fleet_size]
print(f"runs.csv: {len(RUNS)} rows from {len(RESULTS)} training runs")


def per_seed(metric: str, method: str, m: int = fleet_size, among: list[int] | None = None) -> np.ndarray:
    """One value per seed (all seeds, or those in ``among``), in seed order."""
    frame = RUNS if among is None else RUNS[RUNS["seed"].isin(among)]
    return runs.per_seed(frame, metric, method, fleet_size=m)


fmt = stats.format_ci

# %% [markdown]
# ## Tuning and pilot

# %%
CONFIG_COLUMNS = [c for c in TUNED.trials.columns if c.startswith("config.")]


def config_text(config: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in config.items())


trials_ = TUNED.trials.assign(config=[config_text({c[7:]: row[c] for c in CONFIG_COLUMNS if pd.notna(row[c])})
                                      for _, row in TUNED.trials.iterrows()])
TUNING_TABLE = trials_.groupby(["method", "config"], sort=False).agg(
    validation=(SETUP.metric, "mean"), missed=("missed_per_bus", "mean")).reset_index()
TUNING_TABLE["selected"] = ["yes" if config_text(TUNED.selected[m_]) == c else ""
                            for m_, c in zip(TUNING_TABLE["method"], TUNING_TABLE["config"])]
display(table(TUNING_TABLE.rename(columns={"validation": "validation penalised cost (USD/bus/day)",
                                           "missed": "missed trips/bus/day"}).round(4),
              f"Mean over tuning seeds {tuning_seeds}. " + TUNED.summary()))

BASELINES_TUNED = [b for b in methods if b != OURS and b in TUNED.selected]
PILOTS = {b: tune.pilot(TUNED, first=b, second=OURS) for b in BASELINES_TUNED if OURS in TUNED.selected}


# C1e's tolerance, fixed here from the tuning seeds: the noise of a paired per-seed difference of missed-trip rates
# (learned baselines − ours, pooled), scaled from the validation days to the test days (sd ∝ 1/√days), times 1.96
# (a 95 % noise band), and never below the metric's resolution (one missed trip of the fleet over the test days)
MISSED_RESOLUTION = 1.0 / (final_eval_days * fleet_size)
_missed_diffs = [TUNED.selected_trials(b)["missed_per_bus"].to_numpy()
                 - TUNED.selected_trials(OURS)["missed_per_bus"].to_numpy()
                 for b in BASELINES_TUNED if b in LEARNED]
_dof = sum(len(d) - 1 for d in _missed_diffs)
MISSED_SD = (float(np.sqrt(sum(((d - d.mean()) ** 2).sum() for d in _missed_diffs) / _dof)
                   * np.sqrt(eval_days / final_eval_days)) if _dof > 0 else float("nan"))
MISSED_TOLERANCE = max(1.96 * MISSED_SD, MISSED_RESOLUTION) if np.isfinite(MISSED_SD) else MISSED_RESOLUTION
def at_grid_edge(method: str) -> list[str]:
    """The knobs whose selected value is the first or last value of their grid."""
    grids = {name: dim.values for name, dim in SPACES[method].dims.items()}
    return [k for k, v in TUNED.selected[method].items() if len(grids[k]) > 1 and v in (grids[k][0], grids[k][-1])]


# the rule's grid starts at SoC_min (0.2); a threshold below it, outside the grid, on the same validation days
RULE_BELOW_GRID = {t: validation_point(Rule(threshold=t, cheap="cheapest"), fleet_size)["eval_penalised_cost"]
                   for t in (0.15, 0.2)}
display(prose([f"- {b} − {OURS}: {p.describe(EFFECT_OF_INTEREST, len(seeds))}" for b, p in PILOTS.items()] +
              [f"- the seed count is the contract's {len(seeds)}, not the pilot's: the pilot's spreads rest on "
               f"{len(tuning_seeds)} tuning seeds"] +
              [f"- the rule's grid starts at SoC_min; below it, threshold 0.15 costs "
               f"{RULE_BELOW_GRID[0.15]:.3g} on the validation days against {RULE_BELOW_GRID[0.2]:.3g} at 0.2"] +
              [f"- selections at an edge of their grid (the grid may not bracket the best value; the budget is the "
               f"same for every method): " + "; ".join(f"{m_}: {', '.join(at_grid_edge(m_))}" for m_ in TUNED.selected
                                                       if at_grid_edge(m_))] +
              [f"- tolerance of C1e (missed trips per bus and day): {MISSED_TOLERANCE:.3g} (1.96 × the paired sd "
               f"on the tuning seeds, scaled to the test days, {MISSED_SD:.3g}; resolution {MISSED_RESOLUTION:.3g})"]))

# %% [markdown]
# ## Results
#
# ### Training curves (penalised daily cost per bus on the validation days)

# %%
curve = MAIN[MAIN["metric"] == "eval_penalised_cost"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, late in zip(axes, (False, True)):
    sel = curve[curve["step"] >= updates // 2] if late else curve
    sns.lineplot(data=sel, x="step", y="value", hue="method", hue_order=methods, style="method",
                 dashes={m: (4, 2) if m == "rule" else "" for m in methods}, ax=ax, legend=not late,
                 **figures.SEEDS_BAND)
    ax.set(xlabel="PPO update", ylabel="penalised cost per bus and day (USD)",
           title=f"updates {updates // 2}–{updates} (zoom)" if late else "whole run")
fig.tight_layout()
figures.save_figure(fig, "training", f"Penalised daily cost per bus on the {eval_days} validation days vs PPO "
                    f"update, M = {fleet_size} ({figures.band_caption()}; dashed: the tuned rule, no training); "
                    "right: the second half of the run.", **SAVE)
plt.show()

# %% [markdown]
# **Plateau check.** For every learned method, the IQM over seeds of the validation cost at the last evaluation and
# at the evaluation closest to 75 % of the run; a method whose cost still fell by more than `PLATEAU_TOLERANCE` over
# the last quarter is flagged as still improving (its comparison is then made before convergence).

# %%
PLATEAU_TOLERANCE = 0.02    # relative fall of the validation cost over the last quarter that counts as improving


def validation_curve(method: str, m: int = fleet_size) -> pd.DataFrame:
    """Rows of the training curve (validation cost per seed and evaluated update) of one method at fleet size m."""
    return RUNS[(RUNS["method"] == method) & (RUNS["fleet_size"] == m) & (RUNS["metric"] == "eval_penalised_cost")]


def last_quarter(curve: pd.DataFrame) -> tuple[int, int, float, float, float]:
    """(update at 3/4 of the run, last update, IQM cost at each, relative fall between them) of a curve frame."""
    steps = np.sort(curve["step"].unique())
    last, three_quarters = steps[-1], steps[np.argmin(np.abs(steps - 0.75 * steps[-1]))]
    at = {s: float(stats.iqm(curve[curve["step"] == s].sort_values("seed")["value"].to_numpy())) for s in
          (three_quarters, last)}
    # fall = (cost at 3/4 − cost at the end) / |cost at 3/4|
    fall = (at[three_quarters] - at[last]) / abs(at[three_quarters])
    return int(three_quarters), int(last), at[three_quarters], at[last], fall


def plateau_row(meth: str, m: int = fleet_size) -> dict:
    three_quarters, last, cost_there, cost_end, fall = last_quarter(validation_curve(meth, m))
    return {"method": meth, "M": m, "updates": last, "update at 3/4 of the run": three_quarters,
            "cost there": f"{cost_there:.3g}", "cost at the end": f"{cost_end:.3g}",
            "fall over the last quarter": f"{100 * fall:.1f} %",
            "still improving": "yes" if fall > PLATEAU_TOLERANCE else "no", "_fall": fall}


PLATEAU = pd.DataFrame([plateau_row(meth, mm) for mm in [fleet_size, *scaling_fleet_sizes]
                        for meth in (methods if mm == fleet_size else SCALING_METHODS) if meth != "rule"])
display(table(PLATEAU.drop(columns="_fall"), f"IQM over seeds of the validation cost (USD per bus and day); "
              f"threshold {100 * PLATEAU_TOLERANCE:g} %."))

# %% [markdown]
# ### Held-out days (Table analogue): cost, missed and late trips, SoC violations, conflicts

# %%
TABLE_METRICS = {"final_cost_per_bus": "energy bought (USD)", "final_end_value_per_bus": "end-of-day value (USD)",
                 "final_missed_per_bus": "missed trips", "final_late_per_bus": "late trip-steps",
                 "final_soc_shortfall_per_bus": "SoC shortfall (step sum)", "final_conflicts_per_bus": "conflicts",
                 "final_penalised_cost_per_bus": "penalised cost (USD)"}
BOUND = RUNS[RUNS["metric"] == "bound_penalised_cost_per_bus"].sort_values("test_day")["value"].to_numpy()


def gap_to_bound(method: str) -> np.ndarray:
    """Per seed: mean over the MILP-solved test days of (penalised cost − perfect-information bound), per bus."""
    sel = RUNS[(RUNS["method"] == method) & (RUNS["metric"] == "test_day_penalised_cost_per_bus")]
    costs = sel.pivot(index="seed", columns="test_day", values="value").sort_index()
    return stats.Sample((costs.to_numpy() - BOUND[None, :]).mean(axis=1), f"gap to the MILP bound of {method}")


def cost(method: str, m: int = fleet_size, among: list[int] | None = None) -> np.ndarray:
    """Per seed: penalised daily cost per bus on the test days."""
    return per_seed("final_penalised_cost_per_bus", method, m, among)


GAP_LABEL = f"gap to MILP bound (USD, {bound_days} test days)"
TABLE = pd.DataFrame([{"method": meth, **{label: fmt(per_seed(metric, meth)) for metric, label in
                                          TABLE_METRICS.items()},
                       GAP_LABEL: fmt(gap_to_bound(meth)) if bound_days else "—"} for meth in methods])
bound_text = (f"The perfect-information MILP bound on the first {bound_days} test days is "
              f"{', '.join(f'{b:.3g}' for b in BOUND)} USD per bus (stopped at a relative gap ≤ {bound_mip_gap:g}; "
              f"statuses {sorted({b['status'] for b in BOUNDS})}, 0 = stopped by the gap)." if bound_days else "")
display(table(TABLE, f"Per bus and day, mean over {final_eval_days} test days, IQM over {len(seeds)} seeds [95 % CI], "
                     f"M = {fleet_size}. Penalised cost = energy bought − end-of-day value + penalties. {bound_text}"))

# %% [markdown]
# **Where the penalised cost comes from.** Energy bought minus the end-of-day value is what the fleet pays for
# electricity; the rest are the penalties. The conflict penalty has no physical cost (a request that loses a charger
# is simply not served) and is reconstructed, so C1f repeats C1d without it.

# %%
_w = fleet_config(fleet_size)
DECOMPOSITION = pd.DataFrame([{
    "method": meth,
    "net energy (USD)": fmt(per_seed("final_cost_per_bus", meth) - per_seed("final_end_value_per_bus", meth)),
    "late (USD)": fmt(_w.w_late * per_seed("final_late_per_bus", meth)),
    "missed (USD)": fmt(_w.w_miss * per_seed("final_missed_per_bus", meth)),
    "SoC shortfall (USD)": fmt(_w.w_soc * per_seed("final_soc_shortfall_per_bus", meth)),
    "conflicts (USD)": fmt(_w.w_conflict * per_seed("final_conflicts_per_bus", meth)),
    "penalised cost (USD)": fmt(cost(meth))} for meth in methods])
display(table(DECOMPOSITION, f"Per bus and day on the test days, IQM over {len(seeds)} seeds [95 % CI], "
                             f"M = {fleet_size}; the columns are IQMs of their own, so they need not add up."))

# %% [markdown]
# ### Twice the training: do the comparisons move?
#
# The main runs of seeds `long_seeds` go on to `long_factor` × `updates` PPO updates (their
# first `updates` updates are the reported runs themselves: nothing in training depends on the run's length). For
# every learned method, the table gives the test cost at the reported budget and at the end of the long run, and
# whether the long run's validation cost still falls by more than `PLATEAU_TOLERANCE` over its last quarter; the
# second table gives each comparison of the claims (baseline − ours) at both budgets on these seeds. Two seeds carry
# no verdict: they say whether the verdicts at `updates` updates would likely change with more training.

# %%
LONG_METHODS = [meth for meth in methods if meth != "rule"] if long_seeds else []


def long_cost(method: str) -> np.ndarray:
    """Per long seed: penalised test cost per bus at the end of the long run (the rule does not train: its cost)."""
    if method == "rule":
        return cost("rule", among=long_seeds)
    return per_seed("long_final_penalised_cost_per_bus", method)


def long_row(meth: str) -> dict:
    curve_ = RUNS[(RUNS["method"] == meth) & (RUNS["metric"] == "long_eval_penalised_cost")]
    three_quarters, last, cost_there, cost_end, fall = last_quarter(curve_)
    short = cost(meth, among=long_seeds)
    return {"method": meth, f"test cost after {updates} updates": ", ".join(f"{x:.3g}" for x in short),
            f"after {last} updates": ", ".join(f"{x:.3g}" for x in long_cost(meth)),
            f"validation fall, updates {three_quarters} → {last}": f"{100 * fall:.1f} %",
            "still improving": "yes" if fall > PLATEAU_TOLERANCE else "no", "_fall": fall}


LONG_TABLE = pd.DataFrame([long_row(meth) for meth in LONG_METHODS])
COMPARISONS = {"C1a": "dac-mappo", "C1b": "dac-single-low", "C1c": "flat-mappo", "C1d": "rule",
               "A1": "dac-fixed-beta"}


def long_difference(baseline: str) -> tuple[np.ndarray, np.ndarray]:
    """Per long seed: cost(baseline) − cost(ours) after `updates` and after long_factor × updates."""
    return (cost(baseline, among=long_seeds) - cost(OURS, among=long_seeds),
            long_cost(baseline) - long_cost(OURS))


LONG_COMPARISONS = pd.DataFrame([
    {"claim": cid, "baseline − DAC-MAPPO-E": f"{b} − {OURS}",
     f"after {updates} updates": ", ".join(f"{x:+.3g}" for x in long_difference(b)[0]),
     f"after {long_factor * updates} updates": ", ".join(f"{x:+.3g}" for x in long_difference(b)[1])}
    for cid, b in COMPARISONS.items() if b in methods and LONG_METHODS])
if LONG_METHODS:
    display(table(LONG_TABLE.drop(columns="_fall"), f"Seeds {long_seeds}, M = {fleet_size}: test costs per seed "
                  f"(USD per bus and day); the fall is of the IQM validation cost over the long run's last quarter "
                  f"(threshold {100 * PLATEAU_TOLERANCE:g} %)."))
    display(table(LONG_COMPARISONS, f"Cost differences per seed (USD per bus and day; > 0: ours is cheaper), seeds "
                                    f"{long_seeds}."))
    fig, ax = plt.subplots(figsize=(8, 4))
    long_curves = RUNS[RUNS["metric"] == "long_eval_penalised_cost"]
    sns.lineplot(data=long_curves, x="step", y="value", hue="method", hue_order=LONG_METHODS, ax=ax,
                 **figures.SEEDS_BAND)
    ax.axvline(updates, color="grey", lw=0.8, ls=":")
    if "rule" in methods:
        ax.axhline(float(validation_curve("rule")["value"].mean()), color="black", lw=1, ls="--",
                   label="rule (tuned)")
        ax.legend()
    ax.set(xlabel="PPO update", ylabel="penalised cost per bus and day (USD)")
    fig.tight_layout()
    figures.save_figure(fig, "long_training", f"Validation cost of the runs of seeds {long_seeds} continued to "
                        f"{long_factor * updates} updates, M = {fleet_size} ({figures.band_caption()}); dotted: the "
                        f"reported budget, {updates} updates; dashed: the tuned rule.", **SAVE)
    plt.show()

# %% [markdown]
# ### Options: how long they last, how often they terminate, what they cost in conflicts

# %%
OPTION_METRICS = {"option_change_rate": "option changes per terminal bus-step",
                  "mean_beta": "mean β at the terminal", "charging_spell_steps": "charging spell (steps)",
                  "conflicts_per_request": "conflicts per charger request",
                  "final_conflicts_per_bus": "conflicts per bus and day"}
def measured(metric: str, method: str) -> bool:
    return bool(((RUNS["metric"] == metric) & (RUNS["method"] == method) & (RUNS["fleet_size"] == fleet_size)).any())


OPTIONS_TABLE = pd.DataFrame([{"method": meth, **{label: fmt(per_seed(metric, meth)) if measured(metric, meth) else "—"
                                                  for metric, label in OPTION_METRICS.items()}} for meth in methods])
display(table(OPTIONS_TABLE, f"Test days, M = {fleet_size}, IQM over {len(seeds)} seeds [95 % CI]. A bus-step at "
                             "the terminal is one bus at the terminal in one 15-minute step; β is the termination "
                             "probability of DAC's options (1 for the fixed-β ablation, none for flat MAPPO and the "
                             "rule)."))

# %% [markdown]
# ### Scalability with the fleet size: cost, actor size, computation

# %%
scal = RUNS[RUNS["method"].isin(SCALING_METHODS) & (RUNS["metric"] == "final_penalised_cost_per_bus")
            & RUNS["seed"].isin(scaling_seeds)]
SECONDS = pd.DataFrame([{"method": r["method"], "fleet_size": r["m"], "seed": r["seed"],
                         "seconds_per_update": r["timing"]["seconds_per_update"]} for r in RESULTS
                        if r["method"] in LEARNED and (r["seed"] in scaling_seeds or r["m"] == fleet_size)])
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
sns.lineplot(data=scal, x="fleet_size", y="value", hue="method", marker="o", ax=axes[0], **figures.SEEDS_BAND)
axes[0].set(xlabel="fleet size M", ylabel="test penalised cost per bus (USD)")
sns.lineplot(data=COMPLEXITY, x="m", y="high_parameters", hue="method", style="method", markers=True, ax=axes[1],
             legend=False)
axes[1].set(xlabel="fleet size M", ylabel="high-level actor parameters", yscale="log")
sns.lineplot(data=COMPLEXITY, x="m", y="train_flops_per_step", hue="method", style="method", markers=True,
             ax=axes[2])
axes[2].set(xlabel="fleet size M", ylabel="training FLOPs per simulated step", yscale="log")
fig.tight_layout()
figures.save_figure(fig, "scalability", f"Scalability: test-day penalised cost per bus at M = {fleet_size} and "
                    f"{scaling_fleet_sizes} (seeds {scaling_seeds}, {figures.band_caption()}); high-level actor parameters "
                    "(flat-mappo: its one actor) and "
                    "training FLOPs per simulated step (forward + backward of both levels and the critic), counted "
                    "at initialisation, vs fleet size.", **SAVE)
plt.show()

scaling_table = pd.DataFrame([
    {"method": meth, "M": mm,
     "penalised cost (USD)": fmt(cost(meth, mm, scaling_seeds))
     if mm in (fleet_size, *scaling_fleet_sizes) and meth in SCALING_METHODS else "—",
     "high-level actor parameters": int(row["high_parameters"]),
     "actor parameters (high + low)": int(row["actor_parameters"]),
     "acting FLOPs / step": f"{row['act_flops_per_step']:.3g}",
     "training FLOPs / step": f"{row['train_flops_per_step']:.3g}",
     "s / update (wall clock)": (f"{SECONDS.query('method == @meth and fleet_size == @mm')['seconds_per_update'].median():.3g}"
                                 if len(SECONDS.query('method == @meth and fleet_size == @mm')) else "—")}
    for mm in complexity_fleet_sizes for meth, row in COMPLEXITY[COMPLEXITY["m"] == mm].set_index("method").iterrows()]
    # the trained scaling fleet sizes where no FLOPs were counted: costs and wall clock only
    + [{"method": meth, "M": mm, "penalised cost (USD)": fmt(cost(meth, mm, scaling_seeds)),
        "s / update (wall clock)": f"{SECONDS.query('method == @meth and fleet_size == @mm')['seconds_per_update'].median():.3g}"}
       for mm in scaling_fleet_sizes if mm not in complexity_fleet_sizes for meth in SCALING_METHODS]
).sort_values(["M", "method"], kind="stable").astype(object).fillna("—")
display(table(scaling_table, f"Costs: per bus and day on the test days, IQM over seeds {scaling_seeds} [95 % CI]. "
                             "Parameters and FLOPs: counted, deterministic. Seconds per update: medians on the "
                             "machine that trained (wall clock, not seeded: kept apart from the results)."))

# %% [markdown]
# ### Test day 0 under DAC-MAPPO-E: charger use, SoC and price

# %%
trained = next((r for r in RESULTS if r["method"] == OURS and r["m"] == fleet_size and r["state"] is not None), None)
if trained is not None:
    agent = make_agent(OURS, fleet_size, trained["seed"])
    agent.load_state_dict(trained["state"])
    _n, _seed = held_out_days(fleet_size, "test")   # test day 0 (the trace records the first day of the batch)
    day = play_day(agent, EBFleetCore(fleet_config(fleet_size), _n, seed=_seed),
                   torch.Generator().manual_seed(derive_seed("ebus-gantt", fleet_size)), record=True)["trace"]
    _c = fleet_config(fleet_size)
    hours = np.array([p["t"] for p in day]) * _c.step_hours
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [1, 2, 1.2]})
    axes[0].step(hours, [p["price"] for p in day], where="post", color="k")
    axes[0].axhline(_c.end_price, color="g", ls=":")
    axes[0].set(ylabel="price (USD/kWh)")
    soc = np.array([p["soc"] for p in day])
    colours = sns.color_palette(n_colors=fleet_size)
    for i in range(fleet_size):   # the SoC recorded after step t is the SoC at time t + Δt
        axes[1].plot(np.concatenate([[0.0], hours + _c.step_hours]), np.concatenate([[day[0]["soc_morning"][i]],
                                                                                     soc[:, i]]), lw=1,
                     color=colours[i])
        axes[1].plot([hours[-1] + 2 * _c.step_hours], [day[0]["soc_morning"][i]], marker="<", color=colours[i])
    axes[1].axhline(_c.soc_min, color="r", ls=":")
    axes[1].set(ylabel="SoC")
    holder = np.array([p["holder"] for p in day])
    for c in range(holder.shape[1]):
        for t, bus in enumerate(holder[:, c]):
            if bus >= 0:
                axes[2].broken_barh([(hours[t], 0.25)], (c + 1 - 0.4, 0.8), color=colours[bus])
    axes[2].set(ylabel="charger", xlabel="hour of day", yticks=range(1, holder.shape[1] + 1))
    fig.tight_layout()
    figures.save_figure(fig, "day", f"Test day 0 (M = {fleet_size}) under DAC-MAPPO-E (seed {trained['seed']}): "
                        "price (dotted green: p_end, the price at which the end-of-day charge is valued); every "
                        "bus's SoC (dotted red: SoC_min; triangles at the right: the bus's morning SoC, the level "
                        "against which its end-of-day charge is valued); and which bus holds each charger 1..K "
                        "(colours = buses, as in the SoC panel).", **SAVE)
    plt.show()

# %% [markdown]
# ## Claims
#
# The claims of the abstract, with the tests declared before the data. Costs are penalised daily costs per bus on the
# test days. Every method is trained on the same seeds and evaluated on the same validation and test days, so the
# comparisons are **paired**: the statistic is the IQM of per-seed differences (each seed's value is its mean over the
# same test days), with a 95 % bootstrap CI that resamples seeds (`hrlkit.claims`): verdicts are conditional on
# these test days, which every method shares. A learned baseline carries a verdict only if it learns
# (**precondition**: the per-seed fall of its validation cost from before training to the end has a 95 % CI above
# 0, and its final validation cost is below that of a trivial policy, charging whenever the tariff is below the
# peak); otherwise the row is untestable. A row whose methods were still improving at the end says so in its note:
# its verdict holds at this training budget (`updates` PPO updates, the same for every method), not at convergence.
#
# **Declared and post hoc.** The declared rows keep the paper's sentence, the statistic and the threshold (0) of the
# first version of this notebook; later versions changed the design under them (a tuned rule, the centralised baseline
# renamed and rebuilt as DAC prescribes, budgets growing with M, ten seeds) before this run. Rows marked post hoc
# were added or redefined later, after earlier results had been seen: they are shown, and never replace a declared
# verdict. A row tested on fewer than `MIN_SEEDS` seeds is untestable: a bootstrap over so few seeds
# returns the range of the values, not a confidence interval.

# %%
MIN_SEEDS = 5            # fewest seeds a comparison needs to carry a verdict
DECLARED_TOLERANCE = 0.05  # C1e's tolerance in the first version (missed trips per bus and day)
AT_BUDGET = f"after {updates} PPO updates (M = {fleet_size})"
CLAIMS = ClaimsTable([
    Claim("C1a", "The attention-based decentralised high-level actor (\"E\") lowers the cost: DAC-MAPPO-E vs "
          "DAC-MAPPO with a centralised high-level actor",
          f"penalised daily cost per bus, test days, {AT_BUDGET}",
          "IQM over seeds of cost(dac-mappo) − cost(DAC-MAPPO-E)",
          threshold=0.0, direction=">", precondition="dac-mappo learns"),
    Claim("C1b", "DAC-MAPPO-E reaches a lower cost than DAC with a single-agent low level",
          f"penalised daily cost per bus, test days, {AT_BUDGET}",
          "IQM over seeds of cost(dac-single-low) − cost(DAC-MAPPO-E)",
          threshold=0.0, direction=">", precondition="dac-single-low learns"),
    Claim("C1c", "DAC-MAPPO-E reaches a lower cost than flat (option-free) MAPPO",
          f"penalised daily cost per bus, test days, {AT_BUDGET}",
          "IQM over seeds of cost(flat-mappo) − cost(DAC-MAPPO-E)",
          threshold=0.0, direction=">", precondition="flat-mappo learns"),
    Claim("C1d", "DAC-MAPPO-E reaches a lower cost than rule-based charging (tuned)",
          f"penalised daily cost per bus, test days, {AT_BUDGET}",
          "IQM over seeds of cost(rule) − cost(DAC-MAPPO-E)", threshold=0.0, direction=">"),
    Claim("C1f", "… also on the operating cost alone: energy, end-of-day value, late and missed trips and SoC "
          "shortfall, without the (reconstructed) charger-conflict penalty",
          f"penalised daily cost minus w_conf × conflicts, per bus, test days, {AT_BUDGET}",
          "IQM over seeds of operating cost(rule) − operating cost(DAC-MAPPO-E)", threshold=0.0, direction=">",
          post_hoc=True),
    Claim("C1e", "… with no more missed trips than the baselines", "missed trips per bus and day, test days",
          "IQM over seeds of missed(DAC-MAPPO-E) − missed(baseline with the fewest)", threshold=DECLARED_TOLERANCE,
          direction="<"),
    Claim("C1e-noise", "… with no more missed trips than the baselines (tolerance from measured noise)",
          "missed trips per bus and day, test days; tolerance from the tuning seeds' spread",
          "IQM over seeds of missed(DAC-MAPPO-E) − missed(baseline with the fewest)", threshold=MISSED_TOLERANCE,
          direction="<", post_hoc=True),
    Claim("C2a", "The attention-based decentralised high-level actor keeps the network size independent of M",
          "high-level actor parameters at the largest vs the smallest fleet size",
          "params(M_max) / params(M_min) of DAC-MAPPO-E", threshold=1.1, direction="<"),
    Claim("C2b", "… and still trains at the largest fleet, where the centralised DAC actor fails or slows",
          "penalised daily cost per bus at the largest M (updates ∝ M)",
          "IQM over scaling seeds of cost(dac-mappo) − cost(DAC-MAPPO-E)", threshold=0.0, direction=">",
          precondition="DAC-MAPPO-E learns at the largest M, and at least MIN_SEEDS scaling seeds"),
    Claim("C2b-scale", "… the centralised actor falls further behind as M grows",
          f"penalised daily cost per bus at M = {fleet_size} and at the largest M (updates ∝ M), scaling seeds",
          "IQM over scaling seeds of the gap cost(dac-mappo) − cost(DAC-MAPPO-E) at the largest M minus the same "
          f"gap at M = {fleet_size}", threshold=0.0, direction=">",
          precondition="both methods learn at the largest M, and at least MIN_SEEDS scaling seeds", post_hoc=True),
    Claim("C3", "The MAPPO low level converges faster than a single-agent low level",
          "PPO updates until the validation cost first falls below the tuned rule's (never: run length + eval_every)",
          "IQM over seeds of updates(dac-single-low) − updates(DAC-MAPPO-E)", threshold=0.0, direction=">",
          precondition="at least one of the two beats the tuned rule on the validation days in some seed"),
    Claim("C3b", "… measured over the whole run: the MAPPO low level learns faster",
          "mean validation cost over the evaluations after update 0 (area under the training curve)",
          "IQM over seeds of area(dac-single-low) − area(DAC-MAPPO-E)", threshold=0.0, direction=">", post_hoc=True),
    Claim("C4", "The MAPPO low level reduces computational complexity",
          "training FLOPs per simulated step, a single-agent low level against MAPPO's",
          "FLOPs(dac-single-low) / FLOPs(DAC-MAPPO-E)", threshold=1.0, direction=">", post_hoc=True),
    Claim("A1", "Learned termination lowers the cost: DAC-MAPPO-E vs the same with β ≡ 1 (μ still sees each "
          "bus's charging flag and the chargers' occupancy, so it can repeat an option by itself)",
          f"penalised daily cost per bus, test days, {AT_BUDGET}",
          "IQM over seeds of cost(dac-fixed-beta) − cost(DAC-MAPPO-E)",
          threshold=0.0, direction=">", post_hoc=True),
    *[Claim(f"{cid}-op", f"{sentence} — on the operating cost, without the (reconstructed) charger-conflict penalty",
            f"penalised daily cost minus w_conf × conflicts, per bus, test days, {AT_BUDGET}",
            f"IQM over seeds of operating cost({baseline}) − operating cost(DAC-MAPPO-E)", threshold=0.0,
            direction=">", post_hoc=True, precondition=f"{baseline} learns")
      for cid, baseline, sentence in [("C1a", "dac-mappo", "C1a"), ("C1c", "flat-mappo", "C1c"),
                                      ("A1", "dac-fixed-beta", "A1")]],
    Claim("H1", "Superior performance on real-world data", "—", "—", threshold=0.0, direction=">"),
])


# the trivial policy a learned baseline must beat to carry a comparison: charge whenever the tariff is below the
# peak (the naive charging rule), dispatch at SoC >= 0.3
TRIVIAL = Rule(threshold=0.3, cheap="below-peak")
TRIVIAL_VALIDATION = {mm: validation_point(TRIVIAL, mm)["eval_penalised_cost"]
                      for mm in (fleet_size, *scaling_fleet_sizes)}


def final_validation(method: str, m: int = fleet_size) -> np.ndarray:
    """Per seed: the validation cost at the last evaluation of the training curve."""
    sel = validation_curve(method, m)
    return sel[sel["step"] == sel["step"].max()].sort_values("seed")["value"].to_numpy()


def learns(method: str, m: int = fleet_size) -> tuple[bool, str]:
    """Whether a learned method learns at the budget: the per-seed fall of its validation cost over training
    (before training − end) has a 95 % bootstrap CI above 0, and its validation cost at the end (IQM over seeds)
    is below the trivial policy's."""
    sel = validation_curve(method, m)
    start = sel[sel["step"] == 0].sort_values("seed")["value"].to_numpy()
    end = final_validation(method, m)
    fall, (lo, hi) = stats.bootstrap_ci(start - end)
    final = float(stats.iqm(end))
    return lo > 0 and final < TRIVIAL_VALIDATION[m], (
        f"{method} at M = {m}: validation cost falls by {fall:.3g} [{lo:.3g}, {hi:.3g}] over training (IQM over "
        f"seeds, 95 % CI) to {final:.3g}; the trivial policy (charge below the peak tariff) costs "
        f"{TRIVIAL_VALIDATION[m]:.3g}")


STILL_IMPROVING = set(PLATEAU.loc[PLATEAU["still improving"] == "yes", "method"] + "@" +
                      PLATEAU.loc[PLATEAU["still improving"] == "yes", "M"].astype(str))


def note_if_improving(cid: str, pair: tuple[str, str], m: int = fleet_size) -> None:
    """Notes a comparison's methods still improving at the end, and (main fleet) its differences after twice the
    training on the long seeds."""
    if CLAIMS[cid].verdict == "untestable":
        return
    improving = [meth for meth in pair if f"{meth}@{m}" in STILL_IMPROVING]
    if improving:
        CLAIMS[cid].note += f"; still improving at the end of training: {', '.join(improving)}"
    if m == fleet_size and LONG_METHODS and cid in COMPARISONS:
        short, long_ = long_difference(COMPARISONS[cid])
        CLAIMS[cid].note += (f"; seeds {long_seeds} after {long_factor * updates} instead of {updates} updates: "
                             f"{', '.join(f'{x:+.3g}' for x in long_)} (were {', '.join(f'{x:+.3g}' for x in short)})")


for cid, baseline in [("C1a", "dac-mappo"), ("C1b", "dac-single-low"), ("C1c", "flat-mappo"), ("C1d", "rule")]:
    if baseline not in methods:
        CLAIMS[cid].untestable(f"needs {baseline} in `methods`")
    elif baseline == "rule" or CLAIMS[cid].require(*learns(baseline)):
        CLAIMS[cid].compare(cost(baseline), cost(OURS), (baseline, OURS))
        note_if_improving(cid, (baseline, OURS))


def operating_cost(method: str) -> np.ndarray:
    # penalised cost − w_conf · conflicts (per bus and day, per seed)
    penalty = fleet_config(fleet_size).w_conflict * per_seed("final_conflicts_per_bus", method)
    return stats.Sample(cost(method) - penalty, f"operating cost of {method}")


if "rule" in methods:
    CLAIMS["C1f"].compare(operating_cost("rule"), operating_cost(OURS), ("rule", OURS))
    note_if_improving("C1f", ("rule", OURS))
else:
    CLAIMS["C1f"].untestable("needs rule in `methods`")
baselines = [b for b in methods if b not in (OURS, "dac-fixed-beta")]
if baselines:
    # the baseline with the fewest missed trips (IQM; ties: the lowest mean)
    best = min(baselines, key=lambda b: (float(stats.iqm(per_seed("final_missed_per_bus", b))),
                                         float(np.mean(per_seed("final_missed_per_bus", b)))))
    CLAIMS["C1e-noise"].compare(per_seed("final_missed_per_bus", OURS), per_seed("final_missed_per_bus", best),
                                (OURS, best))
    worst_rate = max(float(per_seed("final_missed_per_bus", meth).max()) for meth in methods)
    # the first version's tolerance could not fail: it lies far above every observed missed-trip rate
    CLAIMS["C1e"].untestable(
        f"the declared tolerance {DECLARED_TOLERANCE} missed trips per bus and day is "
        + (f"{DECLARED_TOLERANCE / worst_rate:.3g} times the largest per-seed rate of any method ({worst_rate:.3g})"
           if worst_rate > 0 else "above every observed rate (no method missed a trip)")
        + ", so no outcome seen for any method could make the row fail; C1e-noise tests it with a tolerance from the tuning seeds' noise")
else:
    CLAIMS["C1e"].untestable("needs at least one baseline")
    CLAIMS["C1e-noise"].untestable("needs at least one baseline")

params_at = COMPLEXITY.set_index(["method", "m"])["high_parameters"]
sizes = sorted(complexity_fleet_sizes)
size_ratio = {meth: params_at[(meth, sizes[-1])] / params_at[(meth, sizes[0])]
              for meth in COMPLEXITY["method"].unique()}
# a parameter count of our own architecture cannot fail: it is a fact, and the claim row says so
SIZE_FACT = Fact("F1", f"high-level actor parameters of DAC-MAPPO-E at M = {sizes[-1]} / at M = {sizes[0]}",
                 float(size_ratio[OURS]), "by construction",
                 note="; ".join(f"{meth}: {r:.3g}" for meth, r in size_ratio.items() if meth != OURS)
                 + " (flat-mappo: its one actor); the MAPPO low level's one-hot bus id grows with M")
CLAIMS["C2a"].untestable(f"holds by construction of the attention actor (fact F1: ratio {size_ratio[OURS]:.3g}); "
                         "not a test")
if scaling_fleet_sizes and "dac-mappo" in methods:
    largest = max(scaling_fleet_sizes)
    # the gap dac-mappo − ours at the largest M and at the main fleet size, per scaling seed (paired)
    GAP_LARGEST = cost("dac-mappo", largest, scaling_seeds) - cost(OURS, largest, scaling_seeds)
    GAP_MAIN = cost("dac-mappo", fleet_size, scaling_seeds) - cost(OURS, fleet_size, scaling_seeds)
    enough_seeds = (len(scaling_seeds) >= MIN_SEEDS, f"{len(scaling_seeds)} scaling seeds < MIN_SEEDS = {MIN_SEEDS}")
    if CLAIMS["C2b"].require(*learns(OURS, largest)) and CLAIMS["C2b"].require(*enough_seeds):
        CLAIMS["C2b"].compare(cost("dac-mappo", largest, scaling_seeds), cost(OURS, largest, scaling_seeds),
                              ("dac-mappo", OURS))
        note_if_improving("C2b", ("dac-mappo", OURS), largest)
        CLAIMS["C2b"].note += ("; a level difference (C1a at a larger fleet): C2b-scale tests whether the gap grows "
                               "with M")
    if (CLAIMS["C2b-scale"].require(*learns(OURS, largest))
            and CLAIMS["C2b-scale"].require(*learns("dac-mappo", largest))
            and CLAIMS["C2b-scale"].require(*enough_seeds)):
        CLAIMS["C2b-scale"].compare(GAP_LARGEST, GAP_MAIN, (f"gap at M = {largest}", f"gap at M = {fleet_size}"))
        note_if_improving("C2b-scale", ("dac-mappo", OURS), largest)
    for cid in ("C2b", "C2b-scale"):
        CLAIMS[cid].note += ("; the previous version ran M = 16 on 3 seeds, where the gap shrank from the main fleet "
                             "size; M = 12 on 5 seeds replaced it for the time budget after that result was seen")
else:
    GAP_LARGEST = None
    for cid in ("C2b", "C2b-scale"):
        CLAIMS[cid].untestable("needs a scaling fleet size and dac-mappo in `methods`")

RULE_VALIDATION = (float(validation_curve("rule")["value"].mean())
                   if "rule" in methods else float("nan"))


def updates_to_beat_rule(method: str) -> np.ndarray:
    """Per seed: first evaluated update whose validation cost is below the tuned rule's (run length + eval_every if
    never)."""
    out = []
    for s in seeds:
        sel = validation_curve(method)
        sel = sel[sel["seed"] == s]
        below = sel[sel["value"] < RULE_VALIDATION]["step"]
        out.append(float(below.min()) if len(below) else float(updates + eval_every))
    return stats.Sample(out, f"updates to beat the rule of {method}")


def curve_area(method: str) -> np.ndarray:
    """Per seed: mean validation cost over the evaluations after update 0."""
    sel = validation_curve(method)
    sel = sel[sel["step"] > 0]
    return stats.Sample(sel.groupby("seed")["value"].mean().sort_index().to_numpy(), f"curve area of {method}")


flops_at = COMPLEXITY.set_index(["method", "m"])["train_flops_per_step"]
if {"dac-single-low", "rule"} <= set(methods):
    to_beat = {meth: updates_to_beat_rule(meth) for meth in ("dac-single-low", OURS)}
    if CLAIMS["C3"].require(any((v <= updates).any() for v in to_beat.values()),
                            f"neither DAC-MAPPO-E nor dac-single-low reaches the tuned rule's validation cost "
                            f"{RULE_VALIDATION:.3g} within {updates} updates in any seed"):
        CLAIMS["C3"].compare(to_beat["dac-single-low"], to_beat[OURS], ("dac-single-low", OURS))
else:
    CLAIMS["C3"].untestable("needs dac-single-low and rule in `methods`")
if "dac-single-low" in methods:
    CLAIMS["C3b"].compare(curve_area("dac-single-low"), curve_area(OURS), ("dac-single-low", OURS))
    CLAIMS["C4"].untestable(
        f"both low levels here output one power choice per bus (the single-agent one from one network over the whole "
        f"state), so their training FLOPs are equal by construction (fact F5: {flops_at[('dac-single-low', fleet_size)] / flops_at[(OURS, fleet_size)]:.3g}); "
        "a single-agent low level over the joint 4^M power space was not built: a design choice of this reproduction, "
        "not a limit of scale (4^4 = 256 joint actions at M = 4); fact F8 gives the computation of E against the "
        "centralised actor")
else:
    CLAIMS["C3b"].untestable("needs dac-single-low in `methods`")
    CLAIMS["C4"].untestable("needs dac-single-low in `methods`")
if "dac-fixed-beta" in methods:
    CLAIMS["A1"].compare(cost("dac-fixed-beta"), cost(OURS), ("dac-fixed-beta", OURS))
    note_if_improving("A1", ("dac-fixed-beta", OURS))
    CLAIMS["A1"].note += (f"; charging spells {fmt(per_seed('charging_spell_steps', OURS))} steps (ours) vs "
                          f"{fmt(per_seed('charging_spell_steps', 'dac-fixed-beta'))} (β ≡ 1); A1-op removes the "
                          "conflict penalty")
else:
    CLAIMS["A1"].untestable("needs dac-fixed-beta in `methods`")
for cid, baseline in [("C1a", "dac-mappo"), ("C1c", "flat-mappo"), ("A1", "dac-fixed-beta")]:
    if baseline not in methods:
        CLAIMS[f"{cid}-op"].untestable(f"needs {baseline} in `methods`")
    elif CLAIMS[f"{cid}-op"].require(*learns(baseline)):
        CLAIMS[f"{cid}-op"].compare(operating_cost(baseline), operating_cost(OURS), (baseline, OURS))
        note_if_improving(f"{cid}-op", (baseline, OURS))
CLAIMS["H1"].untestable("the paper's real-world data and numbers are not available; only trends are tested")
display(CLAIMS)

# the verdicts of earlier versions of this notebook (reports/ebus_charging/metrics.json at the commits named), shown
# so that a reader sees what moved and why
FIRST_VERSION = {"C1a": "inconclusive", "C1b": "inconclusive", "C1c": "inconclusive", "C1d": "reproduced",
                 "C1e": "reproduced", "C2a": "untestable", "C2b": "inconclusive", "C3": "reproduced",
                 "H1": "untestable"}                                                        # commit 4c19e7c
PREVIOUS_VERSION = {"C1a": "reproduced", "C1b": "inconclusive", "C1c": "inconclusive", "C1d": "inconclusive",
                    "C1f": "reproduced", "C1e": "reproduced", "C2a": "untestable", "C2b": "untestable",
                    "C3": "inconclusive", "C3b": "inconclusive", "C4": "untestable", "A1": "inconclusive",
                    "H1": "untestable"}                                                     # commit 478dfea
ENTROPY_FIX_VERSION = {"C1a": "reproduced", "C1b": "inconclusive", "C1c": "reproduced", "C1d": "reproduced",
                       "C1f": "reproduced", "C1e": "reproduced", "C2a": "untestable", "C2b": "reproduced",
                       "C3": "inconclusive", "C3b": "inconclusive", "C4": "untestable", "A1": "reproduced",
                       "H1": "untestable"}                                                  # commit da4a2a2
WHAT_CHANGED = {
    "C1a": "the centralised baseline was rebuilt as DAC prescribes; every method tuned with the same budget",
    "C1c": "the entropy bonuses are now averaged over the decisions that have an effect (before: over every "
           "bus-step, so a bus on the road diluted its terminal decisions' bonus)",
    "C1e": "the declared tolerance could not fail: untestable; C1e-noise sets the tolerance from measured noise",
    "C1d": "the rule is tuned on a grid that starts at SoC_min (the previous grid stopped above the rule's best "
           "threshold) and charges only in the cheapest band",
    "C1f": "as C1d",
    "C2a": "a parameter count of our own architecture: a fact (F1), not a test",
    "C2b": "M = 12 on 5 seeds instead of M = 16 on 3 (too few seeds to test); C2b-scale tests the change of the "
           "gap with M",
    "C3": "measured against the tuned rule",
    "A1": "a row added after the first version; the entropy-bonus fix of C1c applies",
}
display(table(pd.DataFrame([{"claim": c.id, "first version": FIRST_VERSION.get(c.id, "(new row)"),
                             "previous version": PREVIOUS_VERSION.get(c.id, "(new row)"),
                             "with the entropy fix": ENTROPY_FIX_VERSION.get(c.id, "(new row)"),
                             "now": c.verdict + (" (post hoc)" if c.post_hoc else ""),
                             "what changed since the first version": WHAT_CHANGED.get(c.id, "")} for c in CLAIMS]),
              "Verdicts of the first version (a straw-man rule, a mislabelled centralised baseline, 5 seeds, an "
              "end-of-day penalty that learned policies could pay instead of charging), of the previous version, "
              "of the version with the entropy-bonus fix (before the rule's grid reached SoC_min and the step size "
              "was tuned on a bracketing grid) and of this one."))

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests: what holds by construction, and what only describes the runs.

# %%
FACTS = FactsTable([f for f in [
    SIZE_FACT,
    Fact("F2", f"perfect-information MILP lower bound, mean over the {bound_days} solved test days (USD per bus)",
         float(np.mean(BOUND)), "descriptive",
         note="every solve stopped by the gap" if all(b["status"] == 0 for b in BOUNDS) else
         "a solve stopped by the time limit: this bound depends on the machine's speed") if bound_days else None,
    Fact("F3", f"penalised cost of the tuned rule on the validation days (USD per bus, M = {fleet_size})",
         RULE_VALIDATION, "descriptive", note=config_text(TUNED.selected["rule"])) if "rule" in methods else None,
    Fact("F4", "option changes per terminal bus-step of DAC-MAPPO-E (test days)",
         *stats.bootstrap_ci(per_seed("option_change_rate", OURS))[:1], "descriptive",
         ci95=stats.bootstrap_ci(per_seed("option_change_rate", OURS))[1],
         note="dac-fixed-beta: " + fmt(per_seed("option_change_rate", "dac-fixed-beta"))
         if "dac-fixed-beta" in methods else ""),
    Fact("F5", f"training FLOPs per simulated step, dac-single-low / DAC-MAPPO-E at M = {fleet_size}",
         float(flops_at[("dac-single-low", fleet_size)] / flops_at[(OURS, fleet_size)]), "by construction",
         note="at M = " + ", ".join(f"{mm}: {flops_at[('dac-single-low', mm)] / flops_at[(OURS, mm)]:.3g}"
                                    for mm in sizes)) if "dac-single-low" in methods else None,
    Fact("F6", f"cost gap dac-mappo − DAC-MAPPO-E at M = {fleet_size} on the scaling seeds {scaling_seeds} (USD per "
         "bus, IQM; C2b-scale compares the gap at the largest M with it)",
         *stats.bootstrap_ci(GAP_MAIN)[:1], "descriptive", ci95=stats.bootstrap_ci(GAP_MAIN)[1],
         note="per seed: " + ", ".join(f"{x:.3g}" for x in GAP_MAIN))
    if GAP_LARGEST is not None else None,
    Fact("F8", f"training FLOPs per simulated step, DAC-MAPPO-E / dac-mappo (attention vs centralised high level) "
         f"at M = {fleet_size}", float(flops_at[(OURS, fleet_size)] / flops_at[("dac-mappo", fleet_size)]),
         "descriptive", note="at M = " + ", ".join(
             f"{mm}: {flops_at[(OURS, mm)] / flops_at[('dac-mappo', mm)]:.3g}" for mm in sizes)
         + "; > 1: the attention actor costs more training computation per step than the centralised MLP")
    if "dac-mappo" in methods else None,
    Fact("F9", f"validation cost of the trivial policy a learned baseline must beat (charge whenever the tariff is "
         f"below the peak; USD per bus and day, M = {fleet_size})", TRIVIAL_VALIDATION[fleet_size], "descriptive",
         note="learned methods at the end of training (IQM over seeds): " + ", ".join(
             f"{meth} {float(stats.iqm(final_validation(meth))):.3g}" for meth in LEARNED if meth in methods)),
    Fact("F7", "mean option length at the terminal of DAC-MAPPO-E (steps: 1 / option-change rate; test days)",
         float(1.0 / stats.iqm(per_seed("option_change_rate", OURS))), "descriptive",
         note=f"mean β {fmt(per_seed('mean_beta', OURS))}; charging spell {fmt(per_seed('charging_spell_steps', OURS))} "
              "steps" + (f"; dac-fixed-beta spell {fmt(per_seed('charging_spell_steps', 'dac-fixed-beta'))} steps"
                         if "dac-fixed-beta" in methods else "")),
] if f is not None])
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
_c = fleet_config(fleet_size)
NIGHT_HOURS = sum(end - start for start, end, price in _c.tou_bands if price == _c.end_price)
NIGHT_CAPACITY = (_c.chargers * NIGHT_HOURS * max(_c.power_levels_kw) * _c.efficiency) / (fleet_size * _c.battery_kwh)
DEVIATIONS = pd.DataFrame([
    ("Data", "real-world travel times, energy and prices", "synthetic timetable, log-normal durations, normal "
     "energy, TOU × (1 + AR(1)) price (EBFleetConfig)", "data not available"),
    ("Reward weights", "not published", f"w_late {_c.w_late}, w_miss {_c.w_miss}, w_soc {_c.w_soc}, w_conf "
     f"{_c.w_conflict} (USD)", "reconstructed: a missed trip costs about a day's charging of a bus"),
    ("End of the day", "not described", f"the change of each bus's stored energy over the day is valued at "
     f"p_end = {_c.end_price:g} USD per grid kWh (the nominal overnight tariff); the next day starts from a fresh "
     "morning SoC", f"one-day episodes; a deficit is refilled overnight at that price (K chargers × "
     f"{NIGHT_HOURS:g} cheapest-tariff hours store {NIGHT_CAPACITY:.3g} of the fleet's full 0 → 1 refill), so a "
     "deficit or surplus does not change the cost of the energy a policy uses; a surplus bought when the noisy "
     "night price is below p_end earns a small arbitrage; the overnight refill shares the cheapest-tariff night "
     "hours in which the next day's policy also charges, so on days with a large deficit it would not fit"),
    ("Fleet", "real fleet sizes", f"M = {fleet_size} (main) and {scaling_fleet_sizes} (scaling), K = M/4; "
     f"parameters and FLOPs counted at M ∈ {sizes}", "CPU budget"),
    ("Networks", "not published", f"attention actor d = {hidden}, 4 heads; MLP critic of width {2 * hidden}",
     "our design (assumed)"),
    ("Critic", "centralised; architecture not published (a permutation-invariant encoder over the buses "
     "would suit it)", "q_i(S, ·): an MLP on the "
     "flat global state S (every bus's features, global features, charger states) and the bus id; it does not "
     "see the other buses' current options and is not permutation-invariant", "simplicity; the same critic for "
     "every DAC method"),
    ("\"E\" actor", "one agent network per bus and \"a pair of mapping networks\" (reviews)", "one shared per-bus "
     "network with attention over buses and chargers; no separate mapping networks", "the mapping networks are "
     "not described anywhere we could read"),
    ("Centralised high-level actor", "joint option space", "per-bus factorised logits from one MLP",
     "the joint space has 6^8 options at M = 8"),
    ("Original DAC baseline", "(not named in the abstract)", "not run: dac-mappo (centralised high level) and "
     "dac-single-low (single-agent low level) each swap one enhancement; both keep per-bus critics q_i, and "
     "dac-mappo's centralised actor is trained with per-bus ratios and advantages (dac-single-low: one joint ratio "
     "and the mean of the per-bus advantages)", f"budget spent on {len(seeds)} seeds"),
    ("Single-agent low level", "a single-agent PPO low level (joint power action)", "one network over the whole state "
     "and all options that outputs one power choice per bus (factorised), trained with one joint ratio", "the joint "
     "space has 4^M actions; so the two low levels cost the same FLOPs, and only credit assignment differs"),
    ("Identities", "the per-bus actor takes the bus index i", "bus tokens carry (i + 1)/M and charger tokens "
     "(c + 1)/K, so that buses can prefer different free chargers", "a size-free identity"),
    ("Training", "not published", f"{updates} PPO updates × {days_per_update} days at M = {fleet_size} "
     f"(updates·M/{fleet_size} at larger M), {ppo_epochs} epochs × {ppo_minibatches} minibatches; step size and "
     f"step size tuned per method, entropy bonus fixed; the runs of seeds {long_seeds} go on to "
     f"{long_factor * updates} updates",
     f"CPU budget (twice the updates for every seed would take the repro past 30 minutes on 2 cores); the plateau "
     "table says which runs were still improving, the long runs whether the comparisons move with more training"),
    ("Tuning", "not described", f"{tuning_budget} configurations per method on tuning seeds {tuning_seeds} at "
     f"M = {fleet_size} (learned: the step size; rule: the SoC threshold); the larger fleet reuses them; the "
     "entropy bonus is fixed for every learned method", "equal budgets; CPU budget"),
    ("Perfect-information MILP bound", "not in the paper (added here)", f"{bound_days} test days at "
     f"M = {fleet_size}; power continuous, charger holding relaxed, no conflicts; HiGHS dual bound at relative "
     f"gap ≤ {bound_mip_gap:g}", "a valid lower bound that a MILP solves in seconds to a minute per day"),
    ("Evaluation", "not described", f"stochastic policies with a fixed sampling stream; {eval_days} validation "
     f"days for the curves and tuning, {final_eval_days} test days for the tables and claims",
     "the mode of independent per-bus policies never requests a shared charger"),
    ("PPO details", "not published", f"team reward × {reward_scale:g}/M per bus; the high level's decisions away "
     "from the terminal and the power of a bus that did not charge are masked out of the policy losses, and the "
     "entropy bonuses are averaged over the same decisions; gradient norm clipped at 0.5", "MAPPO practice (Yu et al. 2022); an option drawn on the road does reach the terminal "
     "(it conditions β there), so this mask is an approximation of DAC's gradient"),
    ("Discount and GAE", "not published", f"γ = {gamma:g}, λ = {gae_lambda:g}, the same for every learned method",
     "the objective is the undiscounted cost of a 96-step day"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={"penalised_cost_per_bus": headline_entry({m: cost(m) for m in methods}),
              "energy_bought_per_bus": headline_entry({m: per_seed("final_cost_per_bus", m) for m in methods}),
              "end_of_day_value_per_bus": headline_entry({m: per_seed("final_end_value_per_bus", m) for m in methods}),
              "missed_trips_per_bus": headline_entry({m: per_seed("final_missed_per_bus", m) for m in methods}),
              **({"gap_to_milp_bound_per_bus": headline_entry({m: gap_to_bound(m) for m in methods})}
                 if bound_days else {})},
    claims=CLAIMS, facts=FACTS, tuning=TUNED.to_json(),
    extra={"pilot": {f"{b} - {OURS}": {"sd": stats.round_sig(p.sd), "effect": EFFECT_OF_INTEREST,
                                        "seeds_for_effect": p.seeds_for(EFFECT_OF_INTEREST)}
                     for b, p in PILOTS.items() if np.isfinite(p.sd)},
           "missed_tolerance": stats.round_sig(MISSED_TOLERANCE),
           "plateau_fall_last_quarter": {f"{r['method']}@M={r['M']}": stats.round_sig(r["_fall"])
                                         for r in PLATEAU.to_dict("records")},
           "long_runs": {"seeds": long_seeds, "updates": long_factor * updates,
                         "fall_last_quarter": {r["method"]: stats.round_sig(r["_fall"])
                                               for r in LONG_TABLE.to_dict("records")},
                         "difference_vs_ours": {f"{b} - {OURS}": [stats.round_sig(x) for x in long_difference(b)[1]]
                                                for b in COMPARISONS.values() if b in methods}}
           if LONG_METHODS else None})
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=RUNNER.timing(),
            tuning=TUNING_RUNNER.timing(),
            seconds_per_update={f"{r['method']}@M={r['m']}/seed{r['seed']}":
                                round(r["timing"]["seconds_per_update"], 4) for r in RESULTS if r["method"] != "rule"})

lines = CLAIMS.summary_lines()
h = metrics_doc["headline"]
for m in methods:
    lines.append(f"- **{m}** (M = {fleet_size}): penalised cost {h['penalised_cost_per_bus'][m]['iqm']:.3g} USD, "
                 f"energy bought {h['energy_bought_per_bus'][m]['iqm']:.3g} USD, end-of-day value "
                 f"{h['end_of_day_value_per_bus'][m]['iqm']:.3g} USD, missed trips "
                 f"{h['missed_trips_per_bus'][m]['iqm']:.3g} per bus and day (IQM over {len(seeds)} seeds)")
seconds = SECONDS.groupby(["method", "fleet_size"])["seconds_per_update"].median()
if {(OURS, fleet_size), ("dac-single-low", fleet_size)} <= set(seconds.index):
    lines.append(f"- Wall clock per PPO update on this machine (not seeded, so not in metrics.json): DAC-MAPPO-E "
                 f"{seconds[(OURS, fleet_size)]:.2g} s vs dac-single-low {seconds[('dac-single-low', fleet_size)]:.2g} s "
                 f"at M = {fleet_size}" + "".join(
                     f"; DAC-MAPPO-E {seconds[(OURS, mm)]:.2g} s vs dac-mappo {seconds[('dac-mappo', mm)]:.2g} s at "
                     f"M = {mm}" for mm in scaling_fleet_sizes if {(OURS, mm), ("dac-mappo", mm)} <= set(seconds.index))
)
lines.append(f"- Options are short: DAC-MAPPO-E changes a bus's option at "
             f"{100 * stats.iqm(per_seed('option_change_rate', OURS)):.2g} % of the bus-steps at the terminal (a mean "
             f"option lasts {1 / stats.iqm(per_seed('option_change_rate', OURS)):.2g} steps of 15 minutes)")
if "rule" in methods:
    beaten_by_rule = [m_ for m_ in methods if m_ != "rule"
                      and h["penalised_cost_per_bus"][m_]["iqm"] > h["penalised_cost_per_bus"]["rule"]["iqm"]]
    lines.append(f"- Learned methods that cost more than the tuned rule at this budget (IQM): "
                 + (", ".join(beaten_by_rule) if beaten_by_rule else "none")
                 + "; the learned comparisons (C1a–C1c, A1) rank policies "
                 + ("that are all worse than the rule" if len(beaten_by_rule) == len(methods) - 1 else
                    "some of which beat the rule"))
still = PLATEAU[PLATEAU["still improving"] == "yes"]
lines.append("- Still improving over the last quarter of training: " + (
    ", ".join(f"{r['method']} (M = {r['M']})" for r in still.to_dict("records")) if len(still) else "none"))
if LONG_METHODS:
    still_long = LONG_TABLE[LONG_TABLE["still improving"] == "yes"]["method"].tolist()
    lines.append(f"- After {long_factor * updates} updates (seeds {long_seeds}), still improving: "
                 + (", ".join(still_long) if still_long else "none"))
display(prose(lines))
