# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Share-GRPO: sharing reasoning trajectories over an expanded question space, with a hierarchical advantage
#
# **Paper.** Huanjin Yao, Qixiang Yin, Jingyi Zhang, Min Yang, Yibo Wang, Wenhao Wu, Fei Su, Li Shen, Minghui Qiu,
# Dacheng Tao, Jiaxing Huang. *R1-ShareVL: Incentivizing Reasoning Capability of Multimodal Large Language Models
# via Share-GRPO*, arXiv [2505.16673](https://arxiv.org/abs/2505.16673) (May 2025). Code: `HJYao00/R1-ShareVL`
# (an EasyR1/verl fork); the advantage and batch layout below follow that code.
#
# **The hierarchy.** The hierarchy is in the advantage. Each training question is expanded into $m$ variants
# (paraphrased text, and with probability `transform_prob` a transformed image with an explanatory prefix). The policy samples
# $n$ responses per variant, and every response is re-paired with every variant prompt: $m^2 n$ (prompt, response)
# pairs per question. A response is then judged at two levels. The **global** level compares it with the whole
# question family (all $m^2 n$ pairs). The **local** level compares it with the $n$ responses generated from its own
# variant, and applies only when the response is paired with the prompt that generated it. Sharing attacks sparse
# reward and advantage vanishing: a question whose own $n$ samples all fail can still learn from a variant that
# succeeded.
#
# **Reproduced.**
# - The question-space expansion: $m$ of the paraphrase templates drawn without replacement (the original wording
#   is not guaranteed to be among them, as in the code), and image transforms with the code's probability
#   (`transform_prob`) plus the explanatory prefix.
# - The re-pairing into $m^2 n$ pairs in the authors' slot order.
# - The hierarchical advantage exactly as in the code (unbiased σ, ε = 1e-6).
# - The token-level PPO-clip loss with dual clip (Eq. 8 as verl implements it) and the 0.9·accuracy + 0.1·format
#   reward.
# - The paper's baselines (GRPO; GRPO with the same augmentation) and ablations (without the local term, without
#   cross-variant pairing), with the same number of generated responses per step. The advantage-vanishing curve
#   (Fig. 1b) and the accuracy tables (accuracy against $m$ and $n$ when the sensitivity runs are on).
#
# **Scaled or reconstructed.**
# - The MLLM is a tiny causal transformer (its size is in the deviations table) behind a fixed random visual encoder
#   and a learnable projector.
# - The benchmarks are GridMath, a synthetic visual-arithmetic task family (`hrlkit.tasks.gridmath`), with an
#   in-distribution split and a harder split with more cells involved.
# - The GPT-4o rewrites are replaced by fixed paraphrase templates.
# - The base model is a supervised warm-up that misreads some wordings of three question types (it answers "sum of
#   the red digits" as if asked to count the red cells, for some of its wordings): its success depends on the
#   wording, so the regime the paper targets (a question whose own samples all fail while a variant succeeds) exists,
#   and can persist under training (see the warm-up section, the regime figures and the deviations).
# - Runs are `rl_steps` RL steps (params.yaml) instead of thousands.

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # one RL run per method and seed
tuning_seeds = [100]              # tuning and pilot seeds, disjoint from `seeds`
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/share_grpo"    # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/share_grpo/runs"  # raw per-task results: stored once, loaded on every later run
tuning_dir = "scratch/share_grpo/tuning"  # raw tuning trials, stored the same way
tuning_budget = 1                 # learning rates tried per method (the same for every method)
device = "auto"                   # "auto" (CUDA when present), "cpu" or "cuda"
methods = ["share-grpo", "grpo", "grpo-aug", "share-grpo-no-local", "share-grpo-no-cross"]  # the first is ours
lm_backend = "tiny"               # "tiny": hand-written LM; "hf": transformers Llama of the same size
warmup_checkpoint = "data/share_grpo/warmup.pt"  # base model from the warm-up DVC stage
warmup_section = "share_grpo_warmup"  # params.yaml section with the warm-up settings
rl_steps = 8                      # RL steps (one rollout batch each)
questions_per_step = 4            # original questions per rollout batch
variants_m = 2                    # m, question variants per question
samples_n = 4                     # n, responses per variant (GRPO samples m times n from the original)
transform_prob = 0.3              # probability that a variant's image is transformed
max_new_tokens = 40               # response length limit
temperature = 1.0                 # sampling temperature of rollouts
top_p = 0.99                      # nucleus of rollouts
ppo_minibatches = 2               # gradient steps per rollout batch (split by question)
clip_eps = 0.2                    # PPO clip range
dual_clip = 3.0                   # dual-clip constant c for negative advantages
max_grad_norm = 1.0               # gradient-norm clip
eval_every = 4                    # RL steps between evaluations of test accuracy
eval_problems = 32                # held-out problems per evaluation during training (and tuning's validation set)
probe_questions = 16              # questions of the training-free probe at the mid-run checkpoints
warmup_probe_questions = 32       # questions of the training-free probe at the warm-up (one checkpoint: more)
final_eval_problems = 64          # held-out problems per split at the end
smooth_window = 4                 # steps in the rolling mean of training curves and drawdowns
early_fraction = 0.25             # share of the run counted as early training
sensitivity_m = [1, 3]            # extra values of m for Share-GRPO, n fixed at samples_n
sensitivity_n = []                # extra values of n for Share-GRPO, m fixed at variants_m
sensitivity_seeds = [0]           # seeds of the sensitivity runs
stress_learning_rate = 1e-4       # the stability test (C4-stress): Share-GRPO and its no-local ablation at this step
stress_seeds = [0]                # size, on these seeds (a step size where the tuning trials degrade)

# %% [markdown]
# What each parameter may be: checked in the setup cell below before any compute (and on params.yaml by the
# pipeline). A wrong value, a NaN, a float where an integer is needed, a repeated list entry, a missing file or an
# unknown name fails there, naming the parameter and what is allowed.

# %% tags=["schema"]
from pydantic import model_validator

from hrlkit import params as P
from hrlkit.lm.vlm import BACKENDS
from hrlkit.pipeline import load_params
from hrlkit.tasks.gridmath import N_TEMPLATES

SLUG = "share_grpo"
ALL_METHODS = ("share-grpo", "grpo", "grpo-aug", "share-grpo-no-local", "share-grpo-no-cross")
OURS = "share-grpo"


class ShareGRPOParameters(P.Parameters):
    tuning_seeds: P.Seeds
    tuning_dir: P.OutDir
    tuning_budget: P.Int(ge=1, le=3)
    methods: P.Subset(*ALL_METHODS, first=OURS)
    lm_backend: P.Choice(*BACKENDS)
    warmup_checkpoint: P.FilePath
    warmup_section: P.Text
    rl_steps: P.Int(ge=1)
    questions_per_step: P.Int(ge=1)
    variants_m: P.Int(ge=1, le=N_TEMPLATES)
    samples_n: P.Int(ge=1)
    transform_prob: P.Number(ge=0, le=1)
    max_new_tokens: P.Int(ge=1)
    temperature: P.Number(gt=0)
    top_p: P.Number(gt=0, le=1)
    ppo_minibatches: P.Int(ge=1)
    clip_eps: P.Number(gt=0, le=1)
    dual_clip: P.Number(gt=1)
    max_grad_norm: P.Number(gt=0)
    eval_every: P.Int(ge=1)
    eval_problems: P.Int(ge=1)
    final_eval_problems: P.Int(ge=1)
    probe_questions: P.Int(ge=1)
    warmup_probe_questions: P.Int(ge=1)
    smooth_window: P.Int(ge=1)
    early_fraction: P.Number(gt=0, le=1)
    sensitivity_m: P.UniqueList(P.Int(ge=1, le=N_TEMPLATES), min_len=0)
    sensitivity_n: P.UniqueList(P.Int(ge=1), min_len=0)
    sensitivity_seeds: P.Seeds
    stress_learning_rate: P.Number(gt=0, le=1e-2)
    stress_seeds: P.UniqueList(P.Int(ge=0), min_len=0)

    @model_validator(mode="after")
    def relations(self):
        P.require(self.ppo_minibatches <= self.questions_per_step, "ppo_minibatches", self.ppo_minibatches,
                  f"must be <= questions_per_step = {self.questions_per_step} (minibatches split by question)")
        P.require(set(self.sensitivity_seeds) <= set(self.seeds), "sensitivity_seeds", self.sensitivity_seeds,
                  f"must be among seeds {self.seeds} (the sensitivity figure compares with their main runs)")
        P.require(set(self.stress_seeds) <= set(self.seeds), "stress_seeds", self.stress_seeds,
                  f"must be among seeds {self.seeds} (the stress runs are paired with the main runs' question "
                  "streams)")
        P.require(isinstance(load_params().get(self.warmup_section), dict), "warmup_section", self.warmup_section,
                  "is not a section of params.yaml")
        return self


# %% [markdown]
# ## Setup: parameter check, imports, seeding

# %%
PARAMS = ShareGRPOParameters.from_notebook(globals())   # fails here, naming the parameter, before any compute

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from hrlkit import figures, runs, stats, tune
from hrlkit.claims import Claim, ClaimsTable, build_metrics, headline_entry, write_metrics
from hrlkit.lm import grpo
from hrlkit.lm.tiny import count_parameters
from hrlkit.lm.vlm import build_policy, score_responses
from hrlkit.lm.warmup import WarmupConfig, greedy_accuracy, load_or_warmup
from hrlkit.provenance import repo_root
from hrlkit.runner import Runner
from hrlkit.seeding import derive_seed, resolve_device, seed_everything
from hrlkit.tasks import gridmath as gm

PAPER = {"slug": SLUG, "arxiv": "2505.16673",
         "title": "R1-ShareVL: Incentivizing Reasoning Capability of Multimodal Large Language Models via "
                  "Share-GRPO"}
WARMUP_CONFIG = WarmupConfig.from_dict({**load_params()[warmup_section], "backend": lm_backend})

DEVICE = resolve_device(device)
OUT = runs.prepare_out_dir(out_dir)
clock = runs.WallClock()
figures.set_theme()
seed_everything(0)      # the notebook's own streams; every task reseeds from its own seed
SAVE = dict(out_dir=OUT, slug=SLUG, params=PARAMS)
print(f"profile={profile} workers={workers} device={DEVICE} out_dir={out_dir}")

# %% [markdown]
# ## Task: GridMath, a synthetic "multimodal math" family
#
# An image is a 4×4 grid of cells, each with a colour and a digit. It reaches the LM as 16 visual tokens: one-hot
# (colour, digit, row, column) features through a fixed random encoder, then a learnable linear projector (the
# MLLM projector). Five question types are each written with four paraphrase templates: sum of the digits of one
# colour, count of one colour, largest digit of a row, diagonal sum, and count of digits above a threshold. The
# answer is an integer, and the expected response is `<think> chain </think> <box> n </box>`. The *difficulty* is
# the number of cells involved. The in-distribution (ID) split has 1–4 cells; the hard split has 5–8 cells, and
# only the three question types whose difficulty can vary.
#
# A **question variant** (R1-ShareVL `dataset.py`) keeps the question and the answer. It rewords the text with
# another template. With probability `transform_prob` it also applies one image transform: rotation by ±90° or 180°, a
# vertical, horizontal or double flip, or re-colouring cells that cannot change the answer (the noise analogue).
# It then prefixes the question with an explanatory sentence saying how to undo the transform.

# %%
_rng = np.random.default_rng(7)
_example = gm.sample_problem(_rng, split="train", qtypes=["sum_colour"], template=0)
for _variant in [_example, gm.make_variant(_example, _rng, template=2, force_transform="rot90cw")]:
    print("question:", " ".join(_variant.question))
    print("image (colour index, digit) rows:", _variant.grid.tolist())
