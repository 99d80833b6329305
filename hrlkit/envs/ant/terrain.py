"""AntTerrain: many MuJoCo Ants stepped in one process, on procedural rough terrain with goals.

The quadruped is the Ant model that ships with Gymnasium (``gymnasium/envs/mujoco/assets/ant.xml``: same bodies,
geoms, joints, masses). The model is edited in memory in five ways, each stated here because they change what is
simulated:

1. **Physics options**: ``timestep`` 0.02 s with the ``implicitfast`` integrator and ``frame_skip`` 2, i.e. 25 Hz
   control (Gymnasium's Ant-v5: RK4 at 0.01 s, frame_skip 5, 20 Hz). RK4 evaluates the dynamics four times per
   step; implicitfast once, and it integrates joint damping implicitly, so the larger step stays stable.
2. **Actuators**: the eight torque motors (gear 150) become PD position servos, torque = k_p (q* − q) − k_d q̇,
   clipped to ±150 like the motors, so an action is a joint-angle target q* (the action space of legged-robot RL and
   of the motion-prior paper). MuJoCo applies the PD law at every physics step.
3. **Ground**: the plane becomes a height field (``hfield``) of smooth random bumps whose highest point is
   ``roughness`` metres (0 = flat), plus ``n_boxes`` box obstacles; both are redrawn at every reset of an env.
4. **Sensors**: a torso IMU (gyro and velocimeter, body frame), per-foot touch, position and velocity, and the
   actuator torques, so that everything a reward or metric needs comes from ``sensordata`` without a loop over
   contacts.
5. **Goals**: each episode has a goal on the ground ``goal_distance`` metres away in a random direction.

Each env has its own ``MjModel`` copy (its own terrain) and ``MjData``. :class:`AntTerrainCore` steps them all,
either in a loop of ``mj_step`` (``threads = 1``: what a worker process of a parallel notebook should use) or with
``mujoco.rollout`` on a thread pool (``threads > 1``). Nothing here is random except through the core's own numpy
``Generator``, so a seed fixes every terrain, start pose, goal and result. :class:`AntTerrainEnv` wraps one env with
the Gymnasium API (``check_env`` passes) and a plain goal-reaching reward; notebooks define their own rewards from
:meth:`AntTerrainCore.observe` and the ``info`` of :meth:`AntTerrainCore.step`.

``benchmarks/ant_speed.py`` measures this core against Gymnasium's ``Ant-v5``.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["AntTerrainConfig", "AntTerrainCore", "AntTerrainEnv", "ant_xml_path", "build_model", "FOOT_NAMES",
           "N_JOINTS", "N_PROPRIO", "SCAN_POINTS"]

FOOT_NAMES: tuple[str, ...] = ("front_left", "front_right", "back_left", "back_right")
#: Actuated joints, in the order of the action vector (Ant's hip_1, ankle_1, …, hip_4, ankle_4).
JOINT_NAMES: tuple[str, ...] = ("hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4", "ankle_4")
N_JOINTS: int = len(JOINT_NAMES)
#: The lower-leg body of each foot (Ant's leg order 1..4 = front left, front right, back left, back right) and the
#: foot tip in that body's frame (the end of its capsule).
_FOOT_TIPS = (("front_left_leg", (0.4, 0.4, 0.0)), ("front_right_leg", (-0.4, 0.4, 0.0)),
              ("back_leg", (-0.4, -0.4, 0.0)), ("right_back_leg", (0.4, -0.4, 0.0)))
#: Height scan: a SCAN_SIDE × SCAN_SIDE grid around the torso, in the torso's heading frame.
SCAN_SIDE: int = 7
SCAN_POINTS: int = SCAN_SIDE * SCAN_SIDE
#: Length of :meth:`AntTerrainCore.proprioception`: joint pos 8, joint vel 8, gravity 3, linear and angular
#: velocity 3 + 3, torso height 1, foot contacts 4.
N_PROPRIO: int = 2 * 8 + 3 + 3 + 3 + 1 + 4


def ant_xml_path() -> Path:
    """Gymnasium's Ant model file (shipped with ``gymnasium``; no download)."""
    # located through the gymnasium package, without importing gymnasium.envs.mujoco (it needs imageio)
    return Path(gym.__file__).parent / "envs" / "mujoco" / "assets" / "ant.xml"


