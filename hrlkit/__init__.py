"""hrlkit — the thin shared toolkit of hrl-repro.

Layers (each module imports only from its own layer or the layers above it; tests/test_layers.py checks it):

1. ``seeding``, ``provenance``, ``params``,        — seeding and devices, where files come from, the parameter
   ``store``, ``spec``                              declaration; raw results on disk, what determines them
2. ``stats``                                     — bootstrap CIs, IQM, pairing, power, Holm
3. ``display``, ``claims``, ``runs``, ``figures``  — escaped tables and prose; verdicts, facts, metrics.json; runs.csv
                                                   and the raw-results loader; figures with provenance
4. ``parallel``, ``runner``, ``tune``              — tasks over processes; stored tasks; equal-budget tuning
5. ``rl``, ``mbrl``, ``envs``, ``lm``, ``tasks``,  — RL cores, model-based RL (Dreamer-style world model,
   ``tasks.preference``                            λ-returns), environments, tiny LM policies, task families;
                                                   preference-optimisation losses (DPO)
6. ``report``, ``pipeline``                        — HTML and the scorecard; the DVC stages

Import submodules explicitly (``from hrlkit import stats``); this file imports nothing heavy.
"""

__version__ = "0.1.0"