print("target:  ", " ".join(gm.target_words(_example)))
# reward (R1-ShareVL math.py): 0.9 * accuracy(boxed answer) + 0.1 * format(<think> .. </think> <box> .. </box>)
print("reward of the target:", gm.reward(gm.target_words(_example), _example.answer))

# %% [markdown]
# ### The base model: a supervised warm-up (its own cached DVC stage)
#
# R1-ShareVL starts RL from a base MLLM whose pass@1 is low (sparse reward) and whose success depends on how a
# question is put: the regime its sharing is for is a question whose own samples all fail while a rewording of it
# succeeds. `hrlkit.lm.warmup` builds that starting point once, shared by every method and seed, by SFT on the full
# reasoning chains, except that some wordings are **misread**: for some of the paraphrase templates of "sum of
# the digits of a colour", "count of a colour" and "largest digit of a row", the target is, with probability
# `misread_prob`, the chain and answer of another question on the same grid (the count instead of the sum and the
# other way round; the count of digits above r instead of the largest digit of row r). The templates misread differ
# per question type, so no single word or template index marks a misreading. The base model then answers the
# misread wordings mostly wrong and the others as well as its arithmetic allows; GRPO can still learn the misread
# wordings from its rare successes (`misread_prob` < 1), only more slowly than a method that shares a correct
# response found under another wording. The checkpoint is `data/share_grpo/warmup.pt`, produced by `dvc repro
# share_grpo_warmup` from the `share_grpo_warmup` section of params.yaml. With `lm_backend = "hf"` the same warm-up
# is trained here on the transformers Llama.
#
# **How the misreading was chosen (a pilot, before any RL run of this version).** The misread templates were fixed
# by hand so that they differ per question type. Two values of `misread_prob` were tried on the warm-up alone
# (greedy pass@1 on 512 held-out problems): 0.75 left misread / clear wordings at 0.093 / 0.389, and 0.9 at
# 0.062 / 0.349. The larger gap was kept; no other setting was tried. **This is a favourable, constructed case**: a
# deterministic swap of the question type per wording, which a correct response re-paired with the misread prompt
# corrects almost as supervised fine-tuning would. A null result here weighs against the claim; a positive one does
# not show that the regime occurs in the paper's setting.

# %%
BASE_POLICY, WARMUP_LOG, _loaded = load_or_warmup(repo_root() / warmup_checkpoint, WARMUP_CONFIG)
BASE_STATE = {k: v.detach().clone() for k, v in BASE_POLICY.state_dict().items()}
MISREAD_TEXT = "; ".join(f"{qtype}: templates {', '.join(str(t) for t in templates)}"
                         for qtype, templates in WARMUP_CONFIG.misread.items())
print(f"warm-up {'loaded from ' + warmup_checkpoint if _loaded else 'trained in this notebook'}: "
      f"{count_parameters(BASE_POLICY)} parameters ({lm_backend} LM), {WARMUP_CONFIG.steps} SFT steps, misread "
      f"wordings ({MISREAD_TEXT}) with probability {WARMUP_CONFIG.misread_prob:g} (its accuracy on the held-out "
      "problems is in the facts table)")


# %%
def fixed_eval_set(split: str, count: int, purpose: str = "share_grpo-eval") -> list:
    """Held-out original questions (random paraphrase, no transform), the same for every method and seed."""
    rng = np.random.default_rng(derive_seed(purpose, split))
    return [gm.sample_problem(rng, split=split) for _ in range(count)]


EVAL_SETS = {split: fixed_eval_set(split, final_eval_problems) for split in gm.SPLITS}
# tuning selects on its own held-out problems, never on the test sets above
VALIDATION_SET = fixed_eval_set("train", eval_problems, "share_grpo-validation")


def accuracies(policy, problems: list, prefix: str) -> dict:
    """Greedy pass@1 on ``problems``, overall and split by whether the warm-up misreads the wording; the 0/1
    outcome of every problem too (``<prefix>_items``: subsets and CIs over problems need them)."""
    correct = greedy_accuracy(policy, problems, max_new_tokens=max_new_tokens)
    misread = np.array([WARMUP_CONFIG.is_misread(p) for p in problems])
    out = {prefix: float(correct.mean())}
    for name, where in (("misread", misread), ("clear", ~misread)):
        if where.any():
            out[f"{prefix}_{name}"] = float(correct[where].mean())
    out[f"{prefix}_items"] = correct.astype(int).tolist()
    return out


@torch.no_grad()
def final_evaluation(policy) -> dict:
    """Greedy pass@1 per split; on the ID split also on the misread and the clear wordings."""
    return {**accuracies(policy, EVAL_SETS["train"], "final_accuracy_id"),
            **accuracies(policy, EVAL_SETS["hard"], "final_accuracy_hard")}

# %% [markdown]
# ## Method: Share-GRPO
#
# **Question-space expansion** (R1-ShareVL `dataset.py`). The original question and its rewrites form the pool of
# texts. The code draws $m$ of them with `random.sample`, so the original wording is not guaranteed to be among
# them. Each drawn variant then has its image transformed with probability `transform_prob`, with the explanatory
# prefix.

# %%
def expand_question(question: gm.Problem, rng: np.random.Generator, m: int,
                    probability: float | None = None) -> list[gm.Problem]:
    """m variants Q_0..Q_{m-1}: distinct paraphrase templates, each image transformed with ``probability``
    (``transform_prob`` unless given)."""
    templates = rng.choice(gm.N_TEMPLATES, size=m, replace=False)
    probability = transform_prob if probability is None else probability
    return [gm.make_variant(question, rng, template=int(t), transform_prob=probability) for t in templates]


# %% [markdown]
# **Re-pairing and hierarchical advantage.** The authors' code (`vllm_rollout_spmd.py`, `core_algos.py`) does the
# following for question $b$ with responses $o_i^{Q_j} \sim \pi_{\theta_\text{old}}(\cdot \mid Q_j)$. Slot
# $s < m^2 n$ pairs prompt $Q_k$ with response $o_i^{Q_j}$, where $k = \lfloor s / nm \rfloor$,
# $j = \lfloor s/n \rfloor \bmod m$ and $i = s \bmod n$. The score $r$ of a pair is that of its response. The
# advantage is
#
# $$\hat A_{ijk} = \frac{r - \mu_b}{\sigma_b + \epsilon} + \mathbb{1}[j = k]\,\frac{r - \mu_{b,k}}{\sigma_{b,k} + \epsilon},$$
#
# where $(\mu_b, \sigma_b)$ are taken over all $m^2 n$ pairs of question $b$ (so each response is counted $m$
# times, as in the code), $(\mu_{b,k}, \sigma_{b,k})$ over the $n$ responses generated from $Q_k$, σ is the unbiased
# `torch.std`, and ε = 1e-6. The objective is Eq. 8:
#
# $$\mathcal L(\theta) = \mathbb E\Big[\frac1n \sum_i \frac1{m^2} \sum_{j,k} \min\big(\rho_{ijk} \hat A_{ijk},\ \mathrm{clip}(\rho_{ijk}, 1-\varepsilon, 1+\varepsilon)\,\hat A_{ijk}\big)\Big], \qquad \rho_{ijk} = \frac{\pi_\theta(o_i^{Q_j} \mid Q_k)}{\pi_{\theta_\text{old}}(o_i^{Q_j} \mid Q_k)},$$
#
# implemented, as in verl, per token with a masked token mean and the dual clip for $\hat A < 0$.
# `hrlkit.lm.grpo.share_grpo_layout` / `share_grpo_advantages` hold the layout and the formula (printed below, so
# that the code sits next to its equation). A unit test checks them against a hand-computed reference on a
# hand-built batch, and an independent implementation of the authors' code agrees with them.
#
# **Baselines and ablations.** Every method generates the same $m \cdot n$ responses per question.
#
# | method | prompts sampled | pairs trained on | advantage |
# |---|---|---|---|
# | `share-grpo` | $m$ variants × $n$ | all $m^2 n$ re-pairings | global + local (above) |
# | `grpo` | the original question × $mn$ | $mn$ own pairs | $(r-\mu_b)/(\sigma_b+\epsilon)$ over the $mn$ |
# | `grpo-aug` | $m$ variants × $n$ | $mn$ own pairs | per variant: $(r-\mu_{b,k})/(\sigma_{b,k}+\epsilon)$ |
# | `share-grpo-no-local` | $m$ variants × $n$ | all $m^2 n$ | global term only |
# | `share-grpo-no-cross` | $m$ variants × $n$ | $mn$ own pairs ($j = k$) | global + local |

# %%
import inspect

print(inspect.getsource(grpo.group_stats))
print(inspect.getsource(grpo.share_grpo_advantages))

# %%
METHOD_SPECS = {
    # expand: sample from m variants (else m*n samples of the original); cross: train on the j != k re-pairings
    "share-grpo": dict(expand=True, cross=True, advantage="hierarchical"),
    "grpo": dict(expand=False, cross=False, advantage="global"),
    "grpo-aug": dict(expand=True, cross=False, advantage="per-variant"),
    "share-grpo-no-local": dict(expand=True, cross=True, advantage="global"),
    "share-grpo-no-cross": dict(expand=True, cross=False, advantage="hierarchical"),
}


def pair_advantages(advantage: str, scores: torch.Tensor, layout: dict) -> torch.Tensor:
    """Â of every (prompt, response) pair; uid = question b, inter_uid = prompt variant (b, k)."""
    uid, inter_uid, inter_bool = layout["question"], layout["prompt_index"], layout["inter_bool"]
    if advantage == "hierarchical":
        # Â = (r − μ_b)/(σ_b + ε) + 1[j = k] (r − μ_{b,k})/(σ_{b,k} + ε)
        return grpo.share_grpo_advantages(scores, uid, inter_uid, inter_bool)
    if advantage == "global":
        # Â = (r − μ_b)/(σ_b + ε)
        return grpo.group_advantages(scores, uid)
    # Â = (r − μ_{b,k})/(σ_{b,k} + ε): each variant an independent GRPO group
    return grpo.group_advantages(scores, inter_uid)


def regime_statistics(graded, spec: dict, n_questions: int, m: int, n: int) -> dict:
    """The sparse-reward regime of one rollout batch. A question is *all-fail* when none of its m·n responses is
    correct and *all-success* when all are; *vanished* groups are the method's own advantage groups whose rewards
    are all equal (the m·n responses of a question, or each variant's n for GRPO + augmentation). *Rescued*
    (methods with variants): a variant whose n own responses all fail while another variant of the same question
    has a correct one, the case sharing is for. For GRPO the same count on its m·n samples of the original split into
    groups of ``samples_n`` is the null: what "rescued" reads when no wording differs from another."""
    correct = graded.accuracy.reshape(n_questions, m, n) > 0
    own_groups = torch.arange(n_questions * m * n) // (n if spec["advantage"] == "per-variant" else m * n)
    out = {"vanished_groups": grpo.vanished_groups(torch.from_numpy(graded.reward), own_groups),
           "all_fail": float((~correct.any(axis=(1, 2))).mean()),
           "all_success": float(correct.all(axis=(1, 2)).mean()),
           "solved_questions": float(correct.any(axis=(1, 2)).mean())}
    by_variant = correct if spec["expand"] else correct.reshape(n_questions, -1, samples_n)   # (questions, m, n)
    variant_failed = ~by_variant.any(axis=2)                                   # (questions, m)
    other_solved = by_variant.any(axis=2).sum(axis=1, keepdims=True) > 0
    out["rescued_variants" if spec["expand"] else "rescued_split_half"] = float((variant_failed & other_solved).mean())
    return out


