"""PorousMaze (hrlkit.envs.porous_maze; check_env runs in test_envs.py): maze generation, motion, views and episodes on
hand-checkable cases."""

import numpy as np
import pytest

from hrlkit.envs.porous_maze import (FLOOR, FORWARD, TURN_LEFT, TURN_RIGHT, WALL, PorousMazeConfig, PorousMazeCore,
                                     distances_from, generate_maze, visible_mask)


@pytest.mark.parametrize("cells", [2, 5, 9])
def test_porosity_zero_is_a_perfect_maze(cells):
    """A spanning tree over the cells: cells² cells plus cells² − 1 passages, every cell reachable."""
    grid = generate_maze(cells, 0.0, np.random.default_rng(cells))
    assert (grid == FLOOR).sum() == cells ** 2 + cells ** 2 - 1
    dist = distances_from(grid, 1, 1)
    assert (dist[1::2, 1::2] >= 0).all()
    assert (grid[0] == WALL).all() and (grid[-1] == WALL).all() and (grid[:, 0] == WALL).all()


def test_porosity_one_is_an_open_room_with_pillars():
    """Every wall between two cells removed: only the border and the (even, even) pillars stay walls."""
    cells = 4
    grid = generate_maze(cells, 1.0, np.random.default_rng(0))
    size = 2 * cells + 1
    inner = grid[1:-1, 1:-1]
    pillars = np.zeros((size, size), dtype=bool)
    pillars[::2, ::2] = True
    assert (inner == np.where(pillars[1:-1, 1:-1], WALL, FLOOR)).all()


def test_porosity_removes_walls_in_proportion():
    cells, porosity = 9, 0.3
    rng = np.random.default_rng(1)
    interior_between = 2 * cells * (cells - 1)                  # wall squares between two cells
    removed = np.mean([(generate_maze(cells, porosity, rng) == FLOOR).sum() - (2 * cells ** 2 - 1)
                       for _ in range(200)])
    remaining = interior_between - (cells ** 2 - 1)             # after the DFS opened cells² − 1 of them
    assert removed == pytest.approx(porosity * remaining, rel=0.05)


def hand_core() -> PorousMazeCore:
    """A 3 × 3-cell open corridor: agent at (1, 1) facing east, goal at (5, 1), wall square at (2, 3)."""
    core = PorousMazeCore(PorousMazeConfig(cells=3, porosity=0.0, max_steps=10, min_goal_distance=2), 1, 0)
    grid = np.full((7, 7), WALL, dtype=np.int8)
    grid[1, 1:6] = FLOOR                    # top corridor
    grid[1:6, 1] = FLOOR                    # left corridor
    core.grid[0] = grid
    core.pos[0], core.heading[0], core.goal[0] = (1, 1), 0, (5, 1)
    core.steps[0], core.shortest[0] = 0, 4
    return core


def test_turns_moves_and_walls():
    core = hand_core()
    core.step(np.array([TURN_LEFT]))        # east → north
    assert core.heading[0] == 3 and tuple(core.pos[0]) == (1, 1)
    core.step(np.array([FORWARD]))          # a wall to the north: no move
    assert tuple(core.pos[0]) == (1, 1)
    core.step(np.array([TURN_RIGHT]))       # north → east
    core.step(np.array([FORWARD]))
    assert tuple(core.pos[0]) == (2, 1) and core.heading[0] == 0


def test_reaching_the_goal_terminates_with_reward_one_and_resets():
    core = hand_core()
    rewards = []
    for _ in range(4):
        _, reward, terminated, truncated, info = core.step(np.array([FORWARD]))
        rewards.append(float(reward[0]))
    assert rewards == [0.0, 0.0, 0.0, 1.0]
    assert terminated[0] and not truncated[0]
    assert info["episode_length"][0] == 4 and info["shortest"][0] == 4
    assert core.steps[0] == 0                                   # a new layout
    assert (core.grid[0][1::2, 1::2] == FLOOR).all()


def test_truncation_after_max_steps():
    core = hand_core()
    for t in range(10):
        _, reward, terminated, truncated, info = core.step(np.array([TURN_LEFT]))
    assert truncated[0] and not terminated[0] and reward[0] == 0.0 and info["episode_length"][0] == 10


