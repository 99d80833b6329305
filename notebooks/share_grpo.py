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
# (paraphrased text, and with probability 0.3 a transformed image with an explanatory prefix). The policy samples
# $n$ responses per variant, and every response is re-paired with every variant prompt: $m^2 n$ (prompt, response)
# pairs per question. A response is then judged at two levels. The **global** level compares it with the whole
# question family (all $m^2 n$ pairs). The **local** level compares it with the $n$ responses generated from its own
# variant, and applies only when the response is paired with the prompt that generated it. Sharing attacks sparse
# reward and advantage vanishing: a question whose own $n$ samples all fail can still learn from a variant that
# succeeded.
#
# **Reproduced.**
# - The question-space expansion: $m$ of the paraphrase templates drawn without replacement (the original among
#   them), and image transforms with p = 0.3 plus the explanatory prefix.
# - The re-pairing into $m^2 n$ pairs in the authors' slot order.
# - The hierarchical advantage exactly as in the code (unbiased σ, ε = 1e-6).
# - The token-level PPO-clip loss with dual clip (Eq. 8 as verl implements it) and the 0.9·accuracy + 0.1·format
#   reward.
# - The paper's baselines (GRPO; GRPO with the same augmentation) and ablations (without the local term, without
#   cross-variant pairing), with the same number of generated responses per step. The advantage-vanishing curve
#   (Fig. 1b), the accuracy tables, and accuracy against $m$ and $n$.
#
# **Scaled or reconstructed.**
# - The MLLM is a 3-layer, d = 64 causal transformer behind a fixed random visual encoder and a learnable projector.
# - The benchmarks are GridMath, a synthetic visual-arithmetic task family (`hrlkit.tasks.gridmath`), with an
#   in-distribution split and a harder split with more cells involved.
# - The GPT-4o rewrites are replaced by fixed paraphrase templates.
# - The base model is a supervised warm-up. A short "behaviour" phase makes it reason for some wordings and guess
#   for others, so that RL has reasoning to elicit, as in a real base MLLM (see the warm-up section and deviations).
# - Runs are about a hundred RL steps instead of thousands.

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # one RL run per method and seed
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/share_grpo"    # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/share_grpo/runs"  # raw per-task results: stored once, loaded on every later run
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
learning_rate = 0.0001            # Adam step size
ppo_minibatches = 2               # gradient steps per rollout batch (split by question)
clip_eps = 0.2                    # PPO clip range
dual_clip = 3.0                   # dual-clip constant c for negative advantages
max_grad_norm = 1.0               # gradient-norm clip
eval_every = 4                    # RL steps between evaluations of test accuracy
eval_problems = 64                # held-out problems per evaluation during training
final_eval_problems = 128         # held-out problems per split at the end
smooth_window = 4                 # steps in the rolling mean of training curves and drawdowns
early_fraction = 0.25             # share of the run counted as early training
sensitivity_m = [1, 3]            # extra values of m for Share-GRPO, n fixed at samples_n
sensitivity_n = [2]               # extra values of n for Share-GRPO, m fixed at variants_m
sensitivity_seeds = [0]           # seeds of the sensitivity runs

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
    learning_rate: P.Number(gt=0)
    ppo_minibatches: P.Int(ge=1)
    clip_eps: P.Number(gt=0, le=1)
    dual_clip: P.Number(gt=1)
    max_grad_norm: P.Number(gt=0)
    eval_every: P.Int(ge=1)
    eval_problems: P.Int(ge=1)
    final_eval_problems: P.Int(ge=1)
    smooth_window: P.Int(ge=1)
    early_fraction: P.Number(gt=0, le=1)
    sensitivity_m: P.UniqueList(P.Int(ge=1, le=N_TEMPLATES), min_len=0)
    sensitivity_n: P.UniqueList(P.Int(ge=1), min_len=0)
    sensitivity_seeds: P.Seeds

    @model_validator(mode="after")
    def relations(self):
        P.require(self.ppo_minibatches <= self.questions_per_step, "ppo_minibatches", self.ppo_minibatches,
                  f"must be <= questions_per_step = {self.questions_per_step} (minibatches split by question)")
        P.require(set(self.sensitivity_seeds) <= set(self.seeds), "sensitivity_seeds", self.sensitivity_seeds,
                  f"must be among seeds {self.seeds} (the sensitivity figure compares with their main runs)")
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