def rollout(policy, questions, spec, m, n, rng_variants, generator) -> dict:
    """Generate m*n responses per question and build the (prompt, response) pairs the method trains on."""
    variants = [expand_question(q, rng_variants, m) if spec["expand"] else [q] for q in questions]
    m_eff, n_eff = (m, n) if spec["expand"] else (1, m * n)
    prompts = [v for vs in variants for v in vs]                     # index b*m + k
    generated_from = [p for p in prompts for _ in range(n_eff)]       # index b*m*n + j*n + i
    with torch.no_grad():
        out = policy.generate(generated_from, max_new_tokens, temperature=temperature, top_p=top_p,
                              generator=generator)
    graded = score_responses(out, [p.answer for p in generated_from])
    layout = grpo.share_grpo_layout(len(questions), m_eff, n_eff, cross=spec["cross"])
    response = layout["response_index"]
    pair_scores = torch.from_numpy(graded.reward)[response]
    advantages = pair_advantages(spec["advantage"], pair_scores, layout)
    tokens, mask = out.tokens[response], out.response_mask[response]
    pair_prompts = [prompts[k] for k in layout["prompt_index"].tolist()]
    with torch.no_grad():   # log π_old(o_i^{Q_j} | Q_k), recomputed for every pair as verl does
        old_logprobs = policy.token_logprobs(pair_prompts, tokens, mask)
    stats_row = {"train_reward": float(graded.reward.mean()), "train_accuracy": float(graded.accuracy.mean()),
                 "train_format": float(graded.format.mean()),
                 **regime_statistics(graded, spec, len(questions), m_eff, n_eff),
                 "nonzero_advantage": float((advantages != 0).double().mean()),
                 "mean_abs_advantage": float(advantages.abs().mean()),
                 "response_length": float(out.response_mask.sum(1).mean())}
    return dict(questions=layout["question"], prompts=pair_prompts, tokens=tokens, mask=mask,
                advantages=advantages.float().to(tokens.device), old_logprobs=old_logprobs, stats=stats_row)


# %% [markdown]
# **A training-free test of question-space expansion.** Does sampling from $m$ variants (Share-GRPO's pool) leave fewer questions with
# no correct response than $m \cdot n$ samples of the original wording (GRPO's group), at the same number of samples?
# Fixed original ID questions, each with $m$ fixed variants, are answered by a fixed checkpoint
# (`warmup_probe_questions` at the warm-up, the first `probe_questions` of them at mid-run):
# the warm-up, and GRPO and Share-GRPO half-way through their runs (with a sampling stream of its own, so training is
# untouched). No gradient step is involved, so the answer is free of optimisation noise.

# %%
def probe_set(count: int) -> tuple[list, list]:
    """The probe's original questions and their m variants (fixed: the first k are the same for any count)."""
    rng = np.random.default_rng(derive_seed("share_grpo-probe"))
    originals, variants = [], []
    for _ in range(count):
        originals.append(gm.sample_problem(rng, split="train"))
        variants.append(expand_question(originals[-1], rng, variants_m, probability=0.0))   # rewordings only
    return originals, variants


PROBE_CHUNK = 64    # questions generated together (memory)


@torch.no_grad()
def probe_sharing(policy, generator: torch.Generator, count: int) -> dict:
    """Per probe question: does no response succeed among m·n samples of the original, and among n samples of
    each of its m variants; is some variant rescued (its n fail, another's succeed); is the original misread."""
    m, n = variants_m, samples_n
    originals, variants = probe_set(count)
    correct = []
    for start in range(0, count, PROBE_CHUNK):
        chunk, chunk_variants = originals[start:start + PROBE_CHUNK], variants[start:start + PROBE_CHUNK]
        prompts = [q for q in chunk for _ in range(m * n)] + [v for vs in chunk_variants for v in vs
                                                            for _ in range(n)]
        out = policy.generate(prompts, max_new_tokens, temperature=temperature, top_p=top_p, generator=generator)
        correct.append(score_responses(out, [p.answer for p in prompts]).accuracy.reshape(2, len(chunk), m, n) > 0)
    original, shared = np.concatenate(correct, axis=1)
    return {"all_fail_original": (~original.any(axis=(1, 2))).tolist(),
            "all_fail_shared": (~shared.any(axis=(1, 2))).tolist(),
            "all_success_original": original.all(axis=(1, 2)).tolist(),
            "all_success_shared": shared.all(axis=(1, 2)).tolist(),
            "rescued": ((~shared.any(axis=2)) & shared.any(axis=2).any(axis=1, keepdims=True)).any(axis=1).tolist(),
            "misread_original": [WARMUP_CONFIG.is_misread(q) for q in originals]}


def ppo_update(policy, optimiser, batch, shuffle: torch.Generator) -> dict:
    """Eq. 8 with verl's token-mean dual-clip loss, ppo_minibatches gradient steps split by question."""
    order = torch.randperm(questions_per_step, generator=shuffle)
    clipfrac, kl, grad_norm = [], [], []
    for chunk in order.chunk(ppo_minibatches):
        rows = torch.isin(batch["questions"], chunk).nonzero().squeeze(1)
        logprobs = policy.token_logprobs([batch["prompts"][r] for r in rows.tolist()], batch["tokens"][rows],
                                         batch["mask"][rows])
        loss, info = grpo.token_clip_loss(logprobs, batch["old_logprobs"][rows], batch["advantages"][rows],
                                          batch["mask"][rows], clip=clip_eps, dual_clip=dual_clip)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"Share-GRPO loss is {loss.item()} (NaN/inf) in a PPO minibatch")
        optimiser.zero_grad()
        loss.backward()
        grad_norm.append(float(torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)))   # before clip
        optimiser.step()
        clipfrac.append(info["clipfrac"])
        kl.append(info["approx_kl"])
    return {"clipfrac": float(np.mean(clipfrac)), "approx_kl": float(np.mean(kl)),
            "grad_norm": float(np.mean(grad_norm)), "grad_clipped": float(np.mean(np.array(grad_norm) > max_grad_norm))}


# %% [markdown]
# ## Experiments
#
# Every run starts from the same warm-up weights. It then takes `rl_steps` rollout batches of
# `questions_per_step` fresh ID questions. For a given seed the question stream is the same for every method.
# Test accuracy is greedy pass@1 on fixed held-out original questions: `eval_problems` ID problems every
# `eval_every` steps, and `final_eval_problems` per split at the end.

# %%
def run_training(method: str, seed: int, m: int, n: int, learning_rate: float, split: str = "test",
                 probe_at: int | None = None) -> dict:
    """One RL run from the warm-up. Its curve evaluates on the test problems, or for tuning on the validation
    problems (``split``); with ``probe_at`` it runs the training-free probe after that step."""
    spec = METHOD_SPECS[method]
    policy = build_policy(WARMUP_CONFIG.policy, seed=WARMUP_CONFIG.seed)
    policy.load_state_dict(BASE_STATE)
    policy.to(DEVICE)
    optimiser = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng_questions = np.random.default_rng(derive_seed(seed, "questions"))
    rng_variants = np.random.default_rng(derive_seed(seed, "variants"))
    generator = torch.Generator(device=DEVICE).manual_seed(derive_seed(seed, method, m, n))   # sampling
    shuffle = torch.Generator().manual_seed(derive_seed(seed, method, m, n, "minibatches"))
    curve, evals, probe = [], [], None
    problems = EVAL_SETS["train"][:eval_problems] if split == "test" else VALIDATION_SET

    def evaluate(step: int) -> None:
        evals.append({"step": step, **accuracies(policy, problems, f"{split}_accuracy_id")})

    evaluate(0)
    for step in range(1, rl_steps + 1):
        questions = [gm.sample_problem(rng_questions, split="train") for _ in range(questions_per_step)]
        batch = rollout(policy, questions, spec, m, n, rng_variants, generator)
        info = ppo_update(policy, optimiser, batch, shuffle)
        curve.append({"step": step, **batch["stats"], **info})
        if step % eval_every == 0 or step == rl_steps:
            evaluate(step)
        if step == probe_at:
            probe = probe_sharing(policy, torch.Generator(device=DEVICE).manual_seed(derive_seed(seed, method, "probe")),
                                  probe_questions)
    final = final_evaluation(policy) if split == "test" else {}
    return dict(method=method, seed=seed, m=m, n=n, learning_rate=learning_rate, curve=curve, evals=evals,
                final=final, probe=probe)


def relative_cost(task: dict) -> int:
    """Sequences per question a run generates and trains on (to start the longest runs first)."""
    spec, m, n = METHOD_SPECS[task["method"]], task["m"], task["n"]
    return m * n + (m * m * n if spec["cross"] else m * n)


# %% [markdown]
# ## Tuning: the same budget for every method
#
# Declared before tuning: every method gets `tuning_budget` Adam step sizes from the grid below, each trained for
# the full run (`rl_steps`, m = `variants_m`, n = `samples_n`) on each tuning seed (disjoint from the reported
# seeds), and is selected by the highest **mean greedy accuracy on the validation problems over the run's
# evaluations after step 0** (the area under its accuracy curve; the validation problems are not the test
# problems). History of the grid (each change made before the reported runs it serves): pilots of GRPO and
# Share-GRPO at 3e-4 collapsed to one repeated answer; on a first grid {5e-5, 1e-4, 2e-4} every method selected 5e-5,
# its lower edge; on a second grid {2.5e-5, 5e-5, 1e-4} four of the five methods selected 2.5e-5, again the lower
# edge (1e-4 was the worst value for every method). The grid below moved down once more; the tuning section says
# which selections are interior.

# %%
STEP_SIZE_GRID = (1.25e-5, 2.5e-5, 5e-5)
SPACES = {meth: tune.Space(learning_rate=tune.Grid(*STEP_SIZE_GRID)) for meth in ALL_METHODS}
SETUP = tune.Setup(metric="validation_accuracy_auc", direction="maximize", budget=tuning_budget,
                   seeds=tuning_seeds, sampler="grid")


def trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial: a full run evaluated on the validation problems; the mean accuracy after step 0."""
    result = run_training(method, seed, variants_m, samples_n, config["learning_rate"], split="validation")
    after_start = [e["validation_accuracy_id"] for e in result["evals"] if e["step"] > 0]
    return {"validation_accuracy_auc": float(np.mean(after_start)),
            "all_fail": float(np.mean([c["all_fail"] for c in result["curve"]]))}


# %% tags=["tuning"]
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
TUNED = tune.tune(TUNING_RUNNER, trial, {m: space for m, space in SPACES.items() if m in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
print(TUNED.summary())

# %% [markdown]
# The reported runs: every method on every seed with its selected step size; GRPO's and Share-GRPO's main runs stop
# half-way for the training-free probe; the sensitivity runs (when `sensitivity_m` or `sensitivity_n` list values)
# vary m or n for Share-GRPO; the stress runs train ours and its no-local ablation at `stress_learning_rate`.

# %% tags=["experiments"]
CONFIG = {meth: TUNED.selected[meth] for meth in methods}
PROBED = {"grpo", OURS}
MAIN_TASKS = [dict(method=meth, seed=s, m=variants_m, n=samples_n, **CONFIG[meth],
                   **(dict(probe_at=rl_steps // 2) if meth in PROBED and rl_steps >= 2 else {}))
              for meth in methods for s in seeds]
SENSITIVITY_TASKS = ([dict(method=OURS, seed=s, m=mm, n=samples_n, **CONFIG[OURS]) for mm in sensitivity_m
                      if mm != variants_m for s in sensitivity_seeds]
                     + [dict(method=OURS, seed=s, m=variants_m, n=nn, **CONFIG[OURS]) for nn in sensitivity_n
                        if nn != samples_n for s in sensitivity_seeds])
# the stability test: ours and its no-local ablation at one larger step size, on the stress seeds
STRESS_TASKS = [dict(method=meth, seed=s, m=variants_m, n=samples_n, learning_rate=stress_learning_rate)
                for meth in (OURS, "share-grpo-no-local") if meth in methods for s in stress_seeds]
TASKS = MAIN_TASKS + SENSITIVITY_TASKS + STRESS_TASKS
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
RESULTS = RUNNER.run("rl", run_training, TASKS, cost=relative_cost, desc="RL runs")


def base_evaluation() -> dict:
    """The base model (no RL) on the same held-out sets, and the probe at the warm-up."""
    probe = probe_sharing(BASE_POLICY, torch.Generator(device=DEVICE).manual_seed(derive_seed("probe", "warm-up")),
                          warmup_probe_questions)
    return {**final_evaluation(BASE_POLICY), "probe": probe}


BASE = RUNNER.run("base", base_evaluation, [{}])[0]
BASE_PROBE = BASE.pop("probe")
BASE_FINAL = BASE


# %%
# analysis side: tables, facts, tuning summary (never used by a task, so editing them never retrains)
from hrlkit.claims import VERDICT_RESAMPLES, Fact, FactsTable
from hrlkit.display import prose, table


# the per-step statistics runs.csv keeps (the stored raw results keep every one, e.g. the PPO clip fraction and KL)
CURVE_METRICS = ("train_reward", "vanished_groups", "all_fail", "solved_questions", "rescued_variants",
                 "rescued_split_half")
STRESS = " (stress)"     # the method name of the stability test's runs in runs.csv
RUN_SUMMARIES = ("grad_norm", "grad_clipped", "mean_abs_advantage")   # kept as one mean per run


def runs_rows():
    for task, r in zip(TASKS, RESULTS):
        stressed = task in STRESS_TASKS
        key = dict(method=r["method"] + (STRESS if stressed else ""), seed=r["seed"], m=r["m"], n=r["n"])
        for point in r["curve"]:
            for metric in (("train_reward",) if stressed else CURVE_METRICS):
                if metric in point:
                    yield dict(key, metric=metric, value=point[metric], step=point["step"])
        for metric in RUN_SUMMARIES:
            yield dict(key, metric=f"{metric}_run_mean", value=float(np.mean([p[metric] for p in r["curve"]])),
                       step=rl_steps)
        for point in r["evals"]:
            for metric, value in point.items():
                if metric != "step" and not metric.endswith("_items"):   # per-problem outcomes stay in raw results
                    yield dict(key, metric=metric, value=value, step=point["step"])
        for metric, value in r["final"].items():
            if not metric.endswith("_items"):
                yield dict(key, metric=metric, value=value, step=rl_steps)
        probe = dict(r["probe"] or {})                      # the training-free probe at mid-run
        misread = np.array(probe.pop("misread_original", []), dtype=bool)
        for metric, values in probe.items():
            values = np.asarray(values, dtype=float)
            yield dict(key, metric=f"probe_{metric}", value=float(values.mean()), step=rl_steps // 2)
            if misread.any():   # the same, on the questions whose original wording is misread
                yield dict(key, metric=f"probe_{metric}_misread", value=float(values[misread].mean()),
                           step=rl_steps // 2)
    warm_up = dict(method="warm-up (no RL)", seed=WARMUP_CONFIG.seed)   # one model, no RL, no m or n
    for metric, value in BASE_FINAL.items():
        if not metric.endswith("_items"):
            yield dict(warm_up, metric=metric, value=value, step=0)
    misread = np.array(BASE_PROBE["misread_original"], dtype=bool)   # the per-question outcomes stay in raw results
    for metric, values in BASE_PROBE.items():
        if metric != "misread_original":
            yield dict(warm_up, metric=f"probe_{metric}", value=float(np.mean(values)), step=0)
            yield dict(warm_up, metric=f"probe_{metric}_misread", value=float(np.mean(np.asarray(values)[misread])),
                       step=0)


RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT)
MAIN = RUNS[(RUNS["m"] == variants_m) & (RUNS["n"] == samples_n)]
print(f"runs.csv: {len(RUNS)} rows from {len(RESULTS)} runs")

# %% [markdown]
# ## Tuning and pilot
#
# The tuning trials (mean over the tuning seeds), whether each selected step size is interior to the grid, and, from
# the selected configurations, a pilot: the spread over tuning seeds of Share-GRPO's validation accuracy minus each
# baseline's (paired: the same tuning seeds), and the number of seeds an accuracy difference of `EFFECT_OF_INTEREST`
# would need. `EFFECT_OF_INTEREST` is about one binomial standard error of an accuracy near the warm-up's on the
# final test set (computed below): a difference the test set itself can just resolve.

# %%
EFFECT_OF_INTEREST = 0.02   # accuracy: the smallest difference the comparisons should detect (10 of 512 problems)
# its basis: the binomial standard error sqrt(p (1 − p) / N) of one accuracy p (the warm-up's) on the N final problems
BINOMIAL_SE = float(np.sqrt(BASE_FINAL["final_accuracy_id"] * (1 - BASE_FINAL["final_accuracy_id"])
                            / final_eval_problems))
print(f"binomial standard error of an accuracy of {BASE_FINAL['final_accuracy_id']:.3f} on {final_eval_problems} "
      f"problems: {BINOMIAL_SE:.4f}; EFFECT_OF_INTEREST = {EFFECT_OF_INTEREST}")
TUNING_TABLE = TUNED.configuration_table([SETUP.metric, "all_fail"])
display(table(TUNING_TABLE.round({SETUP.metric: 4, "all_fail": 4}).assign(
                  **{"config.learning_rate": TUNING_TABLE["config.learning_rate"].map("{:g}".format)}).rename(
                  columns={"config.learning_rate": "step size", SETUP.metric: "validation accuracy over the run",
                           "all_fail": "questions with no correct response"}),
              f"Mean over tuning seeds {tuning_seeds}. " + TUNED.summary()))
display(prose([f"Selected step sizes on the grid {{{', '.join(f'{v:g}' for v in STEP_SIZE_GRID)}}}: "
               + "; ".join(f"{meth} {CONFIG[meth]['learning_rate']:g} ({TUNED.position(meth, 'learning_rate')})"
                           for meth in methods) + "."]))
PILOTS = {b: tune.pilot(TUNED, first=OURS, second=b) for b in methods if b != OURS and OURS in TUNED.selected}
display(prose([f"- {OURS} − {b}: {p_.describe(EFFECT_OF_INTEREST, len(seeds))}" for b, p_ in PILOTS.items()]
              + [f"- These spreads come from {len(tuning_seeds)} tuning seeds ({len(tuning_seeds) - 1} degree(s) of "
                 "freedom), too few to size the study on: the number of reported seeds was fixed in advance (at least ten, "
                 "paired), and the MDE column of the claims table gives what they detect at their observed spread."]))

# %% [markdown]
# ## Results
#
# ### Training reward, advantage vanishing and test accuracy (the paper's Fig. 1b analogue)
#
# A group counts as *vanished* when all its rewards are equal, so every advantage in it is 0. The groups are the
# method's own: the $mn$ pooled responses of a question for GRPO and the Share-GRPO variants, and each variant's
# $n$ responses for GRPO + augmentation.

# %%
def smoothed(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    d = frame[frame["metric"] == metric].sort_values("step").copy()
    d["value"] = d.groupby(["method", "seed"])["value"].transform(
        lambda v: v.rolling(smooth_window, min_periods=1).mean())
    return d


fig, axes = plt.subplots(1, 4, figsize=(14, 3.3))
panels = [("train_reward", "training reward (rolling mean)", True), ("vanished_groups", "vanished groups",
          True), ("all_fail", "questions with no correct response", True),
          ("test_accuracy_id", "test accuracy, ID (greedy)", False)]
for ax, (metric, label, smooth) in zip(axes, panels):
    data = smoothed(MAIN, metric) if smooth else MAIN[MAIN["metric"] == metric]
    sns.lineplot(data=data, x="step", y="value", hue="method", hue_order=methods, ax=ax,
                 legend=(metric == "test_accuracy_id"), **figures.SEEDS_BAND)
    ax.set(xlabel="RL step", ylabel=label)
sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "training", "Training reward, fraction of vanished advantage groups, fraction of training "
                    "questions with no correct response among their m·n, and greedy ID test accuracy vs RL step "
                    f"({figures.band_caption()}; m = {variants_m}, n = {samples_n}).", **SAVE)
plt.show()

# %% [markdown]
# ### Test accuracy per method (Table 1 analogue) and the ablation table

# %%
def final_per_seed(metric: str, method: str, frame: pd.DataFrame = MAIN) -> np.ndarray:
    return runs.per_seed(frame, metric, method)


def run_per_seed(metric: str, method: str, after: int = 0, until: int | None = None) -> np.ndarray:
    """Per seed, the mean of a per-step metric over the steps after ``after`` and up to ``until`` (the whole run by
    default)."""
    sel = MAIN[(MAIN["method"] == method) & (MAIN["metric"] == metric) & (MAIN["step"] > after)]
    if until is not None:
        sel = sel[sel["step"] <= until]
    return stats.Sample(sel.groupby("seed")["value"].mean().sort_index().to_numpy(), f"{metric} of {method}, "
                        f"steps {after + 1}..{until if until is not None else rl_steps}")


def early_per_seed(metric: str, method: str) -> np.ndarray:
    """Per seed, the mean of a per-step training metric over the first early_fraction of the steps."""
    return run_per_seed(metric, method, until=max(1, int(round(early_fraction * rl_steps))))


def accuracy_auc(method: str, metric: str = "test_accuracy_id") -> np.ndarray:
    """Per seed, the mean test accuracy over the evaluations after step 0 (the area under the accuracy curve)."""
    return run_per_seed(metric, method)


def drawdown(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Largest drop of a curve below its running maximum, max_t (max_{s ≤ t} v_s − v_t), along ``axis``."""
    values = np.asarray(values, dtype=float)
    return np.max(np.maximum.accumulate(values, axis=axis) - values, axis=axis)


def max_drawdown(values: np.ndarray) -> float:
    """Largest drop of the rolling-mean training reward below its running maximum (a collapse measure)."""
    return float(drawdown(pd.Series(values).rolling(smooth_window, min_periods=1).mean().to_numpy()))


def drawdown_per_seed(method: str) -> np.ndarray:
    sel = MAIN[(MAIN["method"] == method) & (MAIN["metric"] == "train_reward")].sort_values("step")
    return stats.Sample([max_drawdown(g["value"].to_numpy()) for _, g in sel.groupby("seed")],
                        f"reward drawdown of {method}")


def fmt(values: np.ndarray) -> str:
    return stats.format_ci(values, spec=".3f")


# per-problem greedy outcomes (stored with every evaluation) for statistics over subsets of problems
EVAL_PROBLEMS = EVAL_SETS["train"][:eval_problems]
MISREAD_MASK = np.array([WARMUP_CONFIG.is_misread(p_) for p_ in EVAL_PROBLEMS])
MISREAD_TYPES_MASK = np.array([p_.qtype in WARMUP_CONFIG.misread for p_ in EVAL_PROBLEMS])   # types with a misread wording
FINAL_MISREAD_MASK = np.array([WARMUP_CONFIG.is_misread(p_) for p_ in EVAL_SETS["train"]])
MAIN_RESULT = {(r["method"], r["seed"]): r for task, r in zip(TASKS, RESULTS) if task in MAIN_TASKS}


def item_outcomes(method: str, after: int = 0, until: int | None = None) -> np.ndarray:
    """(seeds × evaluation problems): each problem's greedy correctness, averaged over the evaluations after step
    ``after`` (and up to ``until``)."""
    def steps_wanted(e):
        return e["step"] > after and (until is None or e["step"] <= until)
    return np.array([np.mean([e["test_accuracy_id_items"] for e in MAIN_RESULT[(method, s_)]["evals"]
                              if steps_wanted(e)], axis=0) for s_ in seeds])


