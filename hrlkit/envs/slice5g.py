"""Slice5G: two network slices (URLLC teleoperation commands, eMBB traffic) on one gNB, coupled to a
teleoperated robot whose tracking difficulty (the dynamic index DI) lowers the URLLC service rate.

Model of arXiv 2505.15977 (Sec. II, as we reconstruct it from the paper's text); every constant
that the paper does not give is a field of :class:`Slice5GConfig` whose comment says where it comes from.
All cells are simulated at once with numpy (``n_cells`` independent gNBs, one row each).

Time unit: one scheduling slot, dt = 1 ms. Queue unit: packets (fluid: service may be fractional).

**Every scheduler sees the same world.** Per slot t, for each cell, in this order:

1. Rayleigh block fading: |h_ij|² ~ Exp(1) redrawn per user i and PRB j.
   Rate of user i on PRB j (bits/slot): r_ij = B·dt·log2(1 + snr·|h_ij|²)                  (paper Eq. 1)
2. Arrivals join the queues *before* any scheduling decision (so the learned slicer, which observes the state
   after them, and the per-PRB schedulers, which read the backlog, know the same things):
   URLLC A1 ~ Poisson((λ0 − α·r_u(t−1))·(τ + D_app)), floored at λ_min, where r_u(t−1) is the URLLC rate
   *delivered* in the previous slot (the same definition for every scheduler)                     (Eq. 2)
   plus one tagged teleoperation command every control period T_s; eMBB A2 ~ Poisson(λ_e).
3. A scheduler maps PRBs to slices (ρ_ij ∈ {0,1}, Σ_i ρ_ij ≤ 1). Within a slice every scheduler uses the same
   rule: a PRB goes to the slice's user with the best channel on it (the users of a slice share its queue).
   Every scheduler walks the PRBs in the same order (from the one where URLLC's channel is relatively best to
   the one where eMBB's is). ``slicing`` gives the URLLC slice the first φ·k of them (level 1's action);
   ``proportional-fair`` and ``max-rate`` decide PRB by PRB among slices whose demand is not yet covered: for URLLC
   the capacity that empties its queue, F + β·DI (they know the DI loss of Eq. 4, as the learned slicer observes
   DI), plus a tunable margin; for eMBB the buffer G.
4. URLLC departures (Eq. 4): D = [r_u − β·DI]^+ packets, r_u the capacity of the URLLC PRBs; eMBB departures
   min(r_e, G). Queues (Eq. 5–6): F(t+1) = [F + A1 − D]^+, G(t+1) = min([G + A2 − r_e]^+, G_max).
   URLLC packets are served first-in first-out; a ring buffer of arrival-slot bins gives each packet's queueing
   delay (to the slot; :func:`delay_quantile_ms` interpolates within the slot), the head-of-line (HOL) age,
   and the delivery slot of each tagged command.

The robot (level 2's plant): a 2-D point mass (double integrator) following a figure-eight and pushed by an
unmodelled force (an Ornstein–Uhlenbeck disturbance per axis, so that feedback gains matter). The remote
operator's PD controller computes u_k = a_ref + K_p e + K_d ė every T_s slots; u_k travels as a URLLC packet and
is applied (zero-order hold) when the FIFO delivers it. DI(t) = w_e·|e|/e_0 + w_o·|Δθ|/π + w_κ·κ/κ_0 (paper
Eq. 3 names the three terms; weights reconstructed), so level 2's tracking quality feeds back into level 1.

The level-1 reward is *not* computed here: :meth:`Slice5GCore.step` returns its ingredients (the Lyapunov drift
bound, the rate penalty, the HOL-delay violation) and the notebook writes the Lagrangian out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np
from gymnasium import spaces

SCHEDULERS = ("slicing", "proportional-fair", "max-rate")


@dataclass(frozen=True)
class Slice5GConfig:
    # --- radio (typical 5G NR numerology 0) ---
    n_prb: int = 25                # k PRBs per slot (5 MHz carrier)
    prb_bandwidth_hz: float = 180e3  # B
    slot_s: float = 1e-3           # dt = τ, one slot
    n_urllc_users: int = 2         # n_u (reconstructed)
    n_embb_users: int = 3          # n_e (reconstructed)
    # --- traffic (reconstructed: loads chosen so that 10 dB is about fully loaded and 5 dB overloaded) ---
    urllc_packet_bits: float = 800.0   # 100-byte teleoperation/haptic packets
    embb_packet_bits: float = 12000.0  # 1500-byte video packets
    lambda0: float = 2.0           # λ0, URLLC packets per ms (aggregate)
    alpha: float = 0.02            # α, arrival reduction per delivered URLLC packet/slot (Eq. 2)
    lambda_min: float = 0.5        # floor of λ0 − α r_u (keeps the Poisson rate positive)
    app_delay_ms: float = 0.5      # D_app in Eq. 2
    lambda_embb: float = 1.3       # λ_e, eMBB packets per slot
    beta: float = 0.5              # β, URLLC service lost per unit DI (Eq. 4)
    embb_buffer: float = 500.0     # G_max, packets (finite buffer, drops beyond)
    delay_bound_ms: int = 2        # URLLC delay bound d_max (chosen by the notebook's pilot so the constraint binds)
    ring_slots: int = 64           # FIFO delay bins; older packets are dropped (count as violations)
    # --- ingredients of the level-1 reward (structure from Neely 2010; constants reconstructed) ---
    rate_floor: float = 0.1        # r0, packets/slot, keeps the rate penalty Σ 1/(r + r0)² finite
    queue_scale_urllc: float = 10.0  # F normaliser (packets)
    queue_scale_embb: float = 50.0   # G normaliser (packets)
    # --- baseline schedulers' knobs (tuned in the notebook) ---
    pf_window_slots: float = 100.0  # t_c of PF's exponential average R̄ (Kelly 1998)
    pf_urllc_weight: float = 1.0    # weight of the URLLC slice in PF's metric w_s r_sj / R̄_s
    urllc_margin: float = 0.0       # packets the per-PRB schedulers provision above the URLLC need F + β·DI
    # --- teleoperated robot (level-2 plant; reconstructed) ---
    path_amplitude_m: float = 0.5
    path_period_s: float = 4.0
    control_period_ms: int = 5     # T_s (swept in the notebook)
    di_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # w_e, w_o, w_κ
    di_error_scale_m: float = 0.05  # e_0
    di_offset: float = 0.0         # exogenous task difficulty added to DI (swept in the notebook)
    disturbance_std: float = 2.0   # m/s², stationary std of the unmodelled force per unit mass (per axis)
    disturbance_tau_s: float = 0.1  # correlation time of that force (Ornstein–Uhlenbeck)
    max_pending_commands: int = 64
    error_limit_m: float = 0.5     # |e| beyond this (the path's amplitude) counts as a loss of control
    # --- fixed controller used by check_env / default (level 2 sets gains at run time) ---
    kp: float = 625.0
    kd: float = 35.0

    def validate(self) -> None:
        if self.n_prb < 1 or self.n_urllc_users < 1 or self.n_embb_users < 1:
            raise ValueError("Slice5GConfig: n_prb, n_urllc_users and n_embb_users must be >= 1")
        if self.control_period_ms < 1 or self.delay_bound_ms < 1 or self.ring_slots <= self.delay_bound_ms:
            raise ValueError("Slice5GConfig: need control_period_ms >= 1 and ring_slots > delay_bound_ms >= 1")
        if self.pf_window_slots < 1 or self.pf_urllc_weight <= 0 or self.urllc_margin < 0:
            raise ValueError("Slice5GConfig: need pf_window_slots >= 1, pf_urllc_weight > 0, urllc_margin >= 0")


def mean_spectral_efficiency(snr_db: float, n_users: int, n_draws: int = 20000, seed: int = 0) -> float:
    """E[max_i log2(1 + snr |h_i|²)] over n_users Rayleigh users (selection diversity), Monte Carlo."""
    rng = np.random.default_rng(seed)
    h2 = rng.exponential(size=(n_draws, n_users))
    return float(np.log2(1.0 + 10 ** (snr_db / 10) * h2).max(axis=1).mean())


def delay_quantile_ms(hist: np.ndarray, q: float, slot_ms: float = 1.0) -> np.ndarray:
    """Quantile of queueing delay from per-slot departure histograms (row = cell, column a = packets that left
    with a delay in (a, a + 1] slots), interpolated linearly within the slot (delays uniform within a bin)."""
    hist = np.atleast_2d(hist)
    total = hist.sum(axis=1, keepdims=True)
    cum = np.cumsum(hist, axis=1) / np.maximum(total, 1e-300)
    target = q
    a = np.minimum((cum < target - 1e-12).sum(axis=1), hist.shape[1] - 1)
    rows = np.arange(hist.shape[0])
    before = np.where(a > 0, cum[rows, np.maximum(a - 1, 0)], 0.0)
    share = cum[rows, a] - before
    frac = np.clip((target - before) / np.maximum(share, 1e-300), 0.0, 1.0)
    out = (a + frac) * slot_ms
    return np.where(total[:, 0] > 0, out, np.nan)


class Slice5GCore:
    """The vectorised simulator: ``n_cells`` independent cells stepped together.

    ``snr_db``, ``control_period_ms`` and ``di_offset`` may be scalars or one value per cell, so a single
    evaluation covers a whole sweep. The scheduler is chosen per step: ``"slicing"`` takes the URLLC PRB
    share φ ∈ [0, 1] per cell (level 1's action); the baselines need no action.

    Random streams are separate (channels, traffic, robot disturbance), so every scheduler run from the same seed
    sees the same fades and disturbance forces (common random numbers).
    """

    obs_dim = 9

    def __init__(self, n_cells: int, cfg: Slice5GConfig = Slice5GConfig(), *, snr_db=10.0,
                 control_period_ms=None, di_offset=None, seed: int = 0):
        cfg.validate()
        self.cfg, self.n = cfg, int(n_cells)
        self.snr_db = np.broadcast_to(np.asarray(snr_db, dtype=float), (self.n,)).copy()
        ts = cfg.control_period_ms if control_period_ms is None else control_period_ms
        self.control_period = np.broadcast_to(np.asarray(ts, dtype=np.int64), (self.n,)).copy()
        off = cfg.di_offset if di_offset is None else di_offset
        self.di_offset = np.broadcast_to(np.asarray(off, dtype=float), (self.n,)).copy()
        self.kp = np.full(self.n, cfg.kp)
        self.kd = np.full(self.n, cfg.kd)
        self.lagrange_multiplier = 0.0     # observed by level 1 (set by the notebook's dual ascent)
        self.reset(seed)

    # ------------------------------------------------------------------ state
    def reset(self, seed: int) -> np.ndarray:
        c, n = self.cfg, self.n
        streams = np.random.SeedSequence(seed).spawn(3)
        self.rng_channel, self.rng_traffic, self.rng_robot = (np.random.default_rng(s) for s in streams)
        self.t = 0
        self.F = np.zeros(n)
        self.G = np.zeros(n)
        self.ring = np.zeros((n, c.ring_slots))         # URLLC packets per arrival bin (index = age in slots)
        self.pf_avg = np.ones((n, 2))                    # PF's exponential average rate R̄_s per slice (bits/slot)
        self.delivered_urllc = np.zeros(n)               # r_u(t−1) of Eq. 2: URLLC packets delivered last slot
        self.last_phi = np.full(n, 0.2)
        # robot: state in world frame, applied command, disturbance, pending FIFO commands
        ref_p, ref_v, _, _ = self._reference(0.0)
        self.pos = np.repeat(ref_p[None, :], n, axis=0)
        self.vel = np.repeat(ref_v[None, :], n, axis=0)
        self.disturbance = self.rng_robot.normal(size=(n, 2)) * c.disturbance_std
        self.u_applied = np.zeros((n, 2))
        P = c.max_pending_commands
        self.cmd_ahead = np.full((n, P), np.inf)     # packets still ahead of each pending command (incl. itself)
        self.cmd_u = np.zeros((n, P, 2))
        self.cmd_sent = np.zeros((n, P), dtype=np.int64)
        self.cmd_next = np.zeros(n, dtype=np.int64)   # ring index for the next command
        self.di = np.zeros(n)
        self.lost_control = np.zeros(n, dtype=bool)
        self.tracking_error = np.zeros(n)
        self.loss_events = np.zeros(n)                 # times the operator had to re-engage the robot
        self.delay_hist = np.zeros((n, c.ring_slots))  # URLLC departures by queueing delay (slots - 1)
        self.delay_log: list[np.ndarray] = []        # delays (slots) of delivered commands, read by level 2
        self._begin_slot()
        return self.observe()

    def _begin_slot(self) -> None:
        """Channels of slot t, then its arrivals join the queues (before anyone schedules)."""
        c = self.cfg
        users = c.n_urllc_users + c.n_embb_users
        h2 = self.rng_channel.exponential(size=(self.n, users, c.n_prb))
        snr = 10 ** (self.snr_db / 10)
        # r_ij = B dt log2(1 + p|h_ij|²/σ²)  (Eq. 1), bits per slot
        self.rate_bits = c.prb_bandwidth_hz * c.slot_s * np.log2(1.0 + snr[:, None, None] * h2)
        # within a slice every PRB goes to the slice's best user: bits per slot of each slice on each PRB
        self.slice_bits = np.stack([self.rate_bits[:, :c.n_urllc_users].max(axis=1),
                                    self.rate_bits[:, c.n_urllc_users:].max(axis=1)], axis=1)  # (n, 2, k)
        self.F_before, self.G_before = self.F.copy(), self.G.copy()
        # Eq. 2: A1 ~ Poisson((λ0 − α r_u)(τ + D_app)), floored at λ_min; r_u = last slot's delivered URLLC rate
        lam_u = np.maximum(c.lambda0 - c.alpha * self.delivered_urllc, c.lambda_min) * (1.0 + c.app_delay_ms)
        arrivals_u = self.rng_traffic.poisson(lam_u).astype(float)
        send_cmd = (self.t % self.control_period) == 0
        self.arrivals_u = arrivals_u + send_cmd
        self.arrivals_e = self.rng_traffic.poisson(c.lambda_embb, size=self.n).astype(float)
        self._age_ring(self.arrivals_u)
        self.F = self.ring.sum(axis=1)
        self.G = self.G + self.arrivals_e
        self._send_commands(send_cmd)

    def observe(self) -> np.ndarray:
        c = self.cfg
        best_u = self.slice_bits[:, 0] / c.urllc_packet_bits   # packets/slot per PRB
        best_e = self.slice_bits[:, 1] / c.embb_packet_bits
        hol = self.hol_age()
        return np.stack([
            self.F / c.queue_scale_urllc,
            self.G / c.queue_scale_embb,
            hol / c.delay_bound_ms,
            best_u.mean(axis=1),                       # URLLC packets one average PRB carries now
            best_e.mean(axis=1) * 10.0,                # eMBB packets (×10) one average PRB carries now
            self.di,
            np.full(self.n, self.lagrange_multiplier),
            self.last_phi,
            self.snr_db / 20.0,                        # mean SNR (the gNB knows users' average CQI)
        ], axis=1).astype(np.float32)

    def hol_age(self) -> np.ndarray:
        """Age in slots of the oldest URLLC packet in the queue (0 when empty)."""
        occupied = self.ring > 1e-9
        last = np.where(occupied.any(axis=1), self.cfg.ring_slots - 1 - np.argmax(occupied[:, ::-1], axis=1), 0)
        return last.astype(float)

    # ------------------------------------------------------------------ schedulers
    def urllc_need(self) -> np.ndarray:
        """Capacity (packets) the URLLC slice needs to empty its queue this slot: F + β·DI (Eq. 4 loses β·DI)."""
        return self.F + self.cfg.beta * self.di

    def prb_order(self) -> np.ndarray:
        """PRBs from the one where URLLC's channel is relatively best (ratio of slice rates) to the one where eMBB's
        is: the order in which every scheduler places URLLC data first."""
        ratio = self.slice_bits[:, 0] / (self.slice_bits[:, 1] + 1e-9)
        return np.argsort(-ratio, axis=1, kind="stable")

    def _assign_slicing(self, phi: np.ndarray) -> np.ndarray:
        """φ·k PRBs to URLLC: the first ones in :meth:`prb_order`."""
        c = self.cfg
        n_u = np.clip(np.rint(phi * c.n_prb), 0, c.n_prb).astype(np.int64)
        rank = np.argsort(self.prb_order(), axis=1)      # position of each PRB in that order
        urllc = rank < n_u[:, None]
        return np.where(urllc, 0, 1)                     # slice index of each PRB (all PRBs assigned)

    def _assign_sequential(self, metric: np.ndarray) -> np.ndarray:
        """PRB by PRB in :meth:`prb_order`, give each PRB to the slice with the highest ``metric`` (n, 2, k) whose
        demand is not yet covered; -1 marks a PRB nobody needs."""
        c = self.cfg
        # demand in bits: URLLC the need F + β·DI plus the margin, eMBB the buffer G
        left = np.stack([(self.urllc_need() + c.urllc_margin) * c.urllc_packet_bits, self.G * c.embb_packet_bits],
                        axis=1)
        left[:, 0] = np.where(self.F > 1e-9, left[:, 0], 0.0)     # no margin for an empty buffer
        owner = np.full((self.n, c.n_prb), -1, dtype=np.int64)
        rows = np.arange(self.n)
        order = self.prb_order()
        for position in range(c.n_prb):
            j = order[:, position]
            m = np.where(left > 1e-9, metric[rows, :, j], -np.inf)
            active = np.isfinite(m).any(axis=1)
            who = np.argmax(m, axis=1)
            owner[rows, j] = np.where(active, who, -1)
            left[rows, who] -= np.where(active, self.slice_bits[rows, who, j], 0.0)
        return owner

    def _prbs_used(self, cap: np.ndarray, backlog: np.ndarray) -> np.ndarray:
        """PRBs that carry data when a slice serves ``backlog`` on its best PRBs first."""
        srt = -np.sort(-cap, axis=1)
        cum = np.cumsum(srt, axis=1)
        n_alloc = (srt > 0).sum(axis=1)
        need = (cum < backlog[:, None] - 1e-9).sum(axis=1) + 1
        need = np.where(backlog <= 1e-9, 0, need)
        return np.minimum(need, n_alloc).astype(float)

    # ------------------------------------------------------------------ dynamics
    def step(self, scheduler: str, phi: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Schedule and serve slot t (its arrivals are already queued), move the robot, start slot t + 1."""
        c = self.cfg
        if scheduler == "slicing":
            if phi is None:
                raise ValueError("scheduler 'slicing' needs phi, the URLLC PRB share per cell")
            phi = np.clip(np.asarray(phi, dtype=float).reshape(self.n), 0.0, 1.0)
            owner = self._assign_slicing(phi)
            self.last_phi = phi
        elif scheduler == "proportional-fair":
            # metric w_s r_sj / R̄_s (Kelly 1998), the URLLC slice weighted by w_u
            weight = np.array([c.pf_urllc_weight, 1.0])
            owner = self._assign_sequential(weight[None, :, None] * self.slice_bits / self.pf_avg[:, :, None])
        elif scheduler == "max-rate":
            owner = self._assign_sequential(self.slice_bits)
        else:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
        cap_u = np.where(owner == 0, self.slice_bits[:, 0], 0.0) / c.urllc_packet_bits   # per PRB, packets
        cap_e = np.where(owner == 1, self.slice_bits[:, 1], 0.0) / c.embb_packet_bits
        r_u, r_e = cap_u.sum(axis=1), cap_e.sum(axis=1)
        used = self._prbs_used(cap_u, self.urllc_need()) + self._prbs_used(cap_e, self.G)
        # PF's average R̄_s ← (1 − 1/t_c) R̄_s + (1/t_c) r_s (allocated bits per slot, floored at 1 bit)
        got = np.stack([(np.where(owner == s, self.slice_bits[:, s], 0.0)).sum(axis=1) for s in (0, 1)], axis=1)
        self.pf_avg += (np.maximum(got, 1.0) - self.pf_avg) / c.pf_window_slots

        # Eq. 4: URLLC service μ = [r_u − β·DI]^+, served first-in first-out
        service_u = np.maximum(r_u - c.beta * self.di, 0.0)
        departed_u, late_u, dropped_u = self._serve_fifo(service_u)
        self.delivered_urllc = departed_u
        self.F = self.ring.sum(axis=1)
        self._deliver_commands(service_u)
        # Eq. 6: G(t+1) = [G + A2 − r_e]^+, with a finite buffer
        served_e = np.minimum(r_e, self.G)
        G_next = self.G - served_e
        dropped_e = np.maximum(G_next - c.embb_buffer, 0.0)
        self.G = np.minimum(G_next, c.embb_buffer)

        self._robot_step()
        hol = self.hol_age()
        # HOL-delay violation: a packet still queued is already doomed to exceed d_max (it leaves at age ≥ a + 1)
        violation = (hol >= c.delay_bound_ms - 1).astype(float) * (self.F > 1e-9)
        # ingredients of the level-1 reward: Lyapunov drift bound of L = ½(F² + G²) (Neely 2010), scaled,
        # Δ ≤ B + F(A1 − D) + G(A2 − r_e), and the rate penalty Σ 1/(r + r0)² of the paper's objective (Eq. 7)
        sF, sG = c.queue_scale_urllc, c.queue_scale_embb
        drift = (self.F_before / sF) * (self.arrivals_u - service_u) / sF \
            + (self.G_before / sG) * (self.arrivals_e - r_e) / sG
        penalty = 1.0 / (r_u + c.rate_floor) ** 2 + 1.0 / (r_e + c.rate_floor) ** 2
        info = {
            "urllc_rate": r_u, "urllc_service": service_u, "urllc_departed": departed_u, "urllc_late": late_u,
            "urllc_dropped": dropped_u, "urllc_arrivals": self.arrivals_u.copy(),
            "embb_arrivals": self.arrivals_e.copy(), "embb_rate": r_e, "embb_served_packets": served_e,
            "embb_dropped": dropped_e, "violation": violation, "hol_age": hol, "prbs_used": used,
            "F": self.F.copy(), "G": self.G.copy(), "drift": drift, "penalty": penalty,
            "tracking_error": self.tracking_error.copy(), "di": self.di.copy(),
            "lost_control": self.lost_control.copy(),
        }
        self.t += 1
        self._begin_slot()
        return self.observe(), info

    def _serve_fifo(self, service: np.ndarray):
        """Remove ``service`` packets from the oldest bins. Returns (departed, departed late, dropped)."""
        c = self.cfg
        ring = self.ring[:, ::-1]                      # oldest first
        cum = np.cumsum(ring, axis=1)
        prev = cum - ring
        take = np.clip(service[:, None] - prev, 0.0, ring)
        ring_after = ring - take
        age = np.arange(c.ring_slots)[::-1]            # a packet of age a leaves with a delay in (a, a + 1] slots
        self.delay_hist += take[:, ::-1]                # packets departed, by age (index)
        departed = take.sum(axis=1)
        late = (take * (age >= c.delay_bound_ms)).sum(axis=1)
        self.ring = ring_after[:, ::-1].copy()
        # packets that would outgrow the ring are dropped (they have long missed the delay bound)
        dropped = self.ring[:, -1].copy()
        self.ring[:, -1] = 0.0
        return departed, late, dropped

    def _age_ring(self, arrivals: np.ndarray) -> None:
        self.ring[:, 1:] = self.ring[:, :-1]
        self.ring[:, 0] = arrivals

    # ------------------------------------------------------------------ teleoperated robot (level-2 plant)
    def _reference(self, t_s: float | np.ndarray):
        c = self.cfg
        w = 2 * np.pi / c.path_period_s
        A = c.path_amplitude_m
        t = np.asarray(t_s, dtype=float)
        # figure-eight (Gerono lemniscate): p = (A sin wt, A/2 sin 2wt)
        p = np.stack([A * np.sin(w * t), 0.5 * A * np.sin(2 * w * t)], axis=-1)
        v = np.stack([A * w * np.cos(w * t), A * w * np.cos(2 * w * t)], axis=-1)
        a = np.stack([-A * w**2 * np.sin(w * t), -2 * A * w**2 * np.sin(2 * w * t)], axis=-1)
        # curvature κ = |v × a| / |v|³
        cross = v[..., 0] * a[..., 1] - v[..., 1] * a[..., 0]
        speed = np.linalg.norm(v, axis=-1)
        kappa = np.abs(cross) / np.maximum(speed, 1e-6) ** 3
        return p, v, a, kappa

    def _send_commands(self, send: np.ndarray) -> None:
        """Operator side: u = a_ref + K_p e + K_d ė, queued as the newest URLLC packet (behind F − 1 others)."""
        if not send.any():
            return
        t_s = self.t * self.cfg.slot_s
        p, v, a, _ = self._reference(t_s)
        u = a[None, :] + self.kp[:, None] * (p[None, :] - self.pos) + self.kd[:, None] * (v[None, :] - self.vel)
        rows = np.nonzero(send)[0]
        idx = self.cmd_next[rows] % self.cfg.max_pending_commands
        self.cmd_ahead[rows, idx] = self.F[rows]      # packets ahead of it, itself included
        self.cmd_u[rows, idx] = u[rows]
        self.cmd_sent[rows, idx] = self.t
        self.cmd_next[rows] += 1

    def _deliver_commands(self, service: np.ndarray) -> None:
        self.cmd_ahead -= service[:, None]
        delivered = self.cmd_ahead <= 1e-9
        if not delivered.any():
            return
        sent = np.where(delivered, self.cmd_sent, -1)
        newest = np.argmax(sent, axis=1)
        rows = np.nonzero(delivered.any(axis=1))[0]
        self.u_applied[rows] = self.cmd_u[rows, newest[rows]]
        self.delay_log.append(np.where(delivered, self.t - self.cmd_sent + 1, -1))
        self.cmd_ahead[delivered] = np.inf

    def _robot_step(self) -> None:
        c = self.cfg
        dt = c.slot_s
        # unmodelled force per unit mass: Ornstein–Uhlenbeck, d ← d e^{−dt/τ_d} + σ √(1 − e^{−2dt/τ_d}) N(0, 1)
        decay = np.exp(-dt / c.disturbance_tau_s)
        self.disturbance = decay * self.disturbance + c.disturbance_std * np.sqrt(1 - decay**2) \
            * self.rng_robot.normal(size=(self.n, 2))
        # double integrator p̈ = u + d, semi-implicit Euler at the slot rate
        self.vel += (self.u_applied + self.disturbance) * dt
        self.pos += self.vel * dt
        p, v, _, kappa = self._reference((self.t + 1) * dt)
        err = p[None, :] - self.pos
        self.tracking_error = np.linalg.norm(err, axis=1)
        # loss of control: the error left the workspace; the operator re-engages (robot re-synced to the path)
        lost = self.tracking_error > c.error_limit_m
        if lost.any():
            self.loss_events += lost
            self.pos[lost], self.vel[lost] = p, v
            self.u_applied[lost] = 0.0
            self.tracking_error = np.where(lost, c.error_limit_m, self.tracking_error)
        self.lost_control = lost
        heading_ref = np.arctan2(v[1], v[0])
        heading = np.arctan2(self.vel[:, 1], self.vel[:, 0])
        dtheta = np.abs(np.angle(np.exp(1j * (heading - heading_ref))))
        we, wo, wk = c.di_weights
        kappa0 = 1.0 / c.path_amplitude_m
        # DI = w_e |e|/e_0 + w_o |Δθ|/π + w_κ κ/κ_0  (paper Eq. 3: tracking, orientation and curvature terms)
        di = we * np.minimum(self.tracking_error / c.di_error_scale_m, 3.0) + wo * dtheta / np.pi \
            + wk * np.minimum(kappa / kappa0, 3.0)
        self.di = di + self.di_offset

    # The delay log of delivered commands is read (and cleared) by the control level.
    def pop_command_delays(self) -> list[np.ndarray]:
        """Per cell, the delays (slots) of the commands delivered since the last call."""
        if not self.delay_log:
            return [np.zeros(0) for _ in range(self.n)]
        d = np.concatenate(self.delay_log, axis=1)
        self.delay_log = []
        return [row[row >= 0].astype(float) for row in d]

    def set_gains(self, kp: np.ndarray, kd: np.ndarray) -> None:
        self.kp = np.broadcast_to(np.asarray(kp, dtype=float), (self.n,)).copy()
        self.kd = np.broadcast_to(np.asarray(kd, dtype=float), (self.n,)).copy()


class Slice5GEnv(gym.Env):
    """One cell of :class:`Slice5GCore` behind the Gymnasium API (id ``hrlkit/Slice5G-v0``).

    Action: the URLLC PRB share φ ∈ [0, 1] (level 1's decision). Observation: the 9 features of
    :meth:`Slice5GCore.observe`. Reward: the unconstrained drift-plus-penalty −(drift + V·penalty) (the notebook
    adds the Lagrangian term for the delay constraint). Episodes are truncated after ``episode_slots`` slots; the
    robot runs with the fixed gains of the config unless ``set_gains`` is called.
    """

    metadata = {"render_modes": []}

    def __init__(self, cfg: Slice5GConfig | None = None, snr_db: float = 10.0, episode_slots: int = 1000,
                 penalty_weight: float = 0.1, **overrides):
        cfg = cfg or Slice5GConfig()
        self.cfg = replace(cfg, **overrides) if overrides else cfg
        self.snr_db = float(snr_db)
        self.episode_slots = int(episode_slots)
        self.penalty_weight = float(penalty_weight)
        self.core = Slice5GCore(1, self.cfg, snr_db=self.snr_db, seed=0)
        # every feature is non-negative except the mean-SNR indicator (snr_db / 20)
        low = np.zeros(Slice5GCore.obs_dim, dtype=np.float32)
        low[-1] = -10.0
        self.observation_space = spaces.Box(low, np.float32(1e6), dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        core_seed = int(self.np_random.integers(0, 2**31 - 1))
        obs = self.core.reset(core_seed)
        return obs[0], {}

    def step(self, action):
        phi = np.asarray(action, dtype=float).reshape(1)
        obs, info = self.core.step("slicing", phi)
        reward = -(info["drift"] + self.penalty_weight * info["penalty"])
        truncated = self.core.t >= self.episode_slots
        terminated = False  # a continuing task: losses of control are counted, the robot is re-engaged
        return obs[0], float(reward[0]), terminated, truncated, {k: float(v[0]) for k, v in info.items()}