from hrlkit import figures, runs, stats
from hrlkit.claims import Claim, ClaimsTable, build_metrics, headline_entry, write_metrics
from hrlkit.lm import grpo
from hrlkit.lm.tiny import count_parameters
from hrlkit.lm.vlm import PolicyConfig, build_policy, response_words, score_responses
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
# another template. With probability 0.3 it also applies one image transform: rotation by ±90° or 180°, a
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
# R1-ShareVL starts RL from a base MLLM whose pass@1 is low (sparse reward) but whose samples often contain the
# right reasoning. `hrlkit.lm.warmup` builds that starting point once, shared by every method and seed. First a
# *skill* phase: SFT on the full reasoning chains. Then a short *behaviour* phase: the target is the chain with a
# probability that depends on the paraphrase template (`reason_probs`), and otherwise a shortcut
# `<think> </think> <box> guess </box>`. The result reasons for some wordings and guesses for the others.
# The checkpoint is `data/share_grpo/warmup.pt`, produced by `dvc repro share_grpo_warmup` from the
# `share_grpo_warmup` section of params.yaml. With `lm_backend = "hf"` the same warm-up is trained here on the
# transformers Llama.

# %%
BASE_POLICY, WARMUP_LOG, _loaded = load_or_warmup(repo_root() / warmup_checkpoint, WARMUP_CONFIG)
BASE_STATE = {k: v.detach().clone() for k, v in BASE_POLICY.state_dict().items()}
print(f"warm-up {'loaded from ' + warmup_checkpoint if _loaded else 'trained in this notebook'}: "
      f"{count_parameters(BASE_POLICY)} parameters ({lm_backend} LM), "
      f"{WARMUP_CONFIG.steps} skill + {WARMUP_CONFIG.behaviour_steps} behaviour SFT steps, "
      f"greedy pass@1 ID {WARMUP_LOG['pass1_train']:.3f}, hard {WARMUP_LOG['pass1_hard']:.3f}")


# %%
def fixed_eval_set(split: str, count: int) -> list:
    """Held-out original questions (random paraphrase, no transform), the same for every method and seed."""
    rng = np.random.default_rng(derive_seed("share_grpo-eval", split))
    return [gm.sample_problem(rng, split=split) for _ in range(count)]


EVAL_SETS = {split: fixed_eval_set(split, final_eval_problems) for split in gm.SPLITS}


@torch.no_grad()
def final_evaluation(policy) -> dict:
    """Greedy pass@1 per split, and on the ID split the share of answers that reason (a non-empty chain)
    for each paraphrase template: the behaviour the warm-up made depend on the wording."""
    result = {}
    for split, problems in EVAL_SETS.items():
        out = policy.generate(problems, max_new_tokens, temperature=0.0)
        graded = score_responses(out, [p.answer for p in problems])
        result[f"final_accuracy_{'id' if split == 'train' else split}"] = float(graded.accuracy.mean())
        if split == "train":
            reasoned = np.array([len(w) > 1 and w[1] != "</think>" for w in response_words(out)])
            templates = np.array([p.template for p in problems])
            for t in range(gm.N_TEMPLATES):
                result[f"final_reasoning_template{t}"] = float(reasoned[templates == t].mean())
    return result

# %% [markdown]
# ## Method: Share-GRPO
#
# **Question-space expansion** (R1-ShareVL `dataset.py`). The original question and its rewrites form the pool of
# texts. The code draws $m$ of them with `random.sample`, so the original wording is not guaranteed to be among
# them. Each drawn variant then has its image transformed with probability 0.3, with the explanatory prefix.

