"""hrlkit.envs.soccer.skills: the reward functions and the Kick stage machine on hand-computed cases, the observation
layout and history, the skill library (routing, determinism, mirror symmetry), config validation, reproducible
training and checkpoints, the CLI, and Gymnasium's check_env on each skill task.

Expected numbers are written out by hand from the documented formulas, never computed by the module.
"""

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from hrlkit.envs.soccer.soccer2d import Soccer2DConfig, Soccer2DCore
from hrlkit.envs.soccer.skills import (APPROACH, DRIBBLE, KICK, RECOVER, SKILLS, WALK, SkillHistory, SkillLibrary,
                                       SkillsConfig, SkillTask, SkillTraining, SoccerSkillEnv, _new_model,
                                       approach_distance, commands_to_world, dribble_reward, kick_reward,
                                       load_skills, main, obs_dim, save_skills, skill_observation,
                                       skill_observation_names, train_skills, walk_reward)
from hrlkit.rl.core import RunningMeanStd

SWAP = np.r_[2:4, 0:2]      # 2 v 2: team 0's agents <-> team 1's
_TINY_RUN = {"updates": 2, "n_envs": 8, "n_steps": 8}
TINY = SkillsConfig.from_dict({"walk": {"seed": 1, **_TINY_RUN}, "dribble": {"seed": 2, **_TINY_RUN},
                               "kick": {"seed": 3, **_TINY_RUN}, "hidden": 16, "ppo_epochs": 1,
                               "ppo_minibatches": 2, "eval_games": 4, "walk_episode_steps": 20,
                               "dribble_episode_steps": 20, "kick_episode_steps": 20, "kick_recover_steps": 5})


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks: one thread is faster than contended ones (restored afterwards for the rest of the suite)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- rewards


def test_walk_reward_by_hand():
    vel = np.array([[1.0, 0.0], [0.5, 0.5]])
    command = np.array([[0.5, 0.5], [0.5, 0.5]])
    action = np.array([[0.5, 0.0, -1.0], [0.0, 0.0, 0.0]])
    # game 0: ‖v − c‖² = 0.25 + 0.25 = 0.5 -> exp(−0.5/0.25) = e^−2; ‖a‖² = 0.25 + 1 = 1.25
    # game 1: perfect tracking, no action -> 1
    np.testing.assert_allclose(walk_reward(vel, command, action), [np.exp(-2.0) - 0.0125, 1.0], rtol=1e-12)
    np.testing.assert_allclose(walk_reward(vel, command, action, sigma2=0.5, w_action=0.1),
                               [np.exp(-1.0) - 0.125, 1.0], rtol=1e-12)


def test_dribble_reward_by_hand():
    robot = np.zeros((2, 2))
    ball = np.array([[0.38, 0.0], [0.0, 0.5]])          # within reach 0.45 / out of reach
    ball_vel = np.array([[0.6, 0.1], [0.0, 0.0]])
    command = np.array([[0.5, 0.0], [0.5, 0.0]])
    action = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    reward = dribble_reward(robot, ball, ball_vel, command, action, reach=0.45, distance_before=np.array([1.0, 0.5]),
                            distance=np.array([0.9, 0.6]))
    # game 0: ‖v_b − c‖² = 0.01 + 0.01 = 0.02 -> e^−0.08; +0.5 reach; +2·(1.0 − 0.9) progress; −0.01·2 action
    # game 1: ‖v_b − c‖² = 0.25 -> e^−1; no reach; 2·(0.5 − 0.6) = −0.2
    np.testing.assert_allclose(reward, [np.exp(-0.08) + 0.5 + 0.2 - 0.02, np.exp(-1.0) - 0.2], rtol=1e-12)


def test_approach_distance_is_to_the_spot_behind_the_ball():
    # ball (1, 0), kick along +y: spot (1, −0.35); from (0, 0): √(1 + 0.35²)
    d = approach_distance(np.array([[0.0, 0.0], [1.0, -0.35]]), np.array([[1.0, 0.0], [1.0, 0.0]]),
                          np.array([[0.0, 1.0], [0.0, 1.0]]), 0.35)
    np.testing.assert_allclose(d, [np.sqrt(1.1225), 0.0], atol=1e-15)


