"""EBFleet: electric-bus fleet charging at one terminal under travel-time, energy and price uncertainty.

Model of the Electric Bus Charging Scheduling Problem of arXiv 2505.10296 (DAC-MAPPO-E), reconstructed from the
paper's text. The paper's data, constants and reward weights are not available; every
constant is a field of :class:`EBFleetConfig` whose comment says where it comes from. Many days are simulated at
once with numpy (one row per day); :class:`EBFleetParallelEnv` wraps one day as a PettingZoo ``ParallelEnv``.

One day = 96 steps of 15 min. ``M`` buses, ``K`` chargers (default ``M // 4``) at the terminal. Per step t:

1. **Dispatch.** A timetabled trip is *pending* from its departure step until it is served or missed. Pending trips
   are served in departure order by the buses at the terminal that the high level *assigned* to trips, highest
   state of charge (SoC) first. Each step a pending trip waits past its departure counts as *late*; it can still
   be served ``max_wait_steps`` steps after its departure, and is *missed* if it is not.
2. **Charger allocation.** Each bus at the terminal asks for charger ω ∈ {0 = none, 1..K}. A charger asked for by
   several buses goes to the lowest bus index (fixed priority); every other request is a *conflict*.
3. **Charging.** A bus holding a charger charges at power level c (kW) for Δt:
   SoC ← min(1, SoC + η·c·Δt / C); the grid energy is the stored energy / η; cost = price_t × grid energy.
4. **Driving.** A bus on a trip loses the trip's energy evenly over the trip's duration. SoC is not clamped at 0:
   a bus that runs out drives on an energy debt that the SoC_min shortfall penalises every step.
5. **Uncertainties**: trip duration ~ LogNormal(log d_med, σ_d) (rounded up to steps); trip energy
   ~ N(e·L, (cv·e·L)²); price_t = TOU(t)·(1 + ε_t) with AR(1) ε_t = φ ε_{t−1} + N(0, σ_p²), revealed step by step.
6. **Reward** (weights reconstructed): r_t = −cost_t − w_late·#late − w_miss·#missed − w_soc·Σ_i [SoC_min − SoC_i]^+
   − w_conf·#conflicts, and at the end of the day + p_end·(C/η)·Σ_i (SoC_i,T − SoC_i,0): the energy a bus ends the
   day with, relative to its morning charge, is valued at what it costs to store it overnight (``end_value_price``,
   default the cheapest TOU band). A policy that leaves its batteries emptier than it found them pays for the
   refill, so an end-of-day deficit cannot be used to shift cost out of the day.

:func:`perfect_information_bound` solves a relaxed MILP (scipy ``milp`` / HiGHS) for one day revealed in advance
(:func:`realise_days`): a lower bound on the penalised cost any policy can reach on that day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

__all__ = ["EBFleetConfig", "EBFleetCore", "timetable", "tou_price", "EBFleetParallelEnv", "BUS_FEATURES",
           "DayRealisation", "realise_days", "perfect_information_bound",
           "N_GLOBAL_FEATURES"]

#: Per-bus features of :meth:`EBFleetCore.bus_features`.
BUS_FEATURES: tuple[str, ...] = ("soc", "at_terminal", "steps_to_return", "charging")
#: Look-ahead of the timetable and TOU features, in steps.
LOOKAHEAD: int = 4
#: time (sin, cos), price now, TOU next LOOKAHEAD steps, pending trips, departures in next LOOKAHEAD steps, free
#: chargers.
N_GLOBAL_FEATURES: int = 2 + 1 + LOOKAHEAD + 1 + LOOKAHEAD + 1


@dataclass(frozen=True)
class EBFleetConfig:
    # --- fleet and terminal (our reconstruction of the paper's setting) ---
    n_buses: int = 8                    # M
    n_chargers: int | None = None       # K; None = max(1, M // 4) (reconstructed)
    steps_per_day: int = 96             # 15-minute steps (reconstructed)
    step_hours: float = 0.25            # Δt
    battery_kwh: float = 300.0          # C (reconstructed; typical 12 m e-bus)
    soc_min: float = 0.2                # SoC_min (reconstructed)
    soc_init: tuple[float, float] = (0.7, 0.9)  # morning SoC range (reconstructed)
    power_levels_kw: tuple[float, ...] = (0.0, 50.0, 100.0, 150.0)  # discrete charging powers (reconstructed)
    efficiency: float = 0.95            # η, charging efficiency (typical DC charger)
    # --- trips (reconstructed: ~30 km round trips, ~75 min) ---
    route_km: float = 30.0              # L
    kwh_per_km: float = 1.2             # e (reconstructed)
    energy_cv: float = 0.1              # relative std of trip energy (assumed: normal)
    trip_minutes: float = 75.0          # median trip duration d_med
    trip_sigma: float = 0.15            # σ_d of log duration (assumed: log-normal)
    service_hours: tuple[float, float] = (6.0, 22.0)   # first / last departure
    peak_hours: tuple[tuple[float, float], ...] = ((7.0, 9.0), (16.0, 19.0))
    peak_utilisation: float = 0.75      # share of the fleet on the road at peak (sets the peak headway)
    offpeak_utilisation: float = 0.4    # same, off peak
    max_wait_steps: int = 2             # a trip waits at most this many steps before it is missed
    # --- price (reconstructed TOU tariff, $/kWh, with AR(1) noise) ---
    tou_bands: tuple[tuple[float, float, float], ...] = ((0.0, 7.0, 0.08), (7.0, 16.0, 0.15), (16.0, 21.0, 0.30),
                                                          (21.0, 24.0, 0.15))
    price_ar: float = 0.8               # φ
    price_noise: float = 0.08           # σ_p
    # --- reward weights (reconstructed; the paper's are not published) ---
    w_late: float = 2.0                 # $ per trip per late step
    w_miss: float = 30.0                # $ per missed trip
    w_soc: float = 50.0                 # $ per unit of SoC below SoC_min, per bus and step
    w_conflict: float = 0.5             # $ per charger conflict
    end_value_price: float | None = None  # $ per grid kWh of the end-of-day charge change (None: cheapest TOU band)
    uncertain: bool = True              # False: every uncertainty at its median (deterministic days)

    def __post_init__(self) -> None:
        if not isinstance(self.n_buses, int) or self.n_buses < 1:
            raise ValueError(f"n_buses must be an int >= 1, got {self.n_buses!r}")
        if self.n_chargers is not None and not (isinstance(self.n_chargers, int) and self.n_chargers >= 1):
            raise ValueError(f"n_chargers must be None or an int >= 1, got {self.n_chargers!r}")
        if not 0.0 <= self.soc_min < 1.0 or not self.soc_init[0] <= self.soc_init[1] <= 1.0:
            raise ValueError("soc_min must be in [0, 1) and soc_init a (low, high) range within [0, 1]")
        if self.end_value_price is not None and not self.end_value_price >= 0.0:
            raise ValueError(f"end_value_price must be None or a number >= 0, got {self.end_value_price!r}")

    @property
    def chargers(self) -> int:
        return self.n_chargers if self.n_chargers is not None else max(1, self.n_buses // 4)

    @property
    def end_price(self) -> float:
        """p_end, $ per grid kWh at which the end-of-day change of stored energy is valued."""
        return self.end_value_price if self.end_value_price is not None else min(b[2] for b in self.tou_bands)

    @property
    def trip_steps_median(self) -> int:
        return int(np.ceil(self.trip_minutes / (60.0 * self.step_hours)))


def tou_price(config: EBFleetConfig) -> np.ndarray:
    """(steps_per_day,) time-of-use price of each step, $/kWh."""
    hours = np.arange(config.steps_per_day) * config.step_hours
    price = np.zeros(config.steps_per_day)
    for start, end, value in config.tou_bands:
        price[(hours >= start) & (hours < end)] = value
    return price


def timetable(config: EBFleetConfig) -> np.ndarray:
    """Departure step of every trip of a day (sorted), the same every day.

    Departures per step = utilisation × M / median trip steps, peak or off-peak; trips are placed where the
    cumulative rate crosses an integer, so headways are as even as the rate allows.
    """
    hours = np.arange(config.steps_per_day) * config.step_hours
    first, last = config.service_hours
    peak = np.zeros_like(hours, dtype=bool)
    for start, end in config.peak_hours:
        peak |= (hours >= start) & (hours < end)
    util = np.where(peak, config.peak_utilisation, config.offpeak_utilisation)
    rate = np.where((hours >= first) & (hours <= last), util * config.n_buses / config.trip_steps_median, 0.0)
    cumulative = np.floor(np.cumsum(rate) + 1e-9).astype(int)
    counts = np.diff(np.concatenate([[0], cumulative]))
    return np.repeat(np.arange(config.steps_per_day), counts)


@dataclass
class _Trips:
    departure: np.ndarray        # (J,)
    duration: np.ndarray         # (D, J) steps
    energy: np.ndarray           # (D, J) kWh
    served: np.ndarray = field(default=None)   # (D, J) bool
    missed: np.ndarray = field(default=None)   # (D, J) bool


class EBFleetCore:
    """``n_days`` independent days of one fleet, stepped together (numpy, one row per day)."""

    def __init__(self, config: EBFleetConfig, n_days: int = 1, seed: int = 0) -> None:
        if not isinstance(n_days, int) or n_days < 1:
            raise ValueError(f"n_days must be an int >= 1, got {n_days!r}")
        self.cfg = config
        self.n_days = n_days
        self.M, self.K = config.n_buses, config.chargers
        self.tou = tou_price(config)
        self.departures = timetable(config)
        self.power = np.asarray(config.power_levels_kw, dtype=float)
        self.reset(seed)

    # ------------------------------------------------------------------ dynamics

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        cfg, d, m, j = self.cfg, self.n_days, self.M, len(self.departures)
        self.t = 0
        self.soc = self.rng.uniform(*cfg.soc_init, size=(d, m))
        self.soc_morning = self.soc.copy()
        self.remaining = np.zeros((d, m), dtype=int)          # steps until back at the terminal
        self.drain = np.zeros((d, m))                          # kWh per step while on a trip
        self.holder = np.full((d, self.K), -1)                 # bus holding each charger this step
        self.charging = np.zeros((d, m), dtype=bool)
        median_energy = cfg.kwh_per_km * cfg.route_km
        if cfg.uncertain:
            minutes = np.exp(np.log(cfg.trip_minutes) + cfg.trip_sigma * self.rng.standard_normal((d, j)))
            energy = median_energy * (1.0 + cfg.energy_cv * self.rng.standard_normal((d, j)))
        else:
            minutes, energy = np.full((d, j), cfg.trip_minutes), np.full((d, j), median_energy)
        self.noise = np.zeros(d)
        duration = np.maximum(1, np.ceil(minutes / (60.0 * cfg.step_hours))).astype(int)
        self.trips = _Trips(self.departures, duration, np.maximum(energy, 0.0),
                            np.zeros((d, j), dtype=bool), np.zeros((d, j), dtype=bool))
        self.price = self.tou[0] * (1.0 + self.noise)

    @property
    def at_terminal(self) -> np.ndarray:
        return self.remaining == 0

    def pending(self) -> np.ndarray:
        """(D, J) trips whose departure has come and that are neither served nor missed."""
        due = self.trips.departure[None, :] <= self.t
        return due & ~self.trips.served & ~self.trips.missed

    def step(self, charger: np.ndarray, assign: np.ndarray, power_level: np.ndarray) -> tuple[np.ndarray, dict]:
        """Advance every day by one step.

        Args:
            charger: ``(D, M)`` int in 0..K (0 = no charger), the high level's charger allocation ω.
            assign: ``(D, M)`` 0/1, the high level's trip assignment k (1 = serve the next pending trip).
            power_level: ``(D, M)`` int index into ``power_levels_kw``, the low level's charging power.

        Returns ``(reward (D,), info)``; info holds the per-day components (``cost``, ``late``, ``missed``,
        ``soc_shortfall``, ``conflicts``, ``energy_kwh``, ``stored_change_kwh`` and ``end_value``: the end-of-day
        change of stored energy Σ_i (SoC_i,T − SoC_i,0)·C and its value, 0 before the last step) and ``done``.
        """
        cfg, d, m = self.cfg, self.n_days, self.M
        charger, assign, power_level = (np.asarray(a).astype(int) for a in (charger, assign, power_level))
        for name, a, hi in (("charger", charger, self.K), ("assign", assign, 1),
                            ("power_level", power_level, len(self.power) - 1)):
            if a.shape != (d, m) or a.min() < 0 or a.max() > hi:
                raise ValueError(f"{name} must be a ({d}, {m}) int array in 0..{hi}")
        if self.t >= cfg.steps_per_day:
            raise RuntimeError("the day is over: call reset()")

        # 1. dispatch: pending trips in departure order <- assigned buses at the terminal, highest SoC first
        pending = self.pending()
        available = self.at_terminal & (assign == 1)
        trip_rank = np.where(pending, np.cumsum(pending, axis=1) - 1, -1)                   # (D, J)
        bus_order = np.argsort(np.where(available, -self.soc, np.inf), axis=1, kind="stable")  # (D, M)
        n_available = available.sum(1)
        served_now = pending & (trip_rank < n_available[:, None])
        day_idx, trip_idx = np.nonzero(served_now)
        bus_idx = bus_order[day_idx, trip_rank[day_idx, trip_idx]]
        self.trips.served[day_idx, trip_idx] = True
        self.remaining[day_idx, bus_idx] = self.trips.duration[day_idx, trip_idx]
        self.drain[day_idx, bus_idx] = self.trips.energy[day_idx, trip_idx] / self.trips.duration[day_idx, trip_idx]
        still = pending & ~served_now
        waited = self.t - self.trips.departure[None, :]
        missed_now = still & (waited >= cfg.max_wait_steps)
        late = (still & ~missed_now).sum(1).astype(float)
        self.trips.missed |= missed_now
        missed = missed_now.sum(1).astype(float)

        # 2. charger allocation among the buses still at the terminal (lowest index wins)
        at = self.at_terminal
        self.holder[:] = -1
        conflicts = np.zeros(d)
        for c in range(1, self.K + 1):
            request = at & (charger == c)
            any_request = request.any(1)
            self.holder[:, c - 1] = np.where(any_request, np.argmax(request, axis=1), -1)
            conflicts += request.sum(1) - any_request
        self.charging = np.zeros((d, m), dtype=bool)
        held = self.holder >= 0
        self.charging[np.nonzero(held)[0], self.holder[held]] = True

        # 3. charging: SoC <- min(1, SoC + η c Δt / C); grid energy = stored / η; cost = price × grid energy
        stored = np.where(self.charging, cfg.efficiency * self.power[power_level] * cfg.step_hours, 0.0)
        stored = np.minimum(stored, (1.0 - self.soc) * cfg.battery_kwh)
        self.soc = self.soc + stored / cfg.battery_kwh
        grid = stored / cfg.efficiency
        cost = self.price * grid.sum(1)

        # 4. driving: on-trip buses lose energy evenly; the trip ends when remaining reaches 0
        on_trip = self.remaining > 0
        self.soc = self.soc - np.where(on_trip, self.drain, 0.0) / cfg.battery_kwh
        self.remaining = np.maximum(self.remaining - 1, 0)
        shortfall = np.maximum(cfg.soc_min - self.soc, 0.0).sum(1)

        reward = -cost - cfg.w_late * late - cfg.w_miss * missed - cfg.w_soc * shortfall - cfg.w_conflict * conflicts
        self.t += 1
        done = self.t >= cfg.steps_per_day
        stored_change, end_value = np.zeros(d), np.zeros(d)
        if done:   # trips that never got a bus by the end of the day are missed too
            leftover = ~self.trips.served & ~self.trips.missed
            missed = missed + leftover.sum(1)
            reward = reward - cfg.w_miss * leftover.sum(1)
            self.trips.missed |= leftover
            # + p_end (C/η) Σ_i (SoC_i,T − SoC_i,0): the day's change of stored energy at the overnight price
            stored_change = (self.soc - self.soc_morning).sum(1) * cfg.battery_kwh
            end_value = cfg.end_price * stored_change / cfg.efficiency
            reward = reward + end_value
        else:       # price_{t+1} = TOU(t+1)·(1 + ε_{t+1}),  ε_{t+1} = φ ε_t + N(0, σ_p²)
            if cfg.uncertain:
                self.noise = cfg.price_ar * self.noise + cfg.price_noise * self.rng.standard_normal(d)
            self.price = self.tou[self.t] * np.maximum(1.0 + self.noise, 0.0)
        info = {"cost": cost, "late": late, "missed": missed, "soc_shortfall": shortfall, "conflicts": conflicts,
                "energy_kwh": grid.sum(1), "stored_change_kwh": stored_change, "end_value": end_value, "done": done}
        return reward, info

    # ------------------------------------------------------------------ observations

    def bus_features(self) -> np.ndarray:
        """(D, M, 4): SoC, at terminal, steps to return / median trip steps, charging last step."""
        return np.stack([self.soc, self.at_terminal.astype(float),
                         self.remaining / self.cfg.trip_steps_median, self.charging.astype(float)], axis=-1)

    def global_features(self) -> np.ndarray:
        """(D, N_GLOBAL_FEATURES): time of day, price, TOU look-ahead, pending trips, departures ahead, free chargers."""
        cfg, d = self.cfg, self.n_days
        phase = 2 * np.pi * self.t / cfg.steps_per_day
        ahead = np.arange(1, LOOKAHEAD + 1) + self.t
        tou_ahead = np.where(ahead < cfg.steps_per_day, self.tou[np.minimum(ahead, cfg.steps_per_day - 1)], 0.0)
        price_scale = max(b[2] for b in cfg.tou_bands)
        departures = np.array([(self.departures == s).sum() for s in ahead], dtype=float)
        free = (self.holder < 0).sum(1) / self.K
        columns = [np.full(d, np.sin(phase)), np.full(d, np.cos(phase)), self.price / price_scale,
                   *np.broadcast_to(tou_ahead / price_scale, (d, LOOKAHEAD)).T,
                   self.pending().sum(1) / self.M,
                   *np.broadcast_to(departures / self.M, (d, LOOKAHEAD)).T, free]
        return np.stack(columns, axis=-1).astype(np.float64)

    def state(self) -> np.ndarray:
        """(D, 4M + N_GLOBAL_FEATURES) global state S_t: every bus's features, then the global ones."""
        return np.concatenate([self.bus_features().reshape(self.n_days, -1), self.global_features()], axis=1)


