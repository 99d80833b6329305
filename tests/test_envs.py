"""Environments: Gymnasium's check_env, and the model equations of each simulator on hand-checkable cases."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrlkit.envs
from hrlkit.envs.slice5g import SCHEDULERS, Slice5GConfig, Slice5GCore, delay_quantile_ms


@pytest.mark.parametrize("env_id", hrlkit.envs.ENV_IDS)
def test_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_rates_follow_eq1():
    cfg = Slice5GConfig()
    core = Slice5GCore(3, cfg, snr_db=[5.0, 10.0, 20.0], seed=11)
    # the first draw after reset, from the channel stream: |h|² ~ Exp(1), shape (cells, users, PRBs)
    channel_stream = np.random.default_rng(np.random.SeedSequence(11).spawn(3)[0])
    h2 = channel_stream.exponential(size=(3, cfg.n_urllc_users + cfg.n_embb_users, cfg.n_prb))
    snr = 10 ** (np.array([5.0, 10.0, 20.0]) / 10)
    expected = cfg.prb_bandwidth_hz * cfg.slot_s * np.log2(1 + snr[:, None, None] * h2)
    np.testing.assert_allclose(core.rate_bits, expected)
    # within a slice, a PRB goes to the slice's best user
    np.testing.assert_allclose(core.slice_bits[:, 0], expected[:, :cfg.n_urllc_users].max(axis=1))
    np.testing.assert_allclose(core.slice_bits[:, 1], expected[:, cfg.n_urllc_users:].max(axis=1))


def _action(scheduler, n, phi=0.5):
    return np.full(n, phi) if scheduler == "slicing" else None


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_served_packets_follow_eq4_to_6(scheduler):
    """Every slot, every cell, whatever the scheduler: URLLC service D = [r_u − β·DI]^+ leaves the queue that already
    holds this slot's arrivals, F(t+1) = [F + A1 − D]^+ (minus ring drops), G(t+1) = min([G + A2 − r_e]^+, G_max)."""
    cfg = Slice5GConfig()
    core = Slice5GCore(8, cfg, snr_db=np.linspace(3, 20, 8), seed=3)
    rng = np.random.default_rng(0)
    for _ in range(300):
        F_start, G_start, di = core.F.copy(), core.G.copy(), core.di.copy()   # arrivals of this slot included
        _, info = core.step(scheduler, rng.uniform(0, 1, 8) if scheduler == "slicing" else None)
        service = np.maximum(info["urllc_rate"] - cfg.beta * di, 0.0)
        np.testing.assert_allclose(info["urllc_service"], service)
        np.testing.assert_allclose(info["urllc_departed"], np.minimum(F_start, service), atol=1e-9)
        np.testing.assert_allclose(info["F"], np.maximum(F_start - service, 0.0) - info["urllc_dropped"], atol=1e-9)
        np.testing.assert_allclose(info["embb_served_packets"], np.minimum(G_start, info["embb_rate"]))
        expected_G = np.minimum(np.maximum(G_start - info["embb_rate"], 0.0), cfg.embb_buffer)
        np.testing.assert_allclose(info["G"], expected_G, atol=1e-9)
        # the next slot's arrivals have joined before anyone schedules it
        np.testing.assert_allclose(core.F, info["F"] + core.arrivals_u, atol=1e-9)
        np.testing.assert_allclose(core.G, info["G"] + core.arrivals_e, atol=1e-9)
        assert np.all(info["F"] >= 0) and np.all(info["G"] >= 0) and np.all(info["G"] <= cfg.embb_buffer)
        assert np.all(np.isfinite(info["drift"])) and np.all(np.isfinite(info["penalty"]))


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_same_timing_for_every_scheduler(scheduler):
    """Identical arrivals and ample capacity, no DI loss: every scheduler serves this slot's arrivals in this slot."""
    cfg = Slice5GConfig(beta=0.0)
    core = Slice5GCore(4, cfg, snr_db=30.0, seed=2)
    arrivals = core.F.copy()
    assert np.all(arrivals > 0)
    _, info = core.step(scheduler, _action(scheduler, 4))
    np.testing.assert_allclose(info["urllc_departed"], arrivals)
    np.testing.assert_allclose(info["F"], 0.0, atol=1e-12)
    assert np.all(info["urllc_late"] == 0)