@dataclass(frozen=True)
class AntTerrainConfig:
    timestep: float = 0.02              # physics step (s)
    frame_skip: int = 2                 # physics steps per control step (25 Hz control)
    integrator: str = "implicitfast"    # MuJoCo integrator ("RK4" with 0.01 s × 5 is Gymnasium Ant-v5's physics)
    kp: float = 60.0                    # PD stiffness of the joint servos (N·m/rad)
    kd: float = 2.0                     # PD damping (N·m·s/rad)
    max_torque: float = 150.0           # the Ant motors' gear × ctrl limit
    roughness: float = 0.0              # highest bump of the height field (m); 0 = flat
    bump_cells: int = 6                 # bumps per side of the terrain (smooth noise resolution)
    n_boxes: int = 0                    # box obstacles per terrain
    box_size: tuple[float, float] = (0.2, 0.5)      # half-length range of a box side (m)
    box_height: tuple[float, float] = (0.05, 0.15)  # half-height range of a box (m)
    arena: float = 8.0                  # the terrain is [-arena, arena]² (m)
    hfield_cells: int = 81              # height-field samples per side (0.2 m apart at arena 8)
    goal_distance: tuple[float, float] = (4.0, 6.0)  # goal range from the start (m)
    goal_radius: float = 0.5            # reached when the torso is this close in the plane (m)
    fall_height: float = 0.25           # fallen when the torso is this low above the ground under it (m)
    fall_tilt: float = 0.0              # … or when the torso's up axis has a world-z component below this
    max_steps: int = 500                # control steps per episode (20 s)
    scan_spacing: float = 0.25          # distance between height-scan points (m)

    def __post_init__(self) -> None:
        checks = [("timestep", self.timestep > 0), ("frame_skip", isinstance(self.frame_skip, int)
                                                     and self.frame_skip >= 1),
                  ("roughness", self.roughness >= 0), ("n_boxes", isinstance(self.n_boxes, int) and self.n_boxes >= 0),
                  ("max_steps", isinstance(self.max_steps, int) and self.max_steps >= 1),
                  ("goal_distance", 0 < self.goal_distance[0] <= self.goal_distance[1] < self.arena - 1.0),
                  ("hfield_cells", isinstance(self.hfield_cells, int) and self.hfield_cells >= 3),
                  ("integrator", self.integrator in ("Euler", "implicit", "implicitfast", "RK4"))]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"AntTerrainConfig.{name} has an invalid value: {getattr(self, name)!r}")

    @property
    def control_dt(self) -> float:
        return self.timestep * self.frame_skip