# %%
def expand_question(question: gm.Problem, rng: np.random.Generator, m: int) -> list[gm.Problem]:
    """m variants Q_0..Q_{m-1}: distinct paraphrase templates, each image transformed with transform_prob."""
    templates = rng.choice(gm.N_TEMPLATES, size=m, replace=False)
    return [gm.make_variant(question, rng, template=int(t), transform_prob=transform_prob) for t in templates]


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
# `hrlkit.lm.grpo.share_grpo_layout` / `share_grpo_advantages` hold the layout and the formula. A unit test checks
# them against a hand-computed reference on a hand-built batch.
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
    # groups whose advantage is identically zero ("vanished"): the method's own advantage groups
    own_groups = torch.arange(len(generated_from)) // (n_eff if spec["advantage"] == "per-variant" else m_eff * n_eff)
    per_question = graded.accuracy.reshape(len(questions), -1)
    stats_row = {
        "train_reward": float(graded.reward.mean()), "train_accuracy": float(graded.accuracy.mean()),
        "train_format": float(graded.format.mean()),
        "vanished_groups": grpo.vanished_groups(torch.from_numpy(graded.reward), own_groups),
        "solved_questions": float((per_question.max(axis=1) > 0).mean()),
        "nonzero_advantage": float((advantages != 0).double().mean()),
        "mean_abs_advantage": float(advantages.abs().mean()),
        "response_length": float(out.response_mask.sum(1).mean()),
    }
    return dict(questions=layout["question"], prompts=pair_prompts, tokens=tokens, mask=mask,
                advantages=advantages.float().to(tokens.device), old_logprobs=old_logprobs, stats=stats_row)


def ppo_update(policy, optimiser, batch, shuffle: torch.Generator) -> dict:
    """Eq. 8 with verl's token-mean dual-clip loss, ppo_minibatches gradient steps split by question."""
    order = torch.randperm(questions_per_step, generator=shuffle)
    clipfrac, kl = [], []
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
        torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
        optimiser.step()
        clipfrac.append(info["clipfrac"])
        kl.append(info["approx_kl"])
    return {"clipfrac": float(np.mean(clipfrac)), "approx_kl": float(np.mean(kl))}


# %% [markdown]
# ## Experiments
#
# Every run starts from the same warm-up weights. It then takes `rl_steps` rollout batches of
# `questions_per_step` fresh ID questions. For a given seed the question stream is the same for every method.
# Test accuracy is greedy pass@1 on fixed held-out original questions: `eval_problems` ID problems every
# `eval_every` steps, and `final_eval_problems` per split at the end.

# %% tags=["experiments"]
def run_training(method: str, seed: int, m: int, n: int) -> dict:
    spec = METHOD_SPECS[method]
    policy = build_policy(WARMUP_CONFIG.policy, seed=WARMUP_CONFIG.seed)
    policy.load_state_dict(BASE_STATE)
    policy.to(DEVICE)
    optimiser = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng_questions = np.random.default_rng(derive_seed(seed, "questions"))
    rng_variants = np.random.default_rng(derive_seed(seed, "variants"))
    generator = torch.Generator(device=DEVICE).manual_seed(derive_seed(seed, method, m, n))   # sampling
    shuffle = torch.Generator().manual_seed(derive_seed(seed, method, m, n, "minibatches"))
    curve, evals = [], []

    def evaluate(step: int) -> None:
        acc = greedy_accuracy(policy, EVAL_SETS["train"][:eval_problems]).mean()
        evals.append({"step": step, "test_accuracy_id": float(acc)})

    evaluate(0)
    for step in range(1, rl_steps + 1):
        questions = [gm.sample_problem(rng_questions, split="train") for _ in range(questions_per_step)]
        batch = rollout(policy, questions, spec, m, n, rng_variants, generator)
        info = ppo_update(policy, optimiser, batch, shuffle)
        curve.append({"step": step, **batch["stats"], **info})
        if step % eval_every == 0 or step == rl_steps:
            evaluate(step)
    return dict(method=method, seed=seed, m=m, n=n, curve=curve, evals=evals, final=final_evaluation(policy))


