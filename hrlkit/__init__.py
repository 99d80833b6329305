"""hrlkit — the thin shared toolkit of hrl-repro.

Layers (each module imports only from the layers above it):

1. ``seeding``, ``provenance``, ``params``      — no torch-free deps beyond numpy
2. ``stats``                                     — bootstrap CIs, IQM, probability of improvement
3. ``claims``, ``runs``, ``figures``             — verdicts, metrics.json, runs.csv, provenance-tagged figures
4. ``parallel``                                  — methods × seeds × conditions over processes
5. ``rl``, ``envs``, ``lm``, ``tasks``           — PPO/actor-critic core, Gymnasium environments, tiny LM
                                                   policies + GRPO pieces, synthetic task families
6. ``report``                                    — HTML rendering and the scorecard (pipeline only)

Import submodules explicitly (``from hrlkit import stats``); this file imports nothing heavy.
"""

__version__ = "0.1.0"
