"""hrlkit.envs.soccer.soccer2d: the dynamics on hand-computed cases, goals and walls, the mirror symmetry of the
observations, determinism, vectorisation, and the PettingZoo API.

The integrator is semi-implicit Euler (velocity first, then the position moves with the new velocity); the expected
numbers below are written out from its closed forms, never computed by the module.
"""

import importlib

import numpy as np
import pytest

import hrlkit.envs
from hrlkit.envs.soccer.soccer2d import (Soccer2DConfig, Soccer2DCore, Soccer2DParallelEnv, kickoff_layout,
                                  observation_names, state_names)

# default constants the hand computations use
F_MAX, C_D, M_ROBOT, DT, OMEGA_MAX = 60.0, 30.0, 15.0, 0.02, 3.0
M_BALL, E_BALL, E_WALL, MU_G = 0.45, 0.5, 0.6, 0.06 * 9.81
SWAP = np.r_[2:4, 0:2]      # 2 v 2: team 0's agents <-> team 1's


def test_defaults_are_the_hand_computations_constants():
    cfg = Soccer2DConfig()
    assert (cfg.max_force, cfg.robot_drag, cfg.robot_mass, cfg.dt, cfg.max_turn_rate) == (F_MAX, C_D, M_ROBOT, DT,
                                                                                           OMEGA_MAX)
    assert (cfg.ball_mass, cfg.ball_restitution, cfg.wall_restitution) == (M_BALL, E_BALL, E_WALL)
    assert cfg.ball_rolling_friction * 9.81 == MU_G
    assert (cfg.n_per_team, cfg.episode_steps, cfg.field_length, cfg.field_width, cfg.goal_width) == (2, 1500, 9.0,
                                                                                                      6.0, 1.5)


def _core(n_games=1, **overrides) -> Soccer2DCore:
    return Soccer2DCore(Soccer2DConfig(**overrides), n_games, seed=0)


def _park_robots(core: Soccer2DCore) -> None:
    """Robots at rest, facing +x, near the touchlines and away from the ball paths of the tests."""
    core.robot_pos[:] = [[-1.0, -2.5], [-1.0, 2.5], [1.0, -2.5], [1.0, 2.5]]
    core.robot_vel[:] = 0.0
    core.robot_heading[:] = [1.0, 0.0]


def _zero_actions(core: Soccer2DCore) -> np.ndarray:
    return np.zeros((core.n_games, core.n_agents, 3))


def _heading_angle(core: Soccer2DCore, agent: int) -> float:
    return float(np.arctan2(core.robot_heading[0, agent, 1], core.robot_heading[0, agent, 0]))


# ---------------------------------------------------------------------------- robot dynamics


def test_constant_body_force_from_rest_follows_the_discrete_closed_form():
    # v_{k+1} = (1 − a)·v_k + Δt·F/m with a = Δt·c_d/m = 0.04, v_0 = 0  =>  v_k = (F/c_d)·(1 − 0.96^k);
    # p_{k+1} = p_k + Δt·v_{k+1}  =>  p_k − p_0 = Δt·(F/c_d)·(k − 0.96·(1 − 0.96^k)/0.04)
    core = _core()
    _park_robots(core)
    psi = np.pi / 6
    core.robot_pos[0, 0] = [-3.0, -1.0]
    core.robot_heading[0, 0] = [np.cos(psi), np.sin(psi)]
    actions = _zero_actions(core)
    actions[0, 0] = [0.3, 0.4, 0.0]                        # |a| = 0.5: F_b = (18, 24) N, no clipping
    # F = R(ψ)·F_b = (cos ψ·18 − sin ψ·24, sin ψ·18 + cos ψ·24)
    force = np.array([np.sqrt(3) / 2 * 18 - 0.5 * 24, 0.5 * 18 + np.sqrt(3) / 2 * 24])
    k = 25
    for _ in range(k):
        core.step(actions)
    expected_vel = force / 30.0 * (1 - 0.96 ** k)
    expected_pos = np.array([-3.0, -1.0]) + 0.02 * force / 30.0 * (k - 0.96 * (1 - 0.96 ** k) / 0.04)
    np.testing.assert_allclose(core.robot_vel[0, 0], expected_vel, rtol=1e-12)
    np.testing.assert_allclose(core.robot_pos[0, 0], expected_pos, rtol=1e-12)
    assert _heading_angle(core, 0) == pytest.approx(psi, abs=1e-12)
    np.testing.assert_array_equal(core.robot_vel[0, 1:], 0.0)   # nobody else moved


