"""Soccer2D: a planar rigid-body abstraction of quadruped robot soccer between two teams.

Stand-in for the MuJoCo quadrupeds of "Toward real-world cooperative and competitive soccer with quadrupedal robot
teams" (arXiv 2505.13834), where learned low-level skills (Walk, Dribble, Kick) run at 50 Hz under a 5 Hz MAPPO team
policy trained by fictitious self-play. Here each robot is a disc driven at 50 Hz by a body-frame force and a
turn-rate command; the skills and the 5 Hz level belong to the notebook. Many games are simulated at once with numpy
(:class:`Soccer2DCore`, one row per game); :class:`Soccer2DParallelEnv` wraps one game as a PettingZoo
``ParallelEnv``. Every constant is a field of :class:`Soccer2DConfig`; those marked *assumed* are our choices
(a Go1-class quadruped walking up to 2 m/s, a size-5 football on turf), not the paper's.

**Field.** L × W, x along the length, centred at the origin, walled on all four sides; each short wall has an open
goal mouth of width w_g centred on it. Team 0 defends the goal at x = −L/2 and attacks x = +L/2, team 1 the
opposite. Agents are ordered team 0 (0..n−1) then team 1 (n..2n−1). Rotating the field by π, (x, y) → (−x, −y),
swaps the teams' roles; the observations are egocentric, so a team-1 robot sees exactly what a team-0 robot sees in
the rotated game, and one policy can play either side.

**One physics step of Δt** (semi-implicit Euler: velocities are updated first, positions move with the new ones):

1. Robots. Action a = (a_f, a_l, a_ω) in the body frame, each clipped to [−1, 1]. Commanded force
   F_b = F_max·(a_f, a_l) with its norm clipped to F_max; world force F = R(ψ)·F_b (R(ψ) the rotation by the heading
   ψ, held as the unit vector (cos ψ, sin ψ)); turn rate ω = ω_max·a_ω, so |ψ̇| ≤ ω_max (kinematic, no lag).
   Robot–robot soft repulsion F_ij = k·[2R − d_ij]^+·(p_i − p_j)/d_ij. Then
   v ← v + Δt·(F + Σ_j F_ij − c_d·v)/m,  ψ ← ψ + Δt·ω,  p ← p + Δt·v.
   Robots are clamped inside the field, their outward velocity component set to 0 (they cannot enter the goals).
2. Ball. Linear drag, then rolling friction as a constant deceleration μ_r·g:
   v_b ← v_b·(1 − Δt·k_b),  |v_b| ← max(|v_b| − Δt·μ_r·g, 0) (direction kept),  p_b ← p_b + Δt·v_b.
3. Robot–ball contacts, robot by robot in agent order. On overlap (d < R + r): normal n = (p_b − p)/d, approach
   speed u = (v_b − v)·n; if u < 0 the impulse J = −(1 + e)·u/(1/m + 1/m_b) sets v_b += (J/m_b)·n, v −= (J/m)·n
   (momentum conserved); then the overlap is removed along n, each body moving inversely to its mass. The robot
   with the largest impulse is the step's *toucher* (−1 when none touched the ball).
4. Walls. A ball whose centre crosses a goal line inside the mouth (|y| < w_g/2) scores for the attacking team;
   elsewhere a ball touching a wall is put back on it and its outward velocity component v_⊥ ← −e_w·v_⊥.
5. End. A goal ends that game's episode (*terminated*): the paper's games restart from kickoff after a goal, and one
   kickoff per episode keeps every episode's outcome the zero-sum ±1 of one goal. Otherwise the game ends at
   ``episode_steps`` (*truncated*). The core does not auto-reset; :meth:`Soccer2DCore.reset_games` kicks off again.

Simplifications (assumed): isotropic force limit (real quadrupeds are slower sideways), no goal posts or nets (the
ball is judged by its centre), no ball spin or lift, soft robot–robot contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

__all__ = ["Soccer2DConfig", "Soccer2DCore", "Soccer2DParallelEnv", "kickoff_layout", "observation_names",
           "state_names", "GRAVITY"]

GRAVITY: float = 9.81   # g, m/s²

_POSITIVE = ("field_length", "field_width", "goal_width", "dt", "robot_radius", "robot_mass", "max_force",
             "max_turn_rate", "robot_stiffness", "ball_radius", "ball_mass")
_NON_NEGATIVE = ("robot_drag", "ball_rolling_friction", "ball_drag", "kickoff_jitter", "kickoff_heading_jitter")
_RESTITUTIONS = ("ball_restitution", "wall_restitution")


@dataclass(frozen=True)
class Soccer2DConfig:
    # --- field (the reproduction's reconstruction of the paper's pitch) ---
    field_length: float = 9.0            # L, m, along x
    field_width: float = 6.0             # W, m, along y
    goal_width: float = 1.5              # w_g, m, centred on each short wall
    # --- teams and time ---
    n_per_team: int = 2                  # n robots per team (2 v 2)
    dt: float = 0.02                     # Δt, s: 50 Hz, the rate of the paper's low-level skills
    episode_steps: int = 1500            # physics steps per episode (30 s)
    # --- robots (discs; size and mass reconstructed, actuation assumed) ---
    robot_radius: float = 0.25           # R, m
    robot_mass: float = 15.0             # m, kg
    max_force: float = 60.0              # F_max, N (assumed: top speed F_max / c_d = 2 m/s)
    robot_drag: float = 30.0             # c_d, N·s/m (assumed: velocity time constant m / c_d = 0.5 s)
    max_turn_rate: float = 3.0           # ω_max, rad/s (assumed)
    robot_stiffness: float = 2000.0      # k, N/m, robot–robot repulsion (assumed: 3 cm overlap against F_max)
    # --- ball ---
    ball_radius: float = 0.1             # r, m
    ball_mass: float = 0.45              # m_b, kg (a size-5 football)
    ball_rolling_friction: float = 0.06  # μ_r: rolling deceleration μ_r·g ≈ 0.59 m/s² (assumed: turf)
    ball_drag: float = 0.2               # k_b, 1/s, linear drag (assumed)
    ball_restitution: float = 0.5        # e, robot–ball
    wall_restitution: float = 0.6        # e_w, ball–wall (assumed)
    # --- kickoff ---
    kickoff_jitter: float = 0.1          # m, uniform ± on each kickoff coordinate of each robot (assumed)
    kickoff_heading_jitter: float = 0.2  # rad, uniform ± on each kickoff heading (assumed)

    def __post_init__(self) -> None:
        for name in ("n_per_team", "episode_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for names, ok, allowed in ((_POSITIVE, lambda v: v > 0, "> 0"), (_NON_NEGATIVE, lambda v: v >= 0, ">= 0"),
                                   (_RESTITUTIONS, lambda v: 0 <= v <= 1, "in [0, 1]")):
            for name in names:
                value = getattr(self, name)
                if not isinstance(value, (int, float)) or not ok(value):
                    raise ValueError(f"{name} must be a number {allowed}, got {value!r}")
        if not 2 * self.ball_radius < self.goal_width < self.field_width:
            raise ValueError(f"goal_width must be in (2·ball_radius, field_width) = ({2 * self.ball_radius}, "
                             f"{self.field_width}), got {self.goal_width!r}")
        if not self.dt * self.robot_drag < self.robot_mass:
            raise ValueError(f"robot_drag must be < robot_mass / dt = {self.robot_mass / self.dt} (stable drag), "
                             f"got {self.robot_drag!r}")
        if not self.dt * self.ball_drag < 1:
            raise ValueError(f"ball_drag must be < 1 / dt = {1 / self.dt} (stable drag), got {self.ball_drag!r}")


def kickoff_layout(config: Soccer2DConfig) -> np.ndarray:
    """(n, 2) kickoff spots of team 0 in its own half, forward first; team 1 takes them rotated by π.

    Robot i stands at x = −(L/2)·(0.2 + 0.6·i/(n − 1)) (from near the centre back towards its goal) and
    y = (W/2)·(0.5 − (i + 0.5)/n) (spread across the field).
    """
    n = config.n_per_team
    depth = np.linspace(0.2, 0.8, n)
    across = 0.5 - (np.arange(n) + 0.5) / n
    return np.stack([-config.field_length / 2 * depth, config.field_width / 2 * across], axis=-1)


def _other_labels(n: int) -> tuple[str, ...]:
    return tuple(f"mate{j}" for j in range(n - 1)) + tuple(f"opp{j}" for j in range(n))


def observation_names(n_per_team: int) -> tuple[str, ...]:
    """Columns of :meth:`Soccer2DCore.observations`, all in the observer's body frame (x forward, y left).

    Own velocity and turn rate; the ball's position and velocity relative to the observer; for each teammate
    (``mate*``, in team order, the observer skipped) and each opponent (``opp*``, in team order) its relative
    position, relative velocity and heading (hx, hy) = (cos, sin) of its heading relative to the observer's; the
    own and the opponent's goal centres relative to the observer; the fraction of the episode left.
    """
    names = ["vel_x", "vel_y", "turn_rate", "ball_x", "ball_y", "ball_vx", "ball_vy"]
    for other in _other_labels(n_per_team):
        names += [f"{other}_{column}" for column in ("x", "y", "vx", "vy", "hx", "hy")]
    return tuple(names + ["own_goal_x", "own_goal_y", "opp_goal_x", "opp_goal_y", "time_left"])


def state_names(n_per_team: int) -> tuple[str, ...]:
    """Columns of :meth:`Soccer2DCore.global_state`, world frame as seen by one team (rotated by π for team 1).

    The ball's position and velocity; each robot of the team (``own*``) then of the other team (``opp*``), in team
    order: position, velocity, heading (cos ψ, sin ψ), turn rate; the fraction of the episode left.
    """
    robots = [f"{side}{i}" for side in ("own", "opp") for i in range(n_per_team)]
    names = ["ball_x", "ball_y", "ball_vx", "ball_vy"]
    for robot in robots:
        names += [f"{robot}_{column}" for column in ("x", "y", "vx", "vy", "hx", "hy", "turn_rate")]
    return tuple(names + ["time_left"])


def _body_to_world(heading: np.ndarray, body: np.ndarray) -> np.ndarray:
    """R(ψ)·b for heading (cos ψ, sin ψ): (c·b_x − s·b_y, s·b_x + c·b_y)."""
    c, s = heading[..., 0], heading[..., 1]
    return np.stack([c * body[..., 0] - s * body[..., 1], s * body[..., 0] + c * body[..., 1]], axis=-1)


def _world_to_body(heading: np.ndarray, world: np.ndarray) -> np.ndarray:
    """R(ψ)ᵀ·w for heading (cos ψ, sin ψ): (c·w_x + s·w_y, −s·w_x + c·w_y)."""
    c, s = heading[..., 0], heading[..., 1]
    return np.stack([c * world[..., 0] + s * world[..., 1], -s * world[..., 0] + c * world[..., 1]], axis=-1)


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


class Soccer2DCore:
    """``n_games`` independent games stepped together (numpy; arrays are (n_games, n_agents, ...), team 0 first).

    State, SI units, world frame: ``robot_pos``, ``robot_vel`` (G, N, 2); ``robot_heading`` (G, N, 2) unit vectors
    (cos ψ, sin ψ); ``robot_turn_rate`` (G, N); ``ball_pos``, ``ball_vel`` (G, 2); ``steps`` (G,) physics steps
    since kickoff; ``done`` (G,) the game is over and must be reset before the next :meth:`step`.
    """

    def __init__(self, config: Soccer2DConfig | None = None, n_games: int = 1, seed: int | None = 0) -> None:
        if not isinstance(n_games, int) or n_games < 1:
            raise ValueError(f"n_games must be an int >= 1, got {n_games!r}")
        self.cfg = config or Soccer2DConfig()
        self.n_games = n_games
        n = self.cfg.n_per_team
        self.n_agents = 2 * n
        half_length = self.cfg.field_length / 2
        # teammates then opponents of each agent, each in team order: (N, N − 1) agent indices
        self._others = np.array([[team * n + j for j in range(n) if j != i] + [(1 - team) * n + j for j in range(n)]
                                 for team in (0, 1) for i in range(n)])
        # own and opponent goal centre of each agent: (N, 2, 2); team 0 defends x = −L/2
        goals = np.array([[[-half_length, 0.0], [half_length, 0.0]], [[half_length, 0.0], [-half_length, 0.0]]])
        self._goal_centres = np.repeat(goals, n, axis=0)
        shape = (n_games, self.n_agents)
        self.robot_pos, self.robot_vel, self.robot_heading = (np.zeros(shape + (2,)) for _ in range(3))
        self.robot_turn_rate = np.zeros(shape)
        self.ball_pos, self.ball_vel = np.zeros((n_games, 2)), np.zeros((n_games, 2))
        self.steps = np.zeros(n_games, dtype=np.int64)
        self.done = np.zeros(n_games, dtype=bool)
        self.rng = np.random.default_rng(seed)
        self.reset()

    # ------------------------------------------------------------------ kickoff

    def reset(self, seed: int | None = None) -> None:
        """Kick off every game; a seed restarts the random stream, None continues it."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.reset_games(np.ones(self.n_games, dtype=bool))

    def reset_games(self, mask: np.ndarray, rng: np.random.Generator | None = None) -> None:
        """Kick off the games where ``mask`` (G,) is true, with jitter drawn from ``rng`` (default: the core's).

        Ball at rest at the centre; robots at rest on :func:`kickoff_layout` (team 1 rotated by π), facing the
        opponent's goal, each coordinate and heading jittered uniformly by ± ``kickoff_jitter`` /
        ``kickoff_heading_jitter``.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_games,):
            raise ValueError(f"mask must be a ({self.n_games},) bool array, got shape {mask.shape}")
        cfg, n = self.cfg, self.cfg.n_per_team
        rng = self.rng if rng is None else rng
        spots = kickoff_layout(cfg)
        n_reset = int(mask.sum())
        position_jitter = rng.uniform(-cfg.kickoff_jitter, cfg.kickoff_jitter, size=(n_reset, self.n_agents, 2))
        heading_jitter = rng.uniform(-cfg.kickoff_heading_jitter, cfg.kickoff_heading_jitter,
                                     size=(n_reset, self.n_agents))
        self.robot_pos[mask] = np.concatenate([spots, -spots]) + position_jitter
        facing = np.repeat([[1.0, 0.0], [-1.0, 0.0]], n, axis=0)      # team 0 faces +x (ψ = 0), team 1 −x (ψ = π)
        self.robot_heading[mask] = _body_to_world(facing, _unit(heading_jitter))
        self.robot_vel[mask] = 0.0
        self.robot_turn_rate[mask] = 0.0
        self.ball_pos[mask] = 0.0
        self.ball_vel[mask] = 0.0
        self.steps[mask] = 0
        self.done[mask] = False

    # ------------------------------------------------------------------ dynamics

    def step(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Advance every game by one physics step Δt (the module docstring gives the model).

        Args:
            actions: (G, N, 3) body-frame commands (forward force, lateral force, turn rate), clipped to [−1, 1]
                and scaled by F_max, F_max and ω_max.

        Returns per-game events: ``goals`` (G, 2) int, goals of team 0 and of team 1 in this step; ``terminated``
        (G,) a goal ended the game; ``truncated`` (G,) the time limit ended it without a goal; ``done`` (G,) either;
        ``toucher`` (G,) the agent that touched the ball in this step (largest impulse), −1 if none; ``ball_pos``
        (G, 2) after the step. Logging ``toucher`` and ``ball_pos`` every step is enough to count touches, passes
        and interceptions afterwards.
        """
        actions = self._checked(actions)
        if self.done.any():
            raise RuntimeError(f"games {np.flatnonzero(self.done).tolist()} are over: call reset_games(done) first")
        force, turn_rate = self._commands(actions)
        self._move_robots(force + self._repulsion(), turn_rate)
        self._clamp_robots()
        self._roll_ball()
        toucher = self._ball_contacts()
        goals = self._ball_at_walls()
        self.steps += 1
        terminated = goals.any(axis=1)
        truncated = ~terminated & (self.steps >= self.cfg.episode_steps)
        self.done = terminated | truncated
        return {"goals": goals, "terminated": terminated, "truncated": truncated, "done": self.done.copy(),
                "toucher": toucher, "ball_pos": self.ball_pos.copy()}

    def _checked(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (self.n_games, self.n_agents, 3) or not np.isfinite(actions).all():
            raise ValueError(f"actions must be a finite ({self.n_games}, {self.n_agents}, 3) array, "
                             f"got shape {actions.shape}")
        return actions

    def _commands(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World force (G, N, 2) and turn rate (G, N) commanded by the clipped actions."""
        cfg = self.cfg
        actions = np.clip(actions, -1.0, 1.0)
        # F_b = F_max·(a_f, a_l), its norm clipped to F_max
        body_force = cfg.max_force * actions[..., :2]
        norm = np.linalg.norm(body_force, axis=-1, keepdims=True)
        body_force = body_force * (cfg.max_force / np.maximum(norm, cfg.max_force))
        # F = R(ψ)·F_b;  ω = ω_max·a_ω
        return _body_to_world(self.robot_heading, body_force), cfg.max_turn_rate * actions[..., 2]

    def _repulsion(self) -> np.ndarray:
        """(G, N, 2) robot–robot spring forces."""
        cfg = self.cfg
        # p_i − p_j and d_ij = |p_i − p_j|
        offset = self.robot_pos[:, :, None, :] - self.robot_pos[:, None, :, :]
        distance = np.linalg.norm(offset, axis=-1)
        # F_ij = k·[2R − d_ij]^+·(p_i − p_j)/d_ij, 0 for i = j (and for coincident robots)
        overlap = np.maximum(2 * cfg.robot_radius - distance, 0.0)
        magnitude = cfg.robot_stiffness * overlap / np.where(distance > 0, distance, np.inf)
        return (magnitude[..., None] * offset).sum(axis=2)

    def _move_robots(self, force: np.ndarray, turn_rate: np.ndarray) -> None:
        cfg = self.cfg
        # v ← v + Δt·(F − c_d·v)/m
        self.robot_vel = self.robot_vel + cfg.dt * (force - cfg.robot_drag * self.robot_vel) / cfg.robot_mass
        # ψ ← ψ + Δt·ω, as a rotation of the unit heading (renormalised against round-off)
        heading = _body_to_world(self.robot_heading, _unit(cfg.dt * turn_rate))
        self.robot_heading = heading / np.linalg.norm(heading, axis=-1, keepdims=True)
        self.robot_turn_rate = turn_rate
        # p ← p + Δt·v
        self.robot_pos = self.robot_pos + cfg.dt * self.robot_vel

    def _clamp_robots(self) -> None:
        cfg = self.cfg
        limit = np.array([cfg.field_length / 2, cfg.field_width / 2]) - cfg.robot_radius
        outward = (np.abs(self.robot_pos) > limit) & (self.robot_pos * self.robot_vel > 0)
        self.robot_pos = np.clip(self.robot_pos, -limit, limit)
        # a robot at a wall loses the velocity component into it
        self.robot_vel = np.where(outward, 0.0, self.robot_vel)

    def _roll_ball(self) -> None:
        cfg = self.cfg
        # v_b ← v_b·(1 − Δt·k_b)
        velocity = self.ball_vel * (1.0 - cfg.dt * cfg.ball_drag)
        # |v_b| ← max(|v_b| − Δt·μ_r·g, 0), direction kept
        speed = np.linalg.norm(velocity, axis=-1, keepdims=True)
        slowed = np.maximum(speed - cfg.dt * cfg.ball_rolling_friction * GRAVITY, 0.0)
        self.ball_vel = velocity * (slowed / np.where(speed > 0, speed, np.inf))
        # p_b ← p_b + Δt·v_b
        self.ball_pos = self.ball_pos + cfg.dt * self.ball_vel

    def _ball_contacts(self) -> np.ndarray:
        """Resolve robot–ball contacts robot by robot; returns the (G,) toucher (largest impulse), −1 if none."""
        cfg = self.cfg
        m, m_b, e = cfg.robot_mass, cfg.ball_mass, cfg.ball_restitution
        reach = cfg.robot_radius + cfg.ball_radius
        impulses = np.full((self.n_games, self.n_agents), -np.inf)     # −inf: no contact
        for agent in range(self.n_agents):
            offset = self.ball_pos - self.robot_pos[:, agent]
            distance = np.linalg.norm(offset, axis=-1)
            contact = distance < reach
            # n = (p_b − p)/d
            normal = offset / np.where(distance > 0, distance, np.inf)[:, None]
            # u = (v_b − v)·n, negative while the two approach
            approach = ((self.ball_vel - self.robot_vel[:, agent]) * normal).sum(axis=-1)
            # J = −(1 + e)·u/(1/m + 1/m_b)
            impulse = np.where(contact & (approach < 0), -(1 + e) * approach / (1 / m + 1 / m_b), 0.0)
            # v_b += (J/m_b)·n,  v −= (J/m)·n
            self.ball_vel = self.ball_vel + (impulse / m_b)[:, None] * normal
            self.robot_vel[:, agent] -= (impulse / m)[:, None] * normal
            # the overlap (R + r − d) is removed along n: the ball moves m/(m + m_b) of it, the robot m_b/(m + m_b)
            overlap = np.where(contact, reach - distance, 0.0)[:, None]
            self.ball_pos = self.ball_pos + overlap * (m / (m + m_b)) * normal
            self.robot_pos[:, agent] -= overlap * (m_b / (m + m_b)) * normal
            impulses[:, agent] = np.where(contact, impulse, -np.inf)
        return np.where(np.isfinite(impulses).any(axis=1), impulses.argmax(axis=1), -1)

    def _ball_at_walls(self) -> np.ndarray:
        """Score goals and bounce the ball off the walls; returns (G, 2) goals of team 0 and team 1."""
        cfg = self.cfg
        x, y = self.ball_pos[:, 0], self.ball_pos[:, 1]
        in_mouth = np.abs(y) < cfg.goal_width / 2
        # a goal: the centre crossed a goal line inside the mouth; team 0 scores at x = +L/2, team 1 at x = −L/2
        goals = np.stack([in_mouth & (x > cfg.field_length / 2), in_mouth & (x < -cfg.field_length / 2)], axis=1)
        limit = np.array([cfg.field_length / 2, cfg.field_width / 2]) - cfg.ball_radius
        at_wall = np.abs(self.ball_pos) > limit
        at_wall[:, 0] &= ~in_mouth                                     # the goal mouths are open
        outward = at_wall & (self.ball_pos * self.ball_vel > 0)
        self.ball_pos = np.where(at_wall, np.sign(self.ball_pos) * limit, self.ball_pos)
        # v_⊥ ← −e_w·v_⊥
        self.ball_vel = np.where(outward, -cfg.wall_restitution * self.ball_vel, self.ball_vel)
        return goals.astype(np.int64)

    # ------------------------------------------------------------------ observations

    def time_left(self) -> np.ndarray:
        """(G,) fraction of the episode left, 1 − steps / episode_steps."""
        return 1.0 - self.steps / self.cfg.episode_steps

    def observations(self) -> np.ndarray:
        """(G, N, obs_dim) egocentric observations, columns :func:`observation_names`.

        Everything is expressed in the observer's body frame, and relative to the observer, so team 1's
        observations in a game equal team 0's in the game rotated by π with the teams swapped.
        """
        g, n_agents = self.n_games, self.n_agents
        heading, pos, vel = self.robot_heading, self.robot_pos, self.robot_vel
        observer = heading[:, :, None]                                  # broadcast over the observed
        own_vel = _world_to_body(heading, vel)
        ball = np.concatenate([_world_to_body(heading, self.ball_pos[:, None] - pos),
                               _world_to_body(heading, self.ball_vel[:, None] - vel)], axis=-1)
        others = np.concatenate([_world_to_body(observer, pos[:, self._others] - pos[:, :, None]),
                                 _world_to_body(observer, vel[:, self._others] - vel[:, :, None]),
                                 _world_to_body(observer, heading[:, self._others])], axis=-1)
        goals = _world_to_body(observer, self._goal_centres[None] - pos[:, :, None])
        time_left = np.broadcast_to(self.time_left()[:, None, None], (g, n_agents, 1))
        return np.concatenate([own_vel, self.robot_turn_rate[..., None], ball, others.reshape(g, n_agents, -1),
                               goals.reshape(g, n_agents, 4), time_left], axis=-1)

    def global_state(self, team: int = 0) -> np.ndarray:
        """(G, state_dim) state for a centralised critic, columns :func:`state_names`, seen by ``team``.

        Team 1's state is team 0's of the game rotated by π, (x, y) → (−x, −y), with the teams swapped.
        """
        if team not in (0, 1):
            raise ValueError(f"team must be 0 or 1, got {team!r}")
        n = self.cfg.n_per_team
        # the rotation by π negates every world vector and keeps turn rates
        sign = 1.0 if team == 0 else -1.0
        robots = np.concatenate([sign * self.robot_pos, sign * self.robot_vel, sign * self.robot_heading,
                                 self.robot_turn_rate[..., None]], axis=-1)
        own, opponents = robots[:, team * n:(team + 1) * n], robots[:, (1 - team) * n:(2 - team) * n]
        return np.concatenate([sign * self.ball_pos, sign * self.ball_vel, own.reshape(self.n_games, -1),
                               opponents.reshape(self.n_games, -1), self.time_left()[:, None]], axis=1)


class Soccer2DParallelEnv(ParallelEnv):
    """One game of :class:`Soccer2DCore` as a PettingZoo ``ParallelEnv`` (agents ``team0_0 … team1_{n−1}``).

    Action of each robot: ``Box(−1, 1, (3,))`` = body-frame (forward force, lateral force, turn rate). Observation:
    its egocentric :meth:`~Soccer2DCore.observations` row; ``state()`` is team 0's global state. Reward: +1 to every
    member of the scoring team, −1 to every member of the other (zero-sum, sparse; shaping is the notebook's).
    A goal terminates every agent; the time limit truncates them. ``reset(seed=None)`` continues the random stream.
    """

    metadata = {"name": "soccer2d_v0", "render_modes": []}

    def __init__(self, config: Soccer2DConfig | None = None, render_mode: str | None = None) -> None:
        self.cfg = config or Soccer2DConfig()
        self.render_mode = render_mode
        n = self.cfg.n_per_team
        self.possible_agents = [f"team{team}_{i}" for team in (0, 1) for i in range(n)]
        self._team = {agent: index // n for index, agent in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self.core = Soccer2DCore(self.cfg, 1, seed=None)
        obs_dim, state_dim = len(observation_names(n)), len(state_names(n))
        # one space object per agent, so that seeding one agent's space leaves the others' streams alone
        self._observation_spaces = {a: spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
                                    for a in self.possible_agents}
        self._action_spaces = {a: spaces.Box(-1.0, 1.0, (3,), np.float32) for a in self.possible_agents}
        self.state_space = spaces.Box(-np.inf, np.inf, (state_dim,), np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    def _observations(self) -> dict[str, np.ndarray]:
        obs = self.core.observations()[0].astype(np.float32)
        return {agent: obs[i] for i, agent in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.core.reset(seed)
        self.agents = list(self.possible_agents)
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("the episode is over: call reset()")
        events = self.core.step(np.stack([actions[agent] for agent in self.possible_agents])[None])
        goals = events["goals"][0]
        # zero-sum: a team's reward is its goals minus the other team's
        team_reward = (float(goals[0] - goals[1]), float(goals[1] - goals[0]))
        terminated, truncated = bool(events["terminated"][0]), bool(events["truncated"][0])
        rewards = {agent: team_reward[self._team[agent]] for agent in self.agents}
        terminations = {agent: terminated for agent in self.agents}
        truncations = {agent: truncated for agent in self.agents}
        infos = {agent: {"toucher": int(events["toucher"][0])} for agent in self.agents}
        observations = self._observations()
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        return self.core.global_state(0)[0].astype(np.float32)

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None