def test_every_scheduler_sees_the_same_world():
    """Common random numbers: the same channels and disturbance forces every slot, the same first arrivals, whatever
    the scheduler does (arrivals then depend on the delivered rate, Eq. 2)."""
    cores = {s: Slice5GCore(3, seed=7) for s in SCHEDULERS}
    first = {s: c.arrivals_u.copy() for s, c in cores.items()}
    assert all(np.array_equal(first["slicing"], a) for a in first.values())
    for _ in range(60):
        ref = cores["slicing"]
        for c in cores.values():
            np.testing.assert_array_equal(c.rate_bits, ref.rate_bits)
            np.testing.assert_array_equal(c.disturbance, ref.disturbance)
        for s, c in cores.items():
            c.step(s, _action(s, 3, 0.3))


def test_per_prb_schedulers_provision_the_urllc_need_plus_margin():
    """PF and max-rate cover F + β·DI + margin (URLLC) and G (eMBB) PRB by PRB and leave unneeded PRBs idle."""
    for margin, di in ((0.0, 0.0), (2.0, 0.0), (0.0, 2.0), (1.0, 2.0)):
        core = Slice5GCore(1, Slice5GConfig(n_prb=6, urllc_margin=margin, beta=0.5), seed=0)
        core.slice_bits[:] = 800.0                 # every PRB carries one URLLC packet or 1/15 eMBB packet
        core.ring[:] = 0.0
        core.ring[0, 0] = 1.0                       # F = 1
        core.F[:] = 1.0
        core.G[:] = 0.0
        core.di[:] = di                             # β·DI = 0.5·DI packets of capacity lost (Eq. 4)
        owner = core._assign_sequential(core.slice_bits)
        need = int(np.ceil(1.0 + 0.5 * di + margin))
        assert (owner[0] == 0).sum() == need and (owner[0] == -1).sum() == 6 - need


def test_same_demand_same_prbs_for_slicing_and_proportional_fair():
    """Every scheduler walks the PRBs in the same order: when PF serves URLLC first (large weight) and URLLC needs
    exactly n PRBs, PF's URLLC PRBs are the ones slicing gives a share n/k."""
    cfg = Slice5GConfig(pf_urllc_weight=1e6)
    core = Slice5GCore(6, cfg, snr_db=np.linspace(3, 20, 6), seed=4)
    n = 7
    first = core.prb_order()[:, :n]
    need = np.take_along_axis(core.slice_bits[:, 0], first, axis=1).sum(axis=1) / cfg.urllc_packet_bits
    core.ring[:] = 0.0
    core.ring[:, 0] = need - 1e-7                      # a hair under n PRBs' worth: the n-th PRB is still needed
    core.F = core.ring.sum(axis=1)
    core.G[:] = 1e6                                    # eMBB takes every other PRB
    weight = np.array([cfg.pf_urllc_weight, 1.0])
    pf = core._assign_sequential(weight[None, :, None] * core.slice_bits / core.pf_avg[:, :, None])
    slicing = core._assign_slicing(np.full(6, n / cfg.n_prb))
    np.testing.assert_array_equal(pf, slicing)
    assert np.all((pf == 0).sum(axis=1) == n)


def test_fifo_delays_hand_case():
    cfg = Slice5GConfig(delay_bound_ms=5)
    core = Slice5GCore(1, cfg, seed=0)
    core.ring[:] = 0.0
    core.delay_hist[:] = 0.0
    core.ring[0, 7] = 2.0     # two packets that arrived 7 slots ago
    core.ring[0, 0] = 1.0     # one packet that arrived this slot
    departed, late, dropped = core._serve_fifo(np.array([2.5]))
    # oldest first: both old packets leave (delay in (7, 8] > 5: late), then half of the new one (delay in (0, 1])
    assert departed[0] == pytest.approx(2.5) and late[0] == pytest.approx(2.0) and dropped[0] == 0.0
    assert core.ring[0, 0] == pytest.approx(0.5) and core.ring[0, 7] == 0.0
    assert core.delay_hist[0, 7] == pytest.approx(2.0) and core.delay_hist[0, 0] == pytest.approx(0.5)
    assert core.hol_age()[0] == 0.0


