"""Learned low-level soccer skills (Walk, Dribble, Kick) for :mod:`hrlkit.envs.soccer.soccer2d`, trained once by PPO, frozen.

"Toward real-world cooperative and competitive soccer with quadrupedal robot teams" (arXiv 2505.13834) trains three
low-level skills that run at 50 Hz on commands; a 5 Hz MAPPO team policy picks (skill, command) per robot. This
module is the reconstruction of that low level on the planar disc model of :class:`~hrlkit.envs.soccer.soccer2d.Soccer2DCore`.
Every choice below is ours unless it says otherwise.

**Commands.** One world-frame 2-vector c per robot for every skill:

* Walk: the velocity over ground to track, c = v* (m/s);
* Dribble: the velocity the *ball* should be carried at, c = v_b* (m/s);
* Kick: the kick, c = s·û: û the direction the ball should leave in, s = ‖c‖ the ball speed wanted right after the
  strike (m/s).

A command is world-fixed while the high level holds it (0.2 s at 5 Hz) and the rewards are world-frame quantities;
the policy sees it in its current body frame (observation below). A 5 Hz policy that outputs egocentric commands
converts them once at decision time with :func:`commands_to_world` and holds the result. Because the observation is
egocentric, a team-1 robot is served exactly like a team-0 robot: in the game rotated by π (world commands negated)
the observations, hence the actions, are identical.

**Observation** (:func:`obs_dim` = 27 for K = 5; columns :func:`skill_observation_names`; same layout for the three
skills so that one :class:`SkillHistory` and one builder serve all robots), in the robot's body frame
(x forward, y left):

* its body-frame velocity and turn rate (v_x, v_y, ω) at the last K physics steps, most recent first (K·3), each
  expressed in the body frame of the step it was measured at (an IMU-like proprioceptive history);
* the ball relative to the robot: position p_b − p and velocity v_b − v, rotated into the current body frame (4);
* the command: c in the current body frame, its unit vector ĉ (0 when c = 0) and its norm ‖c‖ (5), so that the
  direction and the speed of a kick are read directly;
* the previous low-level action (3).

Each skill normalises it with its own :class:`~hrlkit.rl.core.RunningMeanStd` (frozen and saved with the policy).

**Action.** The core's body-frame action (forward force, lateral force, turn rate) in [−1, 1]: a Gaussian policy
(:class:`~hrlkit.rl.core.ActorCritic`, state-independent log std), clipped; the frozen library uses the mean.

**Training tasks** (:class:`SkillTask`). ``n_envs`` single-robot games of a :class:`Soccer2DCore` with one robot per
team: agent 0 learns; agent 1 is parked at rest in a corner with zero actions and never matters. The training
*arena* has the game's physics (the :class:`Soccer2DConfig` defaults) but is unbounded in effect: it is 40 m × 40 m
with a 0.3 m goal mouth, and after every physics step each game is translated so that the learner is back at the
origin (the dynamics are translation-invariant away from the walls and the skill observation is relative), so the
walls and goals are never reached. Episode start: the robot at rest or moving (speed U[0, ``start_speed_max``],
random direction), random heading; the ball at a distance U[``ball_distance_min``, ``ball_distance_max``] in a random
direction, rolling at U[0, ``ball_speed_max``] in a random direction; a command drawn as below. During training the
first episode of each game starts at a random time into its episode, so that episode ends are spread over updates.

**Rewards** (pure functions of arrays, vectorised over games; a = the clipped action):

* Walk (:func:`walk_reward`): world-frame velocity tracking, r = exp(−‖v − c‖²/σ²) − w_a‖a‖², σ² = 0.25 (m/s)²,
  w_a = 0.01. Commands c = u·(cos θ, sin θ), u ~ U[0, ``walk_speed_max``] (1.8 m/s of the 2 m/s top speed
  F_max/c_d), θ ~ U[−π, π], redrawn at every episode start and with probability ``walk_resample_prob`` per step.
* Dribble (:func:`dribble_reward`): r = exp(−‖v_b − c‖²/σ²) + w_reach·[‖p_b − p‖ ≤ R + r + δ]
  + w_p·(d_{t−1} − d_t) − w_a‖a‖², with the reach bonus w_reach = 0.5, margin δ = 0.1 m, w_p = 2 per metre and d the
  distance to the pushing spot behind the ball along ĉ (:func:`approach_distance`, as for Kick). Two departures from
  the plain form, both "close variants": the margin, because touching discs are exactly R + r = 0.35 m apart and a
  ball pushed with restitution e = 0.5 rolls a few cm ahead of the robot between pushes, so a strict 0.35 m test
  would miss much of a good dribble; the progress term, a potential-based shaping (Ng et al. 1999: it telescopes
  and leaves the optimal policy unchanged for γ → 1) without which PPO never learned to reach the ball (pilot at
  64 games × 64 steps, learning rate 3·10⁻⁴, 1.6 M steps: ball within reach 2.4 % of the time, as with zero actions;
  25 % with the term, 82 % with the defaults below). Speeds u ~
  U[``dribble_speed_min``, ``dribble_speed_max``], redrawn with probability ``dribble_resample_prob`` per step.
* Kick (:func:`kick_reward`): a state-conditioned, two-stage reward with the strike as the transition:
  approach (until the robot's first contact with the ball) r = w_p·(d_{t−1} − d_t) − w_h·(1 − h·û)/2, where
  d = ‖p − (p_b − (R + r)·û)‖ is the distance to the spot from which touching the ball pushes it exactly along û
  (the contact normal is then û) and h the heading: progress towards that spot (telescoping, so detours around the
  ball cost nothing but time) and a small misalignment penalty (the heading does not change a disc's kick; it is
  the analogue of the paper's "face the target" term); strike (the contact step, paid once)
  r = w_s·exp(−‖v_b − s·û‖²/σ_k²) with the ball velocity right after the contact: the ball's velocity along û,
  judged against the commanded speed (a plain projection v_b·û would reward the hardest kick whatever s asks);
  recover (the ``kick_recover_steps`` steps after the strike) r = w_r·exp(−‖v‖²/σ²), a small reward for slowing
  down (the analogue of regaining a stable stance), after which the episode *terminates*; it is truncated at
  ``kick_episode_steps`` if the robot never touched the ball. Later contacts pay nothing. Speeds s ~
  U[``kick_speed_min``, ``kick_speed_max``]; a robot at 2 m/s gives a resting ball about (1 + e)·m/(m + m_b)·2 ≈
  2.9 m/s.

**Training** (:func:`train_skills`): PPO (:func:`hrlkit.rl.core.ppo_update` on
:func:`hrlkit.rl.onpolicy.collect_rollout`) per skill, each with its own :class:`~hrlkit.rl.core.ActorCritic`, seed,
updates, n_envs and n_steps (:class:`SkillTraining`); length in PPO updates. The log records per skill the updates,
the environment steps (updates × n_envs × n_steps; they count in a budget comparison against an end-to-end
baseline), a learning curve and a final evaluation (:func:`evaluate_skill`, deterministic mean actions on a fresh
seed, one episode per game) of the learned skill, of zero actions and of a scripted controller
(:func:`scripted_actions`: velocity control with drag feed-forward for Walk, "go behind the ball and push" for
Dribble and Kick).

Defaults (:class:`SkillsConfig`): 128 games × 32 steps per update (4096 steps), learning rate 10⁻³, 4 epochs of
4 minibatches, two hidden layers of 64, initial std e^−0.5; 400 updates for Walk (1.6 M steps), 700 for Dribble and
Kick (2.9 M each), about 30 s, 50 s and 50 s on one CPU thread. Pilot with these defaults (64 evaluation episodes,
learned / zero actions / scripted): Walk velocity error 0.21 / 0.86 / 0.18 m/s; Dribble ball-speed error along the
command 0.24 / 0.55 / 0.22 m/s with the ball within reach 82 % / 3 % / 64 % of the time; Kick strikes 100 % / 2 % /
100 %, within 30° 94 % / 0 % / 98 %, ball speed along û 1.39 / 0 / 1.59 m/s for a mean commanded 1.70 m/s (the
learned kick is too soft). The same config gives a byte-identical checkpoint on one torch thread (the CLI sets it).

:class:`SkillLibrary` is the frozen low level: ``actions(core, skill_ids, commands, history)`` gives every robot's
action from its skill (0 walk, 1 dribble, 2 kick) and command, grouping the robots by skill. Keep one
:class:`SkillHistory` per core (``library.new_history(core)``), call ``history.update(core, actions)`` after every
``core.step(actions)`` and ``history.reset(core, mask)`` after ``core.reset_games(mask)``; the core's physics must be
the training physics (:data:`PHYSICS_FIELDS`, checked), its field size and team size are free.
``python -m hrlkit.envs.soccer.skills <params section> --out <file>`` trains and saves the library (a DVC stage; the
section, to be ``quadruped_soccer_skills``, holds :class:`SkillsConfig` fields, each skill's as a mapping).
:class:`SoccerSkillEnv` wraps one skill task for one robot as a Gymnasium environment.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hrlkit.envs.soccer.soccer2d import Soccer2DConfig, Soccer2DCore, _body_to_world, _world_to_body
from hrlkit.rl.core import ActorCritic, PPOConfig, RunningMeanStd, ppo_update
from hrlkit.rl.onpolicy import StepResult, collect_rollout

__all__ = ["SKILLS", "WALK", "DRIBBLE", "KICK", "APPROACH", "RECOVER", "PHYSICS_FIELDS", "SkillTraining",
           "SkillsConfig", "SkillHistory", "skill_observation", "skill_observation_names", "obs_dim",
           "commands_to_world", "walk_reward", "dribble_reward", "approach_distance", "kick_reward", "SkillTask",
           "scripted_actions", "evaluate_skill", "train_skill", "train_skills", "SkillLibrary", "save_skills",
           "load_skills", "SoccerSkillEnv", "main"]

SKILLS: tuple[str, ...] = ("walk", "dribble", "kick")
WALK, DRIBBLE, KICK = 0, 1, 2
APPROACH, RECOVER = 0, 1                  # Kick stages (the strike is the transition between them)

#: Soccer2DConfig fields that the skills' behaviour depends on; a core must match them to run the library.
PHYSICS_FIELDS: tuple[str, ...] = ("dt", "robot_radius", "robot_mass", "max_force", "robot_drag", "max_turn_rate",
                                   "ball_radius", "ball_mass", "ball_rolling_friction", "ball_drag",
                                   "ball_restitution")

_ARENA_SIZE = 40.0                        # m, side of the training arena (the learner is kept at its centre)
_PARK = 19.0                              # m, both coordinates of the parked robot, near the arena's corner


# ---------------------------------------------------------------------------------------------------- configuration


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


@dataclass(frozen=True)
class SkillTraining:
    """PPO run of one skill: seed, length in PPO updates, vectorised games, rollout steps per game per update."""

    seed: int = 0
    updates: int = 500
    n_envs: int = 128
    n_steps: int = 32

    def validate(self, prefix: str) -> None:
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"{prefix}.seed must be an int >= 0, got {self.seed!r}")
        for name in ("updates", "n_envs", "n_steps"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{prefix}.{name} must be an int >= 1, got {value!r}")


_TRAINING_FIELDS = {f.name for f in fields(SkillTraining)}

# (field, lower bound, bound included) of the float fields of SkillsConfig
_FLOAT_BOUNDS = {"learning_rate": (0.0, False), "gamma": (0.0, False), "gae_lambda": (0.0, True),
                 "ent_coef": (0.0, True), "init_log_std": (-np.inf, False), "start_speed_max": (0.0, True),
                 "ball_speed_max": (0.0, True), "ball_distance_min": (0.0, False), "ball_distance_max": (0.0, False),
                 "walk_speed_max": (0.0, False), "walk_resample_prob": (0.0, True),
                 "dribble_speed_min": (0.0, True), "dribble_speed_max": (0.0, False),
                 "dribble_resample_prob": (0.0, True), "kick_speed_min": (0.0, False),
                 "kick_speed_max": (0.0, False), "track_sigma2": (0.0, False), "w_action": (0.0, True),
                 "dribble_w_reach": (0.0, True), "dribble_reach_margin": (0.0, True),
                 "dribble_w_progress": (0.0, True), "kick_w_progress": (0.0, True),
                 "kick_w_heading": (0.0, True), "kick_w_strike": (0.0, True), "kick_strike_sigma2": (0.0, False),
                 "kick_w_recover": (0.0, True)}
_INT_FIELDS = ("history", "hidden", "ppo_epochs", "ppo_minibatches", "walk_episode_steps", "dribble_episode_steps",
               "kick_episode_steps", "kick_recover_steps", "eval_games")


@dataclass(frozen=True)
class SkillsConfig:
    # --- one PPO run per skill ---
    walk: SkillTraining = field(default_factory=lambda: SkillTraining(seed=1, updates=400))
    dribble: SkillTraining = field(default_factory=lambda: SkillTraining(seed=2, updates=700))
    kick: SkillTraining = field(default_factory=lambda: SkillTraining(seed=3, updates=700))
    # --- PPO, shared ---
    learning_rate: float = 0.001
    hidden: int = 64                      # width of the two hidden layers (actor and critic)
    ppo_epochs: int = 4
    ppo_minibatches: int = 4
    gamma: float = 0.99                   # at 50 Hz: a 2 s horizon
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    init_log_std: float = -0.5            # initial exploration std exp(−0.5) ≈ 0.6 on actions in [−1, 1]
    # --- observation ---
    history: int = 5                      # K physics steps of proprioceptive history
    # --- episode starts (all skills) ---
    start_speed_max: float = 1.0          # m/s, robot's initial speed ~ U[0, ·]
    ball_speed_max: float = 0.5           # m/s, ball's initial speed ~ U[0, ·]
    ball_distance_min: float = 0.5        # m, ball centre from robot centre at the start
    ball_distance_max: float = 2.0
    # --- Walk ---
    walk_speed_max: float = 1.8           # m/s, command speed ~ U[0, ·] (top speed F_max/c_d = 2 m/s)
    walk_resample_prob: float = 0.01      # per step (a new command every 2 s on average)
    walk_episode_steps: int = 250         # 5 s
    # --- Dribble ---
    dribble_speed_min: float = 0.2
    dribble_speed_max: float = 1.0
    dribble_resample_prob: float = 0.0
    dribble_episode_steps: int = 300      # 6 s
    # --- Kick ---
    kick_speed_min: float = 1.0
    kick_speed_max: float = 2.5
    kick_episode_steps: int = 200         # 4 s to reach and strike the ball
    kick_recover_steps: int = 25          # 0.5 s of recovery after the strike, then the episode ends
    # --- reward weights ---
    track_sigma2: float = 0.25            # σ², (m/s)², of the velocity-tracking kernels (and Kick's recover term)
    w_action: float = 0.01                # w_a, Walk and Dribble
    dribble_w_reach: float = 0.5
    dribble_reach_margin: float = 0.1     # δ, m
    dribble_w_progress: float = 2.0       # w_p, per metre of progress towards the pushing spot
    kick_w_progress: float = 2.0          # w_p, per metre of progress towards the striking spot
    kick_w_heading: float = 0.02          # w_h, per step at the worst misalignment
    kick_w_strike: float = 5.0            # w_s, once
    kick_strike_sigma2: float = 1.0       # σ_k², (m/s)²
    kick_w_recover: float = 0.02          # w_r, per recover step
    # --- evaluation ---
    eval_seed: int = 1000
    eval_games: int = 64

    def __post_init__(self) -> None:
        for name in SKILLS:
            value = getattr(self, name)
            if not isinstance(value, SkillTraining):
                raise ValueError(f"SkillsConfig.{name} must be a SkillTraining, got {value!r}")
            value.validate(f"SkillsConfig.{name}")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"SkillsConfig.{name} must be an int >= 1, got {value!r}")
        if not _is_int(self.eval_seed) or self.eval_seed < 0:
            raise ValueError(f"SkillsConfig.eval_seed must be an int >= 0, got {self.eval_seed!r}")
        for name, (low, inclusive) in _FLOAT_BOUNDS.items():
            value = getattr(self, name)
            if not _is_number(value) or not (value >= low if inclusive else value > low):
                raise ValueError(f"SkillsConfig.{name} must be a finite number {'>=' if inclusive else '>'} {low}, "
                                 f"got {value!r}")
        for name in ("gamma", "gae_lambda", "walk_resample_prob", "dribble_resample_prob"):
            if getattr(self, name) > 1:
                raise ValueError(f"SkillsConfig.{name} must be <= 1, got {getattr(self, name)!r}")
        for low, high in (("ball_distance_min", "ball_distance_max"), ("dribble_speed_min", "dribble_speed_max"),
                          ("kick_speed_min", "kick_speed_max")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"SkillsConfig.{high} must be >= {low} = {getattr(self, low)!r}, "
                                 f"got {getattr(self, high)!r}")
        if self.ball_distance_max > 5.0:
            raise ValueError(f"SkillsConfig.ball_distance_max must be <= 5 m, got {self.ball_distance_max!r}")

    def training(self, skill: str) -> SkillTraining:
        return getattr(self, skill)

    def to_dict(self) -> dict:
        out = asdict(self)
        return {key: out[key] for key in sorted(out)}

    @classmethod
    def from_dict(cls, d: dict) -> "SkillsConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown SkillsConfig field(s) {unknown}; allowed: {sorted(known)}")
        d = dict(d)
        for name in SKILLS:
            if name in d and not isinstance(d[name], SkillTraining):
                if not isinstance(d[name], dict):
                    raise ValueError(f"SkillsConfig.{name} must be a mapping of {sorted(_TRAINING_FIELDS)}, "
                                     f"got {d[name]!r}")
                bad = sorted(set(d[name]) - _TRAINING_FIELDS)
                if bad:
                    raise ValueError(f"unknown SkillsConfig.{name} field(s) {bad}; allowed: {sorted(_TRAINING_FIELDS)}")
                d[name] = SkillTraining(**d[name])
        return cls(**d)


def _physics(config: Soccer2DConfig) -> dict[str, float]:
    return {name: float(getattr(config, name)) for name in PHYSICS_FIELDS}


def arena_config(episode_steps: int = 10 ** 9) -> Soccer2DConfig:
    """The training arena: the default game physics, one robot per team, 40 m × 40 m, a 0.3 m goal mouth."""
    return Soccer2DConfig(field_length=_ARENA_SIZE, field_width=_ARENA_SIZE, goal_width=0.3, n_per_team=1,
                          episode_steps=episode_steps, kickoff_jitter=0.0, kickoff_heading_jitter=0.0)


# ---------------------------------------------------------------------------------------------------- observation


def obs_dim(history: int = 5) -> int:
    """K·3 proprioceptive history + 4 ball + 5 command + 3 previous action."""
    return 3 * history + 12


def skill_observation_names(history: int = 5) -> tuple[str, ...]:
    """Columns of :func:`skill_observation`; suffix ``_k`` = k physics steps before the latest (0 = latest)."""
    names = [f"{column}_{k}" for k in range(history) for column in ("vel_x", "vel_y", "turn_rate")]
    return tuple(names + ["ball_x", "ball_y", "ball_vx", "ball_vy", "cmd_x", "cmd_y", "cmd_ux", "cmd_uy",
                          "cmd_speed", "prev_forward", "prev_lateral", "prev_turn"])


class SkillHistory:
    """Per-robot observation history of a :class:`Soccer2DCore`: the last K body-frame (v_x, v_y, ω) and the last
    executed action. Call :meth:`reset` after (re)kicking off games and :meth:`update` after every physics step.

    ``motion`` (G, N, K, 3): slot 0 the latest measurement, slot K − 1 the oldest. ``prev_action`` (G, N, 3).
    """

    def __init__(self, core: Soccer2DCore, length: int = 5) -> None:
        if not _is_int(length) or length < 1:
            raise ValueError(f"length must be an int >= 1, got {length!r}")
        self.length = length
        self.motion = np.zeros((core.n_games, core.n_agents, length, 3))
        self.prev_action = np.zeros((core.n_games, core.n_agents, 3))
        self.reset(core)

    @staticmethod
    def measure(core: Soccer2DCore) -> np.ndarray:
        """(G, N, 3) body-frame velocity and turn rate now."""
        return np.concatenate([_world_to_body(core.robot_heading, core.robot_vel), core.robot_turn_rate[..., None]],
                              axis=-1)

    def _check(self, core: Soccer2DCore) -> None:
        if self.motion.shape[:2] != (core.n_games, core.n_agents):
            raise ValueError(f"the history holds {self.motion.shape[:2]} (games, agents), the core "
                             f"{(core.n_games, core.n_agents)}")

    def reset(self, core: Soccer2DCore, mask: np.ndarray | None = None) -> None:
        """Fill every slot of the games in ``mask`` (default all) with the current measurement; no previous action."""
        self._check(core)
        mask = np.ones(core.n_games, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        self.motion[mask] = self.measure(core)[mask][:, :, None, :]
        self.prev_action[mask] = 0.0

    def update(self, core: Soccer2DCore, actions: np.ndarray) -> None:
        """After a physics step that executed ``actions`` (G, N, 3): shift the history, record the new measurement."""
        self._check(core)
        self.motion = np.concatenate([self.measure(core)[:, :, None, :], self.motion[:, :, :-1]], axis=2)
        self.prev_action = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)


def skill_observation(core: Soccer2DCore, history: SkillHistory, commands: np.ndarray) -> np.ndarray:
    """(G, N, obs_dim) observations of every robot for world-frame ``commands`` (G, N, 2); columns
    :func:`skill_observation_names`."""
    g, n = core.n_games, core.n_agents
    heading = core.robot_heading
    ball = np.concatenate([_world_to_body(heading, core.ball_pos[:, None] - core.robot_pos),
                           _world_to_body(heading, core.ball_vel[:, None] - core.robot_vel)], axis=-1)
    command = _world_to_body(heading, commands)
    speed = np.linalg.norm(commands, axis=-1, keepdims=True)
    # ĉ = c/‖c‖, 0 for c = 0
    unit = command / np.where(speed > 0, speed, np.inf)
    return np.concatenate([history.motion.reshape(g, n, -1), ball, command, unit, speed, history.prev_action],
                          axis=-1)


def commands_to_world(core: Soccer2DCore, body_commands: np.ndarray) -> np.ndarray:
    """(G, N, 2) world-frame commands from commands in each robot's current body frame: c_w = R(ψ)·c_b."""
    return _body_to_world(core.robot_heading, np.asarray(body_commands, dtype=np.float64))