def final_item_outcomes(method: str) -> np.ndarray:
    """(seeds × final ID problems): greedy correctness after the last RL step."""
    return np.array([MAIN_RESULT[(method, s_)]["final"]["final_accuracy_id_items"] for s_ in seeds], dtype=float)


def two_way(first: np.ndarray, second: np.ndarray) -> str:
    """IQM over seeds of the per-seed mean difference over problems, with a CI resampling seeds and problems."""
    value, (lo, hi) = stats.paired_two_way_bootstrap_ci(first, second, "iqm", n_resamples=VERDICT_RESAMPLES)
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


TABLE1 = pd.DataFrame([{
    "method": meth,
    "ID accuracy": fmt(final_per_seed("final_accuracy_id", meth)),
    "ID accuracy, misread wordings": fmt(final_per_seed("final_accuracy_id_misread", meth)),
    "ID accuracy, clear wordings": fmt(final_per_seed("final_accuracy_id_clear", meth)),
    "hard accuracy": fmt(final_per_seed("final_accuracy_hard", meth)),
    "ID accuracy, mean over the run": fmt(accuracy_auc(meth)),
    "no correct response (whole run)": fmt(run_per_seed("all_fail", meth)),
    "vanished groups (whole run)": fmt(run_per_seed("vanished_groups", meth)),
    "early vanished groups": fmt(early_per_seed("vanished_groups", meth)),
    "reward drawdown": fmt(drawdown_per_seed(meth)),
    "seed std of ID accuracy": f"{np.std(final_per_seed('final_accuracy_id', meth), ddof=1):.3f}"
    if len(seeds) > 1 else "n/a",
} for meth in methods])
display(table(TABLE1, f"Final greedy pass@1 after {rl_steps} RL steps, IQM over {len(seeds)} seeds [95 % bootstrap "
                     f"CI] ({final_eval_problems} held-out problems per split; the mean over the run is over the "
                     f"evaluations after step 0 on {eval_problems} of them). The warm-up model every run starts "
                     f"from scores {BASE_FINAL['final_accuracy_id']:.3f} (ID) and "
                     f"{BASE_FINAL['final_accuracy_hard']:.3f} (hard) on the same problems."))

ABLATION_CELLS = {("yes", "global + local"): "share-grpo", ("yes", "global only"): "share-grpo-no-local",
                  ("no", "global + local"): "share-grpo-no-cross", ("no", "local only"): "grpo-aug"}
ablation = pd.DataFrame([{"cross-variant re-pairing": cross, "advantage": adv, "method": meth,
                          "ID accuracy": fmt(final_per_seed("final_accuracy_id", meth)),
                          "hard accuracy": fmt(final_per_seed("final_accuracy_hard", meth))}
                         for (cross, adv), meth in ABLATION_CELLS.items() if meth in methods])
display(table(ablation, "Ablation (the paper's sharing × advantage table), IQM over seeds [95 % bootstrap CI]."))

# %%
HARD_FLOOR = 0.05        # the hard split is informative only if some method solves at least this share of it
HARD_BEST = max(float(stats.iqm(final_per_seed("final_accuracy_hard", meth))) for meth in methods)
PANELS = {"final_accuracy_id": "in-distribution", "final_accuracy_id_misread": "ID, misread wordings",
          "final_accuracy_id_clear": "ID, clear wordings",
          **({"final_accuracy_hard": "hard"} if HARD_BEST >= HARD_FLOOR else {})}   # no panel of floor values
acc_long = MAIN[MAIN["metric"].isin(list(PANELS))].copy()
acc_long["split"] = acc_long["metric"].map(PANELS)
g = sns.catplot(data=acc_long, x="method", y="value", col="split", col_order=list(PANELS.values()), kind="point",
                order=methods, height=3.6, aspect=1.2, sharey=False, linestyle="none", capsize=0.15,
                **figures.SEEDS_BAND)
g.set_axis_labels("", "greedy pass@1")
g.set_xticklabels(rotation=20, ha="right")
g.figure.tight_layout()
figures.save_figure(g.figure, "accuracy", f"Final greedy test accuracy per method ({figures.band_caption()}) after "
                    f"{rl_steps} RL steps: " + ", ".join(PANELS.values()) + (
                        "" if "final_accuracy_hard" in PANELS else f" (the hard split is left out: every method is "
                        f"below HARD_FLOOR = {HARD_FLOOR}, see C3b)") + ".", **SAVE)
plt.show()

LAST_EVALS = 3   # the plateau check compares the last LAST_EVALS evaluations with the LAST_EVALS before them


def late_rise(method: str) -> np.ndarray:
    """Per seed: mean test accuracy over the last LAST_EVALS evaluations minus that over the LAST_EVALS before."""
    sel = MAIN[(MAIN["method"] == method) & (MAIN["metric"] == "test_accuracy_id")]
    steps = sorted(sel["step"].unique())
    last, before = steps[-LAST_EVALS:], steps[-2 * LAST_EVALS:-LAST_EVALS]
    per_seed = sel.pivot_table(index="seed", columns="step", values="value")
    return stats.Sample((per_seed[last].mean(axis=1) - per_seed[before].mean(axis=1)).to_numpy(),
                        f"late rise of {method}")


EVAL_STEPS = sorted(MAIN.loc[MAIN["metric"] == "test_accuracy_id", "step"].unique())
CHECKABLE = len(EVAL_STEPS) >= 2 * LAST_EVALS
RISING = [meth for meth in methods if CHECKABLE and stats.bootstrap_ci(late_rise(meth))[1][0] > 0]
PLATEAU_TEXT = ("Too few evaluations in this profile for the plateau check." if not CHECKABLE else
                f"Still improving at step {rl_steps} (mean test accuracy over the last {LAST_EVALS} evaluations above "
                f"that over the {LAST_EVALS} before, 95 % CI above 0): {', '.join(RISING) if RISING else 'none'}. "
                + ("The final-point rows therefore compare learning speed as much as end points."
                   if RISING else "This weak test shows no rise, which is not proof that the curves have "
                   "flattened."))
display(prose([PLATEAU_TEXT] + [f"- {meth}: {fmt(late_rise(meth))}" for meth in methods if CHECKABLE]))

# %% [markdown]
# ### Does the regime persist? Misread wordings, questions with no correct response, rescued variants
#
# The warm-up misreads some wordings. GRPO samples only the question's own wording, so a misread original gives it
# a group whose responses all fail, unless one of its rare correct answers comes up. Share-GRPO samples $m$ variants,
# scores every response against the whole question family (the global term pools the variants), and pairs every
# response with every variant prompt, so a correct response found under a clear wording is also trained under the
# misread one. The ablations separate the two: no-cross pools the variants without re-pairing, GRPO +
# augmentation does neither (the attribution is computed below the figure). Left: greedy test accuracy on the misread and the clear wordings over training.
# Right: the fraction of variants whose $n$ responses all fail while another variant of the same question has a
# correct one (the variants sharing rescues), for the methods that sample variants. Its null is GRPO's $m \cdot n$
# samples of one wording cut into $m$ groups of $n$ (dashed): what "rescued" reads when no wording differs from
# another, from sampling luck alone.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.3), sharey=False)
for ax, (metric, label) in zip(axes, [("test_accuracy_id_misread", "test accuracy, misread wordings"),
                                      ("test_accuracy_id_clear", "test accuracy, clear wordings"),
                                      ("rescued_variants", "rescued variants (rolling mean)")]):
    data = smoothed(MAIN, metric) if metric == "rescued_variants" else MAIN[MAIN["metric"] == metric]
    sns.lineplot(data=data, x="step", y="value", hue="method", hue_order=methods, ax=ax,
                 legend=metric == "rescued_variants", **figures.SEEDS_BAND)
    if metric == "rescued_variants" and "grpo" in methods:
        null = smoothed(MAIN, "rescued_split_half")
        sns.lineplot(data=null, x="step", y="value", color="0.4", linestyle="--", ax=ax,
                     label="null: GRPO, one wording in m groups of n", **figures.SEEDS_BAND)
    ax.set(xlabel="RL step", ylabel=label)
sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "regime", "Greedy test accuracy on the misread and on the clear wordings vs RL step, and the "
                    "fraction of rescued variants per rollout batch (a variant whose n responses all fail while "
                    "another variant of its question has a correct one), with its null from GRPO's samples of one "
                    f"wording (dashed) ({figures.band_caption()}).", **SAVE)
plt.show()


def within_type_gap(method: str, after: int = 0, until: int | None = None) -> np.ndarray:
    """Per seed: accuracy on the clear wordings of the question types that have misread wordings, minus accuracy on
    the misread wordings (the wording effect, free of the types that are never misread)."""
    items = item_outcomes(method, after, until)
    return stats.Sample(items[:, MISREAD_TYPES_MASK & ~MISREAD_MASK].mean(axis=1) - items[:, MISREAD_MASK].mean(axis=1),
                        f"within-type wording gap of {method}")


HALF = rl_steps // 2
if "grpo" in methods and rl_steps >= 2:
    _rescued_ours = run_per_seed("rescued_variants", OURS, after=HALF)
    _rescued_null = run_per_seed("rescued_split_half", "grpo", after=HALF)
    display(prose([
        f"**The regime in numbers.** Within the question types that have misread wordings, accuracy on the clear "
        f"wordings minus that on the misread ones, IQM over seeds [95 % CI]: for GRPO {fmt(within_type_gap('grpo', 0, HALF))} "
        f"over steps 1–{HALF} and {fmt(within_type_gap('grpo', HALF))} over steps {HALF + 1}–{rl_steps}; for "
        f"Share-GRPO {fmt(within_type_gap(OURS, 0, HALF))} and {fmt(within_type_gap(OURS, HALF))}. "
        f"The wording regime {'persists' if stats.bootstrap_ci(within_type_gap('grpo', HALF))[1][0] > 0 else 'does not persist'} "
        f"in GRPO's second half (95 % CI above 0), and is "
        f"{'smaller' if stats.iqm(within_type_gap('grpo', HALF)) < stats.iqm(within_type_gap('grpo', 0, HALF)) else 'not smaller'} "
        f"than in its first half. Rescued variants over the second half: "
        f"Share-GRPO {fmt(_rescued_ours)} against the split-half null {fmt(_rescued_null)}. The fraction of questions "
        f"with no correct response stays high for every method (table above), mostly from arithmetic failure, "
        f"whatever the wording."]))

# which part of Share-GRPO moves the misread wordings: pooling the variants in one advantage group, or re-pairing
MISREAD_STEPS = {}
if {OURS, "grpo", "grpo-aug", "share-grpo-no-cross"} <= set(methods):
    def misread_gain(first: str, second: str) -> str:
        return two_way(item_outcomes(first)[:, MISREAD_MASK], item_outcomes(second)[:, MISREAD_MASK])

    def clear_gain(first: str, second: str) -> str:
        return two_way(item_outcomes(first)[:, ~MISREAD_MASK], item_outcomes(second)[:, ~MISREAD_MASK])

    MISREAD_STEPS = {"re-pairing (share-grpo − no-cross)": (OURS, "share-grpo-no-cross"),
                     "pooling the variants in one group (no-cross − grpo-aug)": ("share-grpo-no-cross", "grpo-aug"),
                     "sampling variants alone (grpo-aug − grpo)": ("grpo-aug", "grpo")}
    display(table(pd.DataFrame([{"step": step, "misread wordings": misread_gain(*pair),
                                 "clear wordings": clear_gain(*pair)} for step, pair in MISREAD_STEPS.items()]
                               + [{"step": "all of Share-GRPO (share-grpo − grpo)",
                                   "misread wordings": misread_gain(OURS, "grpo"),
                                   "clear wordings": clear_gain(OURS, "grpo")}]),
                  "Accuracy over the run (evaluations after step 0), difference between two methods one design step "
                  "apart; IQM over seeds [95 % CI resampling seeds and problems]. The steps add up only roughly: "
                  "each is an IQM of its own per-seed differences."))