def test_delay_quantile_interpolates_within_the_slot():
    hist = np.zeros((2, 8))
    hist[0, 1] = 10.0                     # every packet left with a delay in (1, 2] slots
    hist[1, 0], hist[1, 1] = 50.0, 50.0   # half in (0, 1], half in (1, 2]
    np.testing.assert_allclose(delay_quantile_ms(hist, 0.5), [1.5, 1.0])
    np.testing.assert_allclose(delay_quantile_ms(hist, 0.99), [1.99, 1.98])
    np.testing.assert_allclose(delay_quantile_ms(hist, 0.99, slot_ms=0.5), [0.995, 0.99])
    assert np.isnan(delay_quantile_ms(np.zeros((1, 8)), 0.99)[0])


def test_violation_flags_a_packet_already_bound_to_miss_the_bound():
    """v_t = 1 when a packet still queued after service has age ≥ d_max − 1 (it leaves with a delay > d_max)."""
    cfg = Slice5GConfig(delay_bound_ms=3, beta=0.0)
    core = Slice5GCore(2, cfg, snr_db=-10.0, seed=0)
    core.ring[:] = 0.0
    core.ring[0, 1] = 100.0   # age 1 = d_max − 2: may still leave next slot with a delay in (2, 3]: not doomed
    core.ring[1, 2] = 100.0   # age 2 = d_max − 1: doomed
    core.F = core.ring.sum(axis=1)
    _, info = core.step("slicing", np.zeros(2))   # no URLLC PRBs: nothing leaves
    assert info["violation"].tolist() == [0.0, 1.0]


def test_command_delay_equals_queue_drain_time():
    """A command queued behind F packets is delivered once the service has drained them (FIFO)."""
    cfg = Slice5GConfig(control_period_ms=1000)
    core = Slice5GCore(1, cfg, seed=0)
    core.F[:] = 10.0
    core.t = 1
    core._send_commands(np.array([True]))
    delivered_at = None
    for k in range(1, 10):
        core._deliver_commands(np.array([2.0]))
        if np.isinf(core.cmd_ahead[0]).all():
            delivered_at = k
            break
    assert delivered_at == 5   # 10 packets ahead (incl. itself) at 2 per slot


def test_disturbance_is_a_stationary_ou_process():
    cfg = Slice5GConfig()
    core = Slice5GCore(400, cfg, seed=1)
    for _ in range(300):
        core.step("max-rate")
    d = core.disturbance.ravel()
    assert abs(d.std() - cfg.disturbance_std) < 0.15 * cfg.disturbance_std and abs(d.mean()) < 0.3


def test_same_seed_same_trajectory():
    def run(seed):
        core = Slice5GCore(4, seed=seed)
        return np.array([core.step("proportional-fair")[1]["embb_served_packets"] for _ in range(50)])

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_bad_scheduler_and_missing_action():
    core = Slice5GCore(2, seed=0)
    with pytest.raises(ValueError, match="scheduler"):
        core.step("round-robin")
    with pytest.raises(ValueError, match="phi"):
        core.step("slicing")


# ---------------------------------------------------------------------------- PettingZoo + EBFleet

import importlib  # noqa: E402

from hrlkit.envs import ebfleet as eb  # noqa: E402


@pytest.mark.parametrize("name", sorted(hrlkit.envs.PARALLEL_ENVS))
def test_parallel_api(name):
    from pettingzoo.test import parallel_api_test

    module, cls = hrlkit.envs.PARALLEL_ENVS[name].split(":")
    env = getattr(importlib.import_module(module), cls)()
    parallel_api_test(env, num_cycles=200)


def _core(**kw):
    defaults = dict(n_buses=2, n_chargers=1, uncertain=False, soc_init=(0.5, 0.5))
    return eb.EBFleetCore(eb.EBFleetConfig(**{**defaults, **kw}), n_days=1, seed=0)