def _kick(stage, recover_steps, touched, before, after, heading, ball_vel, robot_vel, limit=3):
    """One game, kick along +x at s = 2 m/s, default weights."""
    return kick_reward(np.array([stage]), np.array([recover_steps]), np.array([touched]), np.array([before]),
                       np.array([after]), np.array([heading]), np.array([[1.0, 0.0]]), np.array([2.0]),
                       np.array([ball_vel]), np.array([robot_vel]), recover_limit=limit)


def test_kick_stage_machine_on_a_scripted_sequence():
    stage, steps = APPROACH, 0
    # approach, facing +y (h·û = 0): 2·(1.0 − 0.9) − 0.02·(1 − 0)/2 = 0.19
    out = _kick(stage, steps, False, 1.0, 0.9, [0.0, 1.0], [0.0, 0.0], [1.0, 0.0])
    assert out["reward"][0] == pytest.approx(0.19, rel=1e-12)
    assert out["stage"][0] == APPROACH and not out["struck"][0] and not out["done"][0]
    # approach, aligned, moving away: 2·(0.9 − 1.0) − 0 = −0.2
    out = _kick(stage, steps, False, 0.9, 1.0, [1.0, 0.0], [0.0, 0.0], [1.0, 0.0])
    assert out["reward"][0] == pytest.approx(-0.2, rel=1e-12)
    # contact: the strike is paid once, 5·exp(−‖(1.8, 0.6) − (2, 0)‖²/1) = 5·e^−0.4; stage -> recover
    out = _kick(stage, steps, True, 0.1, 0.0, [1.0, 0.0], [1.8, 0.6], [1.2, 0.0])
    assert out["reward"][0] == pytest.approx(5 * np.exp(-0.4), rel=1e-12)
    assert out["struck"][0] and out["stage"][0] == RECOVER and out["recover_steps"][0] == 0
    stage, steps = out["stage"][0], out["recover_steps"][0]
    # recover: 0.02·exp(−‖v‖²/0.25); a second touch pays no strike; the episode ends after 3 recover steps
    rewards = []
    for k, (touched, v) in enumerate([(True, [0.5, 0.0]), (False, [0.0, 0.0]), (False, [0.3, 0.4])]):
        out = _kick(stage, steps, touched, 0.0, 5.0, [1.0, 0.0], [2.0, 0.0], v)
        stage, steps = out["stage"][0], out["recover_steps"][0]
        rewards.append(out["reward"][0])
        assert not out["struck"][0] and stage == RECOVER and steps == k + 1
        assert out["done"][0] == (k == 2)
    np.testing.assert_allclose(rewards, [0.02 * np.exp(-1.0), 0.02, 0.02 * np.exp(-1.0)], rtol=1e-12)


def test_kick_task_strikes_once_and_ends_after_the_recovery():
    """A robot lined up behind a resting ball runs through it: one strike, then exactly kick_recover_steps steps."""
    cfg = SkillsConfig(kick_recover_steps=5)
    task = SkillTask("kick", cfg, 1, seed=0)
    core = task.core
    core.robot_pos[0, 0], core.robot_vel[0, 0], core.robot_heading[0, 0] = [0.0, 0.0], [1.0, 0.0], [1.0, 0.0]
    core.ball_pos[0], core.ball_vel[0] = [0.5, 0.0], [0.0, 0.0]
    task.command[0] = [2.0, 0.0]
    task._update_distance()
    assert task.distance[0] == pytest.approx(0.15)                   # the spot (0.15, 0) behind the ball
    struck_at, rewards = None, []
    for t in range(40):
        before = task.distance[0]
        out = task.step_raw(np.array([[1.0, 0.0, 0.0]]))
        rewards.append(out["reward"][0])
        if out["struck"][0]:
            assert struck_at is None
            struck_at = t
            assert core.ball_vel[0, 0] > 1.0 and abs(core.ball_vel[0, 1]) < 1e-12
        elif struck_at is None:                                      # approach: aligned, so progress only
            assert out["reward"][0] == pytest.approx(2 * (before - task.distance[0]), abs=1e-12)
        if out["terminated"][0]:
            break
    assert struck_at is not None and t == struck_at + 5
    assert all(0 < r <= 0.02 for r in rewards[struck_at + 1:])      # recover rewards only