def test_force_norm_and_turn_rate_are_clipped():
    core = _core()
    _park_robots(core)
    actions = _zero_actions(core)
    actions[0, 0] = [1.0, 1.0, 5.0]      # |F_b| = 60·√2 -> clipped to 60 N along (1, 1)/√2; ω clipped to ω_max
    actions[0, 1] = [2.0, 0.0, -3.0]     # each component clipped to [−1, 1]: F_b = (60, 0), ω = −ω_max
    actions[0, 2] = [0.6, 0.8, 0.5]      # |F_b| = 60 exactly: kept; ω = 1.5 rad/s
    core.step(actions)
    # from rest, one step: v_1 = Δt·F/m; ψ_1 = Δt·ω
    np.testing.assert_allclose(core.robot_vel[0, 0], 0.02 * np.array([60, 60]) / np.sqrt(2) / 15, rtol=1e-12)
    np.testing.assert_allclose(core.robot_vel[0, 1], [0.02 * 60 / 15, 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(core.robot_vel[0, 2], [0.02 * 36 / 15, 0.02 * 48 / 15], rtol=1e-12)
    np.testing.assert_allclose(core.robot_turn_rate[0, :3], [3.0, -3.0, 1.5])
    assert _heading_angle(core, 0) == pytest.approx(0.06, abs=1e-12)
    assert _heading_angle(core, 1) == pytest.approx(-0.06, abs=1e-12)
    for _ in range(9):                    # ten steps at the limit turn ω_max·10·Δt = 0.6 rad
        core.step(actions)
    assert _heading_angle(core, 0) == pytest.approx(0.6, abs=1e-12)


# ---------------------------------------------------------------------------- ball


def test_head_on_robot_ball_collision_follows_1d_restitution():
    # robot drag 0 so that the robot arrives at exactly v0; the ball is at rest (friction does not move it)
    core = _core(robot_drag=0.0)
    _park_robots(core)
    v0 = 1.5
    core.ball_pos[0] = [1.0, 0.0]
    core.robot_pos[0, 0] = [1.0 - 0.36, 0.0]          # 1 cm gap; one step of 3 cm closes it
    core.robot_vel[0, 0] = [v0, 0.0]
    events = core.step(_zero_actions(core))
    # 1-D: v_r' = v0·(m_r − e·m_b)/(m_r + m_b) = 1.5·14.775/15.45;  v_b' = v0·(1 + e)·m_r/(m_r + m_b) = 33.75/15.45
    robot_after, ball_after = 1.5 * 14.775 / 15.45, 33.75 / 15.45
    np.testing.assert_allclose(core.robot_vel[0, 0], [robot_after, 0.0], rtol=1e-12)
    np.testing.assert_allclose(core.ball_vel[0], [ball_after, 0.0], rtol=1e-12)
    # momentum conserved: m_r·v0 = m_r·v_r' + m_b·v_b'
    assert 15.0 * robot_after + 0.45 * ball_after == pytest.approx(15.0 * v0, rel=1e-12)
    assert 15.0 * core.robot_vel[0, 0, 0] + 0.45 * core.ball_vel[0, 0] == pytest.approx(15.0 * v0, rel=1e-12)
    # de-penetrated: the two discs just touch; the touch is recorded
    assert np.linalg.norm(core.ball_pos[0] - core.robot_pos[0, 0]) == pytest.approx(0.35, rel=1e-12)
    assert events["toucher"].tolist() == [0]
    events = core.step(_zero_actions(core))               # now separating: no new impulse, no touch
    assert events["toucher"].tolist() == [-1]


def test_ball_rolling_friction_stops_after_the_closed_form_distance():
    # no drag: each step |v| ← max(|v| − μg·Δt, 0), then x ← x + Δt·|v|. The ball moves while v0 − n·μg·Δt > 0,
    # n = 1..212 (212·0.011772 = 2.4957 < 2.5 < 213·0.011772), and covers Δt·Σ_n (v0 − n·μg·Δt); the continuous
    # v0²/(2μg) differs from that by less than one step's travel v0·Δt.
    core = _core(ball_drag=0.0)
    _park_robots(core)
    v0, x0 = 2.5, -4.0
    core.ball_pos[0] = [x0, 0.0]
    core.ball_vel[0] = [v0, 0.0]
    steps = 0
    while core.ball_vel[0, 0] > 0:
        core.step(_zero_actions(core))
        steps += 1
    assert steps == 213                                      # the 213th step brings it to rest
    n = np.arange(1, 213)
    distance = core.ball_pos[0, 0] - x0
    assert distance == pytest.approx(0.02 * np.sum(2.5 - n * MU_G * 0.02), rel=1e-12)
    assert abs(distance - v0 ** 2 / (2 * MU_G)) <= v0 * 0.02
    assert core.ball_pos[0, 1] == 0.0


def test_goals_end_the_game_and_the_wall_beside_the_goal_reflects():
    core = _core(n_games=3, ball_drag=0.0)
    _park_robots(core)
    core.ball_pos[:] = [[3.5, 0.0], [-3.5, 0.0], [3.5, 2.0]]     # into team 1's goal, team 0's goal, the wall
    core.ball_vel[:] = [[4.0, 0.0], [-4.0, 0.0], [4.0, 0.0]]
    reflected = False
    while not core.done.any():
        before = core.ball_vel[2, 0]
        events = core.step(_zero_actions(core))
        if before > 0 and core.ball_vel[2, 0] < 0:
            # wall at x = L/2 − r = 4.4: v_x ← −e_w·(v_x − μg·Δt)
            assert core.ball_vel[2, 0] == pytest.approx(-0.6 * (before - MU_G * 0.02), rel=1e-12)
            assert core.ball_pos[2, 0] == 4.4
            reflected = True
    assert reflected
    assert events["goals"].tolist() == [[1, 0], [0, 1], [0, 0]]
    assert events["terminated"].tolist() == [True, True, False] and not events["truncated"].any()
    assert core.done.tolist() == [True, True, False]
    with pytest.raises(RuntimeError, match="reset_games"):
        core.step(_zero_actions(core))
    ball_2, steps_2 = core.ball_pos[2].copy(), int(core.steps[2])
    core.reset_games(np.array([True, True, False]))
    np.testing.assert_array_equal(core.ball_pos[:2], 0.0)
    assert core.steps.tolist() == [0, 0, steps_2]
    np.testing.assert_array_equal(core.ball_pos[2], ball_2)
    for _ in range(100):                                       # the reflected ball rolls back: never a goal
        events = core.step(_zero_actions(core))
        assert not events["goals"].any() and not events["done"].any()
        assert abs(core.ball_pos[2, 0]) <= 4.4


# ---------------------------------------------------------------------------- observations and symmetry


def test_observation_layout_on_a_hand_made_state():
    core = _core()
    _park_robots(core)
    core.robot_pos[0, :2] = [[1.0, 0.0], [1.0, -1.0]]
    core.robot_heading[0, 0] = [0.0, 1.0]                      # robot 0 faces +y: its left is −x
    core.robot_vel[0, 0] = [0.0, 1.0]
    core.ball_pos[0], core.ball_vel[0] = [1.0, 2.0], [0.5, 0.0]
    names = observation_names(2)
    obs = dict(zip(names, core.observations()[0, 0]))
    # body frame of ψ = π/2: (x_b, y_b) = (w_y, −w_x)
    expected = {"vel_x": 1.0, "vel_y": 0.0, "turn_rate": 0.0, "ball_x": 2.0, "ball_y": 0.0,
                "ball_vx": -1.0, "ball_vy": -0.5,                 # (0.5, 0) − (0, 1) = (0.5, −1)
                "mate0_x": -1.0, "mate0_y": 0.0, "mate0_hx": 0.0, "mate0_hy": -1.0,
                "own_goal_x": 0.0, "own_goal_y": 5.5,              # (−4.5, 0) − (1, 0)
                "opp_goal_x": 0.0, "opp_goal_y": -3.5, "time_left": 1.0}
    assert {k: obs[k] for k in expected} == pytest.approx(expected, abs=1e-12)
    assert core.observations().shape == (1, 4, 30) and len(names) == 30
    assert core.global_state().shape == (1, 33) and len(state_names(2)) == 33
    three = _core(n_per_team=3)
    assert three.observations().shape == (1, 6, len(observation_names(3))) == (1, 6, 42)
    assert three.global_state(1).shape == (1, len(state_names(3)))


def _mirrored(core: Soccer2DCore) -> Soccer2DCore:
    """The same games rotated by π, (x, y) → (−x, −y), with the teams swapped."""
    twin = Soccer2DCore(core.cfg, core.n_games, seed=1)
    twin.robot_pos, twin.robot_vel = -core.robot_pos[:, SWAP], -core.robot_vel[:, SWAP]
    twin.robot_heading = -core.robot_heading[:, SWAP]
    twin.robot_turn_rate = core.robot_turn_rate[:, SWAP].copy()
    twin.ball_pos, twin.ball_vel = -core.ball_pos, -core.ball_vel
    twin.steps = core.steps.copy()
    return twin


def _scramble(core: Soccer2DCore, rng: np.random.Generator) -> None:
    """A random mid-game state; the ball near robot 0 of each game so that contacts happen."""
    g, n = core.n_games, core.n_agents
    core.robot_pos[:] = rng.uniform([-4.0, -2.5], [4.0, 2.5], size=(g, n, 2))
    core.robot_vel[:] = rng.uniform(-1.5, 1.5, size=(g, n, 2))
    angle = rng.uniform(-np.pi, np.pi, size=(g, n))
    core.robot_heading[:] = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    core.robot_turn_rate[:] = rng.uniform(-3, 3, size=(g, n))
    core.robot_pos[:, 0] = rng.uniform([-1.0, -1.0], [1.0, 1.0], size=(g, 2))
    core.ball_pos[:] = core.robot_pos[:, 0] + rng.uniform(-0.4, 0.4, size=(g, 2))
    core.ball_vel[:] = rng.uniform(-1.0, 1.0, size=(g, 2))
    core.steps[:] = rng.integers(0, 100, size=g)


def test_team_1_sees_exactly_what_team_0_sees_in_the_mirrored_game():
    rng = np.random.default_rng(0)
    core = _core(n_games=16)
    _scramble(core, rng)
    twin = _mirrored(core)
    np.testing.assert_array_equal(twin.observations(), core.observations()[:, SWAP])
    np.testing.assert_array_equal(twin.global_state(team=0), core.global_state(team=1))
    np.testing.assert_array_equal(twin.global_state(team=1), core.global_state(team=0))
    # stepping: the same body-frame actions with the roles swapped keep the games mirrored; robot 0 of each game
    # starts running into the ball, so the touches and goals must swap sides too
    core = _core(n_games=4)
    core.robot_vel[:, 0] = core.robot_heading[:, 0]
    core.ball_pos[:] = core.robot_pos[:, 0] + 0.36 * core.robot_heading[:, 0]
    twin = _mirrored(core)
    touched = False
    for _ in range(40):
        actions = rng.uniform(-1, 1, size=(4, 4, 3))
        events, twin_events = core.step(actions), twin.step(actions[:, SWAP])
        np.testing.assert_allclose(twin.observations(), core.observations()[:, SWAP], atol=1e-9)
        np.testing.assert_array_equal(twin_events["goals"], events["goals"][:, ::-1])
        toucher = events["toucher"]
        np.testing.assert_array_equal(twin_events["toucher"], np.where(toucher >= 0, (toucher + 2) % 4, -1))
        touched |= bool((toucher >= 0).any())
    assert touched


# ---------------------------------------------------------------------------- determinism and vectorisation


def _state(core: Soccer2DCore) -> tuple[np.ndarray, ...]:
    return (core.robot_pos, core.robot_vel, core.robot_heading, core.robot_turn_rate, core.ball_pos, core.ball_vel,
            core.steps, core.done)


def test_same_seed_same_trajectory_different_seed_different_kickoff():
    cfg = Soccer2DConfig(episode_steps=40)
    a, b = Soccer2DCore(cfg, 4, seed=3), Soccer2DCore(cfg, 4, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(100):                                      # crosses the time limit: reset_games draws jitter
        actions = rng.uniform(-1, 1, size=(4, 4, 3))
        ea, eb = a.step(actions), b.step(actions)
        for key in ea:
            np.testing.assert_array_equal(ea[key], eb[key])
        a.reset_games(ea["done"])
        b.reset_games(eb["done"])
        for x, y in zip(_state(a), _state(b)):
            np.testing.assert_array_equal(x, y)
    c = Soccer2DCore(cfg, 4, seed=4)
    a.reset(3)
    assert not np.allclose(a.robot_pos, c.robot_pos)
    # the jitter stays within its bounds around the kickoff spots (team 1 on team 0's, rotated by π)
    spots = kickoff_layout(cfg)
    assert np.abs(c.robot_pos - np.concatenate([spots, -spots])).max() <= cfg.kickoff_jitter
    np.testing.assert_array_equal(c.ball_pos, 0.0)
    assert (c.robot_pos[:, :2, 0] < 0).all() and (c.robot_pos[:, 2:, 0] > 0).all()


def test_eight_games_at_once_equal_eight_single_games():
    rng = np.random.default_rng(1)
    batch = _core(n_games=8)
    _scramble(batch, rng)
    singles = [_core() for _ in range(8)]
    for g, single in enumerate(singles):
        for mine, theirs in zip(_state(single), _state(batch)):
            mine[0] = theirs[g]
    touches = 0
    for _ in range(30):
        actions = rng.uniform(-1, 1, size=(8, 4, 3))
        events = batch.step(actions)
        for g, single in enumerate(singles):
            single_events = single.step(actions[g:g + 1])
            for key in events:
                np.testing.assert_array_equal(single_events[key][0], events[key][g])
            for mine, theirs in zip(_state(single), _state(batch)):
                np.testing.assert_array_equal(mine[0], theirs[g])
        touches += int((events["toucher"] >= 0).sum())
    assert touches > 0


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("field,value", [("robot_mass", 0.0), ("n_per_team", 0), ("episode_steps", 2.5),
                                         ("ball_restitution", 1.5), ("kickoff_jitter", -0.1), ("goal_width", 7.0),
                                         ("ball_drag", 60.0), ("robot_drag", 1000.0)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Soccer2DConfig(**{field: value})


def test_core_validates_its_arguments():
    with pytest.raises(ValueError, match="n_games"):
        Soccer2DCore(n_games=0)
    core = _core(n_games=2)
    with pytest.raises(ValueError, match="actions"):
        core.step(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="actions"):
        core.step(np.full((2, 4, 3), np.nan))
    with pytest.raises(ValueError, match="mask"):
        core.reset_games(np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="team"):
        core.global_state(team=2)


# ---------------------------------------------------------------------------- PettingZoo


def test_parallel_api_and_seed():
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    module, cls = hrlkit.envs.PARALLEL_ENVS["soccer2d_v0"].split(":")
    assert getattr(importlib.import_module(module), cls) is Soccer2DParallelEnv
    parallel_api_test(Soccer2DParallelEnv(), num_cycles=200)
    parallel_api_test(Soccer2DParallelEnv(Soccer2DConfig(episode_steps=50)), num_cycles=60)   # reaches truncation
    parallel_seed_test(lambda: Soccer2DParallelEnv())


def test_env_rewards_are_zero_sum_and_end_the_episode():
    env = Soccer2DParallelEnv()
    obs, _ = env.reset(seed=0)
    assert env.agents == ["team0_0", "team0_1", "team1_0", "team1_1"]
    assert all(o.dtype == np.float32 and env.observation_space(a).contains(o) for a, o in obs.items())
    assert env.state().shape == env.state_space.shape and env.state().dtype == np.float32
    env.core.ball_pos[0], env.core.ball_vel[0] = [4.45, 0.0], [3.0, 0.0]     # about to enter team 1's goal
    zero = {a: np.zeros(3, dtype=np.float32) for a in env.agents}
    _, rewards, terminations, truncations, _ = env.step(zero)
    assert rewards == {"team0_0": 1.0, "team0_1": 1.0, "team1_0": -1.0, "team1_1": -1.0}
    assert all(terminations.values()) and not any(truncations.values()) and env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step(zero)
    env = Soccer2DParallelEnv(Soccer2DConfig(episode_steps=3))
    env.reset(seed=0)
    for _ in range(3):
        _, rewards, terminations, truncations, _ = env.step(zero)
    assert set(rewards.values()) == {0.0} and all(truncations.values()) and not any(terminations.values())
    assert env.agents == []