# ---------------------------------------------------------------------------------------------------- rewards


def walk_reward(robot_vel: np.ndarray, command: np.ndarray, action: np.ndarray, sigma2: float = 0.25,
                w_action: float = 0.01) -> np.ndarray:
    """(G,) Walk reward from the velocity (G, 2), the world-frame command (G, 2) and the clipped action (G, 3)."""
    # r = exp(−‖v − c‖²/σ²) − w_a‖a‖²
    return (np.exp(-((robot_vel - command) ** 2).sum(-1) / sigma2) - w_action * (action ** 2).sum(-1))


def dribble_reward(robot_pos: np.ndarray, ball_pos: np.ndarray, ball_vel: np.ndarray, command: np.ndarray,
                   action: np.ndarray, reach: float, distance_before: np.ndarray, distance: np.ndarray,
                   sigma2: float = 0.25, w_reach: float = 0.5, w_progress: float = 2.0,
                   w_action: float = 0.01) -> np.ndarray:
    """(G,) Dribble reward; ``reach`` = R + r + δ, the centre distance within which the ball counts as carried;
    ``distance_before`` / ``distance`` the :func:`approach_distance` to the pushing spot behind the ball (along ĉ)
    before / after the step."""
    carried = np.linalg.norm(ball_pos - robot_pos, axis=-1) <= reach
    # r = exp(−‖v_b − c‖²/σ²) + w_reach·[‖p_b − p‖ ≤ reach] + w_p·(d_{t−1} − d_t) − w_a‖a‖²
    return (np.exp(-((ball_vel - command) ** 2).sum(-1) / sigma2) + w_reach * carried
            + w_progress * (distance_before - distance) - w_action * (action ** 2).sum(-1))