# ---------------------------------------------------------------------------- observation and history


def _core(n_games=1, **overrides) -> Soccer2DCore:
    return Soccer2DCore(Soccer2DConfig(**overrides), n_games, seed=0)


def test_observation_layout_on_a_hand_made_state():
    core = _core()
    # robot 0 faces +y: body (x, y) = (w_y, −w_x)
    core.robot_pos[0, 0], core.robot_heading[0, 0] = [1.0, 0.0], [0.0, 1.0]
    core.robot_vel[0, 0], core.robot_turn_rate[0, 0] = [0.0, 1.0], 0.5
    core.ball_pos[0], core.ball_vel[0] = [1.0, 2.0], [0.5, 0.0]
    history = SkillHistory(core, 5)
    commands = np.zeros((1, 4, 2))
    commands[0, 0] = [3.0, 4.0]                                                  # world (3, 4): body (4, −3), ‖c‖ = 5
    names = skill_observation_names(5)
    obs = skill_observation(core, history, commands)
    assert obs.shape == (1, 4, 27) == (1, 4, obs_dim(5)) and len(names) == 27
    row = dict(zip(names, obs[0, 0]))
    expected = {"vel_x_0": 1.0, "vel_y_0": 0.0, "turn_rate_0": 0.5, "vel_x_4": 1.0, "turn_rate_4": 0.5,
                "ball_x": 2.0, "ball_y": 0.0,                                   # (0, 2) in the world
                "ball_vx": -1.0, "ball_vy": -0.5,                               # (0.5, −1) in the world
                "cmd_x": 4.0, "cmd_y": -3.0, "cmd_ux": 0.8, "cmd_uy": -0.6, "cmd_speed": 5.0,
                "prev_forward": 0.0, "prev_lateral": 0.0, "prev_turn": 0.0}
    assert {k: row[k] for k in expected} == pytest.approx(expected, abs=1e-12)
    # a zero command has a zero unit vector
    assert obs[0, 1, names.index("cmd_ux"):names.index("cmd_speed") + 1].tolist() == [0.0, 0.0, 0.0]
    # and commands_to_world inverts the body frame
    np.testing.assert_allclose(commands_to_world(core, np.array([[[4.0, -3.0]] * 4]))[0, 0], [3.0, 4.0], atol=1e-12)


def test_history_is_most_recent_first_and_records_the_executed_action():
    core = _core()
    core.robot_heading[0] = [1.0, 0.0]
    history = SkillHistory(core, 3)
    actions = np.zeros((1, 4, 3))
    measured = []
    for k in range(4):
        actions[0, 0] = [0.5, 0.0, 0.1 * (k + 1)]
        core.step(actions)
        history.update(core, actions * 3)                    # executed actions are recorded clipped
        measured.append(SkillHistory.measure(core)[0, 0])
    np.testing.assert_array_equal(history.motion[0, 0], np.stack(measured[::-1][:3]))
    assert history.motion[0, 0, :, 2].tolist() == pytest.approx([1.2, 0.9, 0.6])     # ω = 3·a_ω, latest first
    assert history.prev_action[0, 0].tolist() == [1.0, 0.0, 1.0]
    history.reset(core, np.array([True]))
    np.testing.assert_array_equal(history.motion[0, 0], np.stack([measured[-1]] * 3))
    assert not history.prev_action.any()


# ---------------------------------------------------------------------------- library


