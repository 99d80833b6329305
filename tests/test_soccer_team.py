"""hrlkit.envs.soccer.team: match statistics against hand-computed cases, seats, scripted team, determinism."""

from pathlib import Path

import numpy as np
import pytest

from hrlkit.envs.soccer.soccer2d import Soccer2DConfig, Soccer2DCore
from hrlkit.envs.soccer.skills import DRIBBLE, KICK, WALK, SkillsConfig, SkillTraining, train_skills
from hrlkit.envs.soccer.team import (Match, MatchStats, ScriptedTeam, Seat, ball_jerk, shot_on_target,
                                     team_slice)


def test_team_slice():
    assert team_slice(0, 2) == slice(0, 2) and team_slice(1, 2) == slice(2, 4)
    with pytest.raises(ValueError, match="team"):
        team_slice(2, 2)


def test_shot_on_target_hand_cases():
    # ball at (3, 0) moving +x at 2 m/s: a shot on the goal at x = 4.5, crossing at y = 0
    # ball at (3, 0) with v = (2, 2): crosses x = 4.5 at y = 1.5 (mouth half-width 0.75): a shot, off target
    # ball moving −x for a team attacking +x: no shot; slow ball (0.5 m/s): no shot
    pos = np.array([[3.0, 0.0], [3.0, 0.0], [3.0, 0.0], [3.0, 0.0], [-3.0, 0.5]])
    vel = np.array([[2.0, 0.0], [2.0, 2.0], [-2.0, 0.0], [0.5, 0.0], [-1.5, 0.0]])
    sign = np.array([1.0, 1.0, 1.0, 1.0, -1.0])
    shot, on = shot_on_target(pos, vel, sign, 4.5, 1.5, 1.0)
    assert shot.tolist() == [True, True, False, False, True]
    assert on.tolist() == [True, False, False, False, True]


def test_ball_jerk_hand_cases():
    t = np.arange(4) * 0.1
    # straight line at constant velocity: no jerk
    line = [np.array([[2 * s, 1.0]]) for s in t]
    assert ball_jerk(*line, 0.1)[0] == pytest.approx(0.0, abs=1e-9)
    # x = t³: the third difference is 6Δt³, so the jerk is 6
    cubic = [np.array([[s ** 3, 0.0]]) for s in t]
    assert ball_jerk(*cubic, 0.1)[0] == pytest.approx(6.0)


def _events(core, toucher, done=False, goals=(0, 0)):
    return {"toucher": np.array([toucher]), "done": np.array([done]), "goals": np.array([goals])}


def test_passes_interceptions_and_shots_are_counted_as_defined():
    core = Soccer2DCore(Soccer2DConfig(), 1, seed=0)
    stats = MatchStats(1)
    live = np.array([True])
    stats.kickoff(core, live)
    # team 0: robots 0 and 1, team 1: robots 2 and 3
    core.robot_pos[0] = [[-0.35, 0.0], [2.5, 0.0], [4.0, 1.5], [-2.0, -2.0]]

    def step(who, x=None, y=None, vx=0.0, vy=0.0):
        if x is not None:
            core.ball_pos[:] = [x, y]
            core.ball_vel[:] = [vx, vy]
        stats.record(core, _events(core, who), live)

    step(0, 0.0, 0.0, vx=2.0)             # robot 0 releases towards robot 1 (standing at (2.5, 0))
    step(1, 2.5, 0.0, vy=2.0)             # robot 1, 2.5 m on, was aimed at: a pass; it releases sideways at 2 m/s
    step(2, 2.5, 1.5, vy=2.0)             # opponent, 1.5 m from a 2 m/s release: an interception by team 1
    step(3, 2.5, 3.0)                     # robot 3 stood at (−2, −2), not where the ball was sent: no pass
    for _ in range(5):
        step(-1)                          # 0.1 s without a touch by team 0
    step(0, 3.5, 0.0, vx=2.0)             # team 0 strikes at the goal (x = +4.5): a shot on target
    step(0, 3.6, 0.0, vx=2.0)             # the next step's touch belongs to the same strike: no second shot
    step(1, 3.6, 0.0, vx=0.5)             # within 1 m of the release: no pass, no interception
    assert stats.touches[0].tolist() == [5, 2]
    assert stats.passes[0].tolist() == [1, 0]
    assert stats.interceptions[0].tolist() == [0, 1]
    # the first release also heads for the goal mouth at 2 m/s: by the definition it is a shot as well
    assert stats.shots[0].tolist() == [2, 0] and stats.on_target[0].tolist() == [2, 0]


