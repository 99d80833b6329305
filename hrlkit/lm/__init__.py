"""Tiny language-model policies and the RL pieces the LM papers share (Share-GRPO, DeepRec, Tool-Star, FRANK).

| module                     | what                                                                              |
|----------------------------|-----------------------------------------------------------------------------------|
| :mod:`hrlkit.lm.tiny`      | hand-written causal LM policy: KV-cached batched sampling, masks, log-probs        |
| :mod:`hrlkit.lm.hf`        | a ``transformers`` causal LM behind the same interface (no download)              |
| :mod:`hrlkit.lm.grpo`      | GRPO / Share-GRPO advantages, token-level clipped loss, KL estimator              |
| :mod:`hrlkit.lm.vlm`       | the GridMath "MLLM": fixed visual encoder + learnable projector + LM policy        |
| :mod:`hrlkit.lm.warmup`    | supervised warm-up of that policy (the "base model"), a cached DVC stage          |
"""