def _library(config: SkillsConfig = TINY) -> SkillLibrary:
    """Untrained but distinct policies (different init seeds), biased so that their actions differ clearly."""
    models, norms = {}, {}
    for index, skill in enumerate(SKILLS):
        torch.manual_seed(100 + index)
        models[skill] = _new_model(config)
        with torch.no_grad():
            models[skill].head.mean.weight.mul_(50.0)
        norms[skill] = RunningMeanStd(shape=(obs_dim(config.history),))
        norms[skill].update(np.random.default_rng(index).normal(size=(32, obs_dim(config.history))))
    return SkillLibrary(models, norms, config)


def _scrambled(n_games: int, seed: int) -> tuple[Soccer2DCore, SkillHistory, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    core = _core(n_games)
    core.robot_pos[:] = rng.uniform([-3.0, -2.0], [3.0, 2.0], size=(n_games, 4, 2))
    core.robot_vel[:] = rng.uniform(-1.0, 1.0, size=(n_games, 4, 2))
    angle = rng.uniform(-np.pi, np.pi, size=(n_games, 4))
    core.robot_heading[:] = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    core.ball_pos[:] = rng.uniform(-1.0, 1.0, size=(n_games, 2))
    history = SkillHistory(core, TINY.history)
    for _ in range(3):
        actions = rng.uniform(-1, 1, size=(n_games, 4, 3))
        core.step(actions)
        history.update(core, actions)
    skills = rng.integers(0, 3, size=(n_games, 4))
    commands = rng.uniform(-1.5, 1.5, size=(n_games, 4, 2))
    return core, history, skills, commands


def test_library_shapes_routing_and_determinism():
    library = _library()
    core, history, skills, commands = _scrambled(6, seed=0)
    actions = library.actions(core, skills, commands, history)
    assert actions.shape == (6, 4, 3) and np.abs(actions).max() <= 1.0
    np.testing.assert_array_equal(library.actions(core, skills, commands, history), actions)
    obs = skill_observation(core, history, commands)
    for game, agent in [(0, 0), (2, 3), (5, 1)]:
        per_skill = [library.models[s].distribution(torch.as_tensor(
            library.norms[s].normalize(obs[game, agent][None]), dtype=torch.float32)).mean[0].numpy()
            for s in SKILLS]
        own = np.clip(per_skill[skills[game, agent]], -1, 1)
        np.testing.assert_allclose(actions[game, agent], own, atol=1e-6)
        others = [np.clip(a, -1, 1) for k, a in enumerate(per_skill) if k != skills[game, agent]]
        assert all(np.abs(actions[game, agent] - a).max() > 1e-3 for a in others)
    # switching one robot to dribble changes only that robot's action
    switched = skills.copy()
    switched[0, 0] = DRIBBLE if skills[0, 0] != DRIBBLE else KICK
    changed = library.actions(core, switched, commands, history)
    np.testing.assert_allclose(np.delete(changed.reshape(24, 3), 0, 0), np.delete(actions.reshape(24, 3), 0, 0),
                               atol=1e-6)
    assert np.abs(changed[0, 0] - actions[0, 0]).max() > 1e-3
    np.testing.assert_allclose(library.actions(core, np.full((6, 4), WALK), commands, history)[skills == WALK],
                               actions[skills == WALK], atol=1e-6)


def test_library_is_mirror_symmetric():
    """The game rotated by π with the teams swapped and the world commands negated gives the swapped actions."""
    library = _library()
    core, history, skills, commands = _scrambled(8, seed=1)
    twin = Soccer2DCore(core.cfg, core.n_games, seed=1)
    twin.robot_pos, twin.robot_vel = -core.robot_pos[:, SWAP], -core.robot_vel[:, SWAP]
    twin.robot_heading = -core.robot_heading[:, SWAP]
    twin.robot_turn_rate = core.robot_turn_rate[:, SWAP].copy()
    twin.ball_pos, twin.ball_vel = -core.ball_pos, -core.ball_vel
    twin_history = SkillHistory(twin, TINY.history)
    twin_history.motion, twin_history.prev_action = history.motion[:, SWAP], history.prev_action[:, SWAP]
    np.testing.assert_array_equal(skill_observation(twin, twin_history, -commands[:, SWAP]),
                                  skill_observation(core, history, commands)[:, SWAP])
    mirrored = library.actions(twin, skills[:, SWAP], -commands[:, SWAP], twin_history)
    np.testing.assert_allclose(mirrored, library.actions(core, skills, commands, history)[:, SWAP], atol=1e-6)


def test_library_validates_its_inputs():
    library = _library()
    core, history, skills, commands = _scrambled(2, seed=2)
    with pytest.raises(ValueError, match="skill_ids"):
        library.actions(core, np.full((2, 4), 3), commands, history)
    with pytest.raises(ValueError, match="commands"):
        library.actions(core, skills, commands[..., :1], history)
    other = Soccer2DCore(Soccer2DConfig(max_force=50.0), 2)
    with pytest.raises(ValueError, match="max_force"):
        library.actions(other, skills, commands, SkillHistory(other, TINY.history))
    with pytest.raises(ValueError, match="history"):
        library.actions(core, skills, commands, SkillHistory(core, TINY.history + 1))


# ---------------------------------------------------------------------------- config, training, checkpoints, CLI


@pytest.mark.parametrize("field,override", [
    ("walk.updates", {"walk": {"updates": 0}}), ("kick.n_envs", {"kick": {"n_envs": 1.5}}),
    ("dribble.seed", {"dribble": {"seed": -1}}), ("learning_rate", {"learning_rate": 0.0}),
    ("history", {"history": 0}), ("gamma", {"gamma": 1.5}), ("kick_speed_max", {"kick_speed_max": 0.5}),
    ("track_sigma2", {"track_sigma2": float("nan")}), ("eval_games", {"eval_games": True}),
    ("unknown SkillsConfig field", {"updates": 3}), ("unknown SkillsConfig.walk field", {"walk": {"epochs": 3}})])
def test_config_validation_names_the_field(field, override):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        SkillsConfig.from_dict(override)


def test_config_round_trips_through_a_dict():
    config = SkillsConfig(walk=SkillTraining(seed=7, updates=3, n_envs=4, n_steps=5), gamma=0.9)
    assert SkillsConfig.from_dict(config.to_dict()) == config


def test_training_saving_and_loading_reproduce(tmp_path):
    library, log = train_skills(TINY)
    for skill in SKILLS:
        assert log[skill]["updates"] == 2 and log[skill]["env_steps"] == 2 * 8 * 8
        assert len(log[skill]["curve"]["step_reward"]) == 2
        assert set(log[skill]["eval"]) == {"learned", "zero", "scripted"}
    assert log["total_env_steps"] == 3 * 128
    assert set(log["walk"]["eval"]["learned"]) == {"episode_return", "velocity_error"}
    assert {"strike_rate", "kick_speed", "within_30deg"} <= set(log["kick"]["eval"]["scripted"])
    save_skills(tmp_path / "a.pt", library, TINY, log)
    library2, log2 = train_skills(TINY)
    save_skills(tmp_path / "b.pt", library2, TINY, log2)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded, stored_log = load_skills(tmp_path / "a.pt")
    assert stored_log == log and loaded.cfg == TINY
    core, history, skills, commands = _scrambled(3, seed=3)
    np.testing.assert_array_equal(loaded.actions(core, skills, commands, history),
                                  library.actions(core, skills, commands, history))


def test_cli_names_a_missing_section(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["no_such_skills_section", "--out", str(tmp_path / "x.pt")])
    assert "no_such_skills_section" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


# ---------------------------------------------------------------------------- Gymnasium


@pytest.mark.parametrize("skill", SKILLS)
def test_skill_env_passes_check_env(skill):
    env = SoccerSkillEnv(skill, SkillsConfig(walk_episode_steps=30, dribble_episode_steps=30,
                                             kick_episode_steps=30))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (27,) and obs.dtype == np.float32
    for _ in range(30):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        if terminated or truncated:
            break
    assert terminated or truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3, dtype=np.float32))