def test_a_slow_release_is_not_a_long_ball():
    core = Soccer2DCore(Soccer2DConfig(), 1, seed=0)
    stats = MatchStats(1)
    live = np.array([True])
    stats.kickoff(core, live)
    core.ball_pos[:], core.ball_vel[:] = [0.0, 0.0], [1.0, 0.0]
    stats.record(core, _events(core, 0), live)                # team 0 pushes the ball at 1 m/s
    core.ball_pos[:] = [1.5, 0.0]
    stats.record(core, _events(core, 2), live)                # team 1 picks it up 1.5 m on: a loose ball
    assert stats.interceptions[0].tolist() == [0, 0]


def test_outcome_and_roles():
    core = Soccer2DCore(Soccer2DConfig(), 1, seed=0)
    stats = MatchStats(1)
    live = np.array([True])
    stats.kickoff(core, live)
    core.ball_pos[:] = [0.0, 0.0]
    # team 0: robot 0 in control (0.5 m), robot 1 at 3 m: split; team 1: both 2 m away, nobody in control
    core.robot_pos[0] = [[0.5, 0.0], [3.0, 0.0], [2.0, 0.0], [-2.0, 0.0]]
    stats.record(core, _events(core, -1), live)
    assert stats.role_split_steps[0].tolist() == [1, 0]
    # robot 1 takes over the ball, robot 0 drops back: a switch, still split
    core.robot_pos[0, :2] = [[3.0, 0.0], [0.5, 0.0]]
    stats.record(core, _events(core, -1), live)
    assert stats.role_switches[0].tolist() == [1, 0] and stats.role_split_steps[0].tolist() == [2, 0]
    # both robots of team 0 at the ball: no split
    core.robot_pos[0, :2] = [[0.5, 0.0], [-0.5, 0.0]]
    stats.record(core, _events(core, -1), live)
    assert stats.role_split_steps[0].tolist() == [2, 0]
    # team 1 scores: the game is a loss for team 0, later steps do not count
    stats.record(core, _events(core, -1, done=True, goals=(0, 1)), live)
    assert stats.outcome[0] == -1 and stats.finished[0]
    per = stats.per_game(0)
    assert per["loss"][0] == 1 and per["win"][0] == 0 and stats.per_game(1)["win"][0] == 1
    assert stats.steps[0] == 4


@pytest.fixture(scope="module")
def tiny_library():
    tiny = SkillTraining(seed=0, updates=1, n_envs=8, n_steps=8)
    config = SkillsConfig(walk=tiny, dribble=tiny, kick=tiny, eval_games=2)
    library, _ = train_skills(config)
    return library


def test_seats_must_cover_every_game_and_team_once(tiny_library):
    games = np.arange(4)
    with pytest.raises(ValueError, match="exactly one seat"):
        Match(Soccer2DConfig(), 4, 0, tiny_library, [Seat(ScriptedTeam(), games, 0)])
    with pytest.raises(ValueError, match="skill library"):
        Match(Soccer2DConfig(), 4, 0, None, [Seat(ScriptedTeam(), games, 0), Seat(ScriptedTeam(), games, 1)])


def test_scripted_team_roles():
    core = Soccer2DCore(Soccer2DConfig(), 1, seed=0)
    core.ball_pos[:] = [3.5, 0.0]
    core.robot_pos[0] = [[3.0, 0.0], [-3.0, 0.0], [0.0, 2.0], [0.0, -2.0]]
    core.robot_heading[0] = [[1.0, 0.0]] * 4

    class Stub:
        pass

    match = Stub()
    match.core, match.n_per_team = core, 2
    seat = Seat(None, np.array([0]), 0)
    decision = ScriptedTeam("dribble", guard=0.5, shoot_range=2.5).decide(match, seat)
    # robot 0 is closest and 1 m from the goal: Kick at 2.5 m/s towards (4.5, 0); robot 1 guards
    assert decision["skill"][0].tolist() == [KICK, WALK]
    assert decision["command"][0, 0] == pytest.approx([2.5, 0.0])
    # the guard's spot is halfway from its goal (−4.5, 0) to the ball: (−0.5, 0), 2.5 m ahead: capped at 2 m/s
    assert decision["command"][0, 1] == pytest.approx([2.0, 0.0])
    far = ScriptedTeam("dribble", guard=0.5, shoot_range=2.5, dribble_speed=0.8)
    core.ball_pos[:] = [0.0, 0.0]
    core.robot_pos[0, 0] = [-0.5, 0.0]
    assert far.decide(match, seat)["skill"][0, 0] == DRIBBLE
    with pytest.raises(ValueError, match="style"):
        ScriptedTeam("pass")


