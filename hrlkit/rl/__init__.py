"""RL cores shared by the notebooks (one package, so a notebook's DVC stage depends on all of it at once).

* :mod:`hrlkit.rl.core` -- PPO / actor-critic: GAE, the clipped surrogate, distribution heads, ``ActorCritic``.
  Its names are re-exported here, so ``from hrlkit import rl; rl.ppo_update(...)`` works.
* :mod:`hrlkit.rl.options` -- the Double Actor-Critic (DAC) option composition (Zhang & Whiteson 2019).
* :mod:`hrlkit.rl.marl` -- MAPPO pieces (shared actors with agent ids, centralised critic, per-agent GAE,
  sequence minibatches) and attention over entities.
* :mod:`hrlkit.rl.onpolicy` -- on-policy rollout collection for batched envs (observation normalisation, the
  time-limit bootstrap, GAE) feeding ``core.ppo_update``.

Within the package, ``options`` imports nothing from hrlkit; ``marl`` and ``onpolicy`` import only ``core``.
"""

from hrlkit.rl.core import *  # noqa: F401,F403  (the public names are core.__all__)
from hrlkit.rl.core import __all__  # noqa: F401
