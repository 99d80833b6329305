"""Tiny language-model policies and the RL pieces the LM papers share (Share-GRPO, DeepRec, Tool-Star, FRANK)."""