def test_match_is_deterministic_and_ends(tiny_library):
    def play():
        games = np.arange(3)
        match = Match(Soccer2DConfig(episode_steps=60), 3, 7, tiny_library,
                      [Seat(ScriptedTeam("kick"), games, 0), Seat(ScriptedTeam("dribble"), games, 1)])
        return match.play()

    a, b = play(), play()
    assert a.finished.all() and np.array_equal(a.outcome, b.outcome)
    assert np.array_equal(a.touches, b.touches) and a.steps.max() <= 60


def test_jerk_is_counted_for_the_team_in_possession():
    core = Soccer2DCore(Soccer2DConfig(), 1, seed=0)
    stats = MatchStats(1)
    live = np.array([True])
    stats.kickoff(core, live)
    core.robot_pos[0, 2] = [0.0, 0.4]          # team 1's robot 2 stays in control of the ball (within 0.6 m)
    # kickoff at the origin, then x = t³ at Δt = 0.02 for t = 0, Δt, …, 4Δt; team 1 touches at t = Δt. Samples
    # (four positions, oldest first) from the step that completes four: (0, 0, Δt³, 8Δt³) → |8 − 3|·Δt³/Δt³ = 5,
    # then (0, Δt³, 8Δt³, 27Δt³) → 6 and (Δt³, 8Δt³, 27Δt³, 64Δt³) → 6, all in team 1's possession
    for k in range(5):
        t = k * 0.02
        core.ball_pos[:] = [t ** 3, 0.0]
        stats.record(core, _events(core, 2 if k == 1 else -1), live)
    assert stats.jerk_steps[0].tolist() == [0, 3]
    assert stats.jerk_sum[0].tolist() == pytest.approx([0.0, 17.0])
    # the same path with nobody within 0.6 m of the ball (a free roll) counts for no one
    core.robot_pos[0, 2] = [0.0, 3.0]
    before = stats.jerk_steps[0].copy()
    stats.record(core, _events(core, -1), live)
    assert stats.jerk_steps[0].tolist() == before.tolist()


def test_fixed_length_games_sum_goals_over_restarts():
    core = Soccer2DCore(Soccer2DConfig(), 2, seed=0)
    stats = MatchStats(2, match_steps=4)
    live = np.array([True, True])
    stats.kickoff(core, live)
    # step 1: team 0 scores in game 0 (the core restarts, the game goes on); step 2: team 1 scores in game 0 and
    # game 1; step 3: team 1 scores again in game 0; step 4: nothing. Game 0: 1–2, a loss for team 0; game 1: 0–1
    for goals in ([[1, 0], [0, 0]], [[0, 1], [0, 1]], [[0, 1], [0, 0]], [[0, 0], [0, 0]]):
        events = {"toucher": np.array([-1, -1]), "goals": np.array(goals)}
        events["done"] = events["goals"].any(axis=1)
        assert not stats.finished.any()
        stats.record(core, events, ~stats.finished)
    assert stats.finished.all() and stats.goals.tolist() == [[1, 2], [0, 1]]
    assert stats.outcome.tolist() == [-1.0, -1.0]
    per = stats.per_game(1)
    assert per["win"].tolist() == [1, 1] and per["goals_for"].tolist() == [2, 1]
    assert per["goals_against"].tolist() == [1, 0]
    # a step after the end does not count; a level goal count is a draw
    stats.record(core, {"toucher": np.array([-1, -1]), "goals": np.array([[5, 0], [5, 0]]),
                        "done": np.array([True, True])}, ~stats.finished)
    assert stats.goals.tolist() == [[1, 2], [0, 1]] and stats.steps.tolist() == [4, 4]
    level = MatchStats(1, match_steps=1)
    level.kickoff(Soccer2DCore(Soccer2DConfig(), 1, seed=0), np.array([True]))
    level.record(Soccer2DCore(Soccer2DConfig(), 1, seed=0), _events(core, -1, done=True, goals=(1, 1)),
                 np.array([True]))
    assert level.outcome.tolist() == [0.0] and level.per_game(0)["draw"].tolist() == [1.0]
    with pytest.raises(ValueError, match="match_steps"):
        MatchStats(1, match_steps=0)


def test_fixed_length_match_plays_exactly_its_length(tiny_library):
    games = np.arange(3)
    match = Match(Soccer2DConfig(episode_steps=60), 3, 7, tiny_library,
                  [Seat(ScriptedTeam("kick"), games, 0), Seat(ScriptedTeam("dribble"), games, 1)], match_steps=90)
    stats = match.play()
    assert stats.finished.all() and stats.steps.tolist() == [90, 90, 90]
    assert np.array_equal(stats.outcome, np.sign(stats.goals[:, 0] - stats.goals[:, 1]))