def test_charging_energy_cost_and_conflicts_by_hand():
    core = _core()
    # both buses ask for charger 1: bus 0 wins (fixed priority), bus 1 is a conflict; bus 0 charges at 100 kW
    reward, info = core.step(np.array([[1, 1]]), np.array([[0, 0]]), np.array([[2, 3]]))
    stored = 0.95 * 100.0 * 0.25                                       # η c Δt = 23.75 kWh
    assert core.soc[0, 0] == pytest.approx(0.5 + stored / 300.0)
    assert core.soc[0, 1] == pytest.approx(0.5)
    price0 = eb.tou_price(core.cfg)[0]
    assert info["cost"][0] == pytest.approx(price0 * stored / 0.95)   # grid energy = stored / η
    assert info["conflicts"][0] == 1
    assert reward[0] == pytest.approx(-info["cost"][0] - 0.5 * 1)      # w_conflict = 0.5
    # a full battery takes only what fits
    core = _core(soc_init=(0.99, 0.99))
    _, info = core.step(np.array([[1, 0]]), np.array([[0, 0]]), np.array([[3, 0]]))
    assert core.soc[0, 0] == pytest.approx(1.0)
    assert info["energy_kwh"][0] == pytest.approx(0.01 * 300.0 / 0.95)


def test_dispatch_lateness_and_missed_trips():
    core = _core(n_buses=2, soc_init=(0.5, 0.9))
    core.departures = np.array([2, 6])          # a hand-made timetable: one trip at step 2, one at step 6
    core.reset(0)
    core.soc[0] = [0.5, 0.9]
    idle = np.zeros((1, 2), dtype=int)
    for _ in range(2):                          # nothing is due before the first departure
        _, info = core.step(idle, idle, idle)
        assert info["late"][0] == 0 and info["missed"][0] == 0
    # nobody assigned: the trip waits (late) for max_wait_steps steps, then it is missed
    for _ in range(core.cfg.max_wait_steps):
        _, info = core.step(idle, idle, idle)
        assert info["late"][0] == 1 and info["missed"][0] == 0
    _, info = core.step(idle, idle, idle)
    assert info["missed"][0] == 1 and info["late"][0] == 0
    core.step(idle, idle, idle)
    assert core.t == 6
    # both buses assigned: the one with the higher SoC (bus 1) serves the trip, bus 0 stays
    core.step(idle, np.array([[1, 1]]), idle)
    assert core.remaining[0, 1] == core.trips.duration[0, 1] - 1 and core.remaining[0, 0] == 0
    assert core.trips.served[0].tolist() == [False, True] and core.trips.missed[0].tolist() == [True, False]
    # on the trip, SoC falls by energy / duration per step (deterministic day: 36 kWh over 5 steps)
    soc_before = core.soc[0, 1]
    core.step(idle, idle, idle)
    assert core.soc[0, 1] == pytest.approx(soc_before - 36.0 / 5 / 300.0)


def test_timetable_and_price_follow_the_configuration():
    cfg = eb.EBFleetConfig(n_buses=8)
    deps = eb.timetable(cfg)
    hours = deps * cfg.step_hours
    assert hours.min() >= cfg.service_hours[0] and hours.max() <= cfg.service_hours[1]
    peak = ((hours >= 7) & (hours < 9)).sum() / 8          # departures per step in the morning peak
    off = ((hours >= 10) & (hours < 14)).sum() / 16
    assert peak == pytest.approx(0.75 * 8 / cfg.trip_steps_median, abs=0.2)
    assert off == pytest.approx(0.4 * 8 / cfg.trip_steps_median, abs=0.2)
    tou = eb.tou_price(cfg)
    assert tou[0] == 0.08 and tou[int(17 / 0.25)] == 0.30
    # price noise is AR(1): deterministic days keep the TOU price exactly
    core = eb.EBFleetCore(eb.EBFleetConfig(n_buses=4, uncertain=False), 3, 0)
    zeros = np.zeros((3, 4), dtype=int)
    for t in range(10):
        np.testing.assert_allclose(core.price, tou[t])
        core.step(zeros, zeros, zeros)


def test_ebfleet_is_reproducible_and_validates_actions():
    a, b = (eb.EBFleetCore(eb.EBFleetConfig(n_buses=4), 5, 7) for _ in range(2))
    rng = np.random.default_rng(0)
    for _ in range(96):
        acts = [rng.integers(0, hi, size=(5, 4)) for hi in (2, 2, 4)]
        ra, _ = a.step(*acts)
        rb, _ = b.step(*acts)
        np.testing.assert_array_equal(ra, rb)
    with pytest.raises(RuntimeError, match="day is over"):
        a.step(*acts)
    with pytest.raises(ValueError, match="charger"):
        eb.EBFleetCore(eb.EBFleetConfig(n_buses=4), 5, 7).step(np.full((5, 4), 9), acts[1], acts[2])