def test_view_of_the_hand_maze():
    """Facing east from (1, 1) in the corridor: the corridor ahead in the middle column, walls beside it, the goal
    four squares ahead; squares behind the side walls hidden."""
    core = hand_core()
    obs = core.observations()[0]
    view = obs[:75].reshape(5, 5, 3)
    # middle column (straight ahead), from the agent's row (4) up: floor, floor, floor, floor, goal
    assert [int(view[r, 2].argmax()) for r in (4, 3, 2, 1, 0)] == [1, 1, 1, 1, 2]
    assert view[:, 2].sum(-1).tolist() == [1, 1, 1, 1, 1]
    # to the right of the agent (south): the left corridor at (1, 2), then its continuation (1, 3): floor
    assert int(view[4, 3].argmax()) == 1 and int(view[4, 4].argmax()) == 1
    # to the left (north): the border wall, and beyond it outside the grid reads as wall
    assert int(view[4, 1].argmax()) == 0 and int(view[4, 0].argmax()) == 0
    assert obs[75:].tolist() == [1.0, 0.0, 0.0, 0.0]            # heading east


def test_visibility_stops_at_a_wall_row():
    walls = np.zeros((1, 5, 5), dtype=bool)
    walls[0, 3, :] = True                                       # a full wall one square ahead
    seen = visible_mask(walls)[0]
    assert seen[3].all() and not seen[:3].any() and seen[4].all()


def test_same_seed_same_mazes_and_different_seed_different():
    a, b, c = (PorousMazeCore(PorousMazeConfig(), 4, s) for s in (3, 3, 4))
    assert (a.grid == b.grid).all() and (a.pos == b.pos).all() and (a.goal == b.goal).all()
    assert not (a.grid == c.grid).all()
    rng = np.random.default_rng(0)
    for _ in range(50):
        actions = rng.integers(3, size=4)
        oa, ob = a.step(actions)[0], b.step(actions)[0]
        assert (oa == ob).all()


def test_goal_is_reachable_and_far_enough():
    core = PorousMazeCore(PorousMazeConfig(cells=6, porosity=0.1, min_goal_distance=6), 32, 0)
    for i in range(32):
        d = distances_from(core.grid[i], *core.pos[i])
        assert d[core.goal[i][1], core.goal[i][0]] == core.shortest[i] >= 6


@pytest.mark.parametrize("field, value", [("cells", 1), ("porosity", 1.5), ("view", 4), ("max_steps", 0),
                                          ("min_goal_distance", 0)])
def test_bad_configuration_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        PorousMazeConfig(**{field: value})


def test_bad_actions_fail():
    core = PorousMazeCore(PorousMazeConfig(cells=3, min_goal_distance=2), 2, 0)
    with pytest.raises(ValueError, match="actions"):
        core.step(np.array([0, 3]))
    with pytest.raises(ValueError, match="actions"):
        core.step(np.array([0]))


def test_layout_seeds_give_the_same_mazes_whatever_the_core_stream():
    cfg = PorousMazeConfig(cells=3, porosity=0.3, max_steps=20, min_goal_distance=2)
    a, b = PorousMazeCore(cfg, 3, seed=0), PorousMazeCore(cfg, 3, seed=99)
    for core in (a, b):
        core.reset_envs(np.ones(3, dtype=bool), layout_seeds=[7, 8, 7])
    for name in ("grid", "pos", "heading", "goal", "shortest"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.grid[0], a.grid[2]) and not np.array_equal(a.grid[0], a.grid[1])
    assert np.array_equal(a.observations(), b.observations())
    with pytest.raises(ValueError, match="layout_seeds"):
        a.reset_envs(np.ones(3, dtype=bool), layout_seeds=[1, 2])


def test_per_episode_layouts_match_episode_by_episode_whatever_the_timing():
    cfg = PorousMazeConfig(cells=3, porosity=0.3, max_steps=20, min_goal_distance=2)
    a, b = PorousMazeCore(cfg, 2, seed=5, per_episode=True), PorousMazeCore(cfg, 2, seed=5, per_episode=True)
    assert np.array_equal(a.grid, b.grid) and np.array_equal(a.goal, b.goal)          # first episodes
    a.reset_envs(np.array([True, False]))                   # env 0 of a starts its second episode early
    b.reset_envs(np.array([False, True]))                   # b's env 1 moves on instead
    assert not np.array_equal(a.grid[0], b.grid[0])
    b.reset_envs(np.array([True, False]))                   # now b's env 0 reaches its second episode too
    assert np.array_equal(a.grid[0], b.grid[0]) and np.array_equal(a.pos[0], b.pos[0])
    assert np.array_equal(a.goal[0], b.goal[0]) and a.heading[0] == b.heading[0]
    c = PorousMazeCore(cfg, 2, seed=6, per_episode=True)
    assert not np.array_equal(c.grid, a.grid)
    shared = PorousMazeCore(cfg, 2, seed=5)                 # the default shared stream is unchanged
    assert np.array_equal(shared.grid, PorousMazeCore(cfg, 2, seed=5).grid)
