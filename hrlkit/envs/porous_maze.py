"""PorousMaze: procedurally generated grid mazes with a porosity knob and egocentric partial views.

A stand-in for the MiniWorld mazes of arXiv 2505.16787 (entropy_planner notebook): MiniWorld renders 3-D views
with OpenGL, which these headless CPU machines do not have; a grid maze keeps what the paper's claims are about
(sparse reward, partial observability, a new layout every episode, difficulty set by porosity).

**Layout.** A ``cells × cells`` maze on a ``(2·cells + 1)``-square grid (odd coordinates are cells, the squares
between two cells are walls or passages): a perfect maze from a randomised depth-first search, then every interior
wall square that separates two cells is removed with probability ``porosity`` (0: a perfect maze with one path
between any two cells; 1: an open room). The agent starts on a random cell facing a random heading; the goal box
sits on another random cell at least ``min_goal_distance`` moves away (breadth-first search over free squares).

**Actions** (as MiniWorld): 0 turn left, 1 turn right, 2 move forward one square (blocked by walls).

**Observation** (float32 in [0, 1]): the ``view × view`` squares in front of the agent (the agent at the middle of
the bottom row, facing up), one-hot over (wall, floor, goal), all zeros where a square is hidden behind walls
(MiniGrid's visibility propagation); outside the grid reads as wall. Then the heading, one-hot over (east, south,
west, north). ``obs_dim = 3·view² + 4``.

**Reward** +1 when the agent steps onto the goal (the episode terminates), 0 otherwise; the episode is truncated
after ``max_steps`` steps. Episode length to the goal is the paper's measure.

:class:`PorousMazeCore` steps ``n_envs`` mazes at once with numpy and resets each finished one to a new layout;
:class:`PorousMazeEnv` wraps one maze in the Gymnasium API (``check_env`` in the tests).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

WALL, FLOOR = 1, 0
TURN_LEFT, TURN_RIGHT, FORWARD = 0, 1, 2
#: heading → (dx, dy) on the grid, y pointing down (MiniGrid's convention): east, south, west, north
DIRECTIONS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)
CHANNELS = ("wall", "floor", "goal")


@dataclass(frozen=True)
class PorousMazeConfig:
    cells: int = 9                 # cells per side of the maze (the grid has 2·cells + 1 squares per side)
    porosity: float = 0.2          # probability that an interior wall between two cells is removed after the DFS
    view: int = 5                  # the egocentric view is view × view squares (odd)
    max_steps: int = 200           # truncation
    min_goal_distance: int = 4     # the goal is at least this many moves (squares) away from the start

    def __post_init__(self) -> None:
        if int(self.cells) != self.cells or self.cells < 2:
            raise ValueError(f"cells must be an integer >= 2, got {self.cells!r}")
        if not 0.0 <= float(self.porosity) <= 1.0:
            raise ValueError(f"porosity must be in [0, 1], got {self.porosity!r}")
        if int(self.view) != self.view or self.view < 3 or self.view % 2 == 0:
            raise ValueError(f"view must be an odd integer >= 3, got {self.view!r}")
        if int(self.max_steps) != self.max_steps or self.max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps!r}")
        if self.min_goal_distance < 1 or self.min_goal_distance > 2 * (self.cells - 1):
            raise ValueError(f"min_goal_distance must be in [1, {2 * (self.cells - 1)}] for {self.cells} cells, "
                             f"got {self.min_goal_distance!r}")

    @property
    def size(self) -> int:
        return 2 * self.cells + 1

    @property
    def obs_dim(self) -> int:
        return len(CHANNELS) * self.view ** 2 + 4


def generate_maze(cells: int, porosity: float, rng: np.random.Generator) -> np.ndarray:
    """(2·cells + 1)² grid of WALL/FLOOR: randomised depth-first search, then each interior wall square between two
    cells removed with probability ``porosity``."""
    size = 2 * cells + 1
    grid = np.full((size, size), WALL, dtype=np.int8)          # grid[y, x]
    visited = np.zeros((cells, cells), dtype=bool)
    start = (int(rng.integers(cells)), int(rng.integers(cells)))
    stack = [start]
    visited[start[1], start[0]] = True
    grid[2 * start[1] + 1, 2 * start[0] + 1] = FLOOR
    while stack:
        x, y = stack[-1]
        options = [(x + dx, y + dy) for dx, dy in DIRECTIONS
                   if 0 <= x + dx < cells and 0 <= y + dy < cells and not visited[y + dy, x + dx]]
        if not options:
            stack.pop()
            continue
        nx, ny = options[int(rng.integers(len(options)))]
        visited[ny, nx] = True
        grid[2 * ny + 1, 2 * nx + 1] = FLOOR
        grid[y + ny + 1, x + nx + 1] = FLOOR                    # the wall square between the two cells
        stack.append((nx, ny))
    # interior wall squares that separate two cells: one odd and one even coordinate, not on the border
    ys, xs = np.nonzero(grid == WALL)
    between = ((ys % 2) != (xs % 2)) & (ys > 0) & (xs > 0) & (ys < size - 1) & (xs < size - 1)
    remove = rng.random(int(between.sum())) < porosity
    grid[ys[between][remove], xs[between][remove]] = FLOOR
    return grid


def distances_from(grid: np.ndarray, x: int, y: int) -> np.ndarray:
    """Moves (forward steps, turns not counted) from (x, y) to every square by breadth-first search; −1 if walled
    off or a wall."""
    dist = np.full(grid.shape, -1, dtype=np.int64)
    dist[y, x] = 0
    queue = deque([(x, y)])
    while queue:
        cx, cy = queue.popleft()
        for dx, dy in DIRECTIONS:
            nx, ny = cx + dx, cy + dy
            if grid[ny, nx] == FLOOR and dist[ny, nx] < 0:
                dist[ny, nx] = dist[cy, cx] + 1
                queue.append((nx, ny))
    return dist


def visible_mask(walls: np.ndarray) -> np.ndarray:
    """(n, v, v) view squares (row 0 farthest, agent at the middle of the last row) → which are visible: MiniGrid's
    propagation, each visible non-wall square lighting its neighbours to the side and ahead, swept right then left
    row by row from the agent's row."""
    n, v, _ = walls.shape
    seen = np.zeros_like(walls, dtype=bool)
    seen[:, v - 1, v // 2] = True
    for row in range(v - 1, -1, -1):
        for col in range(v - 1):
            light = seen[:, row, col] & ~walls[:, row, col]
            seen[:, row, col + 1] |= light
            if row > 0:
                seen[:, row - 1, col] |= light
                seen[:, row - 1, col + 1] |= light
        for col in range(v - 1, 0, -1):
            light = seen[:, row, col] & ~walls[:, row, col]
            seen[:, row, col - 1] |= light
            if row > 0:
                seen[:, row - 1, col] |= light
                seen[:, row - 1, col - 1] |= light
    return seen


class PorousMazeCore:
    """``n_envs`` mazes stepped at once; a maze whose episode ended is reset to a new layout by :meth:`step`."""

    def __init__(self, config: PorousMazeConfig, n_envs: int, seed: int, per_episode: bool = False) -> None:
        """``per_episode``: env i's k-th episode draws its layout, start and goal from its own stream
        ``default_rng([seed, i, k])`` rather than from one shared stream, so two runs with the same seed meet the same
        mazes episode by episode even when their episodes end at different times (common random numbers)."""
        if int(n_envs) != n_envs or n_envs < 1:
            raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
        self.cfg, self.n_envs = config, int(n_envs)
        self.seed, self.per_episode = int(seed), bool(per_episode)
        self.episodes = np.zeros(self.n_envs, dtype=np.int64)      # episodes started per env
        self.rng = np.random.default_rng(seed)
        size = config.size
        self.grid = np.full((self.n_envs, size, size), WALL, dtype=np.int8)
        self.pos = np.zeros((self.n_envs, 2), dtype=np.int64)        # (x, y)
        self.heading = np.zeros(self.n_envs, dtype=np.int64)
        self.goal = np.zeros((self.n_envs, 2), dtype=np.int64)
        self.steps = np.zeros(self.n_envs, dtype=np.int64)
        self.shortest = np.zeros(self.n_envs, dtype=np.int64)        # moves from the start to the goal
        self.reset_envs(np.ones(self.n_envs, dtype=bool))

    def reset_envs(self, mask: np.ndarray, layout_seeds=None) -> None:
        """New layout, start and goal for every env in ``mask``: drawn from the core's own stream, or, with
        ``layout_seeds`` (one integer per env), env i's from ``default_rng(layout_seeds[i])``, so that every method
        can be evaluated on the same fixed, held-out mazes."""
        cfg = self.cfg
        if layout_seeds is not None and len(layout_seeds) != self.n_envs:
            raise ValueError(f"layout_seeds must hold one seed per env ({self.n_envs}), got {len(layout_seeds)}")
        for i in np.flatnonzero(mask):
            if layout_seeds is not None:
                rng = np.random.default_rng(int(layout_seeds[i]))
            elif self.per_episode:
                rng = np.random.default_rng([self.seed, int(i), int(self.episodes[i])])
            else:
                rng = self.rng
            self.episodes[i] += 1
            grid = generate_maze(cfg.cells, cfg.porosity, rng)
            sx, sy = (2 * rng.integers(cfg.cells, size=2) + 1).tolist()
            dist = distances_from(grid, sx, sy)
            gy, gx = np.nonzero((dist >= cfg.min_goal_distance) & (np.arange(cfg.size)[:, None] % 2 == 1)
                                & (np.arange(cfg.size)[None, :] % 2 == 1))
            if len(gx) == 0:                  # a start too central for the distance: take the farthest cell
                far = np.flatnonzero(dist.ravel() == dist.max())
                gy, gx = np.unravel_index(far, dist.shape)
            pick = int(rng.integers(len(gx)))
            self.grid[i] = grid
            self.pos[i] = (sx, sy)
            self.heading[i] = rng.integers(4)
            self.goal[i] = (gx[pick], gy[pick])
            self.shortest[i] = dist[gy[pick], gx[pick]]
            self.steps[i] = 0

    def observations(self) -> np.ndarray:
        """(n, obs_dim) egocentric views and headings (see the module docstring)."""
        v, n, size = self.cfg.view, self.n_envs, self.cfg.size
        ahead = (v - 1) - np.arange(v)[:, None]                     # row r is (v − 1 − r) squares ahead
        lateral = np.arange(v)[None, :] - v // 2                    # col c is (c − v//2) squares to the right
        forward, right = DIRECTIONS[self.heading], DIRECTIONS[(self.heading + 1) % 4]
        x = self.pos[:, 0, None, None] + ahead * forward[:, 0, None, None] + lateral * right[:, 0, None, None]
        y = self.pos[:, 1, None, None] + ahead * forward[:, 1, None, None] + lateral * right[:, 1, None, None]
        inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
        rows = np.arange(n)[:, None, None]
        walls = np.where(inside, self.grid[rows, np.clip(y, 0, size - 1), np.clip(x, 0, size - 1)] == WALL, True)
        goal = inside & (x == self.goal[:, 0, None, None]) & (y == self.goal[:, 1, None, None])
        seen = visible_mask(walls)
        view = np.stack([walls & seen, ~walls & ~goal & seen, goal & seen], axis=-1)
        heading = np.eye(4, dtype=np.float32)[self.heading]
        return np.concatenate([view.reshape(n, -1).astype(np.float32), heading], axis=1)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Apply ``actions`` (n,) in {0, 1, 2}; returns (obs, reward, terminated, truncated, info). Mazes whose
        episode ended are reset before the returned observation; ``info['final_obs']`` holds their last view and
        ``info['episode_length']`` / ``info['shortest']`` their length and shortest path (−1 elsewhere)."""
        a = np.asarray(actions)
        if a.shape != (self.n_envs,) or not np.isin(a, (TURN_LEFT, TURN_RIGHT, FORWARD)).all():
            raise ValueError(f"actions must be {self.n_envs} integers in {{0, 1, 2}}, got {actions!r}")
        self.heading = np.where(a == TURN_LEFT, (self.heading - 1) % 4,
                                np.where(a == TURN_RIGHT, (self.heading + 1) % 4, self.heading))
        target = self.pos + DIRECTIONS[self.heading]
        free = self.grid[np.arange(self.n_envs), target[:, 1], target[:, 0]] == FLOOR
        move = (a == FORWARD) & free
        self.pos = np.where(move[:, None], target, self.pos)
        self.steps += 1
        terminated = (self.pos == self.goal).all(axis=1)
        truncated = ~terminated & (self.steps >= self.cfg.max_steps)
        reward = terminated.astype(np.float32)
        done = terminated | truncated
        info = {"episode_length": np.where(done, self.steps, -1), "shortest": np.where(done, self.shortest, -1)}
        if done.any():
            info["final_obs"] = self.observations()
            self.reset_envs(done)
        return self.observations(), reward, terminated, truncated, info


class PorousMazeEnv(gym.Env):
    """One maze in the Gymnasium API (the notebook steps :class:`PorousMazeCore` directly)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, config: PorousMazeConfig | None = None, render_mode: str | None = None) -> None:
        self.cfg = config or PorousMazeConfig()
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, (self.cfg.obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self.core: PorousMazeCore | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.core = PorousMazeCore(self.cfg, 1, int(self.np_random.integers(2 ** 63)))
        return self.core.observations()[0], {"shortest": int(self.core.shortest[0])}

    def step(self, action):
        if self.core is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (left), 1 (right) or 2 (forward), got {action!r}")
        steps_before = int(self.core.steps[0])
        obs, reward, terminated, truncated, info = self.core.step(np.array([int(action)]))
        obs = info["final_obs"][0] if terminated[0] or truncated[0] else obs[0]
        return obs, float(reward[0]), bool(terminated[0]), bool(truncated[0]), {"steps": steps_before + 1}

    def render(self):
        if self.core is None:
            return ""
        chars = np.where(self.core.grid[0] == WALL, "#", ".").astype("<U1")
        gx, gy = self.core.goal[0]
        chars[gy, gx] = "G"
        x, y = self.core.pos[0]
        chars[y, x] = ">v<^"[int(self.core.heading[0])]
        return "\n".join("".join(row) for row in chars)