def approach_distance(robot_pos: np.ndarray, ball_pos: np.ndarray, direction: np.ndarray,
                      contact: float) -> np.ndarray:
    """(G,) distance d = ‖p − (p_b − (R + r)·û)‖ to the striking spot; ``contact`` = R + r, ``direction`` = û."""
    return np.linalg.norm(robot_pos - (ball_pos - contact * direction), axis=-1)


def kick_reward(stage: np.ndarray, recover_steps: np.ndarray, touched: np.ndarray, distance_before: np.ndarray,
                distance: np.ndarray, heading: np.ndarray, direction: np.ndarray, speed: np.ndarray,
                ball_vel: np.ndarray, robot_vel: np.ndarray, recover_limit: int, w_progress: float = 2.0,
                w_heading: float = 0.02, w_strike: float = 5.0, strike_sigma2: float = 1.0,
                w_recover: float = 0.02, sigma2: float = 0.25) -> dict[str, np.ndarray]:
    """One step of the Kick stage machine, vectorised over games.

    Args (all after the physics step unless stated): ``stage`` (G,) APPROACH or RECOVER before the step;
    ``recover_steps`` (G,) recover steps already taken before the step; ``touched`` (G,) the robot touched the ball
    in the step; ``distance_before`` / ``distance`` (G,) :func:`approach_distance` before / after the step;
    ``heading`` (G, 2); ``direction`` (G, 2) û; ``speed`` (G,) s; ``ball_vel``, ``robot_vel`` (G, 2).

    Returns ``reward``, the new ``stage`` and ``recover_steps``, ``struck`` (the strike happened in this step) and
    ``done`` (the recovery is over: the episode terminates).
    """
    approaching = stage == APPROACH
    struck = approaching & touched
    recovering = stage == RECOVER
    # approach: r = w_p·(d_{t−1} − d_t) − w_h·(1 − h·û)/2
    alignment = (heading * direction).sum(-1)
    approach = w_progress * (distance_before - distance) - w_heading * (1.0 - alignment) / 2
    # strike, once: r = w_s·exp(−‖v_b − s·û‖²/σ_k²)
    strike = w_strike * np.exp(-((ball_vel - speed[:, None] * direction) ** 2).sum(-1) / strike_sigma2)
    # recover: r = w_r·exp(−‖v‖²/σ²)
    recover = w_recover * np.exp(-(robot_vel ** 2).sum(-1) / sigma2)
    reward = np.where(struck, strike, np.where(approaching, approach, recover))
    new_recover_steps = recover_steps + recovering
    return {"reward": reward, "stage": np.where(struck, RECOVER, stage), "recover_steps": new_recover_steps,
            "struck": struck, "done": recovering & (new_recover_steps >= recover_limit)}


