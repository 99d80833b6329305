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
# # Hierarchical DRL for 5G teleoperation: network slicing (level 1) → robot control gains (level 2)
#
# **Paper.** *A Hierarchical Optimization Framework Using Deep Reinforcement Learning for Task-Driven Bandwidth
# Allocation in 5G Teleoperation*, arXiv [2505.15977](https://arxiv.org/abs/2505.15977) (May 2025). No public code.
#
# **The hierarchy.** A gNB serves two slices: URLLC (the teleoperation commands) and eMBB (video and status
# traffic). **Level 1**, at the scheduling-slot time scale (1 ms), is an actor–critic that splits the physical
# resource blocks (PRBs) between the slices, trained on a Lagrangian built from the Lyapunov drift of both queues and
# a URLLC delay constraint. **Level 2**, at the slower control time scale (every 100 ms), re-tunes the robot's PD
# gains so that the delayed loop satisfies a Razumikhin-type stability condition for the delays level 1 produces. The
# coupling runs both ways: level 1 sets the command delay that level 2 must tolerate, and level 2's tracking quality
# sets the dynamic index DI that lowers the URLLC service rate level 1 must provision for.
#
# **Reproduced.** The two-queue model (Eq. 1–6 as we read them in the paper), the DI-coupled URLLC arrivals and
# service, a Lagrangian drift-plus-penalty reward with dual ascent on a delay constraint, an actor–critic (PPO)
# level 1, a Razumikhin-certified gain schedule at level 2; the paper's baseline (proportional fair) plus static
# slicing and max-rate, the rule-based ones tuned with the same budget as ours; a level-1 ablation without the
# Lagrangian term; every claim of the abstract as a computed verdict.
#
# **Scaled or reconstructed.** One gNB with 25 PRBs, 2 URLLC + 3 eMBB users, simulated for seconds rather than
# hours; a 2-D point mass pushed by an unmodelled force instead of the paper's robot; the exact Lyapunov / Lagrangian
# terms, DI weights, the Razumikhin rule and all traffic constants are reconstructed (the deviations table lists
# each).

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # reported seeds: one trained level-1 policy and one evaluation per seed
tuning_seeds = [100]              # tuning and pilot seeds, disjoint from `seeds`
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/teleop_slicing"  # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/teleop_slicing/runs"  # raw per-task results: stored once, loaded on every later run
tuning_dir = "scratch/teleop_slicing/tuning"  # raw tuning trials, stored the same way
device = "auto"                   # "auto" (CUDA when present), "cpu" or "cuda"
methods = ["hierarchical-drl", "drl-unconstrained", "proportional-fair", "static", "max-rate"]  # first is ours
tuning_budget = 2                 # configurations per tuned method (the same for every method and SNR level)
train_updates = 6                 # PPO updates of the level-1 policy
train_cells = 16                  # cells simulated in parallel during training
rollout_slots = 64                # slots per cell per PPO update
ppo_epochs = 4                    # PPO epochs per update
ppo_minibatches = 4               # minibatches per epoch
gamma = 0.99                      # discount per slot
gae_lambda = 0.95                 # GAE λ
penalty_weight = 0.1              # V, weight of the rate penalty in the drift-plus-penalty reward
delay_bound_ms = 2                # d_max, the URLLC delay bound of the constraint
violation_target = 0.001          # ε, target rate of HOL-delay violations (the constraint level 1 must meet)
dual_lr = 2.0                     # η_λ, dual-ascent step on the Lagrange multiplier
constraint_price = 10000.0        # validation score: Mb/s charged per unit of violation probability above ε
eval_slots = 300                  # slots per evaluation run
tuning_eval_slots = 300           # slots per tuning evaluation
cells_per_condition = 2           # cells per (SNR, T_s, DI) condition in one evaluation run
snr_levels_db = [5, 10, 15, 20]   # mean-SNR sweep (dB)
control_periods_ms = [5, 10, 20, 40]  # control sampling interval T_s sweep (ms)
di_offsets = [0.0, 1.0, 2.0, 3.0]  # task-difficulty sweep: offset added to DI
default_snr_db = 10               # the operating point of the other sweeps
default_control_period_ms = 10    # T_s at the operating point
retune_period_ms = 100            # level 2 re-tunes the gains this often
delay_window_ms = 500             # level 2 estimates the delay quantile over this window
delay_quantile = 0.99             # level 2 uses this quantile of the command delay (the 99th percentile)
fixed_zeta = 0.7                  # damping ratio of the fixed gains (their natural frequency is tuned)
trace_slots = 300                 # length of the F/G trace figure (first seed, operating point)
trace_smooth_ms = 20              # moving-average window of that figure (ms)
curve_every = 1                   # runs.csv keeps every this-many-th training update

# %% [markdown]
# What each parameter may be: checked in the setup cell below before any compute (and on params.yaml by the
# pipeline). A wrong value, a NaN, a float where an integer is needed, a repeated list entry or an unknown name fails
# there, naming the parameter and what is allowed.

# %% tags=["schema"]
from pydantic import model_validator

from hrlkit import params as P

SLUG = "teleop_slicing"
ALL_METHODS = ("hierarchical-drl", "drl-unconstrained", "proportional-fair", "static", "max-rate")
OURS = "hierarchical-drl"


class TeleopParameters(P.Parameters):
    tuning_seeds: P.Seeds
    tuning_dir: P.OutDir
    methods: P.Subset(*ALL_METHODS, first=OURS)
    tuning_budget: P.Int(ge=1, le=9)
    train_updates: P.Int(ge=1)
    train_cells: P.Int(ge=1)
    rollout_slots: P.Int(ge=1)
    ppo_epochs: P.Int(ge=1)
    ppo_minibatches: P.Int(ge=1)
    gamma: P.Number(ge=0, le=1)
    gae_lambda: P.Number(ge=0, le=1)
    penalty_weight: P.Number(ge=0)
    delay_bound_ms: P.Int(ge=1, le=32)
    violation_target: P.Number(ge=0, le=1)
    dual_lr: P.Number(ge=0)
    constraint_price: P.Number(ge=0)
    eval_slots: P.Int(ge=1)
    tuning_eval_slots: P.Int(ge=1)
    cells_per_condition: P.Int(ge=1)
    snr_levels_db: P.UniqueList(P.Number(ge=-10, le=40), min_len=2)
    control_periods_ms: P.UniqueList(P.Int(ge=1), min_len=2)
    di_offsets: P.UniqueList(P.Number(ge=0), min_len=2)
    default_snr_db: P.Number(ge=-10, le=40)
    default_control_period_ms: P.Int(ge=1)
    retune_period_ms: P.Int(ge=1)
    delay_window_ms: P.Int(ge=1)
    delay_quantile: P.Number(ge=0.5, le=1)
    fixed_zeta: P.Number(gt=0)
    trace_slots: P.Int(ge=1)
    trace_smooth_ms: P.Int(ge=1)
    curve_every: P.Int(ge=1)

    @model_validator(mode="after")
    def relations(self):
        P.require(not set(self.tuning_seeds) & set(self.seeds), "tuning_seeds", self.tuning_seeds,
                  f"must be disjoint from seeds {self.seeds} (tuning on reported seeds biases the comparison)")
        P.require(self.default_snr_db in self.snr_levels_db, "default_snr_db", self.default_snr_db,
                  f"must be one of snr_levels_db {self.snr_levels_db}")
        P.require(self.default_control_period_ms in self.control_periods_ms, "default_control_period_ms",
                  self.default_control_period_ms, f"must be one of control_periods_ms {self.control_periods_ms}")
        P.require(self.ppo_minibatches <= self.train_cells * self.rollout_slots, "ppo_minibatches",
                  self.ppo_minibatches, "must be <= train_cells * rollout_slots (one sample per minibatch at least)")
        P.require(self.trace_slots <= self.eval_slots, "trace_slots", self.trace_slots,
                  f"must be <= eval_slots = {self.eval_slots} (the trace is cut from an evaluation run)")
        return self


# %% [markdown]
# ## Setup: parameter check, imports, seeding

# %%
PARAMS = TeleopParameters.from_notebook(globals())   # fails here, naming the parameter, before any compute

from dataclasses import replace

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import scipy.linalg
import seaborn as sns
import torch
from IPython.display import display

from hrlkit import figures, parallel, rl, runs, tune
from hrlkit.envs.slice5g import Slice5GConfig, Slice5GCore, delay_quantile_ms, mean_spectral_efficiency
from hrlkit.runner import Runner
from hrlkit.seeding import derive_seed, resolve_device, seed_everything

PAPER = {"slug": SLUG, "arxiv": "2505.15977",
         "title": "A Hierarchical Optimization Framework Using Deep Reinforcement Learning for Task-Driven "
                  "Bandwidth Allocation in 5G Teleoperation"}
GAIN_MODES = ("razumikhin", "fixed", "margin")   # level 2: certified schedule (ours), tuned fixed gains, exact margin
BOUND_OF_MODE = {"razumikhin": "tau_star_s", "margin": "tau_exact_s"}
LEARNED = (OURS, "drl-unconstrained")             # level-1 policies trained by PPO

DEVICE = resolve_device(device)
OUT = runs.prepare_out_dir(out_dir)
clock = runs.WallClock()
figures.set_theme()
seed_everything(0)      # the notebook's own streams; every task reseeds from its own seed
CFG = Slice5GConfig(delay_bound_ms=delay_bound_ms)
print(f"profile={profile} workers={workers} device={DEVICE} out_dir={out_dir}")

# %% [markdown]
# ## Environment: two slices, two queues, and a teleoperated robot
#
# `hrlkit.envs.Slice5GCore` simulates many cells at once (one row each). Per slot $t$ (1 ms), identically for every
# scheduler:
#
# * rate of user $i$ on PRB $j$ (Eq. 1): $r_{ij} = B\,\Delta t\,\log_2(1 + p|h_{ij}|^2/\sigma^2)$,
#   Rayleigh block fading $|h_{ij}|^2 \sim \mathrm{Exp}(1)$;
# * arrivals join the queues before anyone schedules: URLLC (Eq. 2)
#   $A_1 \sim \mathrm{Poisson}\big((\lambda_0 - \alpha r_u)(\tau + D)\big)$ with $r_u$ the URLLC rate delivered in the
#   previous slot, plus one command packet every control period $T_s$; eMBB $A_2 \sim \mathrm{Poisson}(\lambda_e)$;
# * a scheduler maps PRBs to slices; inside a slice every scheduler gives a PRB to the slice's best user;
# * URLLC service (Eq. 4) $D = [r_u - \beta\,\mathrm{DI}]^+$ ($r_u$ = capacity of the URLLC PRBs), eMBB service
#   $\min(r_e, G)$; queues (Eq. 5–6) $F(t+1) = [F + A_1 - D]^+$, $G(t+1) = [G + A_2 - r_e]^+$, FIFO;
# * the robot, a 2-D point mass pushed by an unmodelled force (Ornstein–Uhlenbeck, 2 m/s², 0.1 s), follows a
#   figure-eight; the operator's command $u = \ddot p_\mathrm{ref} + K_p e + K_d \dot e$ is applied when the URLLC
#   queue delivers it; $\mathrm{DI} = w_e |e|/e_0 + w_o |\Delta\theta|/\pi + w_\kappa \kappa/\kappa_0$ (Eq. 3's
#   three terms), so poor tracking costs URLLC service.
#
# A unit test (`tests/test_envs.py`) feeds identical arrivals and channels to every scheduler and checks the served
# packets against Eq. 4–6. Offered PRB demand of each slice at each mean SNR (each PRB to the slice's best user):