def _ant_xml(cfg: AntTerrainConfig) -> str:
    """Gymnasium's ant.xml with the edits listed in the module docstring."""
    root = ET.parse(ant_xml_path()).getroot()
    option = root.find("option")
    option.set("timestep", repr(cfg.timestep))
    option.set("integrator", cfg.integrator)
    asset, world = root.find("asset"), root.find("worldbody")
    # the hfield's elevation scale is fixed at 1 m; heights are written in metres into hfield_data at reset
    ET.SubElement(asset, "hfield", name="terrain", nrow=str(cfg.hfield_cells), ncol=str(cfg.hfield_cells),
                  size=f"{cfg.arena} {cfg.arena} 1 0.1")
    floor = world.find("geom[@name='floor']")
    for key in ("size", "type", "material", "pos"):
        floor.attrib.pop(key, None)
    floor.set("type", "hfield")
    floor.set("hfield", "terrain")
    for b in range(cfg.n_boxes):   # parked far away until a reset places them
        ET.SubElement(world, "geom", name=f"box_{b}", type="box", size="0.1 0.1 0.1",
                      pos=f"{cfg.arena + 5 + b} {cfg.arena + 5} -1", conaffinity="1", condim="3",
                      rgba="0.5 0.5 0.6 1")
    torso = world.find("body[@name='torso']")
    ET.SubElement(torso, "site", name="imu", pos="0 0 0", size="0.02")
    for (body_name, tip), foot in zip(_FOOT_TIPS, FOOT_NAMES):
        lower_leg = torso.find(f"body[@name='{body_name}']/body/body")
        ET.SubElement(lower_leg, "site", name=f"foot_{foot}", pos=" ".join(map(str, tip)), size="0.1")
    actuator = root.find("actuator")
    for motor in list(actuator):
        joint = motor.get("joint")
        actuator.remove(motor)
        ET.SubElement(actuator, "position", name=f"servo_{joint}", joint=joint, kp=repr(cfg.kp), kv=repr(cfg.kd),
                      ctrllimited="false", forcelimited="true", forcerange=f"{-cfg.max_torque} {cfg.max_torque}")
    # order the servos like JOINT_NAMES
    servos = sorted(list(actuator), key=lambda e: JOINT_NAMES.index(e.get("joint")))
    for e in list(actuator):
        actuator.remove(e)
    actuator.extend(servos)
    sensor = ET.SubElement(root, "sensor")
    ET.SubElement(sensor, "gyro", name="gyro", site="imu")
    ET.SubElement(sensor, "velocimeter", name="velocimeter", site="imu")
    for foot in FOOT_NAMES:
        ET.SubElement(sensor, "touch", name=f"touch_{foot}", site=f"foot_{foot}")
    for foot in FOOT_NAMES:
        ET.SubElement(sensor, "framepos", name=f"pos_{foot}", objtype="site", objname=f"foot_{foot}")
    for foot in FOOT_NAMES:
        ET.SubElement(sensor, "framelinvel", name=f"vel_{foot}", objtype="site", objname=f"foot_{foot}")
    for joint in JOINT_NAMES:
        ET.SubElement(sensor, "actuatorfrc", name=f"torque_{joint}", actuator=f"servo_{joint}")
    return ET.tostring(root, encoding="unicode")


def build_model(cfg: AntTerrainConfig):
    """The edited Ant as an ``mujoco.MjModel`` (flat terrain, boxes parked off the terrain)."""
    import mujoco

    return mujoco.MjModel.from_xml_string(_ant_xml(cfg))


# sensordata layout (see _ant_xml): gyro 3, velocimeter 3, touch 4, foot pos 12, foot vel 12, torques 8
_S_GYRO, _S_VEL, _S_TOUCH = slice(0, 3), slice(3, 6), slice(6, 10)
_S_FOOT_POS, _S_FOOT_VEL, _S_TORQUE = slice(10, 22), slice(22, 34), slice(34, 42)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) -> (N, 3, 3) rotation matrices (body -> world)."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], axis=1)