# %% [markdown]
# ### The training-free test of question-space expansion
#
# The same probe questions, answered by fixed checkpoints with the same number of samples per question: $m \cdot n$
# of the original wording (GRPO's group) against $n$ of each of $m$ variants (Share-GRPO's pool). It tests the
# expansion that sharing relies on (does the pool of variants contain a correct response more often?), not the
# re-pairing itself, which needs a gradient step. The probe's variants are rewordings only (no image transform), so
# both arms see untransformed images and differ only in wording. At the warm-up the outcomes are also split by whether the original wording is misread
# (the questions sharing can help), with an exact McNemar test on the discordant questions.

# %%
def probe_rate(metric: str, method: str) -> np.ndarray:
    """Per seed, the probe's rate at the mid-run checkpoint of ``method``."""
    return final_per_seed(f"probe_{metric}", method)


def share_of(outcomes: np.ndarray) -> str:
    """The share of 0/1 outcomes over probe questions, with a 95 % bootstrap CI over questions."""
    return stats.format_ci(outcomes, aggregate="mean", spec=".3f")


WARM_PROBE = {metric: np.asarray(values, dtype=float) for metric, values in BASE_PROBE.items()}   # per question
WARM_MISREAD = WARM_PROBE["misread_original"].astype(bool)


def mcnemar_p(first: np.ndarray, second: np.ndarray) -> float:
    """Exact McNemar p-value of paired 0/1 outcomes (two-sided)."""
    from statsmodels.stats.contingency_tables import mcnemar
    first, second = first.astype(bool), second.astype(bool)
    table_ = [[int((first & second).sum()), int((first & ~second).sum())],
              [int((~first & second).sum()), int((~first & ~second).sum())]]
    return float(mcnemar(table_, exact=True).pvalue)


probe_rows = [{"checkpoint": f"warm-up, {label} ({int(where.sum())} questions)",
               "questions with no correct response, original × m·n": share_of(WARM_PROBE["all_fail_original"][where]),
               "… m variants × n": share_of(WARM_PROBE["all_fail_shared"][where]),
               "questions with a rescued variant": share_of(WARM_PROBE["rescued"][where]),
               "McNemar p": f"{mcnemar_p(WARM_PROBE['all_fail_original'][where], WARM_PROBE['all_fail_shared'][where]):.2g}"}
              for label, where in [("all", np.ones_like(WARM_MISREAD)), ("misread originals", WARM_MISREAD),
                                   ("clear originals", ~WARM_MISREAD)] if where.any()]
probe_rows += [{"checkpoint": f"{meth} at step {rl_steps // 2}",
                "questions with no correct response, original × m·n": fmt(probe_rate("all_fail_original", meth)),
                "… m variants × n": fmt(probe_rate("all_fail_shared", meth)),
                "questions with a rescued variant": fmt(probe_rate("rescued", meth))}
               for meth in methods if meth in PROBED and rl_steps >= 2]
display(table(pd.DataFrame(probe_rows), f"m = {variants_m}, n = {samples_n}. Warm-up: one checkpoint, "
              f"{warmup_probe_questions} probe questions, the share of questions [95 % bootstrap CI over questions]; "
              f"mid-run: the first {probe_questions} of them, IQM over {len(seeds)} seeds [95 % CI over seeds]."))

# %% [markdown]
# ### Sensitivity to the number of variants m and of responses n (Share-GRPO)

# %%
sens = RUNS[(RUNS["method"] == OURS) & (RUNS["metric"] == "final_accuracy_id")
            & RUNS["seed"].isin(sensitivity_seeds)]
if SENSITIVITY_TASKS:
    varied = [(var, fixed, value) for var, fixed, value, extra in [("m", "n", samples_n, sensitivity_m),
                                                                    ("n", "m", variants_m, sensitivity_n)] if extra]
    fig, axes = plt.subplots(1, len(varied), figsize=(4.5 * len(varied), 3.4), sharey=True, squeeze=False)
    for ax, (var, fixed, fixed_value) in zip(axes[0], varied):
        at_fixed = sens[sens[fixed] == fixed_value]
        sns.pointplot(data=at_fixed.assign(**{var: at_fixed[var].astype(int)}), x=var, y="value", ax=ax, capsize=0.15,
                      **figures.SEEDS_BAND)
        ax.set(xlabel=f"{var} ({fixed} = {fixed_value})", ylabel="final ID accuracy (greedy)")
    fig.tight_layout()
    figures.save_figure(fig, "sensitivity", "Share-GRPO final ID accuracy vs " + " and ".join(
        {"m": "the number of question variants m", "n": "the number of responses per variant n"}[v[0]]
        for v in varied) + f" (seeds {sensitivity_seeds}; {figures.band_caption()}).", **SAVE)
    plt.show()
else:
    display(prose(["Not run in this profile: the m and n sweeps were dropped to pay for the stability test below "
                   "and the ten paired seeds."]))

# %% [markdown]
# ### Stability where instability exists: a larger step size
#
# At the tuned step sizes nothing collapses, so the declared stability row (C4, a drawdown of the 64-sample training
# reward) mostly measures sampling noise. Here Share-GRPO and its no-local ablation are trained at
# `stress_learning_rate`, a step size at which the tuning trials of an earlier grid degraded, on the seeds
# `stress_seeds` (the same question streams as their main runs). Stability is read on the greedy test accuracy curve:
# its largest drop below its running maximum.

# %%
def stress_per_seed(method: str, statistic: str) -> np.ndarray:
    """Per stress seed, of ``method`` at the stress step size: the drawdown of its test accuracy curve, or its mean
    test accuracy over the evaluations after step 0 ("auc")."""
    sel = RUNS[(RUNS["method"] == method + STRESS) & (RUNS["metric"] == "test_accuracy_id")].sort_values("step")
    per_seed = {s_: g["value"].to_numpy() for s_, g in sel.groupby("seed")}
    pick = (lambda v: float(drawdown(v))) if statistic == "drawdown" else (lambda v: float(np.mean(v[1:])))
    return stats.Sample([pick(per_seed[s_]) for s_ in stress_seeds], f"{statistic} of {method} at the stress step")


def tuned_on_stress_seeds(method: str) -> np.ndarray:
    """Per stress seed, ``method``'s mean test accuracy over the run at its tuned step size (its main run)."""
    auc = accuracy_auc(method)
    return stats.Sample(np.asarray(auc)[[seeds.index(s_) for s_ in stress_seeds]], f"auc of {method}, stress seeds")


STRESSED = [meth for meth in (OURS, "share-grpo-no-local") if meth in methods]
if STRESS_TASKS:
    stress_curves = RUNS[RUNS["method"].isin([m_ + STRESS for m_ in STRESSED]) & (RUNS["metric"] == "test_accuracy_id")]
    tuned_curves = MAIN[MAIN["method"].isin(STRESSED) & (MAIN["metric"] == "test_accuracy_id")
                        & MAIN["seed"].isin(stress_seeds)]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    sns.lineplot(data=pd.concat([stress_curves, tuned_curves]), x="step", y="value", hue="method", ax=ax,
                 **figures.SEEDS_BAND)
    ax.set(xlabel="RL step", ylabel="test accuracy, ID (greedy)")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.tight_layout()
    figures.save_figure(fig, "stability", f"Greedy ID test accuracy vs RL step at the stress step size "
                        f"{stress_learning_rate:g} (\"{STRESS.strip()}\") and at the tuned step sizes, seeds "
                        f"{stress_seeds} ({figures.band_caption()}).", **SAVE)
    plt.show()
    display(table(pd.DataFrame([{
        "method": meth, "step size": f"{stress_learning_rate:g}",
        "test accuracy over the run": fmt(stress_per_seed(meth, "auc")),
        "… at the tuned step size": fmt(tuned_on_stress_seeds(meth)),
        "largest drop of test accuracy": fmt(stress_per_seed(meth, "drawdown"))} for meth in STRESSED]),
        f"IQM over the stress seeds {stress_seeds} [95 % bootstrap CI]."))

# %% [markdown]
# ## Claims
#
# For a given seed every method sees the same question stream and the same held-out problems, so comparisons are
# **paired**: the statistic is the IQM of per-seed differences, with a 95 % bootstrap CI that resamples seeds
# (`hrlkit.claims`).
#
# **Declared and post hoc.** The rows without a suffix keep the sentence, statistic, window ("early" = the first
# `early_fraction` of the RL steps) and threshold of the first version of this notebook, measured on this version's
# task. The rows with a suffix were written after the first version's results had been seen, and before this
# version's reported runs: statistics over the **whole run** (the fraction of questions with no correct response;
# the mean test accuracy over the evaluations after step 0), the training-free probe, and the misread wordings. They
# are marked post hoc and never replace a declared verdict. The mechanism rows (C1a-run, C1b-probe) need the
# regime they act on: in the second half of GRPO's runs, within the question types that have misread wordings, its
# accuracy on the clear wordings must still exceed that on the misread ones (a 95 % CI above 0); otherwise they are
# untestable. (Until the referee's second round this check compared all clear problems, including the types that are
# never misread; it passed both ways.)
#
# **Read the post hoc rows as exploratory.** They get no Holm p-value (multiplicity is corrected over the declared
# rows only), so a lone "reproduced" among them is weaker evidence than a declared one. C3a-misread rests on the few
# misread problems of the evaluation set, so its CI resamples those problems as well as the seeds (a two-way
# bootstrap); every other CI resamples seeds and conditions on the fixed test problems. C4-stress was added with the
# stress runs, before they ran.