def test_milp_bound_hand_computed_day():
    # one bus, no trips, deterministic TOU price, SoC_0 = 0.1 < SoC_min = 0.2 and stored energy valued at
    # p_end = 0.05 < the cheapest tariff: the optimum stores exactly (0.2 − 0.1)·C in step 0 (at 0.08 $/kWh, so that
    # SoC_1 is not short) and nothing else; cost = (0.08 − 0.05)·0.1·C/η
    cfg = eb.EBFleetConfig(n_buses=1, n_chargers=1, uncertain=False, soc_init=(0.1, 0.1), peak_utilisation=0.0,
                           offpeak_utilisation=0.0, end_value_price=0.05)
    (day,) = eb.realise_days(cfg, 1, 0)
    assert len(day.departures) == 0
    out = eb.perfect_information_bound(cfg, day)
    assert out["status"] == 0
    assert out["bound"] == pytest.approx((0.08 - 0.05) * 0.1 * cfg.battery_kwh / cfg.efficiency, rel=1e-6)


def test_end_of_day_value_hand_computed():
    # one bus, no trips, TOU price: charge 150 kW in step 0 (0.08 $/kWh), then idle. Stored: η·150·0.25 kWh.
    # Reward over the day = −0.08·150·0.25 + p_end·(η·150·0.25)/η = (p_end − 0.08)·37.5 with p_end = 0.08 (default)
    cfg = eb.EBFleetConfig(n_buses=1, n_chargers=1, uncertain=False, soc_init=(0.5, 0.5), peak_utilisation=0.0,
                           offpeak_utilisation=0.0)
    assert cfg.end_price == 0.08
    core = eb.EBFleetCore(cfg, 1, 0)
    total, last = 0.0, None
    for t in range(cfg.steps_per_day):
        charge = np.array([[1 if t == 0 else 0]])
        reward, last = core.step(charge, np.zeros((1, 1), int), np.full((1, 1), 3))
        total += float(reward[0])
    assert last["stored_change_kwh"][0] == pytest.approx(cfg.efficiency * 150 * 0.25)
    assert last["end_value"][0] == pytest.approx(0.08 * 150 * 0.25)
    assert total == pytest.approx(0.0, abs=1e-9)
    # p_end = 0.2: the same day earns (0.2 − 0.08)·37.5
    core = eb.EBFleetCore(eb.EBFleetConfig(**{**cfg.__dict__, "end_value_price": 0.2}), 1, 0)
    total = sum(float(core.step(np.array([[1 if t == 0 else 0]]), np.zeros((1, 1), int), np.full((1, 1), 3))[0][0])
                for t in range(cfg.steps_per_day))
    assert total == pytest.approx((0.2 - 0.08) * 37.5)
    with pytest.raises(ValueError, match="end_value_price"):
        eb.EBFleetConfig(end_value_price=-1.0)


def test_milp_bound_is_below_what_policies_achieve():
    cfg = eb.EBFleetConfig(n_buses=4)
    days = eb.realise_days(cfg, 2, 3)
    # a time-limited solve still returns HiGHS's dual bound, a valid lower bound (the second day stops there)
    bounds = np.array([eb.perfect_information_bound(cfg, d, time_limit=3)["bound"] for d in days])
    rng = np.random.default_rng(0)
    for policy in ("charge-when-low", "random"):
        core = eb.EBFleetCore(cfg, 2, 3)
        np.testing.assert_allclose(core.soc, np.stack([d.soc0 for d in days]))
        total = np.zeros(2)
        for t in range(cfg.steps_per_day):
            np.testing.assert_allclose(core.price, [d.price[t] for d in days])
            if policy == "random":
                acts = [rng.integers(0, hi, size=(2, 4)) for hi in (cfg.chargers + 1, 2, 4)]
            else:
                low = core.soc < 0.6
                acts = [np.where(low, 1, 0), (~low).astype(int), np.full((2, 4), 3)]
            reward, _ = core.step(*acts)
            total -= reward
        assert bool((bounds <= total + 1e-6).all()), (policy, bounds, total)


