"""Environments: Gymnasium's check_env, and the model equations of each simulator on hand-checkable cases."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrlkit.envs
from hrlkit.envs.slice5g import Slice5GConfig, Slice5GCore


@pytest.mark.parametrize("env_id", hrlkit.envs.ENV_IDS)
def test_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_rates_follow_eq1():
    cfg = Slice5GConfig()
    core = Slice5GCore(3, cfg, snr_db=[5.0, 10.0, 20.0], seed=11)
    # the first draw after reset: |h|² ~ Exp(1), shape (cells, users, PRBs)
    h2 = np.random.default_rng(11).exponential(size=(3, cfg.n_urllc_users + cfg.n_embb_users, cfg.n_prb))
    snr = 10 ** (np.array([5.0, 10.0, 20.0]) / 10)
    expected = cfg.prb_bandwidth_hz * cfg.slot_s * np.log2(1 + snr[:, None, None] * h2)
    np.testing.assert_allclose(core.rate_bits, expected)


@pytest.mark.parametrize("scheduler", ["slicing", "proportional-fair", "max-rate"])
def test_queue_recursions(scheduler):
    """F(t+1) = [F + A1 − D]^+ and G(t+1) = min([G + A2 − r_e]^+, G_max), every slot, every cell."""
    cfg = Slice5GConfig()
    core = Slice5GCore(8, cfg, snr_db=np.linspace(3, 20, 8), seed=3)
    rng = np.random.default_rng(0)
    for _ in range(300):
        F0, G0 = core.F.copy(), core.G.copy()
        phi = rng.uniform(0, 1, 8) if scheduler == "slicing" else None
        _, reward, info = core.step(scheduler, phi)
        expected_F = np.maximum(F0 + info["urllc_arrivals"] - info["urllc_service"], 0.0) - info["urllc_dropped"]
        np.testing.assert_allclose(core.F, expected_F, atol=1e-9)
        expected_G = np.minimum(np.maximum(G0 + info["embb_arrivals"] - info["embb_rate"], 0.0), cfg.embb_buffer)
        np.testing.assert_allclose(core.G, expected_G, atol=1e-9)
        assert np.all(core.F >= 0) and np.all(core.G >= 0) and np.all(core.G <= cfg.embb_buffer)
        assert np.all(np.isfinite(reward))


def test_fifo_delays_hand_case():
    cfg = Slice5GConfig(delay_bound_ms=5)
    core = Slice5GCore(1, cfg, seed=0)
    core.ring[:] = 0.0
    core.delay_hist[:] = 0.0
    core.ring[0, 7] = 2.0     # two packets that arrived 7 slots ago
    core.ring[0, 0] = 1.0     # one packet that arrived this slot
    departed, late, dropped = core._serve_fifo(np.array([2.5]))
    # oldest first: both old packets leave (delay 8 > 5: late), then half of the new one (delay 1)
    assert departed[0] == pytest.approx(2.5) and late[0] == pytest.approx(2.0) and dropped[0] == 0.0
    assert core.ring[0, 0] == pytest.approx(0.5) and core.ring[0, 7] == 0.0
    assert core.delay_hist[0, 7] == pytest.approx(2.0) and core.delay_hist[0, 0] == pytest.approx(0.5)
    assert core.hol_age()[0] == 0.0


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


def test_same_seed_same_trajectory():
    def run(seed):
        core = Slice5GCore(4, seed=seed)
        return np.array([core.step("proportional-fair")[1] for _ in range(50)])

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_bad_scheduler_and_missing_action():
    core = Slice5GCore(2, seed=0)
    with pytest.raises(ValueError, match="scheduler"):
        core.step("round-robin")
    with pytest.raises(ValueError, match="phi"):
        core.step("slicing")