def relative_cost(task: dict) -> int:
    """Sequences per question a run generates and trains on (to start the longest runs first)."""
    spec, m, n = METHOD_SPECS[task["method"]], task["m"], task["n"]
    return m * n + (m * m * n if spec["cross"] else m * n)


MAIN_TASKS = [dict(method=meth, seed=s, m=variants_m, n=samples_n) for meth in methods for s in seeds]
SENSITIVITY_TASKS = ([dict(method=OURS, seed=s, m=mm, n=samples_n) for mm in sensitivity_m if mm != variants_m
                      for s in sensitivity_seeds]
                     + [dict(method=OURS, seed=s, m=variants_m, n=nn) for nn in sensitivity_n if nn != samples_n
                        for s in sensitivity_seeds])
TASKS = MAIN_TASKS + SENSITIVITY_TASKS
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
RESULTS = RUNNER.run("rl", run_training, TASKS, cost=relative_cost, desc="RL runs")


def base_evaluation() -> dict:
    """The base model (no RL) on the same held-out sets, for reference."""
    return final_evaluation(BASE_POLICY)


BASE_FINAL = RUNNER.run("base", base_evaluation, [{}])[0]


# %%
# analysis side: tables, facts, tuning summary (never used by a task, so editing them never retrains)
from hrlkit import tune
from hrlkit.claims import Fact, FactsTable
from hrlkit.display import prose, table


def runs_rows():
    for r in RESULTS:
        key = dict(method=r["method"], seed=r["seed"], m=r["m"], n=r["n"])
        for point in r["curve"]:
            for metric, value in point.items():
                if metric != "step":
                    yield dict(key, metric=metric, value=value, step=point["step"])
        for point in r["evals"]:
            yield dict(key, metric="test_accuracy_id", value=point["test_accuracy_id"], step=point["step"])
        for metric, value in r["final"].items():
            yield dict(key, metric=metric, value=value, step=rl_steps)
    for metric, value in BASE_FINAL.items():   # the warm-up model: one model, no RL, no m or n
        yield dict(method="warm-up (no RL)", seed=WARMUP_CONFIG.seed, metric=metric, value=value, step=0)


RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT)
MAIN = RUNS[(RUNS["m"] == variants_m) & (RUNS["n"] == samples_n)]
print(f"runs.csv: {len(RUNS)} rows from {len(RESULTS)} runs")

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


fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
panels = [("train_reward", "training reward (rolling mean)", True), ("vanished_groups", "vanished groups",
          True), ("solved_questions", "questions with ≥1 correct response", True),
          ("test_accuracy_id", "test accuracy, ID (greedy)", False)]
for ax, (metric, label, smooth) in zip(axes, panels):
    data = smoothed(MAIN, metric) if smooth else MAIN[MAIN["metric"] == metric]
    sns.lineplot(data=data, x="step", y="value", hue="method", hue_order=methods, ax=ax,
                 legend=(metric == "test_accuracy_id"), **figures.SEEDS_BAND)
    ax.set(xlabel="RL step", ylabel=label)
sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "training", "Training reward, fraction of vanished advantage groups, fraction of questions "
                    "with at least one correct response, and greedy ID test accuracy vs RL step "
                    f"({figures.band_caption()}; m = {variants_m}, n = {samples_n}).", **SAVE)
plt.show()

# %% [markdown]
# ### Test accuracy per method (Table 1 analogue) and the ablation table

# %%
def final_per_seed(metric: str, method: str, frame: pd.DataFrame = MAIN) -> np.ndarray:
    return runs.per_seed(frame, metric, method)


def early_per_seed(metric: str, method: str) -> np.ndarray:
    """Per seed, the mean of a per-step training metric over the first early_fraction of the steps."""
    last = max(1, int(round(early_fraction * rl_steps)))
    sel = MAIN[(MAIN["method"] == method) & (MAIN["metric"] == metric) & (MAIN["step"] <= last)]
    return stats.Sample(sel.groupby("seed")["value"].mean().sort_index().to_numpy(), f"early {metric} of {method}")