# %%
def offered_prb_demand(snr_db: float) -> tuple[float, float]:
    """Offered PRBs per slot of each slice at a mean SNR: offered bits per slot / mean bits per PRB."""
    bits_per_prb = CFG.prb_bandwidth_hz * CFG.slot_s
    bits_u = bits_per_prb * mean_spectral_efficiency(snr_db, CFG.n_urllc_users)
    bits_e = bits_per_prb * mean_spectral_efficiency(snr_db, CFG.n_embb_users)
    return (CFG.lambda0 * (1 + CFG.app_delay_ms) * CFG.urllc_packet_bits / bits_u,
            CFG.lambda_embb * CFG.embb_packet_bits / bits_e)


# load = (URLLC demand + eMBB demand) / k
SE_TABLE = pd.DataFrame([offered_prb_demand(s) for s in snr_levels_db], columns=["URLLC PRBs/slot", "eMBB PRBs/slot"])
SE_TABLE.insert(0, "snr_db", snr_levels_db)
SE_TABLE["offered load (PRB share)"] = (SE_TABLE["URLLC PRBs/slot"] + SE_TABLE["eMBB PRBs/slot"]) / CFG.n_prb
display(SE_TABLE.round(2))


# %% [markdown]
# ### The evaluation grid: three one-factor sweeps around the operating point, all cells in one simulator

# %%
def condition_grid() -> pd.DataFrame:
    """One row per (sweep, SNR, T_s, DI offset); the operating point appears once per sweep."""
    rows = [{"sweep": "snr", "snr_db": s, "control_period_ms": default_control_period_ms, "di_offset": 0.0}
            for s in snr_levels_db]
    rows += [{"sweep": "control_period", "snr_db": default_snr_db, "control_period_ms": t, "di_offset": 0.0}
             for t in control_periods_ms]
    rows += [{"sweep": "di", "snr_db": default_snr_db, "control_period_ms": default_control_period_ms,
              "di_offset": d} for d in di_offsets]
    return pd.DataFrame(rows)


CONDITIONS = condition_grid()
SNR_CONDITIONS = CONDITIONS[CONDITIONS["sweep"] == "snr"].reset_index(drop=True)   # what the pilot evaluates
print(f"{len(CONDITIONS)} conditions × {cells_per_condition} cells = {len(CONDITIONS) * cells_per_condition} cells "
      "per evaluation run")

# %% [markdown]
# ## Level 2: Razumikhin-certified gain schedule (slow time scale)
#
# Per axis the delayed loop is $\dot x = A x + A_d x(t-\tau(t))$ with $x = (e, \dot e)$,
# $A = \begin{pmatrix}0 & 1\\ 0 & 0\end{pmatrix}$, $A_d = \begin{pmatrix}0 & 0\\ -K_p & -K_d\end{pmatrix}$ and a
# *time-varying* delay $0 \le \tau(t) \le \hat\tau$ (queueing plus the sample-and-hold of $T_s$). The model
# transformation $x(t-\tau) = x(t) - \int_{-\tau}^0 [A x(t+\theta) + A_d x(t+\theta-\tau)]\,d\theta$, a Lyapunov
# function $V = x^\top P x$ with $(A + A_d)^\top P + P (A + A_d) = -Q$, the bound
# $2a^\top b \le p^{-1} a^\top P^{-1} a + p\, b^\top P b$ on each cross term and Razumikhin's condition
# $V(x(t+\xi)) < q\,V(x(t))$ for $\xi \in [-2\hat\tau, 0]$, $q \to 1^+$ (Hale & Verduyn Lunel 1993, Ch. 5; Gu,
# Kharitonov & Chen 2003, Sec. 5.3) give $\dot V \le x^\top(-Q + \tau W)x$ with
#
# $$W = (p_0 + p_1)P + p_0^{-1} P A_d A P^{-1} (A_d A)^\top P + p_1^{-1} P A_d^2 P^{-1} (A_d^2)^\top P,$$
#
# so the loop is asymptotically stable for every delay below $\tau^\star = 1/\lambda_{\max}(Q^{-1/2} W Q^{-1/2})$.
# Every choice of $Q \succ 0$, $p_0, p_1 > 0$ is a valid certificate; we take the best over a grid. It holds for
# time-varying delays (which is why Razumikhin and not a constant-delay margin). Every `retune_period_ms`, level 2
# estimates $\hat\tau$ = the `delay_quantile` of the command delays level 1 produced over the last `delay_window_ms`
# plus the hold interval $T_s$, and picks the fastest gains (largest natural frequency $\omega_n$) whose
# $\tau^\star \ge \hat\tau$.

# %%
def razumikhin_delay_bound(kp: float, kd: float, q_weights=np.logspace(-4, 2, 13),
                           couplings=np.linspace(-0.9, 0.9, 7), p_grid=np.logspace(-3, 3, 25)) -> float:
    """Largest delay τ* (s) that the Razumikhin condition certifies for the delayed PD loop (best over the grid)."""
    A = np.array([[0.0, 1.0], [0.0, 0.0]])
    Ad = np.array([[0.0, 0.0], [-kp, -kd]])
    if np.max(np.linalg.eigvals(A + Ad).real) >= 0:   # A + A_d must be Hurwitz (delay-free stability)
        return 0.0
    AdA, AdAd = Ad @ A, Ad @ Ad
    p0 = p_grid[:, None, None, None]
    p1 = p_grid[None, :, None, None]
    best = 0.0
    for q in q_weights:
        for c in couplings:
            Q = np.array([[1.0, c * np.sqrt(q)], [c * np.sqrt(q), q]])
            # (A + A_d)ᵀ P + P (A + A_d) = −Q
            Pm = scipy.linalg.solve_continuous_lyapunov((A + Ad).T, -Q)
            P_inv = np.linalg.inv(Pm)
            # W = (p0 + p1) P + p0⁻¹ P A_d A P⁻¹ (A_d A)ᵀ P + p1⁻¹ P A_d² P⁻¹ (A_d²)ᵀ P
            W = (p0 + p1) * Pm + (Pm @ AdA @ P_inv @ AdA.T @ Pm) / p0 + (Pm @ AdAd @ P_inv @ AdAd.T @ Pm) / p1
            # τ* = 1 / λmax(Q^{-1/2} W Q^{-1/2})
            L_inv = np.linalg.inv(np.linalg.cholesky(Q))
            lam_max = np.linalg.eigvalsh(L_inv @ W @ L_inv.T)[..., -1]
            best = max(best, float(1.0 / lam_max.min()))
    return best


def exact_delay_margin(kp: float, kd: float) -> float:
    """Largest *constant* delay (s) the PD loop tolerates: ω_c⁴ = K_p² + K_d² ω_c², τ = atan(K_d ω_c / K_p) / ω_c."""
    wc = np.sqrt((kd**2 + np.sqrt(kd**4 + 4 * kp**2)) / 2)
    return float(np.arctan2(kd * wc, kp) / wc)


def gains(wn: float, zeta: float) -> tuple[float, float]:
    """PD gains of a double integrator with natural frequency ω_n and damping ζ: K_p = ω_n², K_d = 2ζω_n."""
    return wn**2, 2 * zeta * wn


def gain_table(wn_grid=np.geomspace(0.5, 60.0, 36), zetas=(0.7, 1.0)) -> pd.DataFrame:
    """Candidate gains, fastest first, with the delay each tolerates: Razumikhin-certified (time-varying delays)
    and the exact constant-delay margin (the less conservative, uncertified variant)."""
    rows = []
    for wn in wn_grid:
        for z in zetas:
            kp, kd = gains(wn, z)
            rows.append({"wn": wn, "zeta": z, "kp": kp, "kd": kd, "tau_star_s": razumikhin_delay_bound(kp, kd),
                         "tau_exact_s": exact_delay_margin(kp, kd)})
    return pd.DataFrame(rows).sort_values(["wn", "tau_star_s"], ascending=[False, False]).reset_index(drop=True)


GAIN_TABLE = gain_table()
display(GAIN_TABLE.iloc[::6].round(4))