class AntTerrainCore:
    """``n_envs`` Ants, each on its own terrain, stepped together.

    ``step(targets)`` takes ``(n_envs, 8)`` joint-angle targets in radians (clipped to the joint ranges) and returns
    an ``info`` dict of per-env arrays; episodes that end (``fell``, ``reached``, or ``truncated`` at
    ``max_steps``) are *not* reset automatically: call :meth:`reset` with their indices.
    """

    def __init__(self, config: AntTerrainConfig, n_envs: int, seed: int, threads: int = 1) -> None:
        import mujoco

        if not isinstance(n_envs, int) or n_envs < 1:
            raise ValueError(f"n_envs must be an int >= 1, got {n_envs!r}")
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        self.cfg, self.n, self.threads = config, n_envs, threads
        self.rng = np.random.default_rng(seed)
        base = build_model(config)
        self.models = [copy.copy(base) for _ in range(n_envs)]
        self.datas = [mujoco.MjData(m) for m in self.models]
        self._thread_datas = [mujoco.MjData(base) for _ in range(threads)] if threads > 1 else None
        self.nq, self.nv = base.nq, base.nv
        self.joint_qpos = np.array([base.jnt_qposadr[base.joint(j).id] for j in JOINT_NAMES])
        self.joint_dof = np.array([base.jnt_dofadr[base.joint(j).id] for j in JOINT_NAMES])
        self.joint_range = np.array([base.jnt_range[base.joint(j).id] for j in JOINT_NAMES])   # radians
        self.init_qpos = base.key_qpos[0].copy() if base.nkey else None
        self.box_ids = [base.geom(f"box_{b}").id for b in range(config.n_boxes)]
        self.hfield_adr = int(base.hfield_adr[0])
        cells = config.hfield_cells
        self.heights = np.zeros((n_envs, cells, cells))          # metres; row = y, column = x
        self.boxes = np.zeros((n_envs, config.n_boxes, 5))       # cx, cy, half-x, half-y, top height
        self.goal = np.zeros((n_envs, 2))
        self.roughness = np.full(n_envs, config.roughness)      # per env (reset(..., roughness=...) changes it)
        self.steps = np.zeros(n_envs, dtype=int)
        self.prev_goal_distance = np.zeros(n_envs)
        self.qpos = np.zeros((n_envs, self.nq))
        self.qvel = np.zeros((n_envs, self.nv))
        self.sensors = np.zeros((n_envs, base.nsensordata))
        self._nstate = mujoco.mj_stateSize(base, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        offsets = (np.arange(SCAN_SIDE) - SCAN_SIDE // 2) * config.scan_spacing
        gx, gy = np.meshgrid(offsets, offsets, indexing="xy")
        self._scan_local = np.stack([gx.ravel(), gy.ravel()], -1)   # (P, 2) in the heading frame
        self._rows = np.arange(n_envs)
        self.reset()

    @property
    def scan_local(self) -> np.ndarray:
        """(SCAN_POINTS, 2) offsets of the height-scan points in the torso's heading frame (m), in scan order."""
        return self._scan_local.copy()

    # ------------------------------------------------------------------ terrain

    def _draw_heights(self, roughness: float) -> np.ndarray:
        """Smooth random bumps: a coarse uniform grid, smoothstep-upsampled, scaled to [0, roughness]."""
        cfg, cells = self.cfg, self.cfg.hfield_cells
        if roughness == 0:
            return np.zeros((cells, cells))
        coarse = self.rng.uniform(0.0, 1.0, size=(cfg.bump_cells + 1, cfg.bump_cells + 1))
        axis = np.linspace(0, cfg.bump_cells, cells)
        i0 = np.minimum(axis.astype(int), cfg.bump_cells - 1)
        frac = axis - i0
        smooth = frac * frac * (3 - 2 * frac)                 # smoothstep between the coarse samples
        rows = coarse[i0] * (1 - smooth)[:, None] + coarse[i0 + 1] * smooth[:, None]
        grid = rows[:, i0] * (1 - smooth)[None, :] + rows[:, i0 + 1] * smooth[None, :]
        fine = self.rng.uniform(0.0, 0.3, size=(cells, cells))   # small-scale roughness
        grid = grid + fine
        return roughness * (grid - grid.min()) / max(grid.max() - grid.min(), 1e-9)

    def ground_height(self, env: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Height of terrain + boxes at points ``xy`` (..., 2) of envs ``env`` (broadcast with xy[..., 0])."""
        cfg, cells = self.cfg, self.cfg.hfield_cells
        # bilinear interpolation of the grid (MuJoCo's height field is piecewise linear over the same grid)
        u = np.clip((xy[..., 0] + cfg.arena) / (2 * cfg.arena) * (cells - 1), 0, cells - 1)
        v = np.clip((xy[..., 1] + cfg.arena) / (2 * cfg.arena) * (cells - 1), 0, cells - 1)
        c0, r0 = np.minimum(u.astype(int), cells - 2), np.minimum(v.astype(int), cells - 2)
        fu, fv = u - c0, v - r0
        grid = self.heights
        h = ((1 - fv) * ((1 - fu) * grid[env, r0, c0] + fu * grid[env, r0, c0 + 1])
             + fv * ((1 - fu) * grid[env, r0 + 1, c0] + fu * grid[env, r0 + 1, c0 + 1]))
        if cfg.n_boxes:
            boxes = self.boxes[env]                                   # (..., B, 5)
            inside = ((np.abs(xy[..., None, 0] - boxes[..., 0]) <= boxes[..., 2])
                      & (np.abs(xy[..., None, 1] - boxes[..., 1]) <= boxes[..., 3]))
            h = np.maximum(h, np.where(inside, boxes[..., 4], 0.0).max(-1))
        return h

    # ------------------------------------------------------------------ episodes

    def reset(self, envs=None, roughness=None) -> None:
        """New terrain, boxes, start pose and goal for ``envs`` (all when None). ``roughness`` (a scalar or one value
        per env in ``envs``) sets their terrain's highest bump from now on (a curriculum); default: unchanged."""
        import mujoco

        cfg = self.cfg
        envs = np.arange(self.n) if envs is None else np.atleast_1d(np.asarray(envs, dtype=int))
        if roughness is not None:
            values = np.broadcast_to(np.asarray(roughness, dtype=float), envs.shape)
            if (values < 0).any() or not np.isfinite(values).all():
                raise ValueError(f"roughness must be finite and >= 0, got {roughness!r}")
            self.roughness[envs] = values
        for i in envs:
            model, data = self.models[i], self.datas[i]
            self.heights[i] = self._draw_heights(float(self.roughness[i]))
            cells = cfg.hfield_cells
            model.hfield_data[self.hfield_adr:self.hfield_adr + cells * cells] = self.heights[i].ravel()
            heading = self.rng.uniform(-np.pi, np.pi)
            distance = self.rng.uniform(*cfg.goal_distance)
            self.goal[i] = distance * np.array([np.cos(heading), np.sin(heading)])
            for b, gid in enumerate(self.box_ids):
                # boxes anywhere on the terrain except within 1 m of the start and of the goal
                while True:
                    centre = self.rng.uniform(-cfg.arena + 1.0, cfg.arena - 1.0, size=2)
                    if np.linalg.norm(centre) > 1.0 and np.linalg.norm(centre - self.goal[i]) > 1.0:
                        break
                half = self.rng.uniform(*cfg.box_size, size=2)
                half_h = self.rng.uniform(*cfg.box_height)
                base = self.heights[i][np.rint((centre[1] + cfg.arena) / (2 * cfg.arena) * (cells - 1)).astype(int),
                                       np.rint((centre[0] + cfg.arena) / (2 * cfg.arena) * (cells - 1)).astype(int)]
                model.geom_pos[gid] = [centre[0], centre[1], base + half_h]
                model.geom_size[gid] = [half[0], half[1], half_h]
                self.boxes[i, b] = [centre[0], centre[1], half[0], half[1], base + 2 * half_h]
            mujoco.mj_resetData(model, data)
            qpos = data.qpos.copy()
            qpos[2] = 0.75 + self.heights[i][cells // 2, cells // 2]
            yaw = self.rng.uniform(-np.pi, np.pi)
            qpos[3:7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
            qpos[self.joint_qpos] = self.rng.uniform(-0.1, 0.1, N_JOINTS) + self.default_pose
            data.qpos[:] = qpos
            data.qvel[:] = self.rng.normal(0.0, 0.1, self.nv)
            data.ctrl[:] = qpos[self.joint_qpos]
            mujoco.mj_forward(model, data)
            self.qpos[i], self.qvel[i], self.sensors[i] = data.qpos, data.qvel, data.sensordata
            self.steps[i] = 0
            self.prev_goal_distance[i] = np.linalg.norm(self.goal[i] - qpos[:2])
        self._refresh()

    @property
    def default_pose(self) -> np.ndarray:
        """Ant's standing pose (hips centred, ankles as in Gymnasium's init_qpos)."""
        return np.array([0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0])

    def clip_targets(self, targets: np.ndarray) -> np.ndarray:
        return np.clip(targets, self.joint_range[:, 0], self.joint_range[:, 1])

    def step(self, targets: np.ndarray) -> dict:
        """Advance every env by one control step towards joint targets ``targets`` (n_envs, 8), radians."""
        import mujoco

        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (self.n, N_JOINTS):
            raise ValueError(f"targets must have shape ({self.n}, {N_JOINTS}), got {targets.shape}")
        if not np.isfinite(targets).all():
            raise FloatingPointError("AntTerrainCore.step: non-finite joint targets")
        targets = self.clip_targets(targets)
        prev_qvel = self.qvel.copy()
        if self.threads == 1:
            for i, (model, data) in enumerate(zip(self.models, self.datas)):
                data.ctrl[:] = targets[i]
                mujoco.mj_step(model, data, nstep=self.cfg.frame_skip)
                self.qpos[i], self.qvel[i], self.sensors[i] = data.qpos, data.qvel, data.sensordata
        else:
            self._rollout_step(targets)
        self.steps += 1
        return self._info(targets, prev_qvel)

    def _rollout_step(self, targets: np.ndarray) -> None:
        import mujoco
        from mujoco import rollout

        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        state = np.empty((self.n, self._nstate))
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            mujoco.mj_getState(model, data, state[i], spec)
        control = np.repeat(targets[:, None, :], self.cfg.frame_skip, axis=1)
        states, sensors = rollout.rollout(self.models, self._thread_datas, state, control,
                                          persistent_pool=True)
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            mujoco.mj_setState(model, data, states[i, -1], spec)
            data.ctrl[:] = targets[i]
            self.qpos[i], self.qvel[i] = data.qpos, data.qvel
        self.sensors[:] = sensors[:, -1]

    def _refresh(self) -> None:
        """Per-step quantities used by both ``step``'s info and ``observe``: torso rotation and height."""
        self._rot = _quat_to_matrix(self.qpos[:, 3:7])                      # body -> world
        self._height = self.qpos[:, 2] - self.ground_height(self._rows, self.qpos[:, :2])

    def _info(self, targets: np.ndarray, prev_qvel: np.ndarray) -> dict:
        cfg = self.cfg
        self._refresh()
        xy = self.qpos[:, :2]
        height = self._height
        up_z = self._rot[:, 2, 2]
        fell = (height < cfg.fall_height) | (up_z < cfg.fall_tilt)
        distance = np.linalg.norm(self.goal - xy, axis=1)
        progress = self.prev_goal_distance - distance
        self.prev_goal_distance = distance
        reached = distance < cfg.goal_radius
        foot_vel = self.sensors[:, _S_FOOT_VEL].reshape(self.n, 4, 3)
        contact = self.sensors[:, _S_TOUCH] > 0
        joint_vel = self.qvel[:, self.joint_dof]
        return {
            "progress": progress, "goal_distance": distance, "reached": reached, "fell": fell,
            "truncated": (self.steps >= cfg.max_steps) & ~reached & ~fell,
            "height": height, "targets": targets,
            "torque": self.sensors[:, _S_TORQUE],
            "joint_acc": (joint_vel - prev_qvel[:, self.joint_dof]) / cfg.control_dt,
            "foot_contact": contact,
            "foot_slip": (np.linalg.norm(foot_vel[..., :2], axis=-1) * contact).sum(-1),
        }

    # ------------------------------------------------------------------ observations

    def observe(self) -> dict:
        """Per-env observation parts (all float64, body frame where it says so)."""
        rot = self._rot                                           # body -> world
        yaw = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
        c, s = np.cos(yaw), np.sin(yaw)
        to_goal = self.goal - self.qpos[:, :2]
        goal_body = np.stack([c * to_goal[:, 0] + s * to_goal[:, 1], -s * to_goal[:, 0] + c * to_goal[:, 1]], -1)
        local = self._scan_local
        world = self.qpos[:, None, :2] + np.stack([c[:, None] * local[:, 0] - s[:, None] * local[:, 1],
                                                   s[:, None] * local[:, 0] + c[:, None] * local[:, 1]], -1)
        scan = self.qpos[:, 2:3] - self.ground_height(self._rows[:, None], world)
        return {
            "joint_pos": self.qpos[:, self.joint_qpos], "joint_vel": self.qvel[:, self.joint_dof],
            "gravity": -rot[:, 2, :],                              # world −z in the body frame
            "lin_vel": self.sensors[:, _S_VEL], "ang_vel": self.sensors[:, _S_GYRO],
            "height": self._height.copy(),
            "foot_contact": (self.sensors[:, _S_TOUCH] > 0).astype(float),
            "height_scan": scan, "goal_body": goal_body,
            "goal_distance": np.linalg.norm(to_goal, axis=1), "xy": self.qpos[:, :2].copy(),
            "foot_pos": self.sensors[:, _S_FOOT_POS].reshape(self.n, 4, 3),
        }

    def proprioception(self, obs: dict | None = None) -> np.ndarray:
        """(n_envs, N_PROPRIO): joint pos and vel, gravity in the body frame, body velocities, height, contacts."""
        o = self.observe() if obs is None else obs
        return np.concatenate([o["joint_pos"], 0.1 * o["joint_vel"], o["gravity"], o["lin_vel"],
                               0.25 * o["ang_vel"], o["height"][:, None], o["foot_contact"]], axis=1)

    def close(self) -> None:
        if self.threads > 1:
            from mujoco import rollout

            rollout.shutdown_persistent_pool()


class AntTerrainEnv(gym.Env):
    """One AntTerrain env with the Gymnasium API.

    Observation: proprioception (N_PROPRIO = 30), height scan relative to the torso (49), goal in the heading
    frame (2).
    Action: joint targets normalised to [-1, 1] over each joint's range. Reward: progress towards the goal (m)
    + 1 on reaching it − 1 on falling; the episode terminates on either and truncates at ``max_steps``.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: AntTerrainConfig | None = None) -> None:
        self.cfg = config or AntTerrainConfig()
        self.core: AntTerrainCore | None = None
        high = np.full(N_PROPRIO + SCAN_POINTS + 2, np.inf, dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (N_JOINTS,), dtype=np.float32)

    def _obs(self) -> np.ndarray:
        o = self.core.observe()
        return np.concatenate([self.core.proprioception(o)[0], o["height_scan"][0], o["goal_body"][0]]
                              ).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.core is None or seed is not None:
            self.core = AntTerrainCore(self.cfg, 1, seed=int(self.np_random.integers(2 ** 31)))
        else:
            self.core.reset()
        return self._obs(), {}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        low, high = self.core.joint_range[:, 0], self.core.joint_range[:, 1]
        info = self.core.step(((low + high) / 2 + action * (high - low) / 2)[None, :])
        reward = float(info["progress"][0] + info["reached"][0] - info["fell"][0])
        terminated = bool(info["reached"][0] or info["fell"][0])
        return self._obs(), reward, terminated, bool(info["truncated"][0]), {}