# ---------------------------------------------------------------------------------------------------- training task


def _unit_vectors(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


class SkillTask:
    """``n_envs`` single-robot games of one skill (see the module docstring).

    :meth:`step_raw` advances the games without resetting them; :meth:`step` (the ``env_step`` of
    :func:`~hrlkit.rl.onpolicy.collect_rollout`) also resets the finished ones. Every random draw of a step is made
    for all games whatever the actions, so that two policies run from the same seed see the same starts and
    commands.
    """

    def __init__(self, skill: str, config: SkillsConfig, n_envs: int, seed: int, stagger: bool = False) -> None:
        if skill not in SKILLS:
            raise ValueError(f"skill must be one of {SKILLS}, got {skill!r}")
        self.skill, self.cfg, self.n = skill, config, n_envs
        self.core = Soccer2DCore(arena_config(), n_envs, seed=seed)
        self.rng = np.random.default_rng([seed, SKILLS.index(skill)])
        self.history = SkillHistory(self.core, config.history)
        self.episode_steps = {"walk": config.walk_episode_steps, "dribble": config.dribble_episode_steps,
                              "kick": config.kick_episode_steps}[skill]
        self.resample_prob = {"walk": config.walk_resample_prob, "dribble": config.dribble_resample_prob,
                              "kick": 0.0}[skill]
        phys = self.core.cfg
        self.contact = phys.robot_radius + phys.ball_radius
        self.command = np.zeros((n_envs, 2))
        self.t = np.zeros(n_envs, dtype=np.int64)
        self.stage = np.zeros(n_envs, dtype=np.int64)
        self.recover_steps = np.zeros(n_envs, dtype=np.int64)
        self.distance = np.zeros(n_envs)
        self.episode_return = np.zeros(n_envs)
        self.finished_returns: list[float] = []
        self.reset_games(np.ones(n_envs, dtype=bool))
        if stagger:
            self.t = self.rng.integers(0, self.episode_steps, size=n_envs)

    # -------------------------------------------------------------- starts and commands

    def _draw_commands(self, count: int) -> np.ndarray:
        cfg, rng = self.cfg, self.rng
        angle = rng.uniform(-np.pi, np.pi, size=count)
        low, high = {"walk": (0.0, cfg.walk_speed_max), "dribble": (cfg.dribble_speed_min, cfg.dribble_speed_max),
                     "kick": (cfg.kick_speed_min, cfg.kick_speed_max)}[self.skill]
        return rng.uniform(low, high, size=count)[:, None] * _unit_vectors(angle)

    def reset_games(self, mask: np.ndarray) -> None:
        """New episodes in the games of ``mask``: robot at the origin, ball around it, a new command."""
        mask = np.asarray(mask, dtype=bool)
        count, cfg, rng, core = int(mask.sum()), self.cfg, self.rng, self.core
        if count == 0:
            return
        core.reset_games(mask)
        heading = _unit_vectors(rng.uniform(-np.pi, np.pi, size=count))
        velocity = rng.uniform(0, cfg.start_speed_max, size=count)[:, None] * _unit_vectors(
            rng.uniform(-np.pi, np.pi, size=count))
        ball = rng.uniform(cfg.ball_distance_min, cfg.ball_distance_max, size=count)[:, None] * _unit_vectors(
            rng.uniform(-np.pi, np.pi, size=count))
        ball_vel = rng.uniform(0, cfg.ball_speed_max, size=count)[:, None] * _unit_vectors(
            rng.uniform(-np.pi, np.pi, size=count))
        core.robot_pos[mask] = [[0.0, 0.0], [_PARK, _PARK]]
        core.robot_vel[mask] = 0.0
        core.robot_vel[mask, 0] = velocity
        core.robot_heading[mask, 0] = heading
        core.ball_pos[mask], core.ball_vel[mask] = ball, ball_vel
        self.command[mask] = self._draw_commands(count)
        self.history.reset(core, mask)
        self.t[mask] = 0
        self.stage[mask] = APPROACH
        self.recover_steps[mask] = 0
        self.episode_return[mask] = 0.0
        self._update_distance(mask)

    def _update_distance(self, mask: np.ndarray | None = None) -> None:
        speed = np.linalg.norm(self.command, axis=-1, keepdims=True)
        direction = self.command / np.where(speed > 0, speed, np.inf)
        distance = approach_distance(self.core.robot_pos[:, 0], self.core.ball_pos, direction, self.contact)
        self.distance = distance if mask is None else np.where(mask, distance, self.distance)

    def _recentre(self) -> None:
        """Translate every game so that the learner is back at the origin; the parked robot stays parked."""
        core = self.core
        offset = core.robot_pos[:, 0].copy()
        core.robot_pos[:, 0] = 0.0
        core.ball_pos = core.ball_pos - offset
        core.robot_pos[:, 1] = _PARK
        core.robot_vel[:, 1] = 0.0

    # -------------------------------------------------------------- stepping

    def observation(self) -> np.ndarray:
        """(n_envs, obs_dim) the learner's observation."""
        commands = np.zeros((self.n, 2, 2))
        commands[:, 0] = self.command
        return skill_observation(self.core, self.history, commands)[:, 0]

    def step_raw(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """One physics step of every game with the learner's ``action`` (n_envs, 3); no reset."""
        cfg, core = self.cfg, self.core
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        actions = np.zeros((self.n, 2, 3))
        actions[:, 0] = action
        events = core.step(actions)
        touched = events["toucher"] == 0
        self.history.update(core, actions)
        self.t += 1
        info: dict[str, np.ndarray] = {"touched": touched}
        terminated = np.zeros(self.n, dtype=bool)
        if self.skill == "walk":
            reward = walk_reward(core.robot_vel[:, 0], self.command, action, cfg.track_sigma2, cfg.w_action)
        elif self.skill == "dribble":
            before = self.distance
            self._update_distance()
            reward = dribble_reward(core.robot_pos[:, 0], core.ball_pos, core.ball_vel, self.command, action,
                                    self.contact + cfg.dribble_reach_margin, before, self.distance,
                                    cfg.track_sigma2, cfg.dribble_w_reach, cfg.dribble_w_progress, cfg.w_action)
        else:
            before = self.distance
            self._update_distance()
            speed = np.linalg.norm(self.command, axis=-1)
            out = kick_reward(self.stage, self.recover_steps, touched, before, self.distance,
                              core.robot_heading[:, 0], self.command / speed[:, None], speed, core.ball_vel,
                              core.robot_vel[:, 0], cfg.kick_recover_steps, cfg.kick_w_progress, cfg.kick_w_heading,
                              cfg.kick_w_strike, cfg.kick_strike_sigma2, cfg.kick_w_recover, cfg.track_sigma2)
            reward, terminated = out["reward"], out["done"]
            self.stage, self.recover_steps = out["stage"], out["recover_steps"]
            info["struck"] = out["struck"]
        self._recentre()
        # commands: redrawn for all games with probability resample_prob (drawn whatever the policy)
        redraw = self.rng.random(self.n) < self.resample_prob
        fresh = self._draw_commands(self.n)
        self.command = np.where(redraw[:, None], fresh, self.command)
        self._update_distance()
        self.episode_return += reward
        # the skill MDP never ends on a goal of the arena (never reached): a core end is a truncation
        truncated = ((self.t >= self.episode_steps) | core.done) & ~terminated
        return {"reward": reward, "terminated": terminated, "truncated": truncated, **info}

    def step(self, action: np.ndarray) -> StepResult:
        out = self.step_raw(action)
        done = out["terminated"] | out["truncated"]
        final_obs = self.observation()
        if done.any():
            self.finished_returns.extend(self.episode_return[done].tolist())
            self.reset_games(done)
        return StepResult(obs=self.observation(), reward=out["reward"], terminated=out["terminated"],
                          truncated=out["truncated"], final_obs=final_obs)


# ---------------------------------------------------------------------------------------------------- baselines


def _velocity_control(robot_vel: np.ndarray, heading: np.ndarray, target: np.ndarray, cfg: Soccer2DConfig,
                      gain: float = 30.0) -> np.ndarray:
    """(G, 3) body-frame action driving the velocity to ``target`` (G, 2): drag feed-forward plus a P term."""
    # F = c_d·v* + k·(v* − v) (world), a = R(ψ)ᵀ·F/F_max, no turning
    force = cfg.robot_drag * target + gain * (target - robot_vel)
    body = _world_to_body(heading, force) / cfg.max_force
    return np.clip(np.concatenate([body, np.zeros(body.shape[:-1] + (1,))], axis=-1), -1.0, 1.0)


def _behind_and_push(robot_pos: np.ndarray, ball_pos: np.ndarray, direction: np.ndarray,
                     push_speed: np.ndarray, contact: float, stand_off: float) -> np.ndarray:
    """(G, 2) desired velocity of "go behind the ball and push": a robot on the line behind the ball, facing û,
    runs through it at ``push_speed``; otherwise it goes to the spot ``stand_off`` behind the ball, sidestepping
    the ball when it is in the way."""
    rel = robot_pos - ball_pos
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=-1)
    along, lateral = (rel * direction).sum(-1), (rel * normal).sum(-1)
    lined_up = (along < -contact + 0.05) & (np.abs(lateral) < 0.15)
    push = push_speed[:, None] * direction - 3.0 * lateral[:, None] * normal
    # not behind the ball yet: first to a point beside and behind it (the path there clears the ball), then behind
    ahead = along > -contact - 0.1
    side = np.where(lateral >= 0, 1.0, -1.0)[:, None]
    target = np.where(ahead[:, None], ball_pos + side * (contact + 0.3) * normal - (contact + 0.2) * direction,
                      ball_pos - stand_off * direction)
    go = 3.0 * (target - robot_pos)
    go_speed = np.linalg.norm(go, axis=-1, keepdims=True)
    go = go * np.minimum(1.0, 1.5 / np.maximum(go_speed, 1e-12))
    return np.where(lined_up[:, None], push, go)


def scripted_actions(task: SkillTask) -> np.ndarray:
    """(n_envs, 3) the scripted controller of the task's skill, from the core's state."""
    core, cfg = task.core, task.core.cfg
    pos, vel, heading = core.robot_pos[:, 0], core.robot_vel[:, 0], core.robot_heading[:, 0]
    if task.skill == "walk":
        return _velocity_control(vel, heading, task.command, cfg)
    speed = np.linalg.norm(task.command, axis=-1)
    direction = task.command / np.maximum(speed, 1e-12)[:, None]
    if task.skill == "dribble":
        # push at the commanded ball speed
        target = _behind_and_push(pos, core.ball_pos, direction, speed, task.contact, stand_off=0.6)
    else:
        # a resting ball leaves at (1 + e)·m/(m + m_b) times the robot's speed: push at s/that
        gain = (1 + cfg.ball_restitution) * cfg.robot_mass / (cfg.robot_mass + cfg.ball_mass)
        target = _behind_and_push(pos, core.ball_pos, direction, np.minimum(speed / gain, 1.9), task.contact,
                                  stand_off=1.0)
        target = np.where((task.stage == RECOVER)[:, None], 0.0, target)
    return _velocity_control(vel, heading, target, cfg)


def evaluate_skill(skill: str, policy: Callable[[SkillTask], np.ndarray], config: SkillsConfig,
                   seed: int | None = None, n_games: int | None = None) -> dict[str, float]:
    """Metrics of one episode per game of ``policy(task) -> (n, 3)`` from a fresh seed (default the config's).

    Walk: ``velocity_error`` mean ‖v − c‖ (m/s) over all steps. Dribble: ``ball_speed_error`` mean |v_b·ĉ − ‖c‖|,
    ``ball_velocity_error`` mean ‖v_b − c‖, ``in_reach`` share of steps with the ball within reach. Kick:
    ``strike_rate`` share of episodes with a strike, ``kick_speed`` mean v_b·û right after the strike over the
    episodes (0 without a strike), ``command_speed`` mean commanded s, ``speed_error`` mean |v_b·û − s| over the
    strikes (None without any), ``within_30deg`` share of episodes whose ball left within 30° of û. All:
    ``episode_return`` mean undiscounted return.
    """
    seed = config.eval_seed + SKILLS.index(skill) if seed is None else seed
    n = config.eval_games if n_games is None else n_games
    task = SkillTask(skill, config, n, seed)
    active = np.ones(n, dtype=bool)          # still in its first episode
    sums: dict[str, np.ndarray] = {k: np.zeros(n) for k in ("error", "along", "reach", "steps", "return")}
    kick_along, kick_angle_ok, struck_any = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    kick_error, kick_command = np.zeros(n), np.linalg.norm(task.command, axis=-1)
    for _ in range(task.episode_steps + task.cfg.kick_recover_steps + 1):
        if not active.any():
            break
        command = task.command.copy()
        out = task.step_raw(policy(task))
        core = task.core
        sums["return"] += np.where(active, out["reward"], 0.0)
        sums["steps"] += active
        if skill == "walk":
            sums["error"] += np.where(active, np.linalg.norm(core.robot_vel[:, 0] - command, axis=-1), 0.0)
        elif skill == "dribble":
            speed = np.linalg.norm(command, axis=-1)
            unit = command / np.maximum(speed, 1e-12)[:, None]
            along = (core.ball_vel * unit).sum(-1)
            sums["along"] += np.where(active, np.abs(along - speed), 0.0)
            sums["error"] += np.where(active, np.linalg.norm(core.ball_vel - command, axis=-1), 0.0)
            reach = task.contact + config.dribble_reach_margin
            near = np.linalg.norm(core.ball_pos - core.robot_pos[:, 0], axis=-1) <= reach
            sums["reach"] += active & near
        else:
            strike = active & out["struck"]
            speed = np.linalg.norm(command, axis=-1)
            unit = command / speed[:, None]
            along = (core.ball_vel * unit).sum(-1)
            cosine = along / np.maximum(np.linalg.norm(core.ball_vel, axis=-1), 1e-12)
            kick_along = np.where(strike, along, kick_along)
            kick_error = np.where(strike, np.abs(along - speed), kick_error)
            kick_angle_ok |= strike & (cosine >= np.cos(np.pi / 6))
            struck_any |= strike
        active &= ~(out["terminated"] | out["truncated"])
    steps = np.maximum(sums["steps"], 1)
    metrics = {"episode_return": float(sums["return"].mean())}
    if skill == "walk":
        metrics["velocity_error"] = float(sums["error"].sum() / steps.sum())
    elif skill == "dribble":
        metrics.update(ball_speed_error=float(sums["along"].sum() / steps.sum()),
                       ball_velocity_error=float(sums["error"].sum() / steps.sum()),
                       in_reach=float(sums["reach"].sum() / steps.sum()))
    else:
        metrics.update(strike_rate=float(struck_any.mean()), kick_speed=float(kick_along.mean()),
                       command_speed=float(kick_command.mean()),
                       speed_error=float(kick_error[struck_any].mean()) if struck_any.any() else None,
                       within_30deg=float(kick_angle_ok.mean()))
    return metrics


# ---------------------------------------------------------------------------------------------------- PPO


def _new_model(config: SkillsConfig) -> ActorCritic:
    model = ActorCritic(obs_dim(config.history), "gaussian", 3, hidden=(config.hidden, config.hidden))
    with torch.no_grad():
        model.head.log_std.fill_(config.init_log_std)
    return model


def _mean_action(model: ActorCritic, norm: RunningMeanStd, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        mean = model.distribution(torch.as_tensor(norm.normalize(obs), dtype=torch.float32)).mean
    return np.clip(mean.numpy().astype(np.float64), -1.0, 1.0)


def train_skill(skill: str, config: SkillsConfig, progress: bool = False,
                evaluate: bool = True) -> tuple[ActorCritic, RunningMeanStd, dict]:
    """PPO on :class:`SkillTask` for one skill; returns the policy, its observation normaliser and its log."""
    spec = config.training(skill)
    torch.manual_seed(spec.seed)
    task = SkillTask(skill, config, spec.n_envs, spec.seed, stagger=True)
    model = _new_model(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    ppo = PPOConfig(update_epochs=config.ppo_epochs, num_minibatches=config.ppo_minibatches,
                    ent_coef=config.ent_coef)
    norm = RunningMeanStd(shape=(obs_dim(config.history),))
    generator = torch.Generator().manual_seed(spec.seed)
    obs, start = task.observation(), np.ones(spec.n_envs, dtype=bool)
    curve: dict[str, list] = {"update": [], "episode_return": [], "step_reward": []}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=spec.updates, desc=f"{skill} skill (PPO updates)")
    for update in range(1, spec.updates + 1):
        rollout = collect_rollout(model, task.step, obs, start, spec.n_steps, generator, config.gamma,
                                  config.gae_lambda, obs_norm=norm, action_fn=lambda a: np.clip(a, -1.0, 1.0))
        obs, start = rollout.next_obs, rollout.next_start
        ppo_update(model, optimiser, rollout.batch, ppo, generator)
        curve["update"].append(update)
        # mean undiscounted return of the episodes that ended in this rollout (None when none ended)
        curve["episode_return"].append(float(np.mean(task.finished_returns)) if task.finished_returns else None)
        curve["step_reward"].append(float(rollout.rewards.mean()))
        task.finished_returns = []
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    model.eval()
    log = {"updates": spec.updates, "env_steps": spec.updates * spec.n_envs * spec.n_steps, "n_envs": spec.n_envs,
           "n_steps": spec.n_steps, "seed": spec.seed, "curve": curve}
    if evaluate:
        policies = {"learned": lambda t: _mean_action(model, norm, t.observation()),
                    "zero": lambda t: np.zeros((t.n, 3)), "scripted": scripted_actions}
        log["eval"] = {name: evaluate_skill(skill, policy, config) for name, policy in policies.items()}
    return model, norm, log


# ---------------------------------------------------------------------------------------------------- library


class SkillLibrary:
    """The three frozen skills: ``actions(core, skill_ids, commands, history)`` for every robot of a core."""

    def __init__(self, models: dict[str, ActorCritic], norms: dict[str, RunningMeanStd], config: SkillsConfig,
                 physics: dict[str, float] | None = None) -> None:
        missing = [s for s in SKILLS if s not in models or s not in norms]
        if missing:
            raise ValueError(f"SkillLibrary needs a model and a normaliser for every skill; missing {missing}")
        self.models = {s: models[s].eval() for s in SKILLS}
        self.norms = {s: norms[s] for s in SKILLS}
        self.cfg = config
        self.physics = dict(physics) if physics is not None else _physics(arena_config())
        for model in self.models.values():
            for p in model.parameters():
                p.requires_grad_(False)
        self._stack()

    def _stack(self) -> None:
        """The three actors' weights and normalisers stacked along a skill axis, for one batched forward pass."""
        # numpy float32 copies, transposed for x @ Wᵀ: the forward pass runs in numpy, whose tanh is several times
        # faster than torch's on these small CPU batches (the skills run at every physics step of every game)
        linears = {s: [m for m in self.models[s].actor_body if isinstance(m, torch.nn.Linear)] for s in SKILLS}
        depth = len(linears[SKILLS[0]])
        self._layers = [[(linears[s][i].weight.detach().numpy().T.copy(), linears[s][i].bias.detach().numpy().copy())
                         for i in range(depth)] for s in SKILLS]
        self._head = [(self.models[s].head.mean.weight.detach().numpy().T.copy(),
                       self.models[s].head.mean.bias.detach().numpy().copy()) for s in SKILLS]
        self._obs_mean = np.stack([self.norms[s].mean for s in SKILLS])
        self._obs_std = np.sqrt(np.stack([self.norms[s].var for s in SKILLS]) + 1e-8)

    def new_history(self, core: Soccer2DCore) -> SkillHistory:
        """A :class:`SkillHistory` of the right length for ``core``, filled from its current state."""
        return SkillHistory(core, self.cfg.history)

    def check_core(self, core: Soccer2DCore) -> None:
        other = _physics(core.cfg)
        wrong = sorted(k for k in PHYSICS_FIELDS if other[k] != self.physics[k])
        if wrong:
            raise ValueError(f"the core's physics differ from the skills' training physics in {wrong}: "
                             f"{ {k: (other[k], self.physics[k]) for k in wrong} } (core, skills)")

    def actions(self, core: Soccer2DCore, skill_ids: np.ndarray, commands: np.ndarray,
                history: SkillHistory) -> np.ndarray:
        """(G, N, 3) deterministic (mean) low-level actions.

        Args:
            core: the games; its physics must be the training physics (:data:`PHYSICS_FIELDS`).
            skill_ids: (G, N) ints, 0 walk, 1 dribble, 2 kick.
            commands: (G, N, 2) world-frame commands (module docstring).
            history: the robots' :class:`SkillHistory`, updated after every physics step.
        """
        g, n = core.n_games, core.n_agents
        skill_ids = np.asarray(skill_ids)
        commands = np.asarray(commands, dtype=np.float64)
        if skill_ids.shape != (g, n) or not np.isin(skill_ids, (WALK, DRIBBLE, KICK)).all():
            raise ValueError(f"skill_ids must be a ({g}, {n}) array of 0 (walk), 1 (dribble), 2 (kick), "
                             f"got shape {skill_ids.shape}")
        if commands.shape != (g, n, 2) or not np.isfinite(commands).all():
            raise ValueError(f"commands must be a finite ({g}, {n}, 2) array, got shape {commands.shape}")
        if history.length != self.cfg.history:
            raise ValueError(f"history holds {history.length} steps, the skills were trained on {self.cfg.history}")
        self.check_core(core)
        obs = skill_observation(core, history, commands).reshape(g * n, -1)
        flat_ids = skill_ids.reshape(-1)
        out = np.zeros((g * n, 3))
        # each robot through its own skill's actor (float32, like the trained networks):
        # z_k = clip((o − μ_k)/√(σ²_k + 1e-8), ±10), h = tanh(W z + b) per hidden layer, a_k = clip(W h + b, ±1)
        for k in range(len(SKILLS)):
            rows = np.flatnonzero(flat_ids == k)
            if len(rows) == 0:
                continue
            h = np.clip((obs[rows] - self._obs_mean[k]) / self._obs_std[k], -10.0, 10.0).astype(np.float32)
            for weight, bias in self._layers[k]:
                h = np.tanh(h @ weight + bias)
            out[rows] = h @ self._head[k][0] + self._head[k][1]
        return np.clip(out, -1.0, 1.0).reshape(g, n, 3)


def train_skills(config: SkillsConfig, progress: bool = False) -> tuple[SkillLibrary, dict]:
    """Train Walk, Dribble and Kick in turn; returns the frozen library and the log (per skill and totals)."""
    models, norms, log = {}, {}, {}
    for skill in SKILLS:
        models[skill], norms[skill], log[skill] = train_skill(skill, config, progress)
    log["total_env_steps"] = sum(log[s]["env_steps"] for s in SKILLS)
    return SkillLibrary(models, norms, config), log


def save_skills(path: str | Path, library: SkillLibrary, config: SkillsConfig, log: dict) -> None:
    """Weights, normalisers, settings, training physics and log in one byte-reproducible file."""
    skills = {}
    for skill in SKILLS:
        norm = library.norms[skill]
        state = library.models[skill].state_dict()
        skills[skill] = {"norm": {"count": float(norm.count), "mean": torch.as_tensor(norm.mean),
                                  "var": torch.as_tensor(norm.var)},
                         "state_dict": {k: state[k].detach().cpu().clone() for k in sorted(state)}}
    payload = {"config": config.to_dict(), "log": log, "physics": dict(sorted(library.physics.items())),
               "skills": skills}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buffer.getvalue())


def load_skills(path: str | Path) -> tuple[SkillLibrary, dict]:
    """The frozen :class:`SkillLibrary` and its training log."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = SkillsConfig.from_dict(payload["config"])
    models, norms = {}, {}
    for skill in SKILLS:
        models[skill] = _new_model(config)
        models[skill].load_state_dict(payload["skills"][skill]["state_dict"])
        stored = payload["skills"][skill]["norm"]
        norms[skill] = RunningMeanStd(shape=(obs_dim(config.history),))
        norms[skill].load_state_dict({"mean": stored["mean"].numpy(), "var": stored["var"].numpy(),
                                      "count": stored["count"]})
    return SkillLibrary(models, norms, config, payload["physics"]), payload["log"]


# ---------------------------------------------------------------------------------------------------- Gymnasium


class SoccerSkillEnv(gym.Env):
    """One robot learning one skill (:class:`SkillTask` with one game) as a Gymnasium environment.

    Observation ``Box(obs_dim,)`` (:func:`skill_observation_names`), action ``Box(−1, 1, (3,))`` body-frame
    (forward force, lateral force, turn rate), reward the skill's; Kick terminates after its recovery, every skill
    truncates at its episode length. ``reset(seed)`` restarts the random stream; ``reset()`` continues it.
    """

    metadata = {"render_modes": []}

    def __init__(self, skill: str = "walk", config: SkillsConfig | None = None, render_mode: str | None = None):
        if skill not in SKILLS:
            raise ValueError(f"skill must be one of {SKILLS}, got {skill!r}")
        self.skill, self.cfg, self.render_mode = skill, config or SkillsConfig(), render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, (obs_dim(self.cfg.history),), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.task = SkillTask(skill, self.cfg, 1, seed=0)
        self._over = True

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.task = SkillTask(self.skill, self.cfg, 1, seed=seed)
        else:
            self.task.reset_games(np.ones(1, dtype=bool))
        self._over = False
        return self.task.observation()[0].astype(np.float32), {}

    def step(self, action):
        if self._over:
            raise RuntimeError("the episode is over: call reset()")
        out = self.task.step_raw(np.asarray(action, dtype=np.float64).reshape(1, 3))
        terminated, truncated = bool(out["terminated"][0]), bool(out["truncated"][0])
        self._over = terminated or truncated
        info = {"touched": bool(out["touched"][0])}
        if "struck" in out:
            info["struck"] = bool(out["struck"][0])
        return (self.task.observation()[0].astype(np.float32), float(out["reward"][0]), terminated, truncated, info)

    def render(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------------- CLI


def _summary(log: dict) -> str:
    lines = []
    for skill in SKILLS:
        evaluation = log[skill].get("eval", {})
        parts = [f"{name}: " + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in metrics.items())
                 for name, metrics in evaluation.items()]
        lines.append(f"{skill} ({log[skill]['env_steps']} env steps): " + "; ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import time

    import yaml

    from hrlkit.provenance import repo_root

    parser = argparse.ArgumentParser(prog="python -m hrlkit.envs.soccer.skills", description=__doc__.splitlines()[0])
    parser.add_argument("section", help="params.yaml section holding the SkillsConfig fields "
                                        "(e.g. quadruped_soccer_skills)")
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    args = parser.parse_args(argv)
    params = yaml.safe_load((repo_root() / "params.yaml").read_text()) or {}
    if args.section not in params:
        parser.error(f"params.yaml has no section {args.section!r} (expected the SkillsConfig fields there)")
    config = SkillsConfig.from_dict(dict(params[args.section] or {}))
    torch.set_num_threads(1)
    started = time.perf_counter()
    library, log = train_skills(config, progress=True)
    save_skills(args.out, library, config, log)
    print(_summary(log))
    print(f"soccer skills: {log['total_env_steps']} env steps in {time.perf_counter() - started:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
