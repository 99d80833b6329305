"""Team games of :mod:`hrlkit.envs.soccer.soccer2d`: controllers at their own rates, the frozen skills below, match statistics.

The hierarchy of "Toward real-world cooperative and competitive soccer with quadrupedal robot teams" (arXiv
2505.13834) runs a 5 Hz team policy that picks, per robot, a skill (Walk, Dribble, Kick) and its command; the skills
turn the held command into 50 Hz motor actions. An end-to-end policy instead outputs the 50 Hz motor action itself.
:class:`Match` plays both kinds (and scripted teams) in one vectorised :class:`~hrlkit.envs.soccer.soccer2d.Soccer2DCore`,
so every method meets every other in the same world, with the same physics and the same observations:

* a :class:`Seat` is one controller playing one team in a subset of the games;
* a controller decides every ``period`` physics steps (10 = 5 Hz for a skill controller, 1 = 50 Hz for a motor
  controller) and holds its decision in between; a skill controller's decision is (skill id, body-frame command)
  per robot, converted once to a world-frame command c_w = R(ψ)·c_b at decision time, as the skills expect
  (:func:`~hrlkit.envs.soccer.skills.commands_to_world`); a motor controller's is the (forward force, lateral force, turn rate) action;
* one :meth:`~hrlkit.envs.soccer.skills.SkillLibrary.actions` call per physics step serves every robot that runs a
  skill, whichever team and game it is in;
* a game that ends (a goal, or the time limit) is kicked off again at once; decisions are taken on the global step
  count, so after a restart the held decisions run on until the next decision step (at most ``period`` − 1 steps,
  0.18 s at 5 Hz, the same for both teams of a skill-vs-skill game).

**Match statistics** (:class:`MatchStats`, online per game, so a tournament of thousands of games needs no logs).
Definitions, fixed before any reported run (R + r = 0.35 m is the touching distance of a robot and the ball):

* *touch*: a physics step whose ``toucher`` is a robot (largest impulse); the *release* of a touch is the ball's
  position and velocity right after it, with every robot's position at that moment;
* *pass* (team T): a touch by robot j of T whose previous touch (by any robot) was by a *different* robot i of T,
  with the ball ≥ ``pass_distance`` (1 m) from i's release point, and i's release velocity pointing within
  ``pass_angle`` (30°) of the direction from the release point to where j stood at the release: the ball was sent
  towards j, not bounced into it;
* *interception* (team T): a touch by a robot of T whose previous touch was by the other team, with the ball
  ≥ ``pass_distance`` from that release point and the release a *long ball* (speed ≥ ``shot_speed``): a pass or
  shot cut off, not a contested ball at the feet;
* *shot* (team T): a touch by T that starts a strike (T had not touched the ball for ``strike_gap`` steps, 0.1 s)
  after which the ball moves towards the opponent's goal line at ≥ ``shot_speed`` (1.5 m/s, above the dribble
  skill's top ball speed of 1 m/s, so carrying the ball is not shooting); *on target* when its straight-line path
  crosses that line inside the goal mouth (|y| < w_g/2); shot accuracy = on target / shots;
* *ball-path jerk* of team T: the mean of ‖Δ³p_b‖/Δt³ (m/s³) over the physics steps at which T has possession
  (its robot touched the ball last), one of its robots is *in control* (within ``control_distance`` = 0.6 m of the
  ball) and the last four ball positions belong to one episode. It is the third finite difference of the ball's
  path while the team is handling it; every touch is an impulse, so a ball pushed by many small erratic touches has
  a higher mean than one carried or struck cleanly. Free rolls and wall bounces do not count;
* *role split* (team T): fraction of physics steps at which one robot of T is in control of the ball (≤ 0.6 m)
  while its teammate is more than ``role_far`` (2 m) from the ball: one engages, the other holds a position (both
  robots at kickoff, and two robots chasing the ball together, count 0); *role switches*: times the engaged robot
  of T changes (an engagement by a different robot than T's previous one), per game.

Outcomes, two formats:

* ``match_steps=None`` (first goal): every game is one episode; the first goal decides it (win/loss), no goal by the
  time limit is a draw;
* ``match_steps=T`` (fixed length): a game lasts exactly T physics steps; after a goal the ball and the robots are
  kicked off again (a new episode of the core) and play goes on; the goals of each team are summed over the T steps
  and the goal difference decides the game (win, draw on equal goals, loss), as a real match is scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hrlkit.envs.soccer.soccer2d import Soccer2DConfig, Soccer2DCore, _body_to_world, _world_to_body
from hrlkit.envs.soccer.skills import DRIBBLE, KICK, WALK, SkillLibrary

__all__ = ["Seat", "Match", "MatchStats", "ScriptedTeam", "SCRIPTED_STYLES", "team_slice", "shot_on_target",
           "ball_jerk", "HIGH_LEVEL_PERIOD"]

HIGH_LEVEL_PERIOD: int = 10      # physics steps per 5 Hz decision at Δt = 0.02 s


def team_slice(team: int, n_per_team: int) -> slice:
    """Agent indices of ``team`` (team 0 first)."""
    if team not in (0, 1):
        raise ValueError(f"team must be 0 or 1, got {team!r}")
    return slice(team * n_per_team, (team + 1) * n_per_team)


def shot_on_target(ball_pos: np.ndarray, ball_vel: np.ndarray, attack_sign: np.ndarray, half_length: float,
                   goal_width: float, min_speed: float) -> tuple[np.ndarray, np.ndarray]:
    """Is the ball moving at the attacked goal line, and would its straight path cross it inside the mouth?

    Args: ball_pos, ball_vel (G, 2); attack_sign (G,) +1 when the goal attacked is at x = +L/2, −1 at −L/2.
    Returns (shot, on_target), (G,) bools: shot = speed towards the line s·v_x ≥ ``min_speed``; on target =
    shot and |y + v_y·(s·L/2 − x)/v_x| < w_g/2.
    """
    towards = attack_sign * ball_vel[:, 0]
    shot = towards >= min_speed
    # time to the line t = (s·L/2 − x)/v_x, crossing height y + v_y·t
    time_to_line = (attack_sign * half_length - ball_pos[:, 0]) / np.where(shot, ball_vel[:, 0], np.inf)
    crossing = ball_pos[:, 1] + ball_vel[:, 1] * time_to_line
    return shot, shot & (np.abs(crossing) < goal_width / 2)


def ball_jerk(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, dt: float) -> np.ndarray:
    """‖p_t − 3p_{t−1} + 3p_{t−2} − p_{t−3}‖/Δt³ for positions (G, 2), oldest first: the jerk of the path."""
    return np.linalg.norm(p3 - 3 * p2 + 3 * p1 - p0, axis=-1) / dt ** 3


@dataclass
class MatchStats:
    """Per-game counters (module docstring), arrays over games; team-indexed ones are (G, 2)."""

    n_games: int
    pass_distance: float = 1.0
    pass_angle_deg: float = 30.0
    shot_speed: float = 1.5
    strike_gap: int = 5
    control_distance: float = 0.6
    role_far: float = 2.0
    match_steps: int | None = None                   # None: the first goal ends a game; T: fixed-length games
    outcome: np.ndarray = field(init=False)          # (G,) +1 team 0 won, −1 team 1 won, 0 draw; NaN while playing
    finished: np.ndarray = field(init=False)         # (G,) the game is over
    goals: np.ndarray = field(init=False)            # (G, 2) goals of team 0 and of team 1 so far
    touches: np.ndarray = field(init=False)
    passes: np.ndarray = field(init=False)
    interceptions: np.ndarray = field(init=False)
    shots: np.ndarray = field(init=False)
    on_target: np.ndarray = field(init=False)
    role_split_steps: np.ndarray = field(init=False)
    role_switches: np.ndarray = field(init=False)
    steps: np.ndarray = field(init=False)            # (G,) physics steps played
    jerk_sum: np.ndarray = field(init=False)         # (G, 2) by the team in possession
    jerk_steps: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        g = self.n_games
        if self.match_steps is not None and (isinstance(self.match_steps, bool) or int(self.match_steps) < 1
                                             or int(self.match_steps) != self.match_steps):
            raise ValueError(f"match_steps must be None or a positive integer, got {self.match_steps!r}")
        self.outcome = np.full(g, np.nan)
        self.finished = np.zeros(g, dtype=bool)
        for name in ("goals", "touches", "passes", "interceptions", "shots", "on_target", "role_split_steps",
                     "role_switches", "jerk_sum", "jerk_steps"):
            setattr(self, name, np.zeros((g, 2)))
        self.steps = np.zeros(g)
        self._last_toucher = np.full(g, -1)
        self._release_pos = np.zeros((g, 2))
        self._release_vel = np.zeros((g, 2))
        self._release_robots = None                  # (G, N, 2) robot positions at the last release
        self._since_team_touch = np.full((g, 2), 10 ** 9)   # physics steps since each team last touched the ball
        self._ball_trail = np.zeros((g, 4, 2))       # last four ball positions, oldest first
        self._trail_len = np.zeros(g, dtype=np.int64)
        self._engaged = np.full((g, 2), -1)          # each team's last engaged robot

    def kickoff(self, core: Soccer2DCore, mask: np.ndarray) -> None:
        self._last_toucher[mask] = -1
        self._since_team_touch[mask] = 10 ** 9
        self._trail_len[mask] = 1
        self._ball_trail[mask, -1] = core.ball_pos[mask]
        self._engaged[mask] = -1

    def record(self, core: Soccer2DCore, events: dict, live: np.ndarray) -> None:
        """Count one physics step of the games in ``live`` (G,) (the games that are not over yet)."""
        cfg, n = core.cfg, core.cfg.n_per_team
        self.steps += live
        if self._release_robots is None:
            self._release_robots = core.robot_pos.copy()
        self._since_team_touch += 1
        # touches, passes, interceptions, shots
        toucher = events["toucher"]
        touched = live & (toucher >= 0)
        if touched.any():
            rows = np.flatnonzero(touched)
            who = toucher[rows]
            team = who // n
            previous = self._last_toucher[rows]
            ball = core.ball_pos[rows]
            travelled = np.linalg.norm(ball - self._release_pos[rows], axis=-1) >= self.pass_distance
            np.add.at(self.touches, (rows, team), 1)
            had_previous = previous >= 0
            same_team = had_previous & (previous // n == team)
            # a pass: i's release velocity points within pass_angle of where j stood at the release
            towards = self._release_robots[rows, who] - self._release_pos[rows]
            release_vel = self._release_vel[rows]
            cosine = (towards * release_vel).sum(-1) / np.maximum(
                np.linalg.norm(towards, axis=-1) * np.linalg.norm(release_vel, axis=-1), 1e-12)
            aimed = cosine >= np.cos(np.radians(self.pass_angle_deg))
            np.add.at(self.passes, (rows, team), same_team & (previous != who) & travelled & aimed)
            long_ball = np.linalg.norm(release_vel, axis=-1) >= self.shot_speed
            np.add.at(self.interceptions, (rows, team), had_previous & ~same_team & travelled & long_ball)
            # a shot: the first touch of a strike, the ball then heading for the goal line at >= shot_speed
            strike = self._since_team_touch[rows, team] > self.strike_gap
            attack = np.where(team == 0, 1.0, -1.0)
            shot, on_target = shot_on_target(ball, core.ball_vel[rows], attack, cfg.field_length / 2,
                                             cfg.goal_width, self.shot_speed)
            np.add.at(self.shots, (rows, team), strike & shot)
            np.add.at(self.on_target, (rows, team), strike & on_target)
            self._since_team_touch[rows, team] = 0
            self._last_toucher[rows] = who
            self._release_pos[rows] = ball
            self._release_vel[rows] = core.ball_vel[rows]
            self._release_robots[rows] = core.robot_pos[rows]
        distance = np.linalg.norm(core.robot_pos - core.ball_pos[:, None], axis=-1)       # (G, N)
        in_control = distance <= self.control_distance
        # ball-path jerk over four positions of one episode, for the team in possession while it controls the ball
        self._ball_trail = np.concatenate([self._ball_trail[:, 1:], core.ball_pos[:, None]], axis=1)
        self._trail_len = np.minimum(self._trail_len + 1, 4)
        possession = np.where(self._last_toucher >= 0, self._last_toucher // n, -1)
        full = live & (self._trail_len == 4) & (possession >= 0)
        jerk = ball_jerk(*(self._ball_trail[:, k] for k in range(4)), cfg.dt)
        for team in (0, 1):
            controls = in_control[:, team_slice(team, n)].any(axis=1)
            mine = full & (possession == team) & controls
            self.jerk_sum[:, team] += np.where(mine, jerk, 0.0)
            self.jerk_steps[:, team] += mine
        # roles: one robot in control of the ball while its teammate is more than role_far away
        for team in (0, 1):
            mine = distance[:, team_slice(team, n)]
            closest = np.argmin(mine, axis=1)
            engaged = in_control[:, team_slice(team, n)][np.arange(core.n_games), closest]
            others_far = (np.sort(mine, axis=1)[:, 1] > self.role_far) if n > 1 else np.ones(core.n_games, bool)
            self.role_split_steps[:, team] += live & engaged & others_far
            switched = live & engaged & (self._engaged[:, team] >= 0) & (closest != self._engaged[:, team])
            self.role_switches[:, team] += switched
            self._engaged[:, team] = np.where(engaged, closest, self._engaged[:, team])
        # goals, and the outcome: of the first episode, or of the goal difference over match_steps
        self.goals += events["goals"] * live[:, None]
        if self.match_steps is None:
            ending = live & events["done"]
        else:
            ending = live & (self.steps >= self.match_steps)
        self.outcome[ending] = np.sign(self.goals[ending, 0] - self.goals[ending, 1]).astype(float)
        self.finished |= ending

    def per_game(self, team: int) -> dict[str, np.ndarray]:
        """(G,) statistics of ``team`` per finished game (the caller filters on ``finished``)."""
        other = 1 - team
        score = np.where(team == 0, self.outcome, -self.outcome)
        return {"win": (score > 0).astype(float), "draw": (score == 0).astype(float),
                "loss": (score < 0).astype(float), "goals_for": self.goals[:, team],
                "goals_against": self.goals[:, other], "touches": self.touches[:, team],
                "passes": self.passes[:, team], "interceptions": self.interceptions[:, team],
                "shots": self.shots[:, team], "on_target": self.on_target[:, team],
                "opponent_shots": self.shots[:, other],
                "role_split": self.role_split_steps[:, team] / np.maximum(self.steps, 1),
                "role_switches": self.role_switches[:, team],
                "jerk_sum": self.jerk_sum[:, team], "jerk_steps": self.jerk_steps[:, team], "steps": self.steps}


@dataclass
class Seat:
    """``controller`` plays ``team`` in the games ``games`` (sorted indices) of a :class:`Match`."""

    controller: object
    games: np.ndarray
    team: int


class Match:
    """Games of Soccer2D between seated controllers; see the module docstring.

    A controller is any object with ``period`` (physics steps between decisions), ``uses_skills`` (bool) and
    ``decide(match, seat) -> dict``: ``{"skill": (g, n) ints, "command": (g, n, 2) body-frame}`` for a skill
    controller, ``{"action": (g, n, 3)}`` for a motor controller, g = len(seat.games), n = robots per team;
    optionally ``kickoff(seat, local_mask)`` to clear its memory of the games that restart. The match calls
    ``decide`` on every global step that is a multiple of ``period``.
    """

    def __init__(self, config: Soccer2DConfig, n_games: int, seed: int, library: SkillLibrary | None,
                 seats: Sequence[Seat], record: bool = True, **stat_options) -> None:
        self.core = Soccer2DCore(config, n_games, seed=seed)
        self.library = library
        n = config.n_per_team
        self.n_per_team = n
        self.seats = list(seats)
        covered = np.zeros((n_games, 2), dtype=int)
        for seat in self.seats:
            covered[seat.games, seat.team] += 1
            if seat.controller.uses_skills and library is None:
                raise ValueError("a skill controller needs the skill library")
        if not (covered == 1).all():
            raise ValueError("every (game, team) must have exactly one seat")
        if library is not None:
            library.check_core(self.core)
            self.history = library.new_history(self.core)
        self.skill = np.full((n_games, 2 * n), WALK)
        self.world_command = np.zeros((n_games, 2 * n, 2))
        self.motor = np.zeros((n_games, 2 * n, 3))
        self.runs_skill = np.zeros((n_games, 2 * n), dtype=bool)
        for seat in self.seats:
            rows = seat.games[:, None]
            self.runs_skill[rows, np.arange(2 * n)[team_slice(seat.team, n)]] = seat.controller.uses_skills
        self.t = 0
        self.record = record                 # False: no statistics (training rollouts), only the game
        self.stats = MatchStats(n_games, **stat_options)
        self.stats.kickoff(self.core, np.ones(n_games, dtype=bool))
        self._obs = None

    def observations(self) -> np.ndarray:
        """(G, N, obs_dim) egocentric observations now (cached until the next step)."""
        if self._obs is None:
            self._obs = self.core.observations()
        return self._obs

    def _decide(self) -> None:
        n = self.n_per_team
        for seat in self.seats:
            if self.t % seat.controller.period:
                continue
            decision = seat.controller.decide(self, seat)
            agents = team_slice(seat.team, n)
            if seat.controller.uses_skills:
                skill = np.asarray(decision["skill"])
                self.skill[seat.games, agents] = skill
                body = np.asarray(decision["command"], dtype=np.float64)
                heading = self.core.robot_heading[seat.games, agents]
                self.world_command[seat.games, agents] = _body_to_world(heading, body)
            else:
                self.motor[seat.games, agents] = decision["action"]

    def step(self, live: np.ndarray | None = None) -> dict:
        """One physics step for every game: decisions due, skills, physics, statistics, restarts.

        ``live`` (G,): which games' statistics to count (default: the games that are not over).
        Returns the core's events, taken before restarting the games that ended.
        """
        self._decide()
        actions = self.motor.copy()
        if self.library is not None and self.runs_skill.any():
            skill_actions = self.library.actions(self.core, self.skill, self.world_command, self.history)
            actions = np.where(self.runs_skill[..., None], skill_actions, actions)
        events = self.core.step(actions)
        if self.library is not None:
            self.history.update(self.core, actions)
        if self.record:
            self.stats.record(self.core, events, ~self.stats.finished if live is None else live)
        done = events["done"]
        if done.any():
            self.core.reset_games(done)
            if self.library is not None:
                self.history.reset(self.core, done)
            if self.record:
                self.stats.kickoff(self.core, done)
            for seat in self.seats:
                if hasattr(seat.controller, "kickoff"):
                    seat.controller.kickoff(seat, done[seat.games])
        self.t += 1
        self._obs = None
        return events

    def play(self, max_steps: int | None = None) -> MatchStats:
        """Step until every game is over (or ``max_steps``); returns the statistics."""
        if not self.record:
            raise RuntimeError("play() needs a match that records its statistics (record=True)")
        length = self.stats.match_steps if self.stats.match_steps is not None else self.core.cfg.episode_steps
        limit = max_steps if max_steps is not None else length
        for _ in range(limit):
            if self.stats.finished.all():
                break
            self.step()
        return self.stats


# ---------------------------------------------------------------------------------------------------- scripted team

#: (attack style, guard fraction) of the scripted strategies; the notebook tunes over them
SCRIPTED_STYLES: tuple[str, ...] = ("dribble", "kick")


class ScriptedTeam:
    """A hand-written 5 Hz team over the same skills: "chase the ball and carry or kick it to goal".

    Each decision, per game: the robot closer to the ball is the *attacker*, the other the *guard*.

    * attacker, style ``dribble``: Dribble towards the opponent's goal centre at ``dribble_speed``; within
      ``shoot_range`` of that goal it switches to Kick at ``kick_speed`` towards the goal centre;
    * attacker, style ``kick``: Kick towards the goal centre at ``kick_speed`` from anywhere;
    * guard: Walk towards the point a fraction ``guard`` of the way from its own goal centre to the ball, at a speed
      proportional to the distance (gain 2 /s), at most 2 m/s.

    Commands are computed in the world frame and returned in each robot's body frame, like a learned policy's.
    """

    period = HIGH_LEVEL_PERIOD
    uses_skills = True

    def __init__(self, style: str = "dribble", guard: float = 0.3, shoot_range: float = 2.5,
                 dribble_speed: float = 0.8, kick_speed: float = 2.5) -> None:
        if style not in SCRIPTED_STYLES:
            raise ValueError(f"style must be one of {SCRIPTED_STYLES}, got {style!r}")
        if not 0 <= guard <= 1:
            raise ValueError(f"guard must be in [0, 1], got {guard!r}")
        self.style, self.guard, self.shoot_range = style, float(guard), float(shoot_range)
        self.dribble_speed, self.kick_speed = float(dribble_speed), float(kick_speed)

    def decide(self, match: Match, seat: Seat) -> dict:
        core, n = match.core, match.n_per_team
        agents = team_slice(seat.team, n)
        pos = core.robot_pos[seat.games, agents]                         # (g, n, 2)
        heading = core.robot_heading[seat.games, agents]
        ball = core.ball_pos[seat.games]                                  # (g, 2)
        half = core.cfg.field_length / 2
        sign = 1.0 if seat.team == 0 else -1.0
        attack_goal, own_goal = np.array([sign * half, 0.0]), np.array([-sign * half, 0.0])
        distance = np.linalg.norm(pos - ball[:, None], axis=-1)
        attacker = np.argmin(distance, axis=1)
        to_goal = attack_goal - ball
        goal_distance = np.linalg.norm(to_goal, axis=-1, keepdims=True)
        direction = to_goal / np.maximum(goal_distance, 1e-9)
        if self.style == "kick":
            attack_skill = np.full(len(ball), KICK)
        else:
            attack_skill = np.where(goal_distance[:, 0] <= self.shoot_range, KICK, DRIBBLE)
        attack_speed = np.where(attack_skill == KICK, self.kick_speed, self.dribble_speed)
        attack_command = attack_speed[:, None] * direction
        # the guard's spot: own goal + guard·(ball − own goal)
        spot = own_goal + self.guard * (ball - own_goal)
        skill = np.full(pos.shape[:2], WALK)
        world = 2.0 * (spot[:, None] - pos)
        speed = np.linalg.norm(world, axis=-1, keepdims=True)
        world = world * np.minimum(1.0, 2.0 / np.maximum(speed, 1e-9))
        rows = np.arange(len(ball))
        skill[rows, attacker] = attack_skill
        world[rows, attacker] = attack_command
        return {"skill": skill, "command": _world_to_body(heading, world)}
