"""Synthetic task families for the language-model notebooks (numpy only, no torch).

| module                            | task                                                   | notebooks        |
|-----------------------------------|--------------------------------------------------------|------------------|
| :mod:`hrlkit.tasks.gridmath`      | GridMath: "multimodal math" on a 4×4 grid of coloured   | Share-GRPO,      |
|                                   | digits, answered as ``<think> … </think> <box> n </box>`` | FRANK            |

Import submodules explicitly (``from hrlkit.tasks import gridmath``); this file imports nothing.
"""