def test_milp_bound_with_a_loose_gap_is_still_a_lower_bound_and_deterministic():
    cfg = eb.EBFleetConfig(n_buses=4)
    (day,) = eb.realise_days(cfg, 1, 5)
    tight = eb.perfect_information_bound(cfg, day, time_limit=30)
    loose = [eb.perfect_information_bound(cfg, day, time_limit=30, mip_rel_gap=0.05) for _ in range(2)]
    assert loose[0] == loose[1]                              # gap-stopped solves repeat exactly
    assert loose[0]["bound"] <= tight["bound"] + 1e-6        # a dual bound never exceeds the optimum
    assert loose[0]["gap"] <= 0.05 + 1e-9 and loose[0]["status"] == 0


# ---------------------------------------------------------------- AntTerrain (MuJoCo)

def test_antterrain_quaternion_matrix_matches_mujoco():
    import mujoco

    from hrlkit.envs.ant.terrain import _quat_to_matrix

    rng = np.random.default_rng(0)
    quats = rng.normal(size=(5, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    for q, mat in zip(quats, _quat_to_matrix(quats)):
        expected = np.zeros(9)
        mujoco.mju_quat2Mat(expected, q)
        np.testing.assert_allclose(mat, expected.reshape(3, 3), atol=1e-12)


def test_antterrain_ground_height_terrain_and_boxes():
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    cfg = AntTerrainConfig(roughness=0.1, n_boxes=1, hfield_cells=5, arena=8.0)
    core = AntTerrainCore(cfg, 1, seed=0)
    # grid points are 4 m apart: (x, y) = (-8 + 4c, -8 + 4r) reads heights[r, c]
    core.heights[0] = np.arange(25, dtype=float).reshape(5, 5) / 100
    core.boxes[0, 0] = [4.0, -4.0, 0.5, 0.5, 0.9]          # centre (4, -4), half sides 0.5, top 0.9 m
    pts = np.array([[-8.0, -8.0], [0.0, 0.0], [4.0, 8.0], [3.6, -4.4], [5.0, -4.0]])
    # (5, -4) is outside the box, a quarter of the way from grid point (row 1, col 3) to (row 1, col 4)
    expected = [0.0, 0.12, 0.23, 0.9, 0.0825]
    np.testing.assert_allclose(core.ground_height(np.zeros(5, dtype=int), pts), expected)


def test_antterrain_terrain_is_what_mujoco_collides_with():
    import mujoco

    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    core = AntTerrainCore(AntTerrainConfig(roughness=0.2), 2, seed=3)
    model, cells = core.models[0], core.cfg.hfield_cells
    assert 0.0 <= core.heights.min() and core.heights.max() == pytest.approx(0.2)
    for i in range(2):   # each env has its own model, hence its own terrain
        np.testing.assert_allclose(core.models[i].hfield_data.reshape(cells, cells), core.heights[i])
    assert np.abs(core.heights[0] - core.heights[1]).max() > 0.01
    # a ray cast straight down at a grid point hits the height field at the stored height
    x, y = 1.0, -2.0
    geomid = np.zeros(1, dtype=np.int32)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    start = 5.0
    dist = mujoco.mj_ray(model, data, np.array([x, y, start]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geomid)
    assert start - dist == pytest.approx(core.ground_height(np.array([0]), np.array([[x, y]]))[0], abs=0.02)


def test_antterrain_standing_pose_holds_and_flip_is_a_fall():
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    core = AntTerrainCore(AntTerrainConfig(), 2, seed=1)
    for _ in range(50):                                     # 2 s holding the standing pose
        info = core.step(np.tile(core.default_pose, (2, 1)))
    assert not info["fell"].any() and info["foot_contact"].all()
    assert (info["height"] > 0.4).all()
    obs = core.observe()
    np.testing.assert_allclose(obs["gravity"][:, 2], -1.0, atol=0.05)    # upright: gravity along body −z
    np.testing.assert_allclose(obs["height_scan"], np.broadcast_to(obs["height"][:, None], (2, 49)))  # flat
    # turn env 1 upside down: the next step reports a fall
    core.datas[1].qpos[3:7] = [0.0, 1.0, 0.0, 0.0]
    import mujoco

    mujoco.mj_forward(core.models[1], core.datas[1])
    info = core.step(np.tile(core.default_pose, (2, 1)))
    assert info["fell"].tolist() == [False, True]


def test_antterrain_goal_progress_and_body_frame():
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    core = AntTerrainCore(AntTerrainConfig(), 3, seed=2)
    obs = core.observe()
    np.testing.assert_allclose(np.linalg.norm(obs["goal_body"], axis=1), obs["goal_distance"])
    lo, hi = core.cfg.goal_distance
    assert ((obs["goal_distance"] >= lo - 0.2) & (obs["goal_distance"] <= hi + 0.2)).all()
    before = obs["goal_distance"]
    info = core.step(np.tile(core.default_pose, (3, 1)))
    np.testing.assert_allclose(info["progress"], before - info["goal_distance"])


def test_antterrain_is_reproducible_and_validates_inputs():
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    cfg = AntTerrainConfig(roughness=0.05, n_boxes=3)
    runs = []
    for _ in range(2):
        core = AntTerrainCore(cfg, 2, seed=7)
        rng = np.random.default_rng(0)
        for _ in range(20):
            info = core.step(core.default_pose + rng.uniform(-0.5, 0.5, (2, 8)))
        core.reset([0])
        runs.append((core.qpos.copy(), core.heights.copy(), core.goal.copy(), info["torque"].copy()))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="targets must have shape"):
        core.step(np.zeros((3, 8)))
    with pytest.raises(FloatingPointError):
        core.step(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="roughness"):
        AntTerrainConfig(roughness=-1.0)


def test_antterrain_rollout_threads_match_the_loop():
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    cfg = AntTerrainConfig(roughness=0.05, n_boxes=2)
    loop, pool = AntTerrainCore(cfg, 3, seed=4, threads=1), AntTerrainCore(cfg, 3, seed=4, threads=2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        targets = loop.default_pose + rng.uniform(-0.4, 0.4, (3, 8))
        loop.step(targets)
        pool.step(targets)
    pool.close()
    # not bitwise: mujoco.rollout starts each call without the constraint solver's warm start
    np.testing.assert_allclose(pool.qpos, loop.qpos, atol=1e-8)


def test_antterrain_per_env_roughness_for_a_curriculum():
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    core = AntTerrainCore(AntTerrainConfig(roughness=0.0), 3, seed=0)
    assert core.heights.max() == 0.0
    core.reset([0, 2], roughness=[0.05, 0.1])
    assert core.heights[0].max() == pytest.approx(0.05) and core.heights[2].max() == pytest.approx(0.1)
    assert core.heights[1].max() == 0.0
    core.reset([2])                                  # keeps its roughness at the next reset
    assert core.heights[2].max() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="roughness"):
        core.reset([1], roughness=-0.1)


def test_a_trip_can_be_served_max_wait_steps_late_and_the_bound_allows_it():
    # the simulator serves a pending trip up to max_wait_steps after its departure (w late steps, not missed);
    # the MILP must allow that delay too, or its "bound" could exceed what a policy pays
    cfg = eb.EBFleetConfig(n_buses=1, n_chargers=1, uncertain=False, soc_init=(0.9, 0.9))
    core = eb.EBFleetCore(cfg, 1, 0)
    first, w = int(core.departures[0]), cfg.max_wait_steps
    late = missed = 0.0
    for t in range(first + w + 1):
        assign = np.array([[1 if t == first + w else 0]])
        _, info = core.step(np.zeros((1, 1), int), assign, np.zeros((1, 1), int))
        late, missed = late + info["late"][0], missed + info["missed"][0]
    assert core.trips.served[0, 0] and late == w and missed == 0
    (day,) = eb.realise_days(cfg, 1, 0)
    # the bound is below the cost of a policy that serves every trip as soon as the bus is back
    core = eb.EBFleetCore(cfg, 1, 0)
    total = 0.0
    for t in range(cfg.steps_per_day):
        reward, _ = core.step(np.where(core.soc < 0.5, 1, 0), np.where(core.soc >= 0.5, 1, 0), np.full((1, 1), 3))
        total -= float(reward[0])
    assert eb.perfect_information_bound(cfg, day, time_limit=30)["bound"] <= total + 1e-6