# %%
AUC = f"mean greedy ID test accuracy over the evaluations after step 0 (whole run, {eval_problems} problems)"
CLAIMS = ClaimsTable([
    Claim("C1a", "Share-GRPO mitigates advantage vanishing",
          "fraction of vanished advantage groups in early training",
          "IQM vanished(GRPO) − IQM vanished(Share-GRPO)", threshold=0.0, direction=">"),
    Claim("C1a-run", "Share-GRPO mitigates sparse reward and advantage vanishing over the whole run",
          "fraction of training questions none of whose m·n responses is correct, mean over all RL steps",
          "IQM over seeds of all-fail(GRPO) − all-fail(Share-GRPO)", threshold=0.0, direction=">",
          precondition="the regime persists: within the question types that have misread wordings, GRPO's accuracy "
          "on clear wordings exceeds that on misread ones over the second half (CI above 0)", post_hoc=True),
    Claim("C1b", "Share-GRPO mitigates sparse reward by exploring the expanded question space",
          "fraction of training questions with at least one correct response among their m·n, early training",
          "IQM solved(Share-GRPO) − IQM solved(GRPO)", threshold=0.0, direction=">"),
    Claim("C1b-probe", "… training-free: sampling m variants leaves fewer questions without a correct response "
          "than m·n samples of the original, at GRPO's mid-run checkpoint",
          f"{probe_questions} probe questions, m·n samples each way, GRPO after {rl_steps // 2} steps",
          "IQM over seeds of all-fail(original × m·n) − all-fail(m variants × n)", threshold=0.0, direction=">",
          precondition="the regime persists (as C1a-run)", post_hoc=True),
    Claim("C2a", "Sharing discovered trajectories across variants is more than data augmentation",
          "final greedy ID test accuracy", "IQM acc(Share-GRPO) − IQM acc(GRPO + augmentation)",
          threshold=0.0, direction=">"),
    Claim("C2a-auc", "… over the whole run", AUC, "IQM over seeds of auc(Share-GRPO) − auc(GRPO + augmentation)",
          threshold=0.0, direction=">", post_hoc=True),
    Claim("C2b", "Re-pairing responses with every variant prompt (sharing) helps",
          "final greedy ID test accuracy", "IQM acc(Share-GRPO) − IQM acc(without cross-variant pairing)",
          threshold=0.0, direction=">"),
    Claim("C2b-auc", "… over the whole run", AUC,
          "IQM over seeds of auc(Share-GRPO) − auc(without cross-variant pairing)", threshold=0.0, direction=">",
          post_hoc=True),
    Claim("C3a", "Superior performance over GRPO (in distribution)", "final greedy ID test accuracy",
          "IQM acc(Share-GRPO) − IQM acc(GRPO)", threshold=0.0, direction=">"),
    Claim("C3a-auc", "… over the whole run", AUC, "IQM over seeds of auc(Share-GRPO) − auc(GRPO)",
          threshold=0.0, direction=">", post_hoc=True),
    Claim("C3a-misread", "… on the wordings the base model misreads, over the whole run",
          "mean greedy test accuracy on the misread wordings over the evaluations after step 0",
          "IQM over seeds of auc_misread(Share-GRPO) − auc_misread(GRPO); CI over seeds and problems",
          threshold=0.0, direction=">", post_hoc=True),
    Claim("C3b", "Superior performance over GRPO (harder questions)", "final greedy hard-split test accuracy",
          "IQM acc(Share-GRPO) − IQM acc(GRPO)", threshold=0.0, direction=">",
          precondition=f"some method's final hard accuracy (IQM) ≥ HARD_FLOOR = {HARD_FLOOR}"),
    Claim("C4", "The hierarchical (global + local) advantage improves the stability of training",
          "largest drop of the rolling-mean training reward below its running maximum",
          "IQM drawdown(global only) − IQM drawdown(global + local)", threshold=0.0, direction=">"),
    Claim("C4-stress", "… where instability exists: at a larger step size",
          f"largest drop of greedy ID test accuracy below its running maximum, at step size {stress_learning_rate:g}",
          "IQM over the stress seeds of drawdown(global only) − drawdown(global + local)", threshold=0.0,
          direction=">", precondition="instability exists there: the no-local ablation's mean test accuracy over "
          "the run is lower at the stress step size than at its tuned one (paired CI above 0)", post_hoc=True),
    Claim("C5", "The hierarchical advantage estimates relative advantages more accurately",
          "—", "—", threshold=0.0, direction=">"),
    Claim("H1", "R1-ShareVL-7B reaches 75.4 on MathVista", "—", "—", threshold=75.4, direction=">"),
])


# %%
def compare(claim_id: str, ours: str, other: str, values) -> None:
    """Measure claim_id as the IQM of per-seed differences values(first) − values(second), or mark it untestable."""
    if ours not in methods or other not in methods:
        CLAIMS[claim_id].untestable(f"needs {ours} and {other} in `methods`")
        return
    CLAIMS[claim_id].compare(values(ours), values(other), (ours, other))


def wording_gap(method: str, after: int) -> np.ndarray:
    """Per seed: mean over the evaluations after step ``after`` of test accuracy on clear minus misread wordings."""
    return run_per_seed("test_accuracy_id_clear", method, after) - run_per_seed("test_accuracy_id_misread", method,
                                                                                 after)