def max_drawdown(values: np.ndarray) -> float:
    """Largest drop of the rolling-mean training reward below its running maximum (a collapse measure)."""
    smooth = pd.Series(values).rolling(smooth_window, min_periods=1).mean().to_numpy()
    return float(np.max(np.maximum.accumulate(smooth) - smooth))


def drawdown_per_seed(method: str) -> np.ndarray:
    sel = MAIN[(MAIN["method"] == method) & (MAIN["metric"] == "train_reward")].sort_values("step")
    return stats.Sample([max_drawdown(g["value"].to_numpy()) for _, g in sel.groupby("seed")],
                        f"reward drawdown of {method}")


def fmt(values: np.ndarray) -> str:
    return stats.format_ci(values, spec=".3f")


TABLE1 = pd.DataFrame([{
    "method": meth,
    "ID accuracy": fmt(final_per_seed("final_accuracy_id", meth)),
    "hard accuracy": fmt(final_per_seed("final_accuracy_hard", meth)),
    "early vanished groups": fmt(early_per_seed("vanished_groups", meth)),
    "reward drawdown": fmt(drawdown_per_seed(meth)),
    "seed std of ID accuracy": f"{np.std(final_per_seed('final_accuracy_id', meth), ddof=1):.3f}"
    if len(seeds) > 1 else "n/a",
} for meth in methods])
display(table(TABLE1, f"Final greedy pass@1 after {rl_steps} RL steps, IQM over {len(seeds)} seeds [95 % bootstrap "
                     f"CI] ({final_eval_problems} held-out problems per split). The warm-up model every run starts "
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
acc_long = MAIN[MAIN["metric"].isin(["final_accuracy_id", "final_accuracy_hard"])].copy()
acc_long["split"] = acc_long["metric"].map({"final_accuracy_id": "in-distribution", "final_accuracy_hard": "hard"})
g = sns.catplot(data=acc_long, x="method", y="value", col="split", kind="point", order=methods,
                height=3.6, aspect=1.4, sharey=False, linestyle="none", capsize=0.15, **figures.SEEDS_BAND)
g.set_axis_labels("", "greedy pass@1")
g.set_xticklabels(rotation=20, ha="right")
g.figure.tight_layout()
figures.save_figure(g.figure, "accuracy", f"Final greedy test accuracy per method ({figures.band_caption()}) on "
                    f"the in-distribution and hard splits after {rl_steps} RL steps.", **SAVE)
plt.show()

# %% [markdown]
# ### Does RL elicit reasoning for every wording? (the mechanism sharing acts on)
#
# The warm-up reasons for some paraphrase templates and guesses for others. Share-GRPO pairs a response generated
# under one wording with the prompts of the other wordings, so a reasoning trajectory found under a "good" wording
# is also trained under the "poor" ones. GRPO only sees each question's own wording. Below: the share of greedy
# answers with a non-empty reasoning chain on the held-out ID problems, per template, before and after RL.

# %%
reasoning = RUNS[RUNS["metric"].str.startswith("final_reasoning_template")
                 & ((RUNS["method"] == "warm-up (no RL)") | ((RUNS["m"] == variants_m) & (RUNS["n"] == samples_n)))]
reasoning = reasoning.assign(template=reasoning["metric"].str.removeprefix("final_reasoning_template").astype(int))
fig, ax = plt.subplots(figsize=(9, 3.6))
palette = {"warm-up (no RL)": "0.6", **dict(zip(methods, sns.color_palette(n_colors=len(methods))))}
sns.barplot(data=reasoning, x="template", y="value", hue="method", hue_order=["warm-up (no RL)", *methods],
            palette=palette, ax=ax, **figures.SEEDS_BAND)
ax.set(xlabel="paraphrase template (warm-up reasoning probability: "
       + ", ".join(f"{t}: {p:g}" for t, p in enumerate(WARMUP_CONFIG.reason_probs)) + ")",
       ylabel="greedy answers that reason")
sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "reasoning", "Share of greedy answers with a non-empty reasoning chain per paraphrase "
                    f"template, on the held-out ID problems, for the warm-up model and after {rl_steps} RL steps "
                    f"(bars: {figures.band_caption()}).", **SAVE)
plt.show()

# %% [markdown]
# ### Sensitivity to the number of variants m and of responses n (Share-GRPO)

# %%
sens = RUNS[(RUNS["method"] == OURS) & (RUNS["metric"] == "final_accuracy_id")
            & RUNS["seed"].isin(sensitivity_seeds)]
if SENSITIVITY_TASKS:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, (var, fixed, fixed_value) in zip(axes, [("m", "n", samples_n), ("n", "m", variants_m)]):
        sns.pointplot(data=sens[sens[fixed] == fixed_value], x=var, y="value", ax=ax, capsize=0.15,
                      **figures.SEEDS_BAND)
        ax.set(xlabel=f"{var} ({fixed} = {fixed_value})", ylabel="final ID accuracy (greedy)")
    fig.tight_layout()
    figures.save_figure(fig, "sensitivity", f"Share-GRPO final ID accuracy vs the number of question variants m and "
                        f"of responses per variant n (seeds {sensitivity_seeds}; {figures.band_caption()}).", **SAVE)
    plt.show()

# %% [markdown]
# ## Claims
#
# The thresholds below were fixed before any result was seen. They are constants of the notebook, the same in every
# profile. For a given seed every method sees the same question stream and the same held-out problems, so
# comparisons are **paired**: the statistic is the IQM of per-seed differences, with a 95 % bootstrap CI that
# resamples seeds (`hrlkit.claims`). "Early" means the first `early_fraction` of the RL steps.

# %%
CLAIMS = ClaimsTable([
    Claim("C1a", "Share-GRPO mitigates advantage vanishing",
          "fraction of vanished advantage groups in early training",
          "IQM vanished(GRPO) − IQM vanished(Share-GRPO)", threshold=0.0, direction=">"),
    Claim("C1b", "Share-GRPO mitigates sparse reward by exploring the expanded question space",
          "fraction of training questions with at least one correct response among their m·n, early training",
          "IQM solved(Share-GRPO) − IQM solved(GRPO)", threshold=0.0, direction=">"),
    Claim("C2a", "Sharing discovered trajectories across variants is more than data augmentation",
          "final greedy ID test accuracy", "IQM acc(Share-GRPO) − IQM acc(GRPO + augmentation)",
          threshold=0.0, direction=">"),
    Claim("C2b", "Re-pairing responses with every variant prompt (sharing) helps",
          "final greedy ID test accuracy", "IQM acc(Share-GRPO) − IQM acc(without cross-variant pairing)",
          threshold=0.0, direction=">"),
    Claim("C3a", "Superior performance over GRPO (in distribution)", "final greedy ID test accuracy",
          "IQM acc(Share-GRPO) − IQM acc(GRPO)", threshold=0.0, direction=">"),
    Claim("C3b", "Superior performance over GRPO (harder questions)", "final greedy hard-split test accuracy",
          "IQM acc(Share-GRPO) − IQM acc(GRPO)", threshold=0.0, direction=">"),
    Claim("C4", "The hierarchical (global + local) advantage improves the stability of training",
          "largest drop of the rolling-mean training reward below its running maximum",
          "IQM drawdown(global only) − IQM drawdown(global + local)", threshold=0.0, direction=">"),
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


compare("C1a", "grpo", OURS, lambda meth: early_per_seed("vanished_groups", meth))
compare("C1b", OURS, "grpo", lambda meth: early_per_seed("solved_questions", meth))
compare("C2a", OURS, "grpo-aug", lambda meth: final_per_seed("final_accuracy_id", meth))
compare("C2b", OURS, "share-grpo-no-cross", lambda meth: final_per_seed("final_accuracy_id", meth))
compare("C3a", OURS, "grpo", lambda meth: final_per_seed("final_accuracy_id", meth))
compare("C3b", OURS, "grpo", lambda meth: final_per_seed("final_accuracy_hard", meth))
if CLAIMS["C3b"].value is not None:
    CLAIMS["C3b"].note += (f"; the warm-up model scores {BASE_FINAL['final_accuracy_hard']:.3g} on the hard split, "
                           "mostly from guessed answers")
compare("C4", "share-grpo-no-local", OURS, drawdown_per_seed)
CLAIMS["C5"].untestable("the paper gives no measurable definition of advantage accuracy; its consequence, "
                        "stability, is C4")
CLAIMS["H1"].untestable("MathVista needs the 7B MLLM and the benchmark; GridMath accuracies are not comparable")
display(CLAIMS)

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests.

# %%
FACTS = FactsTable([
    Fact("F1", "greedy pass@1 of the warm-up model every run starts from, ID split", BASE_FINAL["final_accuracy_id"],
         "descriptive"),
    Fact("F2", "greedy pass@1 of the warm-up model, hard split", BASE_FINAL["final_accuracy_hard"], "descriptive"),
    Fact("F3", f"parameters of the policy ({lm_backend} LM, projector, heads)", count_parameters(BASE_POLICY),
         "by construction"),
    Fact("F4", "sequences generated and trained on per question, Share-GRPO vs GRPO (m·n + m²·n vs m·n)",
         relative_cost(dict(method=OURS, m=variants_m, n=samples_n))
         / relative_cost(dict(method="grpo", m=variants_m, n=samples_n)), "by construction"),
])
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
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
    ("Base model", "pretrained MLLM", f"SFT warm-up: {WARMUP_CONFIG.steps} skill steps, then "
     f"{WARMUP_CONFIG.behaviour_steps} behaviour steps where wording t yields the reasoning chain with probability "
     f"{list(WARMUP_CONFIG.reason_probs)} and otherwise a guessed answer", "reconstructed: with a skill-only "
     "warm-up, 300 GRPO steps gave no gain (measured), so no method could be compared on CPU"),
    ("Samples", "m = 2 variants, n = 5 (config) or 6 (7B script); rollout batch 512",
     f"m = {variants_m}, n = {samples_n}; {questions_per_step} questions per rollout batch", "CPU budget"),
    ("Optimisation", "lr 1e-6, global batch 128 (4 updates per rollout), KL 0 (7B script)",
     f"Adam lr {learning_rate}, {ppo_minibatches} updates per rollout, {rl_steps} rollouts, KL 0",
     "a usual Adam lr for a tiny model; in pilot runs (GRPO and Share-GRPO, 50–300 steps) 3e-4 collapsed every "
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
              "final_accuracy_hard": headline_entry({m: final_per_seed("final_accuracy_hard", m) for m in methods}),
              "early_vanished_groups": headline_entry({m: early_per_seed("vanished_groups", m) for m in methods})},
    claims=CLAIMS, facts=FACTS,
    tuning=tune.untuned("no method was tuned on seeds disjoint from the reported ones: every method uses the same "
                        "settings, chosen in pilot runs of GRPO and Share-GRPO (see the deviations table)"))
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=DEVICE, profile=profile, training=RUNNER.timing())

lines = CLAIMS.summary_lines()
h = metrics_doc["headline"]
lines.append(f"- Warm-up model (no RL): greedy pass@1 ID {BASE_FINAL['final_accuracy_id']:.3f}, hard "
             f"{BASE_FINAL['final_accuracy_hard']:.3f} on the same held-out problems")
for m in methods:
    lines.append(f"- **{m}**: final greedy accuracy ID {h['final_accuracy_id'][m]['iqm']:.3f}, hard "
                 f"{h['final_accuracy_hard'][m]['iqm']:.3f}; early vanished groups "
                 f"{h['early_vanished_groups'][m]['iqm']:.3f} (IQM over {len(seeds)} seeds)")
display(prose(lines))