def select_gains(tau_hat_s: np.ndarray, bound: str = "tau_star_s") -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the fastest gains in the table whose tolerated delay (column ``bound``) covers τ̂ (else the most
    robust ones)."""
    tau_ok = GAIN_TABLE[bound].to_numpy()
    ok = tau_ok[None, :] >= tau_hat_s[:, None]         # table is sorted fastest first
    idx = np.where(ok.any(axis=1), ok.argmax(axis=1), int(np.argmax(tau_ok)))
    return GAIN_TABLE["kp"].to_numpy()[idx], GAIN_TABLE["kd"].to_numpy()[idx]


class ControlLevel:
    """Level 2: every retune period, τ̂ from level 1's command delays → the fastest gains that tolerate τ̂
    (``razumikhin``: certified; ``margin``: exact constant-delay margin); ``fixed``: gains with natural frequency
    ``fixed_wn``, never re-tuned."""

    def __init__(self, core: Slice5GCore, mode: str, fixed_wn: float | None = None, log_cell: int | None = None):
        self.core, self.mode, self.log_cell = core, mode, log_cell
        self.window_slots = int(delay_window_ms / (CFG.slot_s * 1e3))
        self.history: list[list[np.ndarray]] = []
        self.log: list[tuple[int, float, float, float]] = []  # (slot, τ̂ ms, ω_n, DI) of log_cell per retune
        if mode == "fixed":
            core.set_gains(*gains(fixed_wn, fixed_zeta))
        else:                                          # before any delay is measured: τ̂ = T_s + one slot
            core.set_gains(*select_gains((core.control_period + 1) * CFG.slot_s, BOUND_OF_MODE[mode]))

    def tau_hat(self) -> np.ndarray:
        """τ̂ (s) per cell: delay quantile over the window plus the hold interval T_s."""
        recent = self.history[-max(1, self.window_slots // retune_period_ms):]
        tau = np.empty(self.core.n)
        for i in range(self.core.n):
            d = np.concatenate([h[i] for h in recent]) if recent else np.zeros(0)
            # no command got through in the window: the delay is at least the window itself
            tau[i] = np.quantile(d, delay_quantile) if d.size else self.window_slots
        return (tau + self.core.control_period) * CFG.slot_s

    def step(self) -> None:
        """Call once per slot; acts every retune period."""
        if self.core.t % retune_period_ms:
            return
        self.history.append(self.core.pop_command_delays())
        tau_hat = self.tau_hat()
        if self.mode != "fixed":
            self.core.set_gains(*select_gains(tau_hat, BOUND_OF_MODE[self.mode]))
        if self.log_cell is not None:
            i = self.log_cell
            self.log.append((self.core.t, 1e3 * tau_hat[i], float(np.sqrt(self.core.kp[i])),
                             float(self.core.di[i])))


# %% [markdown]
# ## Level 1: Lagrangian actor–critic over the PRB split (fast time scale)
#
# State: $(F, G, \text{HOL age}, \text{channel quality of each slice}, \mathrm{DI}, \lambda, \phi_{t-1}, \overline{\mathrm{SNR}})$,
# observed after the slot's arrivals (what the per-PRB schedulers see too).
# Action: the URLLC share $\phi \in (0,1)$ of the $k$ PRBs (Beta policy); the URLLC slice gets the PRBs where its
# channel is relatively best. The environment returns the ingredients; the reward is written out here: the
# drift-plus-penalty Lagrangian
#
# $$r_t = -\Big[\tfrac{F}{s_F}\tfrac{A_1 - D}{s_F} + \tfrac{G}{s_G}\tfrac{A_2 - r_e}{s_G}
#          + V\Big(\tfrac{1}{(r_u + r_0)^2} + \tfrac{1}{(r_e + r_0)^2}\Big)\Big]
#          - \lambda\,\big(v_t - \varepsilon\big),$$
#
# the first two terms being the Lyapunov drift bound of $L = \tfrac12(F^2 + G^2)$ (Neely 2010), the third the
# paper's objective (Eq. 7, sum of inverse squared rates), and $v_t = 1$ when a queued URLLC packet is already
# bound to miss the delay bound $d_{\max}$ (HOL age $\ge d_{\max} - 1$ after service). After each PPO update, dual
# ascent on the multiplier: $\lambda \leftarrow [\lambda + \eta_\lambda(\bar v - \varepsilon)]^+$. The ablation
# `drl-unconstrained` is the same learner with $\lambda \equiv 0$.

# %%
def lagrangian_reward(info: dict, lam: float) -> np.ndarray:
    # r_t = −[drift + V·penalty] − λ (v_t − ε)
    return -(info["drift"] + penalty_weight * info["penalty"]) - lam * (info["violation"] - violation_target)


def sample_training_conditions(core: Slice5GCore, rng: np.random.Generator) -> None:
    """Domain randomisation over the evaluation ranges, so one policy serves every sweep."""
    core.snr_db = rng.uniform(min(snr_levels_db), max(snr_levels_db), core.n)
    core.control_period = rng.choice(np.asarray(control_periods_ms, dtype=np.int64), core.n)
    core.di_offset = rng.uniform(0.0, max(di_offsets), core.n)


def train_level1(seed: int, config: dict, constrained: bool = True) -> dict:
    """PPO (+ dual ascent on λ when ``constrained``) on the Lagrangian, with level 2 (Razumikhin gains) in the
    loop. ``config``: the tuned learning rate and entropy bonus."""
    rng = np.random.default_rng(derive_seed(seed, "train"))
    gen = torch.Generator().manual_seed(derive_seed(seed, "minibatches"))
    core = Slice5GCore(train_cells, CFG, seed=derive_seed(seed, "train-env"))
    sample_training_conditions(core, rng)
    control = ControlLevel(core, "razumikhin")
    model = rl.ActorCritic(Slice5GCore.obs_dim, "beta", 1, hidden=(64, 64)).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"], eps=1e-5)
    cfg = rl.PPOConfig(update_epochs=ppo_epochs, num_minibatches=ppo_minibatches, ent_coef=config["entropy_coef"])
    obs_norm = rl.RunningMeanStd(shape=(Slice5GCore.obs_dim,))
    lam, curve = 0.0, []
    obs = core.observe()
    T, N = rollout_slots, train_cells
    for update in range(train_updates):
        core.lagrange_multiplier = lam
        buf = {k: np.zeros((T, N) + shape, dtype=np.float32) for k, shape in
               [("obs", (Slice5GCore.obs_dim,)), ("act", (1,)), ("logp", ()), ("val", ()), ("rew", ())]}
        violations = np.zeros((T, N))
        for t in range(T):
            obs_norm.update(obs)
            x = torch.as_tensor(obs_norm.normalize(obs), dtype=torch.float32, device=DEVICE)
            with torch.no_grad():
                action, logp, value = model.act(x)
            obs_next, info = core.step("slicing", action.cpu().numpy()[:, 0])
            control.step()
            reward = lagrangian_reward(info, lam)
            if not np.all(np.isfinite(reward)):
                raise FloatingPointError(f"train_level1(seed={seed}): non-finite reward at update {update}")
            buf["obs"][t], buf["act"][t] = x.cpu().numpy(), action.cpu().numpy()
            buf["logp"][t], buf["val"][t], buf["rew"][t] = logp.cpu().numpy(), value.cpu().numpy(), reward
            violations[t] = info["violation"]
            obs = obs_next
        with torch.no_grad():
            last_v = model.value(torch.as_tensor(obs_norm.normalize(obs), dtype=torch.float32, device=DEVICE))
        tens = {k: torch.as_tensor(v, device=DEVICE) for k, v in buf.items()}
        starts = torch.zeros(T, N, device=DEVICE)        # a continuing task: no episode boundaries
        # Â_t = Σ_l (γλ)^l δ_{t+l},  δ_t = r_t + γ V(s_{t+1}) − V(s_t)
        adv, ret = rl.compute_gae(tens["rew"], tens["val"], starts, last_v, torch.zeros(N, device=DEVICE),
                                  gamma, gae_lambda)
        batch = {"obs": tens["obs"].reshape(T * N, -1), "actions": tens["act"].reshape(T * N, 1),
                 "logprobs": tens["logp"].reshape(-1), "advantages": adv.reshape(-1),
                 "returns": ret.reshape(-1), "values": tens["val"].reshape(-1)}
        rl.ppo_update(model, optimizer, batch, cfg, gen)
        v_bar = float(violations.mean())
        # dual ascent: λ ← [λ + η_λ (v̄ − ε)]^+   (λ ≡ 0 for the unconstrained ablation)
        lam = max(0.0, lam + dual_lr * (v_bar - violation_target)) if constrained else 0.0
        curve.append({"update": update, "return": float(buf["rew"].mean()), "lambda": lam,
                      "violation_rate": v_bar, "mean_phi": float(buf["act"].mean())})
        sample_training_conditions(core, rng)
    return {"seed": seed, "state": {k: v.cpu() for k, v in model.state_dict().items()},
            "obs_norm": obs_norm.state_dict(), "lambda": lam, "curve": curve}


# %% [markdown]
# ## Baselines, each with its knobs
#
# * **Proportional fair** (Kelly 1998), at slice level: PRB by PRB (in the same PRB order as the slicer), the slice
#   with demand left that maximises $w_s\, r_{sj}/\bar R_s$ ($\bar R_s$ an exponential average over $t_c$ slots,
#   $w_u$ the URLLC weight); its URLLC demand is what empties the queue, $F + \beta\,\mathrm{DI}$ (it knows DI, as
#   the learned slicer does), plus a margin of $m$ packets. Knobs $w_u$ and $m$ are tuned.
# * **Static slicing**: a fixed URLLC share $\phi(\mathrm{SNR})$ per mean-SNR level, each level's share tuned on its
#   own (the cell knows its mean SNR; the share ignores queues and DI).
# * **Max-rate**: PRB by PRB, the slice whose best user has the highest rate, with the same demands; no knobs.
# * Control side: **fixed gains** ($\zeta$ = `fixed_zeta`), never re-tuned, their natural frequency $\omega_n$ tuned
#   with the same budget for the lowest tracking RMSE over every condition under PF's delays; and, as a variant of
#   level 2, the same schedule with the **exact constant-delay margin** in place of the Razumikhin certificate (less
#   conservative, not certified for time-varying delays).
#
# Every scheduler runs in the same simulator, on the same channels, traffic and disturbance draws (common random
# numbers), with the same level 2.

# %%
def static_share(snr_db: np.ndarray, shares: list[float]) -> np.ndarray:
    """φ of each cell: the share tuned for its mean-SNR level (``shares`` follows ``snr_levels_db``)."""
    return np.array([shares[snr_levels_db.index(s)] for s in snr_db.tolist()])


def scheduler_config(method: str, config: dict) -> Slice5GConfig:
    """The simulator config a baseline runs with (PF's knobs live in the simulator)."""
    if method == "proportional-fair":
        return replace(CFG, pf_urllc_weight=config["urllc_weight"], urllc_margin=config["urllc_margin"])
    return CFG


def load_policy(trained: dict):
    model = rl.ActorCritic(Slice5GCore.obs_dim, "beta", 1, hidden=(64, 64))
    model.load_state_dict(trained["state"])
    model.to(DEVICE).eval()
    norm = rl.RunningMeanStd(shape=(Slice5GCore.obs_dim,))
    norm.load_state_dict(trained["obs_norm"])
    return model, norm


def scheduler_step(core: Slice5GCore, method: str, policy, static_phi: np.ndarray | None):
    if method in LEARNED:
        model, norm = policy
        x = torch.as_tensor(norm.normalize(core.observe()), dtype=torch.float32, device=DEVICE)
        with torch.no_grad():
            phi = model.act(x, deterministic=True)[0].cpu().numpy()[:, 0]
        return core.step("slicing", phi)
    if method == "static":
        return core.step("slicing", static_phi)
    return core.step(method, None)


# %% [markdown]
# ### One evaluation run
#
# All conditions of a sweep at once (one cell per row); metrics per cell. Delays: each URLLC packet's queueing delay
# to the slot, the quantile interpolated within the slot (arrivals and departures spread uniformly over a slot);
# a packet dropped after the 64-slot ring counts as late and at the ring's length.

# %%
def evaluate(method: str, gain_mode: str, seed: int, trained: dict | None, config: dict, conditions: pd.DataFrame,
             slots: int, fixed_wn: float | None = None, keep_trace: bool = False) -> dict:
    """One evaluation run of one scheduler × gain mode on one seed: per-cell metrics (and optionally the F/G trace
    and the coupling log of the first operating-point cell). ``fixed_wn``: ω_n of the fixed gains."""
    cell_condition = np.repeat(np.arange(len(conditions)), cells_per_condition)
    core = Slice5GCore(len(cell_condition), scheduler_config(method, config), seed=derive_seed(seed, "eval"),
                       snr_db=conditions["snr_db"].to_numpy()[cell_condition],
                       control_period_ms=conditions["control_period_ms"].to_numpy()[cell_condition],
                       di_offset=conditions["di_offset"].to_numpy()[cell_condition])
    core.lagrange_multiplier = trained["lambda"] if trained else 0.0
    policy = load_policy(trained) if method in LEARNED else None
    static_phi = static_share(core.snr_db, config["shares"]) if method == "static" else None
    at_op = (conditions["snr_db"] == default_snr_db) & (conditions["control_period_ms"] == default_control_period_ms) \
        & (conditions["di_offset"] == 0.0)
    op_rows = np.flatnonzero(at_op.to_numpy())
    trace_cell = int(op_rows[0]) * cells_per_condition if op_rows.size else 0
    control = ControlLevel(core, gain_mode, fixed_wn, log_cell=trace_cell if keep_trace else None)
    keys = {"late": "urllc_late", "dropped": "urllc_dropped", "departed": "urllc_departed",
            "embb": "embb_served_packets", "F": "F", "G": "G", "used": "prbs_used", "di": "di",
            "hol_violation": "violation"}
    acc = {k: np.zeros(core.n) for k in [*keys, "sq_err"]}
    trace = []
    for t in range(slots):
        _, info = scheduler_step(core, method, policy, static_phi)
        control.step()
        for key, src in keys.items():
            acc[key] += info[src]
        acc["sq_err"] += info["tracking_error"] ** 2
        if keep_trace and t < trace_slots:
            trace.append((t, info["F"][trace_cell], info["G"][trace_cell]))
    return {"method": method, "gains": gain_mode, "seed": seed, "per_cell": summarise_cells(core, acc, slots),
            "trace": trace, "coupling": control.log if keep_trace else []}


def summarise_cells(core: Slice5GCore, acc: dict, slots: int) -> pd.DataFrame:
    hist = core.delay_hist.copy()                           # departures by delay bin (a, a + 1] slots
    hist[:, -1] += acc["dropped"]                           # dropped packets: at the ring's length
    slot_ms = CFG.slot_s * 1e3
    packets = acc["departed"] + acc["dropped"]
    bits = acc["departed"] * CFG.urllc_packet_bits + acc["embb"] * CFG.embb_packet_bits
    return pd.DataFrame({
        "condition": np.repeat(np.arange(core.n // cells_per_condition), cells_per_condition),
        "urllc_violation": (acc["late"] + acc["dropped"]) / np.maximum(packets, 1e-12),
        "urllc_missed": acc["late"] + acc["dropped"],       # packets that missed d_max (binomial numerator)
        "urllc_packets": packets,
        "hol_violation_rate": acc["hol_violation"] / slots,
        # mean delay: the midpoint of each slot bin
        "urllc_delay_mean_ms": (hist * (np.arange(CFG.ring_slots) + 0.5)).sum(axis=1) * slot_ms
        / np.maximum(hist.sum(axis=1), 1e-12),
        "urllc_delay_p99_ms": delay_quantile_ms(hist, 0.99, slot_ms),
        "embb_throughput_mbps": acc["embb"] / slots * CFG.embb_packet_bits / CFG.slot_s / 1e6,
        "urllc_queue_mean": acc["F"] / slots,
        "embb_queue_mean": acc["G"] / slots,
        "prb_utilisation": acc["used"] / slots / CFG.n_prb,
        "bits_per_used_prb": bits / np.maximum(acc["used"], 1e-12),   # delivered bits per PRB that carried data
        "goodput_bits_per_prb": bits / (slots * CFG.n_prb),   # delivered bits per available PRB per slot
        "tracking_rmse_m": np.sqrt(acc["sq_err"] / slots),
        "losses_of_control_per_min": core.loss_events / (slots * CFG.slot_s / 60.0),
        "dynamic_index_mean": acc["di"] / slots,
    })


# %% [markdown]
# ## Tuning: the same budget for ours and for every baseline with knobs
#
# Declared before tuning: every tuned method gets `tuning_budget` configurations of the grid below, evaluated on the
# tuning seeds (disjoint from the reported ones) over every condition of the evaluation grid (static slicing:
# `tuning_budget` shares for each SNR level, each level on the conditions at that SNR), and is selected by the
# **constrained throughput**
#
# $$S = \frac{1}{|\mathcal C|}\sum_{c \in \mathcal C} \Big[\text{eMBB Mb/s} - \pi\,\max(0,\ p_\mathrm{viol} - \varepsilon)\Big],$$
#
# $\pi$ = `constraint_price` Mb/s per unit of URLLC violation probability above the target ε: the trade-off the paper's
# level 1 is built for (eMBB throughput subject to a URLLC delay target; for a method that meets ε, S is its eMBB
# throughput). Max-rate has no knobs; `drl-unconstrained` reuses ours' selected learning settings (it is an ablation
# of one term). The fixed gains get the same budget of natural frequencies, selected by the lowest tracking RMSE over
# every condition under the tuned PF's delays. A **pilot** trains the unconstrained ablation on the tuning seeds and
# checks that without λ the delay target is violated at this `delay_bound_ms` (else C6 has nothing to test).

# %%
STATIC_LEVELS = {f"static-{s:g}db": s for s in snr_levels_db}     # static slicing is tuned per SNR level
SPACES = {
    OURS: tune.Space(learning_rate=tune.Grid(1e-4, 3e-4, 1e-3), entropy_coef=tune.Grid(0.001, 0.003, 0.01)),
    "proportional-fair": tune.Space(urllc_weight=tune.Grid(0.5, 1.0, 2.0), urllc_margin=tune.Grid(0.0, 1.0, 2.0)),
    **{level: tune.Space(share=tune.Grid(0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)) for level in STATIC_LEVELS},
}
SETUP = tune.Setup(metric="constrained_throughput", direction="maximize", budget=tuning_budget,
                   seeds=tuning_seeds, sampler="grid")
FIXED_WN_GRID = tune.Grid(5.0, 7.5, 10.0, 12.5, 15.0, 20.0, 25.0, 30.0, 45.0)   # ω_n of the fixed gains (rad/s)
GAIN_SETUP = tune.Setup(metric="tracking_rmse_m", direction="minimize", budget=tuning_budget, seeds=tuning_seeds,
                        sampler="grid")


def constrained_throughput(per_cell: pd.DataFrame) -> float:
    # S = mean over conditions of [eMBB Mb/s − π max(0, p_viol − ε)]
    per_level = per_cell.groupby("condition")[["embb_throughput_mbps", "urllc_missed", "urllc_packets"]].sum()
    per_level["embb_throughput_mbps"] /= cells_per_condition
    p_viol = per_level["urllc_missed"] / per_level["urllc_packets"].clip(lower=1e-12)
    score = per_level["embb_throughput_mbps"] - constraint_price * np.maximum(0.0, p_viol - violation_target)
    return float(score.mean())


def trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial: (train and) evaluate one configuration on one tuning seed over the evaluation grid (a
    static share: over the conditions at its own SNR level)."""
    trained = train_level1(seed, config) if method == OURS else None
    conditions = CONDITIONS
    if method in STATIC_LEVELS:
        conditions = CONDITIONS[CONDITIONS["snr_db"] == STATIC_LEVELS[method]].reset_index(drop=True)
        method, config = "static", {"shares": [config["share"]] * len(snr_levels_db)}
    run = evaluate(method, "razumikhin", seed, trained, config, conditions, tuning_eval_slots)
    per_cell = run["per_cell"]
    return {"constrained_throughput": constrained_throughput(per_cell),
            "embb_throughput_mbps": float(per_cell["embb_throughput_mbps"].mean()),
            "urllc_violation": float(per_cell["urllc_missed"].sum() / max(per_cell["urllc_packets"].sum(), 1e-12)),
            "final_lambda": trained["lambda"] if trained else 0.0}


def gain_trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial of the fixed gains ω_n: tracking RMSE over the evaluation grid under PF's delays (PF's
    selected knobs ride along in ``config``)."""
    pf_config = {k: config[k] for k in ("urllc_weight", "urllc_margin")}
    run = evaluate("proportional-fair", "fixed", seed, None, pf_config, CONDITIONS, tuning_eval_slots,
                   fixed_wn=config["wn"])
    return {"tracking_rmse_m": float(run["per_cell"]["tracking_rmse_m"].mean())}


def pilot_unconstrained(seed: int, config: dict) -> dict:
    """Pilot: the level-1 learner without the Lagrangian term on a tuning seed; its HOL-violation rate over the
    SNR sweep says whether the delay constraint binds at `delay_bound_ms`."""
    trained = train_level1(seed, config, constrained=False)
    run = evaluate("drl-unconstrained", "razumikhin", seed, trained, config, SNR_CONDITIONS, tuning_eval_slots)
    return {"seed": seed, "hol_violation_rate": float(run["per_cell"]["hol_violation_rate"].mean())}


# %% tags=["tuning"]
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
# which methods to tune, and the check that no reported seed is a tuning seed, change no trial's result: they are
# read from PARAMS so that the trials' identity does not include the reported seeds or the method list
TUNED = tune.tune(TUNING_RUNNER, trial, {m: space for m, space in SPACES.items()
                                         if ("static" if m in STATIC_LEVELS else m) in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
PF_CONFIG = TUNED.selected.get("proportional-fair", {"urllc_weight": 1.0, "urllc_margin": 0.0})
GAIN_SPACE = {"fixed-gains": tune.Space(wn=FIXED_WN_GRID, **{k: tune.Grid(v) for k, v in PF_CONFIG.items()})}
TUNED_GAINS = tune.tune(TUNING_RUNNER, gain_trial, GAIN_SPACE, GAIN_SETUP, reported_seeds=PARAMS["seeds"])
FIXED_WN = TUNED_GAINS.selected["fixed-gains"]["wn"]
PILOT_RUNS = TUNING_RUNNER.run("pilot", pilot_unconstrained,
                               [{"seed": s, "config": TUNED.selected[OURS]} for s in tuning_seeds])
print(TUNED.summary(), TUNED_GAINS.summary(), sep="\n")

# %% [markdown]
# ## Experiments: train level 1 per seed, then evaluate every scheduler × gain mode × seed on the same grid
#
# Every task's result is stored under `runs_dir` (`hrlkit.runner`): a later run with the same training code and
# parameters loads it instead of training again, and the pipeline's report stage only ever loads.

# %% tags=["experiments"]
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
CONFIG = {m: TUNED.selected.get(OURS if m in LEARNED else m, {}) for m in methods}
if "static" in CONFIG:
    CONFIG["static"] = {"shares": [TUNED.selected[level]["share"] for level in STATIC_LEVELS]}
learned = [m for m in methods if m in LEARNED]
trained_runs = RUNNER.run("train", train_level1, [{"seed": s, "config": CONFIG[m], "constrained": m == OURS}
                                                  for m in learned for s in seeds], desc="train level 1")
TRAINED = {(m, s): trained_runs[i * len(seeds) + k] for i, m in enumerate(learned) for k, s in enumerate(seeds)}
eval_tasks = [{"method": m, "gain_mode": g, "seed": s, "trained": TRAINED.get((m, s)), "config": CONFIG[m],
               "conditions": CONDITIONS, "slots": eval_slots, "fixed_wn": FIXED_WN if g == "fixed" else None,
               "keep_trace": s == seeds[0] and g == "razumikhin" and m in (OURS, "proportional-fair")}
              for m in methods for g in GAIN_MODES for s in seeds]
eval_runs = RUNNER.run("evaluate", evaluate, eval_tasks)
print(f"{len(trained_runs)} level-1 trainings, {len(eval_runs)} evaluation runs")

# %% [markdown]
# ## Results
#
# Raw per-seed numbers first (runs.csv, long format); every figure and table below is computed from them.

# %%
# analysis side: tables, facts, statistics (never used by a task, so editing them never retrains)
from scipy.stats import binomtest

from hrlkit import stats
from hrlkit.claims import Claim, ClaimsTable, Fact, FactsTable, build_metrics, headline_entry, write_metrics
from hrlkit.display import prose, table

CONTROL_METRICS = ["tracking_rmse_m", "losses_of_control_per_min", "dynamic_index_mean", "urllc_delay_mean_ms",
                   "urllc_delay_p99_ms", "urllc_violation", "urllc_missed", "urllc_packets"]


def per_condition(per_cell: pd.DataFrame) -> pd.DataFrame:
    """Cells of one condition pooled: counts summed, other metrics averaged, violation = missed / packets."""
    g = per_cell.groupby("condition")
    out = g.mean()
    out[["urllc_missed", "urllc_packets"]] = g[["urllc_missed", "urllc_packets"]].sum()
    out["urllc_violation"] = out["urllc_missed"] / out["urllc_packets"].clip(lower=1e-12)
    return out


def runs_rows() -> list[dict]:
    rows = []
    for (m, s), r in TRAINED.items():
        for point in r["curve"][curve_every - 1::curve_every]:
            for metric in ("return", "lambda", "violation_rate", "mean_phi"):
                rows.append({"method": m, "seed": s, "metric": f"train_{metric}", "value": point[metric],
                             "step": point["update"] + 1})
    for r in eval_runs:
        keep = None if r["gains"] == "razumikhin" else CONTROL_METRICS     # other gain modes: the control side
        for cond, values in per_condition(r["per_cell"]).iterrows():
            c = CONDITIONS.loc[cond]
            for metric, value in values.items():
                if keep is None or metric in keep:
                    rows.append({"method": r["method"], "seed": r["seed"], "metric": metric, "value": value,
                                 "gains": r["gains"], "sweep": c["sweep"], "snr_db": c["snr_db"],
                                 "control_period_ms": c["control_period_ms"], "di_offset": c["di_offset"]})
        for t, F, G in r["trace"]:
            rows += [{"method": r["method"], "seed": r["seed"], "metric": name, "value": value, "step": t,
                      "gains": r["gains"]} for name, value in (("trace_F", F), ("trace_G", G))]
        for t, tau_ms, wn, di in r["coupling"]:
            rows += [{"method": r["method"], "seed": r["seed"], "metric": name, "value": value, "step": t,
                      "gains": r["gains"]}
                     for name, value in (("coupling_tau_hat_ms", tau_ms), ("coupling_wn", wn), ("coupling_di", di))]
    return rows


RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT)
EVAL = RUNS[RUNS["sweep"].notna()].copy()
print(f"runs.csv: {len(RUNS)} rows")


def sweep(metric: str, sweep_name: str, gains_mode: str = "razumikhin") -> pd.DataFrame:
    """Per method × seed × level of one sweep."""
    return EVAL[(EVAL["metric"] == metric) & (EVAL["sweep"] == sweep_name) & (EVAL["gains"] == gains_mode)]


SAVE = dict(out_dir=OUT, slug=SLUG, params=PARAMS)
COLORS = dict(zip(ALL_METHODS, sns.color_palette(n_colors=len(ALL_METHODS))))
GAIN_COLORS = dict(zip(GAIN_MODES, sns.color_palette("Set2", n_colors=len(GAIN_MODES))))

# %% [markdown]
# ### Tuning trials and the pilot
#
# Every configuration each tuned method tried on the tuning seeds (the selected one coloured), whether a selection
# sits at the edge of its grid, and the pilot of the unconstrained ablation.

# %%
def at_edge(result: tune.Result, method: str) -> str:
    """The knobs whose selected value is the smallest or largest of a grid with more than one value."""
    edges = [k for k, v in result.selected[method].items()
             if len(result.spaces[method].dims[k].values) > 1
             and v in (min(result.spaces[method].dims[k].values), max(result.spaces[method].dims[k].values))]
    return ", ".join(edges) or "no"


SELECTED = pd.DataFrame([{"method": m, "configuration": ", ".join(f"{k} = {v:g}" for k, v in c.items()),
                          "tuning metric": result.setup.metric, "mean on the tuning seeds": f"{result.scores[m]:.4g}",
                          "at a grid edge": at_edge(result, m)}
                         for result in (TUNED, TUNED_GAINS) for m, c in result.selected.items()])
display(table(SELECTED, "Selected configurations (S in Mb/s, RMSE in m)."))
trial_means = TUNED.trials.groupby(["method", "trial"], sort=False).mean(numeric_only=True).reset_index()
gain_means = TUNED_GAINS.trials.groupby("config.wn")[GAIN_SETUP.metric].mean()
panels = [m for m in (OURS, "proportional-fair") if m in TUNED.selected]
fig, axes = plt.subplots(1, len(panels) + 2, figsize=(4.6 * (len(panels) + 2), 3.6))
for ax, m in zip(axes, panels):
    d = trial_means[trial_means["method"] == m]
    knobs = list(SPACES[m].dims)
    label = d[[f"config.{k}" for k in knobs]].apply(lambda r: "\n".join(f"{v:g}" for v in r), axis=1)
    chosen = d[[f"config.{k}" for k in knobs]].eq(pd.Series({f"config.{k}": v for k, v in TUNED.selected[m].items()
                                                          })).all(axis=1)
    ax.bar(range(len(d)), d[SETUP.metric], color=[COLORS[m] if c else "0.75" for c in chosen])
    ax.set_xticks(range(len(d)), label, fontsize=7)
    top = float(d[SETUP.metric].max())
    bottom = max(float(d[SETUP.metric].min()), top - 5.0) - 0.5
    ax.set_ylim(bottom, top + 0.5)                    # a far-off bar leaves the axis: say how many did
    below = int((d[SETUP.metric] < bottom).sum())
    ax.set(title=m + (f" ({below} bars below the axis)" if below else ""), xlabel=" / ".join(knobs),
           ylabel="S on the tuning seeds (Mb/s)")
static = trial_means[trial_means["method"].isin(list(STATIC_LEVELS))].copy()
static["SNR (dB)"] = static["method"].map(STATIC_LEVELS)
sns.lineplot(data=static, x="config.share", y=SETUP.metric, hue="SNR (dB)", marker="o", palette="viridis",
             ax=axes[-2])
axes[-2].set(title="static (one share per SNR level)", xlabel="URLLC share φ", ylabel="S at that level (Mb/s)")
sns.move_legend(axes[-2], "upper left", bbox_to_anchor=(1.0, 1.0), title="SNR (dB)")
axes[-2].set_ylim(max(float(static[SETUP.metric].min()), float(static[SETUP.metric].max()) - 20.0),
                  float(static[SETUP.metric].max()) + 1.0)   # shares whose violations cost more fall below the axis
axes[-1].plot(gain_means.index, 1e3 * gain_means.to_numpy(), marker="o", color=GAIN_COLORS["fixed"])
axes[-1].axvline(FIXED_WN, ls="--", c="k", lw=0.8)
axes[-1].set(title="fixed gains (under PF)", xlabel="ω_n (rad/s)", ylabel="tracking RMSE (mm)", yscale="log")
fig.tight_layout()
figures.save_figure(fig, "tuning", "Tuning trials, means over the tuning seeds "
                    f"{list(tuning_seeds)}: constrained throughput S of every configuration (coloured bar: selected; "
                    "static: each SNR level selects its own share) and the fixed gains' tracking RMSE (dashed: "
                    "selected).", **SAVE, svg=False)
plt.show()

pilot_rate = np.array([r["hol_violation_rate"] for r in PILOT_RUNS])
print(f"pilot: without λ, the HOL-delay violation rate on the tuning seeds is "
      f"{', '.join(f'{v:.3g}' for v in pilot_rate)} (target ε = {violation_target:g}): the constraint "
      + ("binds" if np.all(pilot_rate > violation_target) else "does not bind on every tuning seed"))
PILOT = tune.pilot(TUNED, first=OURS, second="proportional-fair") \
    if {OURS, "proportional-fair"} <= set(TUNED.selected) and len(tuning_seeds) > 1 else None
PILOT_EFFECT = (TUNED.scores[OURS] - TUNED.scores["proportional-fair"]) if PILOT else None
if PILOT:
    print(f"pilot: ours − PF on the tuning seeds {PILOT_EFFECT:.3g} Mb/s of S; "
          + PILOT.describe(abs(PILOT_EFFECT), len(seeds)))

# %% [markdown]
# ### Level-1 training curves (return, Lagrange multiplier, violation rate)

# %%
train = RUNS[RUNS["metric"].str.startswith("train_")]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for ax, metric, label in zip(axes, ["train_return", "train_lambda", "train_violation_rate"],
                             ["mean reward per slot", "Lagrange multiplier λ", "HOL-delay violation rate"]):
    sns.lineplot(data=train[train["metric"] == metric], x="step", y="value", hue="method", palette=COLORS, ax=ax,
                 legend=(metric == "train_return"), **figures.SEEDS_BAND)
    ax.set(xlabel="PPO update", ylabel=label)
axes[2].axhline(violation_target, ls="--", c="k", lw=1, label="target ε")
axes[2].set_yscale("log")
axes[2].legend(loc="lower left")
fig.tight_layout()
figures.save_figure(fig, "training_curves", "Level-1 training: reward, λ and HOL-delay violation rate per PPO "
                    f"update, with and without the Lagrangian term ({figures.band_caption()}).", **SAVE, svg=False)
plt.show()

# %% [markdown]
# ### Queue traces at the operating point: DRL vs proportional fair (first seed)

# %%
tr = RUNS[RUNS["metric"].isin(["trace_F", "trace_G"])].copy()
tr["queue"] = tr["metric"].map({"trace_F": "URLLC queue F (packets)", "trace_G": "eMBB queue G (packets)"})
tr = tr.sort_values(["queue", "method", "step"])
# moving average over trace_smooth_ms slots
tr["smoothed"] = tr.groupby(["queue", "method"])["value"].transform(
    lambda v: v.rolling(trace_smooth_ms, min_periods=1).mean())
g = sns.relplot(data=tr, x="step", y="smoothed", hue="method", palette=COLORS, col="queue", kind="line", height=3,
                aspect=1.6, facet_kws={"sharey": False})
g.set_axis_labels("slot (ms)", "packets")
g.set_titles(col_template="{col_name}")
figures.save_figure(g.figure, "queue_traces", f"F(t) and G(t) at {default_snr_db} dB, T_s = "
                    f"{default_control_period_ms} ms, seed {seeds[0]}: moving average over {trace_smooth_ms} ms.",
                    **SAVE, svg=False)
plt.show()

# %% [markdown]
# ### The two-way coupling, level by level (first seed, operating point)
#
# Every 100 ms level 2 reads the delay quantile τ̂ that level 1's scheduling produced and picks the fastest
# certified gains (ω_n); the resulting tracking quality, with the path's curvature, sets DI, which lowers the URLLC
# service level 1 must provision for.

# %%
coupling = RUNS[RUNS["metric"].str.startswith("coupling_")].copy()
coupling["time_s"] = coupling["step"] * CFG.slot_s
fig, axes = plt.subplots(3, 1, figsize=(10, 6.5), sharex=True)
for ax, (metric, label) in zip(axes, [("coupling_tau_hat_ms", "level 1 → 2: τ̂ (ms)"),
                                      ("coupling_wn", "level 2: certified ω_n (rad/s)"),
                                      ("coupling_di", "level 2 → 1: DI")]):
    for m, style in zip((OURS, "proportional-fair"), ("-", "--")):
        d = coupling[(coupling["metric"] == metric) & (coupling["method"] == m)]
        ax.step(d["time_s"], d["value"], where="post", ls=style, color=COLORS[m], label=m)
    ax.set(ylabel=label, xlabel="time (s)")
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2, frameon=False)
fig.tight_layout(rect=(0, 0, 1, 0.95))
figures.save_figure(fig, "coupling", f"The hierarchy at work at {default_snr_db} dB, T_s = "
                    f"{default_control_period_ms} ms (seed {seeds[0]}): command-delay quantile τ̂ from level 1, the "
                    "gains level 2 certifies for it, and the DI fed back to level 1.", **SAVE)
plt.show()

# %% [markdown]
# ### URLLC violation probability, eMBB throughput and URLLC delay vs mean SNR, sampling interval and DI

# %%
SWEEPS = [("snr", "snr_db", "mean SNR (dB)"), ("control_period", "control_period_ms", "T_s (ms)"),
          ("di", "di_offset", "DI offset")]
VIOLATION_TICKS = [0, 1e-4, 1e-3, 1e-2, 1e-1, 1]
fig, axes = plt.subplots(3, 3, figsize=(13, 9.5))
for col, (name, x, xlabel) in enumerate(SWEEPS):
    for row, (metric, ylabel) in enumerate([("urllc_violation", "URLLC violation prob."),
                                            ("embb_throughput_mbps", "eMBB throughput (Mb/s)"),
                                            ("urllc_delay_p99_ms", "URLLC p99 delay (ms)")]):
        ax = axes[row, col]
        sns.lineplot(data=sweep(metric, name), x=x, y="value", hue="method", hue_order=methods, palette=COLORS,
                     marker="o", ax=ax, legend=False, **figures.SEEDS_BAND)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        if metric == "urllc_violation":   # rare events and overload on one axis: linear below 1e-4, log above
            ax.set_yscale("symlog", linthresh=1e-4)
            ax.set_ylim(0, 1.5)
            ax.yaxis.set_major_locator(mticker.FixedLocator(VIOLATION_TICKS))
            ax.yaxis.set_major_formatter(mticker.FixedFormatter(["0", "1e-4", "1e-3", "0.01", "0.1", "1"]))
            ax.yaxis.set_minor_locator(mticker.NullLocator())
            ax.axhline(violation_target, ls="--", c="k", lw=0.8)
handles = [plt.Line2D([], [], color=COLORS[m], marker="o") for m in methods]
fig.legend(handles, methods, loc="upper center", ncol=len(methods), frameon=False)
fig.tight_layout(rect=(0, 0, 1, 0.97))
figures.save_figure(fig, "sweeps", "URLLC violation probability (dashed: target ε), eMBB throughput and URLLC "
                    "99th-percentile delay vs mean SNR, control interval T_s and DI offset (Razumikhin gains; "
                    f"{figures.band_caption()}).", **SAVE, svg=False)
plt.show()

# %% [markdown]
# ### Tracking error with the certified schedule, the tuned fixed gains and the exact-margin schedule

# %%
CONTROL_LABELS = {"tracking_rmse_m": "tracking RMSE (m)", "losses_of_control_per_min": "losses of control / min"}
ctrl = EVAL[(EVAL["sweep"] == "control_period") & EVAL["metric"].isin(list(CONTROL_LABELS))].copy()
ctrl["quantity"] = ctrl["metric"].map(CONTROL_LABELS)
g = sns.catplot(data=ctrl, x="control_period_ms", y="value", hue="gains", hue_order=GAIN_MODES, palette=GAIN_COLORS,
                col="method", row="quantity", kind="point", col_order=methods, height=2.6, aspect=1.1,
                sharey="row", margin_titles=True, dodge=0.3, **figures.SEEDS_BAND)
g.set_axis_labels("T_s (ms)", "")
g.set_titles(row_template="{row_name}", col_template="{col_name}")
figures.save_figure(g.figure, "tracking", "Robot tracking RMSE and losses of control per minute vs T_s: "
                    f"Razumikhin-certified schedule, fixed gains (ω_n = {FIXED_WN:g} rad/s, tuned) and the "
                    f"exact-margin schedule, per scheduler ({figures.band_caption()}).", **SAVE, svg=False)
plt.show()

# %% [markdown]
# ### Summary tables at the operating point
#
# IQM over seeds with a 95 % bootstrap CI; the violation probability also pooled over every packet of every seed
# with an exact (Clopper–Pearson) binomial interval, since it is a rare-event rate.

# %%
QOS_METRICS = ["urllc_delay_mean_ms", "urllc_delay_p99_ms", "embb_throughput_mbps"]
RESOURCE_METRICS = ["prb_utilisation", "bits_per_used_prb", "goodput_bits_per_prb", "urllc_queue_mean",
                    "embb_queue_mean"]
at_op = EVAL[(EVAL["sweep"] == "snr") & (EVAL["snr_db"] == default_snr_db)]


def per_seed(frame: pd.DataFrame, method: str, metric: str, gains_mode: str = "razumikhin") -> np.ndarray:
    return runs.per_seed(frame, metric, method, gains=gains_mode)


def pooled_violation(method: str, frame: pd.DataFrame = at_op, gains_mode: str = "razumikhin"):
    """Violations and packets over every seed, with the exact binomial 95 % interval."""
    missed = int(round(float(np.sum(per_seed(frame, method, "urllc_missed", gains_mode)))))
    packets = int(round(float(np.sum(per_seed(frame, method, "urllc_packets", gains_mode)))))
    ci = binomtest(missed, packets).proportion_ci(0.95, method="exact")
    return missed, packets, (float(ci.low), float(ci.high))


def pooled_text(method: str) -> str:
    missed, packets, (lo, hi) = pooled_violation(method)
    return f"{missed}/{packets} = {missed / packets:.2g} [{lo:.2g}, {hi:.2g}]"


display(table(pd.DataFrame([{"method": m, "URLLC violation (pooled, exact CI)": pooled_text(m),
                             **{metric: stats.format_ci(per_seed(at_op, m, metric)) for metric in QOS_METRICS}}
                            for m in methods]),
              f"Quality of service at {default_snr_db} dB, T_s = {default_control_period_ms} ms: IQM over seeds "
              "[95 % bootstrap CI] (delays interpolated within 1-ms slots)."))
display(table(pd.DataFrame([{"method": m, **{metric: stats.format_ci(per_seed(at_op, m, metric))
                                             for metric in RESOURCE_METRICS}} for m in methods]),
              "Resources and queues at the same point."))
display(table(pd.DataFrame([{"scheduler": m, "gains": g,
                             **{metric: stats.format_ci(per_seed(at_op, m, metric, g))
                                for metric in ("tracking_rmse_m", "losses_of_control_per_min", "dynamic_index_mean",
                                               "urllc_delay_mean_ms")}}
                            for m in methods for g in GAIN_MODES]),
              "Control side at the same point, per scheduler and level-2 rule."))

# %% [markdown]
# ## Claims
#
# The rows not marked *post hoc* were declared, with their thresholds, before the first full run of this revision
# (thresholds are constants of the notebook, identical in every profile). Rows marked *post hoc* were defined after
# that run, when a review showed what the declared rows could not decide (the deviations table says why for each);
# they are reported beside the declared rows and never replace them. Every scheduler is evaluated on the same seeds,
# channels, traffic and disturbance (common random numbers), so comparisons are **paired**: the statistic is the IQM
# of per-seed differences, with a 95 % bootstrap CI that resamples seeds, the probability of improvement beside it
# (`hrlkit.claims`). Each row's threshold is 0: the claimed sign of a paired difference; a row reads
# `not reproduced` when the whole CI is on the other side. C2 and C4 test results the paper reports in its
# experiments (queue lengths; resilience to channel, sampling interval and DI), as its public summaries describe
# them; the others test sentences of the abstract. Delay-slope readings of resilience hold largely by construction
# (a policy pinned under the delay bound has a flat delay curve), so they are facts, below.

# %%
CLAIMS = ClaimsTable([
    Claim("C1a", "Network optimization allocates resources for eMBB and URLLC users to balance competing "
          "objectives (vs proportional fair, tuned)",
          "constrained throughput S over every evaluated condition (eMBB Mb/s minus the price π of URLLC violations "
          "above ε; the tuning metric, declared before tuning)", "S(DRL) − S(PF), Mb/s", threshold=0.0,
          direction=">"),
    Claim("C1b", "Network optimization balances competing objectives (vs static slicing, tuned per SNR level)",
          "constrained throughput S over every evaluated condition", "S(DRL) − S(static), Mb/s", threshold=0.0,
          direction=">"),
    Claim("C1c", "Balances competing objectives (vs PF), without a price: eMBB throughput where the URLLC target "
          "is met", "mean over conditions of eMBB Mb/s counted only where the violation probability is ≤ ε",
          "DRL − PF, Mb/s", threshold=0.0, direction=">", post_hoc=True),
    Claim("C2a", "Reduced URLLC queue length vs proportional fair", "time-average F at the operating point",
          "IQM over seeds of F(PF) − F(DRL), packets", threshold=0.0, direction=">"),
    Claim("C2b", "Reduced eMBB queue length vs proportional fair", "time-average G at the operating point",
          "IQM over seeds of G(PF) − G(DRL), packets", threshold=0.0, direction=">"),
    Claim("C2c", "Reduced URLLC queue length vs PF, where queues can be stable",
          "time-average F at the SNR levels whose offered load is below 1", "F(PF) − F(DRL), packets",
          threshold=0.0, direction=">", post_hoc=True),
    Claim("C2d", "Reduced eMBB queue length vs PF, where queues can be stable",
          "time-average G at the SNR levels whose offered load is below 1", "G(PF) − G(DRL), packets",
          threshold=0.0, direction=">", post_hoc=True),
    Claim("C3a", "Control optimization keeps the loop stable where fixed gains fail",
          "losses of control per minute under DRL's delays, mean over every evaluated condition, vs the tuned fixed "
          "gains", "fixed-gain rate − Razumikhin rate", threshold=0.0, direction=">",
          precondition="the tuned fixed gains lose control in some evaluated condition"),
    Claim("C3b", "Control optimization keeps the loop responsive",
          "tracking RMSE under DRL's delays, over the conditions where the tuned fixed gains never lost control",
          "RMSE(fixed) − RMSE(Razumikhin), m (< 0: the certified gains track worse)", threshold=0.0, direction=">"),
    Claim("C4a", "Resilient to channel quality (vs PF)", "worst constrained throughput S over the SNR sweep",
          "min S(DRL) − min S(PF), Mb/s", threshold=0.0, direction=">", post_hoc=True),
    Claim("C4b", "Resilient to the control sampling interval (the level-2 adaptation)",
          "slope of tracking RMSE vs T_s under DRL's delays (m per ms)", "slope(fixed gains) − slope(Razumikhin)",
          threshold=0.0, direction=">"),
    Claim("C4c", "Resilient to the dynamic index DI (vs PF)", "worst constrained throughput S over the DI sweep",
          "min S(DRL) − min S(PF), Mb/s", threshold=0.0, direction=">", post_hoc=True),
    Claim("C5a", "Efficient resource utilization (vs PF)", "bits delivered per PRB that carried data, at the "
          "operating point", "DRL − PF, bits per PRB", threshold=0.0, direction=">"),
    Claim("C5b", "Efficient resource utilization (vs PF), per available PRB",
          "bits delivered (URLLC + eMBB) per available PRB per slot, over the SNR sweep", "DRL − PF, bits",
          threshold=0.0, direction=">", post_hoc=True),
    Claim("C6", "The Lagrangian term is what keeps URLLC within its delay target (ablation: λ ≡ 0)",
          "HOL-delay violation rate, mean over the SNR sweep", "rate(λ ≡ 0) − rate(DRL)", threshold=0.0,
          direction=">", precondition="without the Lagrangian term the constraint is violated (rate(λ ≡ 0) > ε), "
          "so the term has something to do"),
    Claim("C7", "The hierarchy's network level helps control (DRL vs PF, both with the Razumikhin schedule)",
          "tracking RMSE over every evaluated condition", "RMSE(PF, Razumikhin) − RMSE(DRL, Razumikhin), m",
          threshold=0.0, direction=">", post_hoc=True),
])


# %%
def sweep_matrix(metric: str, sweep_name: str | None, method: str, x: str | None, gains_mode: str = "razumikhin"):
    """(seeds × levels) matrix of one metric over one sweep (``None``: every condition), and the levels."""
    d = EVAL[(EVAL["metric"] == metric) & (EVAL["gains"] == gains_mode) & (EVAL["method"] == method)]
    if sweep_name is not None:
        d = d[d["sweep"] == sweep_name]
    columns = x or ["sweep", "snr_db", "control_period_ms", "di_offset"]
    d = d.pivot_table(index="seed", columns=columns, values="value")
    return d.to_numpy(), (d.columns.to_numpy(dtype=float) if x else None)


def constrained_matrix(method: str, sweep_name: str | None = None) -> np.ndarray:
    """Per seed and condition: eMBB Mb/s − π max(0, p_viol − ε)."""
    thr, _ = sweep_matrix("embb_throughput_mbps", sweep_name, method, None)
    viol, _ = sweep_matrix("urllc_violation", sweep_name, method, None)
    return thr - constraint_price * np.maximum(0.0, viol - violation_target)


def per_seed_slopes(metric: str, sweep_name: str, x: str, method: str, gains_mode: str = "razumikhin",
                    sign: float = 1.0) -> np.ndarray:
    """Per seed, the least-squares slope of metric vs x (sign = −1 turns 'falls with x' into degradation)."""
    values, levels = sweep_matrix(metric, sweep_name, method, x, gains_mode)
    return np.array([stats.slope(sign * levels, row) for row in values])


def control_gap(method: str, metric: str, only_where_fixed_stable: bool, other: str | None = None):
    """Per seed, metric(``other`` or ``method``, fixed gains) − metric(``method``, Razumikhin), averaged over
    conditions (optionally only where the fixed gains never lost control)."""
    rows = EVAL[EVAL["metric"].isin([metric, "losses_of_control_per_min"])]
    fixed_side = rows[(rows["method"] == (other or method)) & (rows["gains"] == "fixed")]
    ours_side = rows[(rows["method"] == method) & (rows["gains"] == "razumikhin")]
    index = ["sweep", "snr_db", "control_period_ms", "di_offset", "seed"]
    fixed = fixed_side.pivot_table(index=index, columns="metric", values="value")
    adaptive = ours_side.pivot_table(index=index, columns="metric", values="value")
    failed = fixed["losses_of_control_per_min"] > 0
    note = f"fixed gains lost control in {int(failed.sum())} of {len(fixed)} (condition, seed) cells"
    if only_where_fixed_stable:
        fixed, adaptive = fixed[~failed], adaptive[~failed.reindex(adaptive.index).to_numpy()]
        note = f"{len(fixed)} (condition, seed) cells where the fixed gains never lost control"
    if fixed.empty:
        return None
    a = fixed[metric].groupby(level="seed").mean()
    b = adaptive[metric].groupby(level="seed").mean()
    if list(a.index) != list(seeds) or list(b.index) != list(seeds):
        return None
    return a.to_numpy(), b.to_numpy(), note, int(failed.sum())


STABLE_LEVELS = [s for s, load in zip(SE_TABLE["snr_db"], SE_TABLE["offered load (PRB share)"]) if load < 1.0]


def stable_queue(method: str, metric: str) -> np.ndarray:
    values, levels = sweep_matrix(metric, "snr", method, "snr_db")
    return values[:, np.isin(levels, STABLE_LEVELS)].mean(axis=1)


def feasible_throughput(method: str) -> np.ndarray:
    """Per seed, mean over conditions of eMBB Mb/s counted only where the violation probability is ≤ ε."""
    thr, _ = sweep_matrix("embb_throughput_mbps", None, method, None)
    viol, _ = sweep_matrix("urllc_violation", None, method, None)
    return np.where(viol <= violation_target, thr, 0.0).mean(axis=1)


def tracking(method: str) -> np.ndarray:
    """Per seed, tracking RMSE (Razumikhin schedule) averaged over every condition."""
    return sweep_matrix("tracking_rmse_m", None, method, None)[0].mean(axis=1)


HAS_PF, HAS_STATIC = "proportional-fair" in methods, "static" in methods
PF = "proportional-fair"
if HAS_PF:
    CLAIMS["C1a"].compare(constrained_matrix(OURS).mean(axis=1), constrained_matrix(PF).mean(axis=1), ("DRL", "PF"))
    CLAIMS["C1c"].compare(feasible_throughput(OURS), feasible_throughput(PF), ("DRL", "PF"))
    for cid, metric in [("C2a", "urllc_queue_mean"), ("C2b", "embb_queue_mean")]:
        CLAIMS[cid].compare(per_seed(at_op, PF, metric), per_seed(at_op, OURS, metric), ("PF", "DRL"))
    for cid, metric in [("C2c", "urllc_queue_mean"), ("C2d", "embb_queue_mean")]:
        if STABLE_LEVELS:
            CLAIMS[cid].compare(stable_queue(PF, metric), stable_queue(OURS, metric),
                                ("PF", "DRL")).note += f"; SNR levels {STABLE_LEVELS} dB"
        else:
            CLAIMS[cid].untestable("no SNR level of the sweep has an offered load below 1")
    for cid, name in [("C4a", "snr"), ("C4c", "di")]:
        CLAIMS[cid].compare(constrained_matrix(OURS, name).min(axis=1), constrained_matrix(PF, name).min(axis=1),
                            ("DRL", "PF"))
    CLAIMS["C5a"].compare(per_seed(at_op, OURS, "bits_per_used_prb"), per_seed(at_op, PF, "bits_per_used_prb"),
                          ("DRL", "PF"))
    CLAIMS["C5b"].compare(sweep_matrix("goodput_bits_per_prb", "snr", OURS, "snr_db")[0].mean(axis=1),
                          sweep_matrix("goodput_bits_per_prb", "snr", PF, "snr_db")[0].mean(axis=1), ("DRL", "PF"))
    CLAIMS["C7"].compare(tracking(PF), tracking(OURS), ("PF", "DRL"))
else:
    for cid in ("C1a", "C1c", "C2a", "C2b", "C2c", "C2d", "C4a", "C4c", "C5a", "C5b", "C7"):
        CLAIMS[cid].untestable("needs proportional-fair in `methods`")
if HAS_STATIC:
    CLAIMS["C1b"].compare(constrained_matrix(OURS).mean(axis=1), constrained_matrix("static").mean(axis=1),
                          ("DRL", "static"))
else:
    CLAIMS["C1b"].untestable("needs static in `methods`")
stability = control_gap(OURS, "losses_of_control_per_min", False)
if CLAIMS["C3a"].require(stability[3] > 0, "the tuned fixed gains never lost control in any evaluated condition "
                         f"({stability[2]})"):
    CLAIMS["C3a"].compare(stability[0], stability[1], ("fixed", "Razumikhin")).note += f"; {stability[2]}"
responsiveness = control_gap(OURS, "tracking_rmse_m", True)
if responsiveness is None:
    CLAIMS["C3b"].untestable("the fixed gains lost control in every evaluated condition")
else:
    CLAIMS["C3b"].compare(responsiveness[0], responsiveness[1], ("fixed", "Razumikhin")).note += \
        f"; {responsiveness[2]}"
fixed_slope = per_seed_slopes("tracking_rmse_m", "control_period", "control_period_ms", OURS, "fixed")
adaptive_slope = per_seed_slopes("tracking_rmse_m", "control_period", "control_period_ms", OURS, "razumikhin")
CLAIMS["C4b"].measure_units(fixed_slope - adaptive_slope,
                            note=f"IQM slopes: fixed {stats.iqm(fixed_slope):.3g}, Razumikhin "
                                 f"{stats.iqm(adaptive_slope):.3g} m per ms")
if "drl-unconstrained" in methods:
    hol = {m: sweep_matrix("hol_violation_rate", "snr", m, "snr_db")[0].mean(axis=1) for m in LEARNED}
    unconstrained = float(stats.iqm(hol["drl-unconstrained"]))
    if CLAIMS["C6"].require(unconstrained > violation_target,
                            f"without λ the violation rate is {unconstrained:.3g} ≤ ε = {violation_target:g}"):
        CLAIMS["C6"].compare(hol["drl-unconstrained"], hol[OURS], ("λ ≡ 0", "DRL"))
else:
    CLAIMS["C6"].untestable("needs drl-unconstrained in `methods`")
display(CLAIMS)

# %% [markdown]
# #### C3 under every scheduler's delays, and the exact-margin variant of level 2
#
# The statistics of C3a and C3b per scheduler (paired over seeds), and the same for the exact-margin schedule in
# place of the Razumikhin one: how much of C3b is the certificate's conservatism.

# %%
def paired_text(a: np.ndarray, b: np.ndarray) -> str:
    value, (lo, hi) = stats.paired_difference_ci(a, b)
    return f"{value:.3g} [{lo:.3g}, {hi:.3g}]"


def c3_row(method: str) -> dict:
    row = {"scheduler": method}
    for label, metric, only_stable in [("losses/min: fixed − Razumikhin", "losses_of_control_per_min", False),
                                       ("RMSE (m): fixed − Razumikhin, where fixed stayed in control",
                                        "tracking_rmse_m", True)]:
        result = control_gap(method, metric, only_stable)
        row[label] = "—" if result is None else paired_text(result[0], result[1])
    mine = EVAL[EVAL["method"] == method]

    def per_seed_mean(metric: str, gains_mode: str) -> np.ndarray:
        d = mine[(mine["metric"] == metric) & (mine["gains"] == gains_mode)]
        return d.groupby("seed")["value"].mean().to_numpy()

    row["RMSE (m): Razumikhin − exact margin"] = paired_text(per_seed_mean("tracking_rmse_m", "razumikhin"),
                                                             per_seed_mean("tracking_rmse_m", "margin"))
    row["losses/min with the exact margin"] = stats.format_ci(per_seed_mean("losses_of_control_per_min", "margin"))
    return row


display(table(pd.DataFrame([c3_row(m) for m in methods]), "IQM of per-seed differences [95 % bootstrap CI], "
              "averaged over every evaluated condition."))

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests: what holds by construction, and what only describes the runs.

# %%
op_row = SE_TABLE[SE_TABLE["snr_db"] == default_snr_db].iloc[0]
final_lambda = np.array([TRAINED[(OURS, s)]["lambda"] for s in seeds])
ts_runs = EVAL[(EVAL["sweep"] == "control_period") & (EVAL["method"] == OURS)]
FIXED_KP, FIXED_KD = gains(FIXED_WN, fixed_zeta)


def gain_mode_effect(metric: str) -> tuple[float, tuple[float, float]]:
    """Under DRL over the T_s sweep: metric with fixed gains − with Razumikhin gains (IQM of per-seed differences)."""
    per_mode = {g: ts_runs[(ts_runs["metric"] == metric) & (ts_runs["gains"] == g)].groupby("seed")["value"].mean()
                .to_numpy() for g in GAIN_MODES}
    return stats.paired_difference_ci(per_mode["fixed"], per_mode["razumikhin"])


def slope_gap(sweep_name: str, x: str, sign: float) -> tuple[float, tuple[float, float]]:
    pf = per_seed_slopes("urllc_delay_p99_ms", sweep_name, x, "proportional-fair", sign=sign)
    ours = per_seed_slopes("urllc_delay_p99_ms", sweep_name, x, OURS, sign=sign)
    return stats.bootstrap_ci(pf - ours, "iqm")


delay_effect, di_effect = gain_mode_effect("urllc_delay_mean_ms"), gain_mode_effect("dynamic_index_mean")
fact_rows = [
    Fact("F1", f"offered load at the operating point ({default_snr_db} dB), as a share of the PRBs",
         float(op_row["offered load (PRB share)"]), "descriptive"),
    Fact("F2", f"delay certified by the Razumikhin condition for the tuned fixed gains (ω_n = {FIXED_WN:g} rad/s), "
         "ms", 1e3 * razumikhin_delay_bound(FIXED_KP, FIXED_KD), "by construction"),
    Fact("F3", "exact constant-delay margin of the same gains (ms): how conservative the certificate is",
         1e3 * exact_delay_margin(FIXED_KP, FIXED_KD), "by construction"),
    Fact("F4", "Lagrange multiplier λ at the end of level-1 training (IQM over seeds): the constraint is active "
         "when it is above 0", float(stats.iqm(final_lambda)), "descriptive",
         ci95=tuple(stats.aggregate_ci(final_lambda)["ci95"])),
    Fact("F5", "level 2 → level 1: mean URLLC delay under DRL with fixed minus Razumikhin gains, T_s sweep (ms)",
         delay_effect[0], "descriptive", ci95=delay_effect[1]),
    Fact("F6", "level 2 → level 1: mean DI under DRL with fixed minus Razumikhin gains, T_s sweep",
         di_effect[0], "descriptive", ci95=di_effect[1]),
    Fact("F7", "level-1 actor–critic parameters",
         sum(p.numel() for p in rl.ActorCritic(Slice5GCore.obs_dim, "beta", 1, hidden=(64, 64)).parameters()),
         "by construction"),
    Fact("F8", "pilot: HOL-delay violation rate without λ on the tuning seeds (mean), to compare with ε",
         float(pilot_rate.mean()), "descriptive"),
]
if HAS_PF:
    for fid, name, x, sign, what in [("F9", "snr", "snr_db", -1.0, "as SNR falls (ms per dB)"),
                                     ("F10", "di", "di_offset", 1.0, "vs DI offset (ms per unit)")]:
        value, ci = slope_gap(name, x, sign)
        fact_rows.append(Fact(fid, f"slope of URLLC p99 delay {what}, PF − DRL (p99 interpolated within 1-ms "
                              "slots): DRL's constraint pins its delay just under d_max, so this holds largely by "
                              "construction", value, "descriptive", ci95=ci))
FACTS = FactsTable(fact_rows)
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
DEVIATIONS = pd.DataFrame([
    ("Scale", "realistic 5G settings, long runs", f"1 gNB, {CFG.n_prb} PRBs, {CFG.n_urllc_users} URLLC + "
     f"{CFG.n_embb_users} eMBB users, {eval_slots} ms × {cells_per_condition} cells per condition and seed",
     "CPU budget (≤ 30 min for the whole notebook)"),
    ("Traffic constants λ0, α, λ_e, β, packet sizes", "not given", "Slice5GConfig defaults",
     "reconstructed so that 10 dB is about fully loaded and 5 dB overloaded (table above)"),
    ("r_u in the arrival model (Eq. 2)", "the URLLC user's rate", "URLLC packets delivered in the previous slot",
     "causal, and the same quantity for every scheduler (allocated capacity would reward idle PRBs)"),
    ("URLLC delay bound d_max and target ε", "not given", f"{delay_bound_ms} ms, ε = {violation_target:g}",
     "ε from the reference design; d_max chosen in development so that the constraint binds; the pilot above "
     "checks it on the tuning seeds"),
    ("What ε constrains", "not given", "training: the per-slot HOL-delay violation rate; tuning score S: the "
     "per-packet violation probability", "the HOL indicator is what the gNB sees each slot; S scores the QoS"),
    ("Lyapunov / Lagrangian terms", "'unified Lagrangian-based Lyapunov optimization'",
     "drift bound F(A1 − D) + G(A2 − r_e) (scaled) + V Σ 1/(r + r0)² + λ (v − ε)",
     "standard drift-plus-penalty form (Neely 2010); V, r0, scales reconstructed"),
    ("Actor–critic", "actor–critic network", "PPO (clipped, GAE) with a Beta policy over φ",
     "the paper's actor–critic is not specified further; PPO from hrlkit"),
    ("Level-1 action", "ρ_ij per PRB and user", "URLLC PRB share φ; each slice's PRBs to its best user",
     "keeps the action low-dimensional; every scheduler uses the same within-slice rule and PRB order"),
    ("Information", "DI lowers the URLLC service (task-driven allocation)", "every scheduler knows DI: the slicer "
     "observes it, PF and max-rate provision F + β·DI (+ PF's tuned margin)", "the same information for every "
     "method; task awareness alone then gives ours no edge"),
    ("Conditions within a run", "not given", "SNR, T_s and DI offset fixed per cell for a whole evaluation run",
     "level 2 re-tunes across conditions (the T_s sweep) more than within a run; time-varying conditions are left "
     "for later"),
    ("Proportional fair", "PF scheduling (details not given)", "slice-level PF whose URLLC demand is F + β·DI plus "
     "a margin; URLLC weight and margin tuned", "users of a slice share one queue, so per-user fairness has no "
     "meaning here"),
    ("DI (Eq. 3)", "tracking, orientation, curvature terms", "w_e |e|/e0 + w_o |Δθ|/π + w_κ κ/κ0, each capped at 3",
     "weights and scales reconstructed"),
    ("Robot", "teleoperated robot", "2-D point mass, feed-forward + delayed PD, unmodelled OU force "
     f"({CFG.disturbance_std:g} m/s², {CFG.disturbance_tau_s:g} s)",
     "no robot model given; the disturbance makes the gains matter beyond stability"),
    ("Razumikhin rule", "'fine-tunes the best gains' (Razumikhin-based)",
     "fastest ω_n whose certified delay τ* ≥ τ̂ = p99 command delay + T_s; τ* from the model-transformation "
     "condition, best over a grid of Q, p0, p1", "standard Razumikhin delay-dependent condition; exact rule not "
     "published"),
    ("Fixed gains", "not given", f"ζ = {fixed_zeta:g}, ω_n tuned ({FIXED_WN:g} rad/s selected)",
     "the strongest non-adaptive baseline the same tuning budget finds"),
    ("Training conditions", "not given", "SNR, T_s and DI offset randomised per rollout",
     "one policy per seed serves every sweep"),
    ("Post hoc rows", "no numbers [not found]", "C1c (no price), C2c–d (stable load), C4a and C4c (worst-case S), "
     "C5b (per available PRB), C7 (network level's effect on control)", "defined after a first full run showed "
     "that the declared rows could not decide: a price π chosen without data, a queue at an unstable load, delay "
     "slopes that hold by construction (now facts F9–F10), bits per used PRB that reward idle PRBs"),
    ("Results", "curves, no numbers [not found]", "trends and verdicts only", "paper's numbers unavailable"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
pooled = {m: pooled_violation(m) for m in methods}
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={metric: headline_entry({m: per_seed(at_op, m, metric) for m in methods})
              for metric in ["urllc_violation", "urllc_delay_p99_ms", "embb_throughput_mbps", "tracking_rmse_m"]},
    claims=CLAIMS, facts=FACTS,
    tuning={"summary": f"{TUNED.summary()}; fixed gains: {TUNED_GAINS.summary()}", "schedulers": TUNED.to_json(),
            "fixed_gains": TUNED_GAINS.to_json()},
    extra={"urllc_violation_pooled": {m: {"missed": v[0], "packets": v[1],
                                          "ci95_exact": [stats.round_sig(v[2][0]), stats.round_sig(v[2][1])]}
                                      for m, v in pooled.items()}})
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=RUNNER.timing(),
            tuning=TUNING_RUNNER.timing())

tail = max(1, train_updates // 5)


def late_change(method: str, key: str) -> tuple[float, tuple[float, float]]:
    """Change of a training-curve quantity over the last 20 % of updates, per seed (IQM, 95 % CI)."""
    change = [TRAINED[(method, s)]["curve"][-1][key] - TRAINED[(method, s)]["curve"][-tail - 1][key]
              if len(TRAINED[(method, s)]["curve"]) > tail else 0.0 for s in seeds]
    return stats.bootstrap_ci(change, "iqm")


lines = CLAIMS.summary_lines()
h = metrics_doc["headline"]
for m in methods:
    lines.append(f"- At {default_snr_db} dB, **{m}**: URLLC violation pooled {pooled_text(m)}, p99 delay "
                 f"{h['urllc_delay_p99_ms'][m]['iqm']:.3g} ms, eMBB {h['embb_throughput_mbps'][m]['iqm']:.3g} Mb/s, "
                 f"tracking RMSE {1e3 * h['tracking_rmse_m'][m]['iqm']:.3g} mm (IQM over seeds, Razumikhin gains)")
for m in learned:
    for key, what in (("return", "mean reward per slot"), ("lambda", "λ")):
        if key == "lambda" and m != OURS:
            continue
        value, (lo, hi) = late_change(m, key)
        state = "still changing" if lo > 0 or hi < 0 else "flat within seed noise"
        lines.append(f"- Training of {m}: {what} changed by {value:.3g} [{lo:.3g}, {hi:.3g}] over the last {tail} "
                     f"updates ({state}).")
lines.append(f"- Tuning: {TUNED.summary()}; fixed gains: {TUNED_GAINS.summary()}")
if PILOT:
    lines.append(f"- Pilot (S, ours − PF, on the tuning seeds: {PILOT_EFFECT:.3g} Mb/s): "
                 f"{PILOT.describe(abs(PILOT_EFFECT), len(seeds))}")
display(prose(lines))