def regime_persists() -> tuple[bool, str]:
    """The regime sharing acts on persists: in the second half of GRPO's runs, within the question types that have
    misread wordings, its accuracy on the clear wordings still exceeds that on the misread ones (95 % CI over seeds
    above 0)."""
    gap, (lo, hi) = stats.bootstrap_ci(within_type_gap("grpo", rl_steps // 2))
    return lo > 0, (f"GRPO's within-type accuracy gap clear − misread wordings over steps > {rl_steps // 2}: "
                    f"{gap:.3g} [{lo:.3g}, {hi:.3g}] (IQM over seeds, 95 % CI)")


compare("C1a", "grpo", OURS, lambda meth: early_per_seed("vanished_groups", meth))
compare("C1b", OURS, "grpo", lambda meth: early_per_seed("solved_questions", meth))
if "grpo" in methods and CLAIMS["C1a-run"].require(*regime_persists()):
    compare("C1a-run", "grpo", OURS, lambda meth: run_per_seed("all_fail", meth))
if "grpo" in methods and rl_steps >= 2 and CLAIMS["C1b-probe"].require(*regime_persists()):
    CLAIMS["C1b-probe"].compare(probe_rate("all_fail_original", "grpo"), probe_rate("all_fail_shared", "grpo"),
                                ("original × m·n", "m variants × n"))
compare("C2a", OURS, "grpo-aug", lambda meth: final_per_seed("final_accuracy_id", meth))
compare("C2a-auc", OURS, "grpo-aug", accuracy_auc)
compare("C2b", OURS, "share-grpo-no-cross", lambda meth: final_per_seed("final_accuracy_id", meth))
compare("C2b-auc", OURS, "share-grpo-no-cross", accuracy_auc)
compare("C3a", OURS, "grpo", lambda meth: final_per_seed("final_accuracy_id", meth))
if CLAIMS["C3a"].value is not None and "grpo-aug" in methods:
    CLAIMS["C3a"].note += (f"; GRPO trains only on untransformed originals, the variant methods also on transformed "
                           f"images (probability {transform_prob:g}), but that exposure costs GRPO + augmentation "
                           f"nothing against GRPO: {fmt(final_per_seed('final_accuracy_id', 'grpo-aug') - final_per_seed('final_accuracy_id', 'grpo'))}")
compare("C3a-auc", OURS, "grpo", accuracy_auc)
if OURS in methods and "grpo" in methods:
    # auc_misread per seed = the mean over misread problems of each problem's accuracy over the evaluations
    CLAIMS["C3a-misread"].compare_items(item_outcomes(OURS)[:, MISREAD_MASK], item_outcomes("grpo")[:, MISREAD_MASK],
                                        (OURS, "grpo"))
    CLAIMS["C3a-misread"].note += (
        f"; first half (steps 1–{HALF}): {two_way(item_outcomes(OURS, 0, HALF)[:, MISREAD_MASK], item_outcomes('grpo', 0, HALF)[:, MISREAD_MASK])}, "
        f"second half: {two_way(item_outcomes(OURS, HALF)[:, MISREAD_MASK], item_outcomes('grpo', HALF)[:, MISREAD_MASK])}, "
        f"at the end on the {int(FINAL_MISREAD_MASK.sum())} misread problems of the final set: "
        f"{two_way(final_item_outcomes(OURS)[:, FINAL_MISREAD_MASK], final_item_outcomes('grpo')[:, FINAL_MISREAD_MASK])} "
        "(IQM over seeds [95 % CI over seeds and problems])")
if CLAIMS["C3b"].require(HARD_BEST >= HARD_FLOOR, f"the best method solves {HARD_BEST:.3g} of the hard split (IQM), "
                         f"below HARD_FLOOR = {HARD_FLOOR}: every method is at the floor of a split whose 5–8-term "
                         "chains are longer than any trained one (a precondition added after the first version's "
                         "floor was seen)"):
    compare("C3b", OURS, "grpo", lambda meth: final_per_seed("final_accuracy_hard", meth))
else:   # the declared statistic stays visible beside the verdict
    CLAIMS["C3b"].note = ("the declared statistic, share-grpo − grpo: " + fmt(
        final_per_seed("final_accuracy_hard", OURS) - final_per_seed("final_accuracy_hard", "grpo")))
compare("C4", "share-grpo-no-local", OURS, drawdown_per_seed)
if CLAIMS["C4"].value is not None:
    CLAIMS["C4"].note += "; the drawdown of a rolling mean of 64-sample rewards mostly measures sampling noise"
def flat_curve_drawdown(draws: int = 20_000) -> float:
    """Median drawdown of an accuracy curve that never changes, read through the evaluation's binomial noise: the
    stress runs' mean accuracy p on eval_problems problems at each of their evaluations."""
    p_ = float(np.mean([stress_per_seed(m_, "auc") for m_ in STRESSED]))
    n_evals = len(RUNS.loc[(RUNS["method"] == OURS + STRESS) & (RUNS["metric"] == "test_accuracy_id"), "step"].unique())
    curves = np.random.default_rng(0).binomial(eval_problems, p_, size=(draws, n_evals)) / eval_problems
    return float(np.median(drawdown(curves, axis=1)))


if STRESS_TASKS and len(STRESSED) == 2:
    _instability = tuned_on_stress_seeds("share-grpo-no-local") - stress_per_seed("share-grpo-no-local", "auc")
    _value, (_lo, _hi) = stats.bootstrap_ci(_instability)
    if CLAIMS["C4-stress"].require(_lo > 0, f"the no-local ablation's test accuracy over the run is {_value:.3g} "
                                   f"[{_lo:.3g}, {_hi:.3g}] lower at the stress step size than at its tuned one"):
        CLAIMS["C4-stress"].compare(stress_per_seed("share-grpo-no-local", "drawdown"),
                                    stress_per_seed(OURS, "drawdown"), ("share-grpo-no-local", OURS))
        CLAIMS["C4-stress"].note += (f"; accuracy lost to the larger step size (tuned − stress, mean over the run): "
                                     f"no-local {_value:.3g} [{_lo:.3g}, {_hi:.3g}], share-grpo "
                                     + fmt(tuned_on_stress_seeds(OURS) - stress_per_seed(OURS, "auc"))
                                     + f"; nothing collapses: a flat accuracy curve with binomial evaluation noise "
                                     f"alone has a median drawdown of {flat_curve_drawdown():.3g}, about what both "
                                     "methods show, so this row measures evaluation noise more than stability")
else:
    CLAIMS["C4-stress"].untestable("needs share-grpo and share-grpo-no-local in `methods` and `stress_seeds`")
CLAIMS["C5"].untestable("the paper gives no measurable definition of advantage accuracy; its consequence, "
                        "stability, is C4")
CLAIMS["H1"].untestable("MathVista needs the 7B MLLM and the benchmark; GridMath accuracies are not comparable")
display(CLAIMS)

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests.

# %%
FACTS = FactsTable([f for f in [
    Fact("F1", "greedy pass@1 of the warm-up model every run starts from, ID split", BASE_FINAL["final_accuracy_id"],
         "descriptive"),
    Fact("F2", "greedy pass@1 of the warm-up model, hard split", BASE_FINAL["final_accuracy_hard"], "descriptive"),
    Fact("F3", f"parameters of the policy ({lm_backend} LM, projector, heads)", count_parameters(BASE_POLICY),
         "by construction"),
    Fact("F4", "sequences generated and trained on per question, Share-GRPO vs GRPO (m·n + m²·n vs m·n)",
         relative_cost(dict(method=OURS, m=variants_m, n=samples_n))
         / relative_cost(dict(method="grpo", m=variants_m, n=samples_n)), "by construction"),
    Fact("F5", "greedy pass@1 of the warm-up model on the misread wordings of the ID test problems",
         BASE_FINAL["final_accuracy_id_misread"], "descriptive",
         note=f"on the clear wordings: {BASE_FINAL['final_accuracy_id_clear']:.3g}"),
    Fact("F6", "warm-up probe, misread originals: share of questions with no correct response, original × m·n minus "
         "m variants × n", *stats.bootstrap_ci(WARM_PROBE["all_fail_original"][WARM_MISREAD]
                                              - WARM_PROBE["all_fail_shared"][WARM_MISREAD], "mean")[:1],
         "descriptive", ci95=stats.bootstrap_ci(WARM_PROBE["all_fail_original"][WARM_MISREAD]
                                                - WARM_PROBE["all_fail_shared"][WARM_MISREAD], "mean")[1],
         note=f"one checkpoint, {int(WARM_MISREAD.sum())} of {warmup_probe_questions} questions; 95 % bootstrap CI "
              "over questions; all questions: " + stats.format_ci(
                  WARM_PROBE["all_fail_original"] - WARM_PROBE["all_fail_shared"], aggregate="mean", spec=".3f"))
    if WARM_MISREAD.any() else None,
    Fact("F7", f"GRPO's fraction of training questions with no correct response over steps > {rl_steps // 2}",
         float(stats.iqm(run_per_seed("all_fail", "grpo", after=rl_steps // 2))), "descriptive",
         note="mostly arithmetic failure, present whatever the wording (IQM over seeds)") if "grpo" in methods else None,
    Fact("F8", f"GRPO's accuracy gap clear − misread wordings within the misread question types, over steps > "
         f"{rl_steps // 2} (the regime sharing acts on)", *stats.bootstrap_ci(within_type_gap("grpo", HALF))[:1],
         "descriptive", ci95=stats.bootstrap_ci(within_type_gap("grpo", HALF))[1],
         note=f"Share-GRPO: {fmt(within_type_gap(OURS, HALF))}; over all clear problems (including types never "
              f"misread): GRPO {fmt(wording_gap('grpo', HALF))}; at the warm-up, all clear problems: "
              f"{BASE_FINAL['final_accuracy_id_clear'] - BASE_FINAL['final_accuracy_id_misread']:.3g}")
    if "grpo" in methods else None,
    Fact("F9", f"rescued variants over steps > {rl_steps // 2}, Share-GRPO minus its null (GRPO's samples of one "
         "wording in m groups of n)", *stats.bootstrap_ci(run_per_seed("rescued_variants", OURS, after=HALF)
                                                          - run_per_seed("rescued_split_half", "grpo", after=HALF))[:1],
         "descriptive", ci95=stats.bootstrap_ci(run_per_seed("rescued_variants", OURS, after=HALF)
                                                - run_per_seed("rescued_split_half", "grpo", after=HALF))[1],
         note="paired over seeds; a positive value is wording-dependent success beyond sampling luck")
    if "grpo" in methods else None,
] if f is not None])
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
SELECTED_STEP_SIZES = ", ".join(f"{meth}: {config['learning_rate']:g}" for meth, config in CONFIG.items())
MISREAD_WORDINGS = "; ".join(f"“{' '.join(gm.QUESTION_TYPES[qtype].templates[t])}”" for qtype, templates in
                             WARMUP_CONFIG.misread.items() for t in templates)
GRAD_TEXT = ", ".join(f"{meth} {float(stats.iqm(final_per_seed('grad_norm_run_mean', meth))):.3g} "
                      f"({float(stats.iqm(final_per_seed('grad_clipped_run_mean', meth))):.0%} of steps clipped)"
                      for meth in methods)
DEVIATIONS = pd.DataFrame([
    ("Model", "Qwen2.5-VL-7B / 32B", f"{count_parameters(BASE_POLICY)}-parameter {lm_backend} LM "
     f"(d = {WARMUP_CONFIG.policy.d_model}, {WARMUP_CONFIG.policy.n_layers} layers) + fixed random visual "
     "encoder + learnable projector", "CPU budget"),
    ("Data and benchmarks", "52 K multimodal math questions; MathVista, MathVerse, MathVision, MMMU, MMStar, AI2D",
     "GridMath (synthetic), ID split (1–4 cells) and hard split (5–8 cells)", "no download; a task a tiny model "
     "can partly solve"),
    ("Text variants", "GPT-4o rewrites (offline)", f"{gm.N_TEMPLATES} fixed paraphrase templates per question type",
     "no LLM available offline; same role"),
    ("Image transforms", "rotations, flips, Gaussian noise σ ∈ {10, 25, 50}",
     "rotations, flips, and re-colouring of answer-irrelevant cells", "pixel noise has no analogue on a symbolic "
     "grid; prefix sentences kept"),
    ("Base model", "pretrained MLLM", f"SFT warm-up of {WARMUP_CONFIG.steps} steps on the reasoning chains, "
     f"misreading the wordings {MISREAD_WORDINGS} with probability {WARMUP_CONFIG.misread_prob:g} (answering "
     "the sum as a count, the count as a sum, the largest digit of row r as the count of digits above r)",
     "constructed so that the regime the paper targets exists: success that depends on the wording, where a "
     "variant can succeed while the original fails. A homogeneous warm-up (the first version of this notebook) "
     "gave every wording the same success within the first RL steps, and sharing had nothing to share"),
    ("Response length", "max 2048 tokens", f"max {max_new_tokens} tokens", "the longest GridMath target is 29 "
     "tokens"),
    ("Dual clip", "verl's dual-clip PPO loss (the paper's Eq. 8 has none)", f"c = {dual_clip:g}, verl's default",
     "as the authors' code runs it"),
    ("Pairs per question", "m²·n pairs for Share-GRPO and its no-local ablation, m·n for the others",
     "the same; the loss is a token mean, so more pairs reweight responses; the gradient still differs in size "
     f"(mean gradient norm before clipping over the run: {GRAD_TEXT}; clipped at {max_grad_norm:g})",
     "as the authors' code; every method generates the same m·n responses, and each method's step size is tuned"),
    ("Optimiser steps per rollout", "actor mini-batch = global batch × n × question_num sequences (the authors' "
     "fork), so Share-GRPO's m²·n pairs get m times the optimiser steps of an m·n layout",
     f"{ppo_minibatches} steps per rollout for every method (split by question)", "equal optimisation for every "
     "method; the authors' extra steps would be a second difference besides sharing"),
    ("Optimiser", "AdamW, weight decay 1e-2; verl's token mean per micro-batch (divided by gradient accumulation)",
     "Adam, no weight decay; the token mean over the whole minibatch", "a short run from a fixed warm-up; the same "
     "for every method"),
    ("Warm-up design", "—", f"misread_prob {WARMUP_CONFIG.misread_prob:g} chosen from two warm-up pilots, templates "
     "fixed by hand (warm-up section)", "a favourable constructed case: the test can fail, but a positive result "
     "does not show the regime in the paper's setting"),
    ("Hard split", "harder benchmarks (MathVerse, MathVision)", "5–8 cells involved, longer than any trained "
     "chain (1–4)", "a length shift with no analogue in the paper; C3b needs a method above HARD_FLOOR"),
    ("Tuning", "not described", f"the Adam step size per method, {tuning_budget} values of the grid on tuning "
     f"seeds {tuning_seeds}, by validation accuracy over the run", "equal budgets; CPU budget"),
    ("Samples", "m = 2 variants, n = 5 (config) or 6 (7B script); rollout batch 512",
     f"m = {variants_m}, n = {samples_n}; {questions_per_step} questions per rollout batch", "CPU budget"),
    ("Optimisation", "lr 1e-6, global batch 128 (4 updates per rollout for an m·n layout), KL 0 (7B script)",
     f"Adam, step size tuned per method ({SELECTED_STEP_SIZES}), "
     f"{ppo_minibatches} updates per rollout, {rl_steps} rollouts, KL 0",
     "tuned for a tiny model (grid history in the tuning section); in pilot runs 3e-4 collapsed every "
     "question to one repeated answer"),
    ("Global σ", "paper notation: over the m·n responses", "over the m²·n pairs (each response m times)",
     "as the authors' code does"),
    ("Evaluation", "benchmark accuracy (greedy / temperature per benchmark)",
     "greedy pass@1 on held-out original questions", "deterministic, same sets for all methods"),
    ("Headline numbers", "MathVista 75.4 (7B); full Table 1 not found", "not comparable (untestable)",
     "different model and task; only trends are tested"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={"final_accuracy_id": headline_entry({m: final_per_seed("final_accuracy_id", m) for m in methods}),
              "accuracy_id_over_run": headline_entry({m: accuracy_auc(m) for m in methods}),
              "accuracy_misread_over_run": headline_entry({m: accuracy_auc(m, "test_accuracy_id_misread")
                                                           for m in methods}),
              "final_accuracy_hard": headline_entry({m: final_per_seed("final_accuracy_hard", m) for m in methods}),
              "all_fail_over_run": headline_entry({m: run_per_seed("all_fail", m) for m in methods}),
              "early_vanished_groups": headline_entry({m: early_per_seed("vanished_groups", m) for m in methods})},
    claims=CLAIMS, facts=FACTS, tuning=TUNED.to_json(),
    extra={"pilot": {f"{OURS} - {b}": {"sd": stats.round_sig(p_.sd), "effect": EFFECT_OF_INTEREST,
                                        "seeds_for_effect": p_.seeds_for(EFFECT_OF_INTEREST)}
                     for b, p_ in PILOTS.items() if np.isfinite(p_.sd)}})
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=RUNNER.timing())

h = metrics_doc["headline"]


def verdict_of(cid: str) -> str:
    c = CLAIMS[cid]
    return c.verdict + (f" ({c.value:+.3f})" if c.value is not None else "")


# the outcome in words, from the verdicts: the regime (misread wordings), the mechanism, the overall comparison
MISREAD_END = (f"on the {int(FINAL_MISREAD_MASK.sum())} misread problems of the final set, "
               + two_way(final_item_outcomes(OURS)[:, FINAL_MISREAD_MASK],
                         final_item_outcomes("grpo")[:, FINAL_MISREAD_MASK])) if "grpo" in methods else "n/a"
ATTRIBUTION = ("the part of that gain that re-pairing (sharing itself) adds over pooling the variants in one advantage "
               f"group without it (share-grpo − no-cross on misread wordings, over the run): "
               f"{misread_gain(OURS, 'share-grpo-no-cross')}, against {misread_gain('share-grpo-no-cross', 'grpo-aug')} "
               "for the pooling (no-cross − grpo-aug); ") if MISREAD_STEPS else ""
lines = [f"**In short.** On a task built so that sharing can matter (the base model misreads some wordings: a "
         f"favourable, constructed case), the declared rows read: "
         + ", ".join(f"{c.id} {c.verdict}" for c in CLAIMS if not c.post_hoc) + ". "
         f"Exploratory (post hoc) rows, Share-GRPO against GRPO: accuracy on the misread wordings over the run "
         f"{verdict_of('C3a-misread')}, gone by the end of training ({MISREAD_END}); {ATTRIBUTION}"
         f"questions with no correct response over the run {verdict_of('C1a-run')}; "
         f"accuracy on all ID problems over the run {verdict_of('C3a-auc')}, at the end {verdict_of('C3a')} "
         f"(declared). Sharing against augmentation over the run: {verdict_of('C2a-auc')}; against no re-pairing: "
         f"{verdict_of('C2b-auc')}. Stability at a larger step size: {verdict_of('C4-stress')}, where nothing collapses and "
         f"the drawdowns are about those of evaluation noise (see its note). {PLATEAU_TEXT}", ""]
lines += CLAIMS.summary_lines()
lines.append(f"- Warm-up model (no RL): greedy pass@1 ID {BASE_FINAL['final_accuracy_id']:.3f} (misread wordings "
             f"{BASE_FINAL['final_accuracy_id_misread']:.3f}, clear {BASE_FINAL['final_accuracy_id_clear']:.3f}), "
             f"hard {BASE_FINAL['final_accuracy_hard']:.3f} on the same held-out problems")
for m in methods:
    lines.append(f"- **{m}**: ID accuracy over the run {h['accuracy_id_over_run'][m]['iqm']:.3f} (misread wordings "
                 f"{h['accuracy_misread_over_run'][m]['iqm']:.3f}), final {h['final_accuracy_id'][m]['iqm']:.3f}; "
                 f"questions with no correct response {h['all_fail_over_run'][m]['iqm']:.3f} "
                 f"(IQM over {len(seeds)} seeds)")
display(prose(lines))