class EBFleetParallelEnv(ParallelEnv):
    """One day of :class:`EBFleetCore` as a PettingZoo ``ParallelEnv`` (agents ``bus_0 … bus_{M−1}``).

    Action of each bus: ``MultiDiscrete([K + 1, 2, n_power_levels])`` = (charger ω, trip assignment k, power c).
    Observation: its own features (:data:`BUS_FEATURES`) + the global features; ``state()`` is the full S_t.
    Every bus receives the team reward.
    """

    metadata = {"name": "ebfleet_v0", "render_modes": []}

    def __init__(self, config: EBFleetConfig | None = None, render_mode: str | None = None) -> None:
        self.cfg = config or EBFleetConfig(n_buses=4)
        self.render_mode = render_mode
        self.possible_agents = [f"bus_{i}" for i in range(self.cfg.n_buses)]
        self.agents: list[str] = []
        self.core = EBFleetCore(self.cfg, 1, 0)
        obs_dim = len(BUS_FEATURES) + N_GLOBAL_FEATURES
        self._obs_space = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64)
        self._act_space = spaces.MultiDiscrete([self.cfg.chargers + 1, 2, len(self.cfg.power_levels_kw)])
        self.state_space = spaces.Box(-np.inf, np.inf, (len(BUS_FEATURES) * self.cfg.n_buses + N_GLOBAL_FEATURES,),
                                      np.float64)

    def observation_space(self, agent: str):
        return self._obs_space

    def action_space(self, agent: str):
        return self._act_space

    def _observations(self) -> dict:
        bus, glob = self.core.bus_features()[0], self.core.global_features()[0]
        return {a: np.concatenate([bus[i], glob]) for i, a in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.core.reset(seed if seed is not None else int(np.random.SeedSequence().entropy % 2**32))
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        acts = np.array([actions[a] for a in self.possible_agents]).reshape(1, self.cfg.n_buses, 3)
        reward, info = self.core.step(acts[..., 0], acts[..., 1], acts[..., 2])
        obs = self._observations()
        done = bool(info["done"])
        rewards = {a: float(reward[0]) for a in self.agents}
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        infos = {a: {k: float(v[0]) for k, v in info.items() if k != "done"} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        return self.core.state()[0]

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------------------
# Perfect-information lower bound (MILP)
# --------------------------------------------------------------------------------------


@dataclass
class DayRealisation:
    """Everything uncertain about one day, revealed in advance: trip durations and energies, prices, morning SoC."""

    departures: np.ndarray   # (J,) departure steps
    duration: np.ndarray     # (J,) steps
    energy: np.ndarray       # (J,) kWh
    price: np.ndarray        # (T,) $/kWh at each step
    soc0: np.ndarray         # (M,)


def realise_days(config: EBFleetConfig, n_days: int, seed: int) -> list[DayRealisation]:
    """The days ``EBFleetCore(config, n_days, seed)`` will simulate, whatever the actions.

    Trips are drawn at reset and the price noise once per step, independently of the actions, so stepping a copy
    with idle actions reveals each day's price path.
    """
    core = EBFleetCore(config, n_days, seed)
    soc0 = core.soc.copy()
    duration, energy = core.trips.duration.copy(), core.trips.energy.copy()
    prices = np.zeros((n_days, config.steps_per_day))
    idle = np.zeros((n_days, config.n_buses), dtype=int)
    for t in range(config.steps_per_day):
        prices[:, t] = core.price
        core.step(idle, idle, idle)
    return [DayRealisation(core.departures.copy(), duration[d], energy[d], prices[d], soc0[d]) for d in range(n_days)]


def perfect_information_bound(config: EBFleetConfig, day: DayRealisation, time_limit: float = 60.0,
                              mip_rel_gap: float | None = None) -> dict:
    """A lower bound on the penalised cost of any policy on ``day``, from a MILP that knows the day in advance.

    Relaxations (so the optimum is a valid bound): charging power continuous in [0, max level] instead of the
    discrete levels; charger holding y ∈ [0, 1] with Σ_i y_{i,t} ≤ K and p_{i,t} ≤ P_max·y_{i,t}; no conflicts.
    Exact: which bus serves each trip and with what delay ℓ ≤ max_wait_steps (binary x_{i,j,ℓ}; late cost
    w_late·ℓ; a missed trip costs w_miss + w_late·min(max_wait_steps, T − departure) as in the simulator, where a
    trip is late every step it waits and missed after the last one it could be served at or at the end of the day),
    SoC unbounded below as in the simulator (the shortfall below SoC_min pays for it), one trip at a time, no
    charging while driving, SoC dynamics, SoC ≤ 1, shortfall below SoC_min each step, and the end-of-day value
    p_end (C/η) Σ_i (SoC_i,T − SoC_i,0) (linear in SoC_T; the constant part is added to the objective).

    Returns ``{"bound", "objective", "status", "gap"}``: ``bound`` is HiGHS's dual bound (= the optimum when solved).
    The search stops at the relative gap ``mip_rel_gap`` (HiGHS's default 1e-4 when None) or after ``time_limit``
    seconds, whichever comes first; the dual bound is a valid lower bound either way. Stopping by gap is
    deterministic; stopping by time is not (status 1), so reproducible reports set a gap the time limit never cuts.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    cfg = config
    m, k, t_max, w = cfg.n_buses, cfg.chargers, cfg.steps_per_day, cfg.max_wait_steps
    dt, cap, eta, p_max = cfg.step_hours, cfg.battery_kwh, cfg.efficiency, max(cfg.power_levels_kw)
    trips = [(j, int(day.departures[j]) + ell, ell) for j in range(len(day.departures)) for ell in range(w + 1)
             if int(day.departures[j]) + ell < t_max]
    n_x, n_miss, n_y = m * len(trips), len(day.departures), m * t_max
    # variable blocks: x (bus, trip-start), miss, y, p, soc (T+1 per bus), s (shortfall per step)
    offsets = np.cumsum([0, n_x, n_miss, n_y, n_y, m * (t_max + 1), n_y])
    ix = lambda i, a: offsets[0] + i * len(trips) + a          # noqa: E731
    imiss = lambda j: offsets[1] + j                             # noqa: E731
    iy = lambda i, t: offsets[2] + i * t_max + t                 # noqa: E731
    ip = lambda i, t: offsets[3] + i * t_max + t                 # noqa: E731
    isoc = lambda i, t: offsets[4] + i * (t_max + 1) + t         # noqa: E731
    isf = lambda i, t: offsets[5] + i * t_max + t                # noqa: E731
    n_var = int(offsets[-1])
    cost = np.zeros(n_var)
    lo, hi = np.zeros(n_var), np.full(n_var, np.inf)
    integrality = np.zeros(n_var)
    for i in range(m):
        for a, (j, start, ell) in enumerate(trips):
            cost[ix(i, a)] = cfg.w_late * ell
            hi[ix(i, a)], integrality[ix(i, a)] = 1, 1
        for t in range(t_max):
            hi[iy(i, t)] = 1
            hi[ip(i, t)] = p_max
            cost[ip(i, t)] = day.price[t] * dt                   # grid energy p Δt at price_t
            cost[isf(i, t)] = cfg.w_soc
        cost[isoc(i, t_max)] = -cfg.end_price * cap / eta        # − p_end (C/η) SoC_i,T
        for t in range(t_max + 1):
            hi[isoc(i, t)] = 1.0
            lo[isoc(i, t)] = -np.inf                              # no clamp at 0 (as the simulator)
        lo[isoc(i, 0)] = hi[isoc(i, 0)] = day.soc0[i]
    for j in range(n_miss):
        cost[imiss(j)] = cfg.w_miss + cfg.w_late * min(w, t_max - int(day.departures[j]))
        hi[imiss(j)], integrality[imiss(j)] = 1, 1

    rows, lb, ub = [], [], []

    def add(coeffs: dict, low: float, high: float) -> None:
        rows.append(coeffs)
        lb.append(low)
        ub.append(high)

    # each trip: served once (by some bus, at some delay) or missed
    for j in range(n_miss):
        coeffs = {imiss(j): 1.0}
        for a, (jj, _, _) in enumerate(trips):
            if jj == j:
                coeffs.update({ix(i, a): 1.0 for i in range(m)})
        add(coeffs, 1.0, 1.0)
    for i in range(m):
        for t in range(t_max):
            # busy_{i,t} = Σ x over trips covering t;  busy + y ≤ 1 (one trip at a time, no charging while driving)
            covering = [a for a, (j, start, _) in enumerate(trips) if start <= t < start + int(day.duration[j])]
            add({**{ix(i, a): 1.0 for a in covering}, iy(i, t): 1.0}, -np.inf, 1.0)
            # p ≤ P_max y
            add({ip(i, t): 1.0, iy(i, t): -p_max}, -np.inf, 0.0)
            # SoC_{t+1} = SoC_t + η p Δt / C − Σ_covering x E_j / (L_j C)
            coeffs = {isoc(i, t + 1): 1.0, isoc(i, t): -1.0, ip(i, t): -eta * dt / cap}
            for a in covering:
                j = trips[a][0]
                coeffs[ix(i, a)] = float(day.energy[j]) / (int(day.duration[j]) * cap)
            add(coeffs, 0.0, 0.0)
            # shortfall s_{i,t} ≥ SoC_min − SoC_{t+1}
            add({isf(i, t): 1.0, isoc(i, t + 1): 1.0}, cfg.soc_min, np.inf)
    for t in range(t_max):   # chargers
        add({iy(i, t): 1.0 for i in range(m)}, -np.inf, float(k))
    a_mat = lil_matrix((len(rows), n_var))
    for r, coeffs in enumerate(rows):
        for col, v in coeffs.items():
            a_mat[r, col] = v
    res = milp(cost, constraints=LinearConstraint(a_mat.tocsr(), lb, ub), integrality=integrality,
               bounds=Bounds(lo, hi), options={"time_limit": time_limit, "disp": False,
                                                   **({} if mip_rel_gap is None else {"mip_rel_gap": mip_rel_gap})})
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        bound = res.fun
    morning_value = cfg.end_price * cap / eta * float(np.sum(day.soc0))     # + p_end (C/η) Σ_i SoC_i,0
    bound = float(bound) + morning_value
    objective = None if res.x is None else float(res.fun) + morning_value
    return {"bound": bound, "objective": objective, "status": int(res.status),
            "gap": float(getattr(res, "mip_gap", 0.0) or 0.0)}
