"""Slice5G: two network slices (URLLC teleoperation commands, eMBB traffic) on one gNB, coupled to a
teleoperated robot whose tracking difficulty (the dynamic index DI) lowers the URLLC service rate.

Model of arXiv 2505.15977 (Sec. II, as we reconstruct it from the paper's text); every constant
that the paper does not give is a field of :class:`Slice5GConfig` whose comment says where it comes from.
All cells are simulated at once with numpy (``n_cells`` independent gNBs, one row each).

Time unit: one scheduling slot, dt = 1 ms. Queue unit: packets (fluid: service may be fractional).

Per slot t, for each cell:

* Rayleigh block fading: |h_ij|² ~ Exp(1) redrawn per user i and PRB j.
* Rate of user i on PRB j (bits/slot): r_ij = B·dt·log2(1 + snr·|h_ij|²)             (paper Eq. 1)
* A scheduler assigns each PRB to at most one user (ρ_ij ∈ {0,1}, Σ_i ρ_ij ≤ 1); the URLLC users share the
  URLLC queue F, the eMBB users the eMBB queue G (two queues, as in the paper).
* URLLC arrivals, DI-coupled modified Poisson (Eq. 2): A1 ~ Poisson((λ0 − α·r_u)·(τ + D_app)), floored at
  λ_min; plus one tagged teleoperation command every control period T_s.
* URLLC departures (Eq. 4): D = [r_u − β·DI]^+ packets/slot.
* eMBB arrivals A2 ~ Poisson(λ_e), served at r_e.
* Queues (Eq. 5–6): F(t+1) = [F + A1 − D]^+,  G(t+1) = min([G + A2 − r_e]^+, G_max) (finite eMBB buffer).
* URLLC packets are served first-in first-out; a ring buffer of arrival-slot bins gives each packet's exact
  queueing delay, the head-of-line (HOL) age, and the delivery slot of each tagged command.

The robot (level 2's plant): a 2-D point mass (double integrator) following a figure-eight. The remote
operator's PD controller computes u_k = a_ref + K_p e + K_d ė every T_s slots; u_k travels as a URLLC packet
and is applied (zero-order hold) when the FIFO delivers it. DI(t) = w_e·|e|/e_0 + w_o·|Δθ|/π + w_κ·κ/κ_0
(paper Eq. 3 names the three terms; weights reconstructed).
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
    # --- traffic (reconstructed: loads chosen so that 10 dB is ~80 % loaded and 5 dB overloaded) ---
    urllc_packet_bits: float = 800.0   # 100-byte teleoperation/haptic packets
    embb_packet_bits: float = 12000.0  # 1500-byte video packets
    lambda0: float = 2.0           # λ0, URLLC packets per ms (aggregate)
    alpha: float = 0.02            # α, arrival reduction per packet/slot of URLLC rate (Eq. 2)
    lambda_min: float = 0.5        # floor of λ0 − α r_u (keeps the Poisson rate positive)
    app_delay_ms: float = 0.5      # D_app in Eq. 2
    lambda_embb: float = 1.3       # λ_e, eMBB packets per slot
    beta: float = 0.5              # β, URLLC service lost per unit DI (Eq. 4)
    embb_buffer: float = 500.0     # G_max, packets (finite buffer, drops beyond)
    delay_bound_ms: int = 5        # URLLC delay bound d_max (order of 3GPP TS 22.261 remote-control targets)
    ring_slots: int = 64           # FIFO delay bins; older packets are dropped (count as violations)
    # --- level-1 reward, drift-plus-penalty Lagrangian (structure from Neely 2010; constants reconstructed) ---
    V: float = 0.1                 # weight of the rate penalty Σ 1/(r + r0)² (paper Eq. 7 objective)
    rate_floor: float = 0.1        # r0, packets/slot, keeps 1/r² finite
    queue_scale_urllc: float = 10.0  # F normaliser (packets)
    queue_scale_embb: float = 50.0   # G normaliser (packets)
    violation_target: float = 0.01   # ε, target rate of HOL-delay violations per slot
    # --- teleoperated robot (level-2 plant; reconstructed) ---
    path_amplitude_m: float = 0.5
    path_period_s: float = 4.0
    control_period_ms: int = 5     # T_s (swept in the notebook)
    di_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # w_e, w_o, w_κ
    di_error_scale_m: float = 0.05  # e_0
    di_offset: float = 0.0         # exogenous task difficulty added to DI (swept in the notebook)
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


def mean_spectral_efficiency(snr_db: float, n_users: int, n_draws: int = 20000, seed: int = 0) -> float:
    """E[max_i log2(1 + snr |h_i|²)] over n_users Rayleigh users (selection diversity), Monte Carlo."""
    rng = np.random.default_rng(seed)
    h2 = rng.exponential(size=(n_draws, n_users))
    return float(np.log2(1.0 + 10 ** (snr_db / 10) * h2).max(axis=1).mean())


class Slice5GCore:
    """The vectorised simulator: ``n_cells`` independent cells stepped together.

    ``snr_db``, ``control_period_ms`` and ``di_offset`` may be scalars or one value per cell, so a single
    evaluation covers a whole sweep. The scheduler is chosen per step: ``"slicing"`` takes the URLLC PRB
    share φ ∈ [0, 1] per cell (level 1's action); the baselines need no action.
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
        self.lagrange_multiplier = 0.0
        self.reset(seed)

    # ------------------------------------------------------------------ state
    def reset(self, seed: int) -> np.ndarray:
        c, n = self.cfg, self.n
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.F = np.zeros(n)
        self.G = np.zeros(n)
        self.ring = np.zeros((n, c.ring_slots))         # URLLC packets per arrival bin (index = age in slots)
        self.pf_avg = np.ones((n, c.n_urllc_users + c.n_embb_users))  # PF's exponential average rate R̄_i
        self.last_phi = np.full(n, 0.2)
        # robot: position/velocity error state in world frame, applied command, pending FIFO commands
        self.pos = np.zeros((n, 2))
        self.vel = np.zeros((n, 2))
        ref_p, ref_v, _, _ = self._reference(0.0)
        self.pos[:] = ref_p
        self.vel[:] = ref_v
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
        self._draw_channels()
        return self.observe()

    def _draw_channels(self) -> None:
        c = self.cfg
        users = c.n_urllc_users + c.n_embb_users
        h2 = self.rng.exponential(size=(self.n, users, c.n_prb))
        snr = 10 ** (self.snr_db / 10)
        # r_ij = B dt log2(1 + p|h_ij|²/σ²)  (Eq. 1), bits per slot
        self.rate_bits = c.prb_bandwidth_hz * c.slot_s * np.log2(1.0 + snr[:, None, None] * h2)

    def observe(self) -> np.ndarray:
        c = self.cfg
        nu = c.n_urllc_users
        best_u = self.rate_bits[:, :nu].max(axis=1) / c.urllc_packet_bits   # packets/slot per PRB
        best_e = self.rate_bits[:, nu:].max(axis=1) / c.embb_packet_bits
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
    def _slice_capacity(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split PRBs by φ; each slice's PRBs go to its best user. Returns capacity (packets) and PRB counts."""
        c = self.cfg
        nu = c.n_urllc_users
        best_u = self.rate_bits[:, :nu].max(axis=1)          # (n, k) bits
        best_e = self.rate_bits[:, nu:].max(axis=1)
        n_u = np.clip(np.rint(phi * c.n_prb), 0, c.n_prb).astype(np.int64)
        # URLLC gets the PRBs where its channel is relatively best (largest ratio of URLLC to eMBB rate)
        order = np.argsort(-(best_u / (best_e + 1e-9)), axis=1, kind="stable")
        rank = np.argsort(order, axis=1)                 # position of each PRB in that order
        in_urllc = rank < n_u[:, None]
        cap_u = np.where(in_urllc, best_u, 0.0) / c.urllc_packet_bits
        cap_e = np.where(~in_urllc, best_e, 0.0) / c.embb_packet_bits
        return cap_u, cap_e, n_u

    def _sequential(self, metric: np.ndarray, backlog_u: np.ndarray, backlog_e: np.ndarray):
        """PRB by PRB, give each PRB to the user with the highest ``metric`` whose queue still has data."""
        c = self.cfg
        nu = c.n_urllc_users
        left_u, left_e = backlog_u.copy(), backlog_e.copy()
        served_u = np.zeros(self.n)
        served_e = np.zeros(self.n)
        used = np.zeros(self.n)
        got = np.zeros((self.n, metric.shape[1]))
        rows = np.arange(self.n)
        for j in range(c.n_prb):
            m = metric[:, :, j].copy()
            m[:, :nu][left_u <= 1e-9] = -np.inf
            m[:, nu:][left_e <= 1e-9] = -np.inf
            active = np.isfinite(m).any(axis=1)
            who = np.argmax(m, axis=1)
            bits = self.rate_bits[rows, who, j]
            is_u = active & (who < nu)
            is_e = active & (who >= nu)
            du = np.minimum(bits / c.urllc_packet_bits, left_u) * is_u
            de = np.minimum(bits / c.embb_packet_bits, left_e) * is_e
            left_u -= du
            left_e -= de
            served_u += du
            served_e += de
            used += active
            got[rows[active], who[active]] += bits[active]
        return served_u, served_e, used, got

    # ------------------------------------------------------------------ dynamics
    def step(self, scheduler: str, phi: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
        c = self.cfg
        nu = c.n_urllc_users
        F0, G0 = self.F.copy(), self.G.copy()
        # packets the URLLC queue can release this slot are limited by the DI-coupled service rate
        if scheduler == "slicing":
            if phi is None:
                raise ValueError("scheduler 'slicing' needs phi, the URLLC PRB share per cell")
            phi = np.clip(np.asarray(phi, dtype=float).reshape(self.n), 0.0, 1.0)
            cap_u, cap_e, n_u = self._slice_capacity(phi)
            r_u = cap_u.sum(axis=1)                              # URLLC slice rate, packets/slot
            r_e = cap_e.sum(axis=1)
            used = self._prbs_used(cap_u, F0 + 0.0) + self._prbs_used(cap_e, G0 + 0.0)
            self.last_phi = phi
        elif scheduler in ("proportional-fair", "max-rate"):
            metric = self.rate_bits / self.pf_avg[:, :, None] if scheduler == "proportional-fair" else self.rate_bits
            # backlog seen by the scheduler: what the queue could release (DI lowers the URLLC release)
            r_u, r_e, used, got = self._sequential(metric, F0, G0)
            # PF average R̄_i ← (1 − 1/t_c) R̄_i + (1/t_c) r_i, t_c = 100 slots (Kelly 1998; t_c reconstructed)
            self.pf_avg = 0.99 * self.pf_avg + 0.01 * np.maximum(got, 1.0)
        else:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")

        # Eq. 4: URLLC service μ = [r_u − β·DI]^+
        service_u = np.maximum(r_u - c.beta * self.di, 0.0)
        # Eq. 2: A1 ~ Poisson((λ0 − α r_u)(τ + D_app)), floored at λ_min
        lam_u = np.maximum(c.lambda0 - c.alpha * r_u, c.lambda_min) * (1.0 + c.app_delay_ms)
        arrivals_u = self.rng.poisson(lam_u).astype(float)
        send_cmd = (self.t % self.control_period) == 0
        arrivals_u += send_cmd
        arrivals_e = self.rng.poisson(c.lambda_embb, size=self.n).astype(float)

        # Eq. 5: F(t+1) = [F + A1 − D]^+. The ring holds the queue by arrival slot; the slot's arrivals join
        # first (age 0), then D packets leave from the oldest bins (FIFO), so each packet's delay is exact.
        self._age_ring(arrivals_u)
        departed_u, late_u, dropped_u = self._serve_fifo(service_u)
        self.F = self.ring.sum(axis=1)
        self._deliver_commands(service_u)
        self._send_commands(send_cmd)
        # Eq. 6: G(t+1) = [G + A2 − r_e]^+, with a finite buffer
        G_next = np.maximum(G0 + arrivals_e - r_e, 0.0)
        served_e = G0 + arrivals_e - G_next
        dropped_e = np.maximum(G_next - c.embb_buffer, 0.0)
        self.G = np.minimum(G_next, c.embb_buffer)

        self._robot_step()
        hol = self.hol_age()
        violation = (hol > c.delay_bound_ms).astype(float)

        # Drift-plus-penalty Lagrangian (Neely 2010): Δ ≤ B + F(A1 − D) + G(A2 − r_e), penalty = Σ 1/(r + r0)²
        sF, sG = c.queue_scale_urllc, c.queue_scale_embb
        drift = (F0 / sF) * (arrivals_u - service_u) / sF + (G0 / sG) * (arrivals_e - r_e) / sG
        penalty = 1.0 / (r_u + c.rate_floor) ** 2 + 1.0 / (r_e + c.rate_floor) ** 2
        reward = -(drift + c.V * penalty) - self.lagrange_multiplier * (violation - c.violation_target)

        self.t += 1
        self._draw_channels()
        info = {
            "urllc_service": service_u, "urllc_departed": departed_u, "urllc_late": late_u,
            "urllc_dropped": dropped_u, "urllc_arrivals": arrivals_u, "embb_arrivals": arrivals_e,
            "embb_rate": r_e, "embb_served_packets": served_e, "embb_dropped": dropped_e,
            "violation": violation, "hol_age": hol, "prbs_used": used, "F": self.F.copy(), "G": self.G.copy(),
            "drift": drift, "penalty": penalty, "tracking_error": self.tracking_error.copy(),
            "di": self.di.copy(), "lost_control": self.lost_control.copy(),
        }
        return self.observe(), reward.astype(np.float64), info

    def _prbs_used(self, cap: np.ndarray, backlog: np.ndarray) -> np.ndarray:
        """PRBs that carry data when a slice serves ``backlog`` on its best PRBs first."""
        srt = -np.sort(-cap, axis=1)
        cum = np.cumsum(srt, axis=1)
        n_alloc = (srt > 0).sum(axis=1)
        need = (cum < backlog[:, None] - 1e-9).sum(axis=1) + 1
        need = np.where(backlog <= 1e-9, 0, need)
        return np.minimum(need, n_alloc).astype(float)

    def _serve_fifo(self, service: np.ndarray):
        """Remove ``service`` packets from the oldest bins. Returns (departed, departed late, dropped)."""
        c = self.cfg
        ring = self.ring[:, ::-1]                      # oldest first
        cum = np.cumsum(ring, axis=1)
        prev = cum - ring
        take = np.clip(service[:, None] - prev, 0.0, ring)
        ring_after = ring - take
        delay = np.arange(c.ring_slots)[::-1] + 1       # a packet of age a leaves after a + 1 slots
        self.delay_hist += take[:, ::-1]                # packets departed, by delay - 1 (index = age)
        departed = take.sum(axis=1)
        late = (take * (delay > c.delay_bound_ms)).sum(axis=1)
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
        """Operator side: u = a_ref + K_p e + K_d ė, queued as a URLLC packet behind F packets."""
        if not send.any():
            return
        t_s = self.t * self.cfg.slot_s
        p, v, a, _ = self._reference(t_s)
        u = a[None, :] + self.kp[:, None] * (p[None, :] - self.pos) + self.kd[:, None] * (v[None, :] - self.vel)
        rows = np.nonzero(send)[0]
        idx = self.cmd_next[rows] % self.cfg.max_pending_commands
        self.cmd_ahead[rows, idx] = self.F[rows]      # the command is the newest packet of the queue
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
        # double integrator, semi-implicit Euler at the slot rate
        self.vel += self.u_applied * dt
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
    :meth:`Slice5GCore.observe`. Reward: the drift-plus-penalty Lagrangian. Episodes are truncated after
    ``episode_slots`` slots; the robot runs with the fixed gains of the config unless ``set_gains`` is called.
    """

    metadata = {"render_modes": []}

    def __init__(self, cfg: Slice5GConfig | None = None, snr_db: float = 10.0, episode_slots: int = 1000,
                 **overrides):
        cfg = cfg or Slice5GConfig()
        self.cfg = replace(cfg, **overrides) if overrides else cfg
        self.snr_db = float(snr_db)
        self.episode_slots = int(episode_slots)
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
        obs, reward, info = self.core.step("slicing", phi)
        truncated = self.core.t >= self.episode_slots
        terminated = False  # a continuing task: losses of control are counted, the robot is re-engaged
        return obs[0], float(reward[0]), terminated, truncated, {k: float(v[0]) for k, v in info.items()}
