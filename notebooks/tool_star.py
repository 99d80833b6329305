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
# # Tool-Star: multi-tool reasoning with a hierarchical reward and self-critic RL, with real tools
#
# **Paper.** Guanting Dong, Yifei Chen, Xiaoxi Li, Jiajie Jin, Hongjin Qian, Yutao Zhu, Hangyu Mao, Guorui Zhou,
# Zhicheng Dou, Ji-Rong Wen. *Tool-Star: Empowering LLM-Brained Multi-Tool Reasoner via Reinforcement Learning*,
# arXiv [2505.16410](https://arxiv.org/abs/2505.16410) (May 2025). Code: `dongguanting/Tool-Star` (a verl fork for
# RL, LlamaFactory for SFT and DPO); the rewards and the rollout's result masking below follow that code.
#
# **The hierarchy.** It is in the reward, and in the order of training. The reward is a ladder: a valid format gates
# everything (−1 without it), the answer's correctness comes next, and a multi-tool bonus sits on top, earned only
# by a correct answer that used both tools. Training is two stages: a cold-start SFT on synthesised tool-use
# trajectories (easy questions), then RL on the hard questions: GRPO on multi-turn rollouts in which the tools'
# results are inserted and masked from the loss, with a self-critic DPO phase every `dpo_every` steps that turns the
# policy's own samples into preference pairs by the rule reward.
#
# **Reproduced.**
# - Two real tools: `search`, BM25 retrieval over a generated knowledge base of fictional places (ranked passages,
#   not a lookup of the answer's key); `python`, an arithmetic evaluator built on `ast` with a node whitelist and
#   limits, run in a separate process with a timeout (`hrlkit.tasks.python_tool`, fuzzed by its tests).
# - The data pipeline at small scale: tool-integrated sampling, hint-based sampling, quality normalisation (call
#   limit, repeated calls, format), difficulty-aware split (easy → SFT, hard → RL); a cached DVC stage
#   (`hrlkit.tasks.tool_corpus`), then the cold-start SFT, another cached stage (`hrlkit.tasks.tool_sft`).
# - The multi-turn rollout with stop tokens and tool results masked from the loss as in the authors'
#   `vllm_rollout.py`; the paper's hierarchical reward; GRPO without KL; the self-critic DPO phase (β = 0.1, sigmoid
#   loss, chosen reward ≥ 1 against rejected < 1).
# - The paper's baselines and ablations: SFT only; prompting without SFT; single-tool RL (search only, the Search-R1
#   analogue; python only, the ToRL analogue); without the multi-tool bonus; without self-critic DPO; without result
#   masking; and the reward ladder's own ablation, without its format gate. Two inference-time tools (code debugger,
#   tool-use backtracer).
#
# **Scaled or reconstructed.**
# - The LLM (Qwen2.5-3B) is a tiny causal transformer trained from scratch by the cold-start stage; the ten
#   benchmarks are three synthetic splits (knowledge: needs search; computational: needs python; hybrid: needs both,
#   except the density questions whose answer the knowledge base states), two or three difficulty levels each;
#   accuracy is exact match of the boxed answer, not an LLM judge.
# - RL runs `rl_steps` GRPO steps, not two epochs over 10 K questions; the reasoning-chain refiner is not built (see
#   the deviations table).

# %% tags=["parameters"]
profile = "smoke"                 # smoke: these defaults, at most 60 s; repro: the values in params.yaml
seeds = [0, 1]                    # one RL run per method and seed
tuning_seeds = [100]              # tuning and pilot seeds, disjoint from `seeds`
workers = 1                       # processes for independent runs (results do not depend on it)
out_dir = "scratch/tool_star"     # where figures/, runs.csv, metrics.json, timing.json go (git ignores scratch/)
runs_dir = "scratch/tool_star/runs"  # raw per-task results: stored once, loaded on every later run
tuning_dir = "scratch/tool_star/tuning"  # raw tuning trials, stored the same way
device = "cpu"                    # only "cpu": the rollout alternates a tiny LM with Python tools on the CPU
tuning_budget = 1                 # step sizes tried per RL method (the same for every method)
methods = ["tool-star", "no-dpo", "no-bonus", "no-mask", "no-gate", "search-only", "python-only"]  # first is ours
corpus_path = "data/tool_star/corpus.json"   # knowledge base, SFT trajectories and question pools (DVC stage)
sft_checkpoint = "data/tool_star/sft.pt"     # the cold-start model (DVC stage)
rl_per_split_level = 8            # RL-pool candidates screened per split and level (at most the corpus's pool)
test_per_split_level = 2          # test questions per split and level (at most the corpus's pool)
validation_per_split_level = 2    # validation questions per split and level, for tuning (at most the pool)
pool_samples = 4                  # samples per candidate when screening the RL pool by the cold-start pass rate
rl_steps = 2                      # GRPO steps (one rollout batch each)
prompts_per_step = 2              # questions per GRPO step
samples = 4                       # rollouts per question (GRPO's group size)
minibatches = 2                   # policy-loss minibatches per step
clip = 0.2                        # PPO clip ε
max_calls = 4                     # tool calls per response (β of the quality normalisation)
max_new_tokens = 60               # tokens per generation turn
temperature = 1.0                 # sampling temperature of rollouts
dpo_every = 2                     # GRPO steps between self-critic DPO phases
dpo_prompts = 2                   # questions sampled in a DPO phase
dpo_steps = 8                     # DPO gradient steps per phase
dpo_beta = 0.1                    # DPO β
dpo_lr_ratio = 1.0                # DPO step size over the GRPO step size (main runs)
strong_dpo_lr_ratio = 5.0         # the same in the sensitivity runs: the authors' ratio (LoRA 5e-6 over full 1e-6)
strong_dpo_seeds = [0]            # seeds of the sensitivity runs (ours at strong_dpo_lr_ratio)
eval_every = 1                    # GRPO steps between evaluations (test, or validation during tuning)
backtrace_retries = 2             # the backtracer's resamples of a response whose tool call failed
smooth_window = 2                 # steps in the rolling mean of training curves

# %% [markdown]
# What each parameter may be: checked in the setup cell below before any compute (and on params.yaml by the
# pipeline). A wrong value, a NaN, a float where an integer is needed, a repeated list entry, a missing file or an
# unknown name fails there, naming the parameter and what is allowed.

# %% tags=["schema"]
import json
from pathlib import Path

from pydantic import model_validator

from hrlkit import params as P
from hrlkit.provenance import repo_root

SLUG = "tool_star"
ALL_METHODS = ("tool-star", "no-dpo", "no-bonus", "no-mask", "no-gate", "search-only", "python-only")
OURS = "tool-star"


def pool_size_per_split_level(path: str, pool: str) -> int:
    """Questions per (split, level) in one pool of the corpus (the smallest group)."""
    counts: dict = {}
    for q in json.loads((repo_root() / path).read_text())["pools"][pool]:
        counts[(q["split"], q["level"])] = counts.get((q["split"], q["level"]), 0) + 1
    return min(counts.values())


class ToolStarParameters(P.Parameters):
    tuning_seeds: P.Seeds
    tuning_dir: P.OutDir
    device: P.Choice("cpu")
    tuning_budget: P.Int(ge=1, le=3)
    methods: P.Subset(*ALL_METHODS, first=OURS)
    corpus_path: P.FilePath
    sft_checkpoint: P.FilePath
    rl_per_split_level: P.Int(ge=1)
    test_per_split_level: P.Int(ge=1)
    validation_per_split_level: P.Int(ge=1)
    pool_samples: P.Int(ge=2)
    rl_steps: P.Int(ge=1)
    prompts_per_step: P.Int(ge=1)
    samples: P.Int(ge=2)
    minibatches: P.Int(ge=1)
    clip: P.Number(gt=0, lt=1)
    max_calls: P.Int(ge=1, le=8)
    max_new_tokens: P.Int(ge=8)
    temperature: P.Number(gt=0)
    dpo_every: P.Int(ge=1)
    dpo_prompts: P.Int(ge=1)
    dpo_steps: P.Int(ge=1)
    dpo_beta: P.Number(gt=0)
    dpo_lr_ratio: P.Number(gt=0, le=100)
    strong_dpo_lr_ratio: P.Number(gt=0, le=100)
    strong_dpo_seeds: P.UniqueList(P.Int(ge=0), min_len=0)
    eval_every: P.Int(ge=1)
    backtrace_retries: P.Int(ge=0)
    smooth_window: P.Int(ge=1)

    @model_validator(mode="after")
    def relations(self):
        P.require(self.minibatches <= self.prompts_per_step * self.samples, "minibatches", self.minibatches,
                  f"must be <= prompts_per_step × samples = {self.prompts_per_step * self.samples}")
        P.require(self.dpo_every <= self.rl_steps, "dpo_every", self.dpo_every,
                  f"must be <= rl_steps = {self.rl_steps} (otherwise no self-critic phase runs)")
        P.require(set(self.strong_dpo_seeds) <= set(self.seeds), "strong_dpo_seeds", self.strong_dpo_seeds,
                  f"must be among seeds {self.seeds} (the sensitivity runs are paired with the main runs)")
        P.require(self.eval_every <= self.rl_steps, "eval_every", self.eval_every,
                  f"must be <= rl_steps = {self.rl_steps}")
        for name, pool in (("rl_per_split_level", "rl"), ("test_per_split_level", "test"),
                           ("validation_per_split_level", "validation")):
            size = pool_size_per_split_level(self.corpus_path, pool)
            P.require(getattr(self, name) <= size, name, getattr(self, name),
                      f"must be <= {size}, the questions per split and level of the corpus's {pool} pool")
        return self


# %% [markdown]
# ## Setup: parameter check, imports, seeding

# %%
PARAMS = ToolStarParameters.from_notebook(globals())   # fails here, naming the parameter, before any compute

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import display

from hrlkit import figures, runs, stats, tune
from hrlkit.claims import Claim, ClaimsTable, build_metrics, headline_entry, write_metrics
from hrlkit.lm.tiny import TinyCausalLM, count_parameters
from hrlkit.runner import Runner
from hrlkit.seeding import derive_seed, seed_everything
from hrlkit.tasks.python_tool import PythonTool
from hrlkit.tasks.tool_corpus import CorpusConfig, question_from_dict, read_corpus
from hrlkit.tasks.tool_protocol import MULTI_TOOL_BONUS, TOOLS, hierarchical_reward
from hrlkit.tasks.tool_rl import RLConfig, dpo_phase, evaluate_responses, grpo_step
from hrlkit.tasks.tool_sft import load_model

PAPER = {"slug": SLUG, "arxiv": "2505.16410",
         "title": "Tool-Star: Empowering LLM-Brained Multi-Tool Reasoner via Reinforcement Learning"}
OUT = runs.prepare_out_dir(out_dir)
clock = runs.WallClock()
figures.set_theme()
seed_everything(0)      # the notebook's own streams; every task reseeds from its own seed
torch.set_num_threads(1)
SAVE = dict(out_dir=OUT, slug=SLUG, params=PARAMS)
print(f"profile={profile} workers={workers} device={device} out_dir={out_dir}")

# %% [markdown]
# ## Task: three splits, two tools
#
# The corpus stage generated a knowledge base of fictional places (population, area, capital, founding year,
# neighbours) and four disjoint question pools. A **knowledge** question asks a fact (it needs `search`); a
# **computational** question is arithmetic on numbers too large for the tiny LM to compute in its head (it needs
# `python`); a **hybrid** question computes with facts (it needs both). Level 2 chains more facts or operations than
# level 1. Hybrid level 3 asks a **derived fact**, the population density ⌊population / area⌋: two searches and the
# calculator, or one search for the places whose density the knowledge base states in a passage of its own (a share
# `derived_share` of them, drawn by the corpus stage; these questions are *stated*). On a stated question a one-tool
# answer and a two-tool answer can both be right, and only the multi-tool bonus r_M prefers one of them: the regime
# the paper's bonus is for. Whether the cold-start model actually gives such right one-tool answers is measured
# before any claim uses it (C2c's precondition, fact F14).
#
# The protocol: `<think> question </think>`, tool calls `<search> query </search>` and `<python> expression </python>`,
# each answered by the environment with `<result> … </result>`, and one `<answer> \boxed{…} </answer>`.
#
# **One-tool answers to hybrid questions are built in.** The corpus's sampler does the arithmetic of a share
# `skip_python_noise` of its hybrid samples in its head (right, so they survive normalisation; the corpus stage's
# setting is printed below), as a sampled LLM often does; on a density question it searches the density itself and
# answers what it finds (a wrong guess where the base does not state it, which quality normalisation drops). The
# cold-start model learns to skip python on some hybrid questions; where the answer needs arithmetic it cannot do in
# its head, those answers are wrong, which creates most of the room RL has to improve (see C5).

# %%
CORPUS = read_corpus(corpus_path)
CORPUS_CONFIG = CorpusConfig.from_dict(CORPUS["config"])
KB = CORPUS_CONFIG.knowledge_base()
SPLITS = ("knowledge", "computational", "hybrid")


def pool(name: str, per_split_level: int) -> list:
    """The first ``per_split_level`` questions of each (split, level) of a corpus pool, in the pool's order."""
    taken: dict = {}
    out = []
    for d in CORPUS["pools"][name]:
        key = (d["split"], d["level"])
        if taken.get(key, 0) < per_split_level:
            taken[key] = taken.get(key, 0) + 1
            out.append(question_from_dict(d))
    return out


TEST = pool("test", test_per_split_level)
VALIDATION = pool("validation", validation_per_split_level)
RL_CANDIDATES = pool("rl", rl_per_split_level)
TEST_SPLIT = np.array([q.split for q in TEST])
TEST_STATED = np.array([q.stated for q in TEST])     # level-3 hybrid questions whose answer one passage states
STATED_TEST = [q for q in TEST if q.stated]


def search_tool(query: str) -> tuple[bool, str]:
    """`search`: the top BM25 passages of the knowledge base for the query (as many as the corpus's trajectories)."""
    return True, " ".join(KB.search(query, CORPUS_CONFIG.search_k))


def python_call(python: PythonTool):
    """`python`: the sandboxed arithmetic evaluator (its own process, a timeout, limits on size and depth)."""
    def call(code: str) -> tuple[bool, str]:
        result = python(code)
        return result.ok, result.output
    return call


def debugged(call):
    """The code debugger (inference time): a python call that fails is repaired (characters outside arithmetic
    dropped, unbalanced parentheses closed or removed) and run again; the repaired result is shown if it runs."""
    def repaired(code: str) -> tuple[bool, str]:
        ok, output = call(code)
        if ok:
            return ok, output
        kept, depth = [], 0
        for ch in "".join(ch for ch in code if ch in "0123456789+-*/(). "):
            if ch == ")" and depth == 0:
                continue
            depth += {"(": 1, ")": -1}.get(ch, 0)
            kept.append(ch)
        fixed = "".join(kept) + ")" * depth
        return call(fixed) if fixed.strip() and fixed != code else (ok, output)
    return repaired


def make_tools(allowed: tuple[str, ...], python: PythonTool, debugger: bool = False) -> dict:
    """The tools a system offers. A call to a tool it does not offer is not a stop token: the response goes on with
    no result inserted, an invalid format."""
    tools = {"search": search_tool, "python": debugged(python_call(python)) if debugger else python_call(python)}
    return {name: tools[name] for name in allowed}


print(f"knowledge base: {len(KB.entities)} places; test {len(TEST)}, validation {len(VALIDATION)}, "
      f"RL candidates {len(RL_CANDIDATES)} questions; sampler's skip_python_noise {CORPUS_CONFIG.skip_python_noise:g}")
print(f"densities stated for {len(KB.stated)} of {len(KB.entities)} places (derived_share "
      f"{CORPUS_CONFIG.derived_share:g}); stated test questions: {int(TEST_STATED.sum())} of "
      f"{int(sum(q.level == 3 for q in TEST))} level-3 ones")
print("example:", TEST[-1].text, "→", TEST[-1].answer, "| tools an expert needs:", TEST[-1].tools)
print("search('" + " ".join(TEST[0].text.split()[-3:]) + "') →", search_tool(" ".join(TEST[0].text.split()[-3:]))[1])

# %% [markdown]
# ## The hierarchical reward
#
# From the paper (and the code's QA branch, `re_search.py`), with F1 the token F1 of the boxed answer against the
# reference:
#
# $$R = \begin{cases} \max(\mathrm{Acc} + r_M,\ \mathrm{Acc}) & \text{format valid and Acc} > 0\\ 0 & \text{format
# valid and Acc} = 0\\ -1 & \text{otherwise}\end{cases}\qquad r_M = 0.1 \text{ if both `<search>` and `<python>` are
# used.}$$
#
# The baselines' rewards change one rung: without the bonus $r_M = 0$; without the format gate (the ladder's
# ablation, `no-gate`) an invalid response is scored on its boxed answer like any other, so a bad format costs
# nothing; a single-tool system also counts a call tag of the tool it lacks as a format error (its protocol has no
# such tag), and can never earn $r_M$.

# %%
def reward_function(bonus: float, tools: tuple[str, ...], gate: bool = True):
    def reward(question, response: str) -> float:
        # R = −1 if the format is invalid (gate); F1 + r_M if F1 > 0 and both tools were called; F1 otherwise
        return hierarchical_reward(response, question.answer, bonus=bonus, tools=tools, gate=gate)
    return reward


_example = ("<think> population of vorlan plus 3 </think> <search> vorlan population </search> <result> vorlan "
            "population 734 </result> <python> 734 + 3 </python> <result> 737 </result> <answer> \\boxed{737} "
            "</answer>")
print("R(both tools, right) =", hierarchical_reward(_example, "737"),
      "| without r_M:", hierarchical_reward(_example, "737", bonus=0.0),
      "| search-only system:", hierarchical_reward(_example, "737", tools=("search",)),
      "| wrong:", hierarchical_reward(_example, "738"),
      "| format broken (no </think>):", hierarchical_reward(_example.replace("</think>", ""), "737"),
      "| … without the gate:", hierarchical_reward(_example.replace("</think>", ""), "737", gate=False))

# %% [markdown]
# ## The cold-start model and the RL pool
#
# Every RL run starts from the cold-start SFT model (its DVC stage: `SFT_CONFIG` below; the loss covers the tokens the
# model writes, not the prompt or the tool results). The RL pool is the **hard** part of the RL candidates for this
# model: the questions it solves sometimes but not always in `pool_samples` samples with both tools (a question
# it always or never solves gives every rollout the same reward, so GRPO's advantage vanishes on it). The paper's
# split compares language-only and tool-integrated pass rates of its sampler; here the sampler's split left too few
# hard questions (the corpus stage's statistics below), so the model's own pass rate decides.

# %%
SFT_MODEL, VOCAB, SFT_CONFIG, SFT_LOG = load_model(sft_checkpoint)
print(f"cold-start model: {SFT_CONFIG.steps} SFT steps of {SFT_CONFIG.batch} trajectories, step size "
      f"{SFT_CONFIG.learning_rate:g}; loss at the last logged steps "
      + ", ".join(f"{v:.3f}" for v in SFT_LOG["loss"][-3:]))
SFT_STATE = {k: v.clone() for k, v in SFT_MODEL.state_dict().items()}


def rl_config(mask_results: bool = True) -> RLConfig:
    return RLConfig(prompts_per_step=prompts_per_step, samples=samples, minibatches=minibatches, clip=clip,
                    max_calls=max_calls, max_new_tokens=max_new_tokens, temperature=temperature,
                    mask_results=mask_results, dpo_beta=dpo_beta, dpo_steps=dpo_steps)


def pass_rates(model, questions: list, n: int, seed: int) -> np.ndarray:
    """Per question: the share of ``n`` sampled responses (both tools) that are right."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "pool"))
    with PythonTool() as python:
        tools = make_tools(TOOLS, python)
        rows = [evaluate_responses(model, VOCAB, questions, tools, rl_config(), temperature=temperature,
                                   generator=generator) for _ in range(n)]
    return np.mean([[r["correct"] for r in rs] for rs in rows], axis=0)


POOL_RATES = pass_rates(SFT_MODEL, RL_CANDIDATES, pool_samples, seed=0)
RL_POOL = [q for q, rate in zip(RL_CANDIDATES, POOL_RATES) if 0 < rate < 1]
if not RL_POOL:
    raise RuntimeError("the RL pool is empty: the cold-start model solves every candidate always or never")
print(f"RL pool: {len(RL_POOL)} of {len(RL_CANDIDATES)} candidates are solved sometimes but not always "
      f"({int((POOL_RATES == 0).sum())} never, {int((POOL_RATES == 1).sum())} always)")

# %% [markdown]
# ## Method and baselines
#
# One GRPO step (`hrlkit.tasks.tool_rl.grpo_step`): `prompts_per_step` questions from the RL pool, `samples` rollouts
# each; the group-relative advantage
#
# $$\hat A_{i} = \frac{r_i - \operatorname{mean}(r_{1..G})}{\operatorname{std}(r_{1..G}) + \epsilon},$$
#
# broadcast to the response's tokens; the token-level clipped objective with no KL term (the authors' KL coefficient
# is 0), summed over the tokens the policy wrote (result tokens masked):
#
# $$J = \frac{1}{\sum_{i,t} m_{i,t}} \sum_{i,t} m_{i,t}\min\big(\rho_{i,t}\hat A_i,\
# \operatorname{clip}(\rho_{i,t}, 1-\varepsilon, 1+\varepsilon)\hat A_i\big),\qquad \rho_{i,t} =
# \frac{\pi_\theta(y_{i,t}\mid\cdot)}{\pi_{\text{old}}(y_{i,t}\mid\cdot)}.$$
#
# Every `dpo_every` steps, halfway between two evaluations (steps `dpo_every`/2, 3·`dpo_every`/2, …, so that no
# reported accuracy is measured right after a phase), a self-critic phase (`dpo_phase`): `dpo_prompts` questions,
# `samples` rollouts each, the best (reward ≥ 1) against the worst (reward < 1) as a pair, and `dpo_steps` steps of
#
# $$L_{\text{DPO}} = -\log\sigma\Big(\beta\big[\log\tfrac{\pi_\theta(y_w)}{\pi_{\text{ref}}(y_w)} -
# \log\tfrac{\pi_\theta(y_l)}{\pi_{\text{ref}}(y_l)}\big]\Big)$$
#
# with the policy at the phase's start as reference, by an Adam of its own whose step size is `dpo_lr_ratio` times
# the GRPO step size. The authors' DPO step size is 5 × their GRPO one, but for LoRA (rank 8) against a full
# fine-tune, which do not compare; the main runs use the GRPO step size, and sensitivity runs of ours use the
# authors' ratio (`strong_dpo_lr_ratio`). The methods differ in one thing each (`METHODS`). The single-tool
# baselines are specialists, as Search-R1 and ToRL are: they keep everything of ours (DPO, masking) but one tool,
# are trained on the questions of their own split in the RL pool (so their rollouts carry signal; the others see
# all three splits), and are evaluated with that tool only.

# %%
METHODS = {
    "tool-star": dict(tools=TOOLS, bonus=MULTI_TOOL_BONUS, mask=True, dpo=True),
    "no-dpo": dict(tools=TOOLS, bonus=MULTI_TOOL_BONUS, mask=True, dpo=False),        # "SFT + vanilla RL"
    "no-bonus": dict(tools=TOOLS, bonus=0.0, mask=True, dpo=True),                    # r_M = 0
    "no-mask": dict(tools=TOOLS, bonus=MULTI_TOOL_BONUS, mask=False, dpo=True),       # tool results in the loss
    "no-gate": dict(tools=TOOLS, bonus=MULTI_TOOL_BONUS, mask=True, dpo=True, gate=False),  # no −1 for bad format
    "search-only": dict(tools=("search",), bonus=0.0, mask=True, dpo=True, split="knowledge"),   # Search-R1
    "python-only": dict(tools=("python",), bonus=0.0, mask=True, dpo=True, split="computational"),  # ToRL
}


DPO_STEPS = [step for step in range(1, rl_steps + 1) if step % dpo_every == dpo_every // 2]   # halfway


def training_pool(method: str) -> list:
    """The RL pool a method trains on: all of it, or a specialist's own split."""
    split = METHODS[method].get("split")
    return [q for q in RL_POOL if split is None or q.split == split]


for _method in methods:
    if not training_pool(_method):
        raise RuntimeError(f"the RL pool holds no {METHODS[_method]['split']} question for {_method}: raise "
                           f"rl_per_split_level (now {rl_per_split_level}) or drop {_method} from `methods`")


def fresh_model() -> TinyCausalLM:
    model = copy.deepcopy(SFT_MODEL)
    model.load_state_dict(SFT_STATE)
    return model


def outcome_arrays(rows: list[dict]) -> dict:
    """Per-question outcomes as small integer arrays (the raw result; every statistic is computed from them)."""
    return {key: np.array([int(r[key]) for r in rows], dtype=np.int16)
            for key in ("correct", "format_ok", "calls", "search", "python", "failed_calls")}


def evaluate(model, questions: list, tools: dict) -> list[dict]:
    """Greedy tool-integrated answers."""
    return evaluate_responses(model, VOCAB, questions, tools, rl_config())


def backtraced(model, questions: list, tools: dict, rows: list[dict], seed: int) -> list[dict]:
    """The tool-use backtracer (inference time): a response whose tool call failed, or whose format is invalid, is
    sampled again up to ``backtrace_retries`` times; the first without either fault replaces it."""
    rows = list(rows)
    generator = torch.Generator().manual_seed(derive_seed(seed, "backtrace"))
    for _ in range(backtrace_retries):
        redo = [i for i, r in enumerate(rows) if r["failed_calls"] > 0 or not r["format_ok"]]
        if not redo:
            break
        again = evaluate_responses(model, VOCAB, [questions[i] for i in redo], tools, rl_config(),
                                   temperature=temperature, generator=generator)
        for i, row in zip(redo, again):
            if row["failed_calls"] == 0 and row["format_ok"]:
                rows[i] = row
    return rows


def final_evaluation(model, allowed: tuple[str, ...], python: PythonTool, seed: int) -> dict:
    """On the test set: greedy answers with the system's tools, then with the inference-time tools (debugger and
    backtracer)."""
    plain = evaluate(model, TEST, make_tools(allowed, python))
    generator = torch.Generator().manual_seed(derive_seed(seed, "stated samples"))
    stated = [outcome_arrays(evaluate_responses(model, VOCAB, STATED_TEST, make_tools(allowed, python), rl_config(),
                                                temperature=temperature, generator=generator))
              for _ in range(pool_samples)] if STATED_TEST else []
    tools = make_tools(allowed, python, debugger=True)
    assisted = backtraced(model, TEST, tools, evaluate(model, TEST, tools), seed)
    return {"final": outcome_arrays(plain), "final_inference_tools": outcome_arrays(assisted), "stated_sampled": stated}


# %% [markdown]
# ## Experiments
#
# Every run starts from the cold-start weights and takes `rl_steps` GRPO steps of `prompts_per_step` questions from
# the RL pool. For a given seed every two-tool method draws the same question stream and the same GRPO sampling
# random numbers (DPO phases draw their questions and samples from streams of their own; the specialists draw from
# their split with the same random numbers); once two methods' models differ, the same random numbers give
# different samples. Every method is evaluated on the same test questions: comparisons are paired by seed and
# question. The final evaluation also samples `pool_samples` answers to each stated density question (C2c).

# %%
def run_training(method: str, seed: int, learning_rate: float, dpo_ratio: float, split: str = "test") -> dict:
    """One RL run from the cold-start model; its curve evaluates on the test questions, or for tuning on the
    validation questions (``split``). ``dpo_ratio``: the DPO step size over the GRPO one."""
    spec = METHODS[method]
    model = fresh_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    critic_optimiser = torch.optim.Adam(model.parameters(), lr=dpo_ratio * learning_rate)
    questions = training_pool(method)
    config = rl_config(mask_results=spec["mask"])
    reward = reward_function(spec["bonus"], spec["tools"], spec.get("gate", True))
    questions_rng = np.random.default_rng(derive_seed(seed, "questions"))
    dpo_rng = np.random.default_rng(derive_seed(seed, "dpo-questions"))
    generator = torch.Generator().manual_seed(derive_seed(seed, "sampling"))
    dpo_generator = torch.Generator().manual_seed(derive_seed(seed, "dpo-sampling"))
    # tuning watches the validation questions the method trains for (a specialist: its own split)
    watched = TEST if split == "test" else [q for q in VALIDATION if spec.get("split") in (None, q.split)]
    curve, dpo, evals = [], [], []
    with PythonTool() as python:
        tools = make_tools(spec["tools"], python)
        for step in range(1, rl_steps + 1):
            batch = [questions[i] for i in questions_rng.integers(0, len(questions), prompts_per_step)]
            # Â_i = (r_i − mean r_group) / (std r_group + ε); maximise the clipped token objective J (no KL)
            curve.append({"step": step, **grpo_step(model, optimiser, VOCAB, batch, tools, reward, config,
                                                    generator)})
            if spec["dpo"] and step in DPO_STEPS:
                critic = [questions[i] for i in dpo_rng.integers(0, len(questions), dpo_prompts)]
                # pairs (best r ≥ 1, worst r < 1); L_DPO = −log σ(β [log π/π_ref (y_w) − log π/π_ref (y_l)])
                dpo.append({"step": step, **dpo_phase(model, critic_optimiser, VOCAB, critic, tools, reward, config,
                                                      dpo_generator)})
            if step % eval_every == 0 or step == rl_steps:
                evals.append({"step": step, "correct": outcome_arrays(evaluate(model, watched, tools))["correct"]})
        final = final_evaluation(model, spec["tools"], python, seed) if split == "test" else {}
    return dict(method=method, seed=seed, learning_rate=learning_rate, dpo_ratio=dpo_ratio, curve=curve, dpo=dpo,
                evals=evals, **final)


def base_evaluation() -> dict:
    """The models without RL on the test set: the cold-start model with both tools, with each tool alone and with the
    inference-time tools, and an untrained model of the same size ("prompting without SFT"); and ``pool_samples``
    sampled answers of the cold-start model with both tools (what RL's first rollouts look like: whether a right
    answer ever uses one tool, the choice r_M acts on)."""
    torch.manual_seed(derive_seed("untrained"))
    untrained = TinyCausalLM(SFT_MODEL.cfg).eval()
    generator = torch.Generator().manual_seed(derive_seed("cold-start samples"))
    with PythonTool() as python:
        out = {"sft": final_evaluation(SFT_MODEL, TOOLS, python, seed=0)}
        for tool in TOOLS:
            out[f"sft_{tool}_only"] = outcome_arrays(evaluate(SFT_MODEL, TEST, make_tools((tool,), python)))
        out["untrained"] = outcome_arrays(evaluate(untrained, TEST, make_tools(TOOLS, python)))
        out["sft_sampled"] = [outcome_arrays(evaluate_responses(SFT_MODEL, VOCAB, TEST, make_tools(TOOLS, python),
                                                                rl_config(), temperature=temperature,
                                                                generator=generator)) for _ in range(pool_samples)]
    return out


# %% [markdown]
# ## Tuning: the same budget for every method
#
# Declared before tuning: every RL method gets `tuning_budget` Adam step sizes from the grid below (the DPO phases
# run at the same step size, `dpo_lr_ratio` = 1, with an Adam of their own), each trained for the full run on each tuning seed (disjoint from the reported seeds), and
# is selected by the highest **mean greedy accuracy on the validation questions over the evaluations after step 0**
# (a specialist's on the validation questions of its own split, the ones it trains for).
# Where the grid comes from: pilots of ours on one tuning seed with earlier cold-start models (not kept) in which
# step sizes near 1e-4 first raised and then lost accuracy and 3e-4 collapsed, while smaller ones held their gains;
# the grid brackets that range, and the table below shows where each method's selection falls in it.

# %%
STEP_SIZE_GRID = (1e-5, 3e-5, 1e-4)
SPACES = {meth: tune.Space(learning_rate=tune.Grid(*STEP_SIZE_GRID)) for meth in ALL_METHODS}
SETUP = tune.Setup(metric="validation_accuracy", direction="maximize", budget=tuning_budget, seeds=tuning_seeds,
                   sampler="grid")


def trial(method: str, config: dict, seed: int) -> dict:
    """One tuning trial: a full run evaluated on the validation questions; the mean accuracy after step 0."""
    result = run_training(method, seed, config["learning_rate"], dpo_lr_ratio, split="validation")
    return {"validation_accuracy": float(np.mean([e["correct"].mean() for e in result["evals"]])),
            "final_validation_accuracy": float(result["evals"][-1]["correct"].mean())}


# %% tags=["tuning"]
TUNING_RUNNER = Runner(SLUG, PARAMS, runs_dir=tuning_dir, workers=workers, cut="tuning")
TUNED = tune.tune(TUNING_RUNNER, trial, {m: space for m, space in SPACES.items() if m in PARAMS["methods"]},
                  SETUP, reported_seeds=PARAMS["seeds"])
print(TUNED.summary())

# %% [markdown]
# The reported runs: every RL method on every seed with its selected step size, the sensitivity runs (ours with the
# authors' DPO step-size ratio, on `strong_dpo_seeds`), and the models without RL.

# %% tags=["experiments"]
CONFIG = {meth: TUNED.selected[meth] for meth in methods}
TASKS = ([dict(method=meth, seed=s, dpo_ratio=dpo_lr_ratio, **CONFIG[meth]) for meth in methods for s in seeds]
         + [dict(method=OURS, seed=s, dpo_ratio=strong_dpo_lr_ratio, **CONFIG[OURS]) for s in strong_dpo_seeds
            if strong_dpo_lr_ratio != dpo_lr_ratio])
RUNNER = Runner(SLUG, PARAMS, runs_dir=runs_dir, workers=workers)
RESULTS = RUNNER.run("rl", run_training, TASKS, desc="RL runs")
BASE = RUNNER.run("base", base_evaluation, [{}])[0]

# %%
# analysis side: tables, facts, tuning summary (never used by a task, so editing them never retrains)
from scipy import stats as scipy_stats

from hrlkit.claims import Fact, FactsTable
from hrlkit.display import prose, table

SFT_NAME, UNTRAINED_NAME = "sft-only", "no-sft (prompting)"


def summarise(outcomes: dict) -> dict:
    """The statistics of one evaluation on the test set, overall and per split.

    accuracy: share of right boxed answers; both_tools: share of responses that call search and python;
    calls: tool calls per response; format_errors: share of invalid responses; failed_calls: share of calls that
    failed; tool_use_accuracy: accuracy among the responses that call a tool; efficiency: right answers per call. The
    "_stated" group: the level-3 hybrid questions whose answer one passage states (where r_M can decide)."""
    out = {}
    groups = [("", np.ones(len(TEST), bool))] + [(f"_{s}", TEST_SPLIT == s) for s in SPLITS] + [
        ("_stated", TEST_STATED)]
    for name, where in groups:
        if not where.any():
            continue
        o = {k: np.asarray(v)[where].astype(float) for k, v in outcomes.items()}
        used = o["calls"] > 0
        out[f"accuracy{name}"] = float(o["correct"].mean())
        out[f"both_tools{name}"] = float(((o["search"] > 0) & (o["python"] > 0)).mean())
        out[f"calls{name}"] = float(o["calls"].mean())
        if name == "":
            out["format_errors"] = float(1 - o["format_ok"].mean())
            out["failed_calls"] = float(o["failed_calls"].sum() / max(o["calls"].sum(), 1))
            out["tool_use_accuracy"] = float(o["correct"][used].mean()) if used.any() else float("nan")
            out["efficiency"] = float(o["correct"].sum() / max(o["calls"].sum(), 1))
    return out


CURVE_METRICS = ("reward", "both_tools", "format_ok", "vanished_groups", "truncated")
SFT_SUMMARY = summarise(BASE["sft"]["final"])
ONE_TOOL = {tool: summarise(BASE[f"sft_{tool}_only"]) for tool in TOOLS}   # the cold start offered one tool


STRONG = f"{OURS} (DPO ×{strong_dpo_lr_ratio:g})"     # the sensitivity runs' name in runs.csv


def run_name(result: dict) -> str:
    """A run's name in runs.csv: its method, marked when it ran at the sensitivity DPO step-size ratio."""
    return result["method"] if result["dpo_ratio"] == dpo_lr_ratio else STRONG


def start_accuracy(method: str) -> float:
    """Test accuracy at step 0: the cold-start model offered the method's tools."""
    tools = METHODS[method]["tools"]
    return SFT_SUMMARY["accuracy"] if len(tools) == 2 else ONE_TOOL[tools[0]]["accuracy"]


def runs_rows():
    for r in RESULTS:
        key = dict(method=run_name(r), seed=r["seed"])
        for point in r["curve"]:
            for metric in CURVE_METRICS:
                yield dict(key, metric=f"train_{metric}", value=point[metric], step=point["step"])
        for point in r["dpo"]:
            yield dict(key, metric="dpo_pairs", value=point["pairs"], step=point["step"])
        yield dict(key, metric="test_accuracy_curve", value=start_accuracy(r["method"]), step=0)
        for point in r["evals"]:
            yield dict(key, metric="test_accuracy_curve", value=float(point["correct"].mean()), step=point["step"])
        for metric, value in summarise(r["final"]).items():
            yield dict(key, metric=metric, value=value, step=rl_steps)
        for metric, value in summarise(r["final_inference_tools"]).items():
            yield dict(key, metric=f"{metric}_inference_tools", value=value, step=rl_steps)
    for name, outcomes in ((SFT_NAME, BASE["sft"]["final"]), (UNTRAINED_NAME, BASE["untrained"]),
                           (f"{SFT_NAME} (search only)", BASE["sft_search_only"]),
                           (f"{SFT_NAME} (python only)", BASE["sft_python_only"])):
        for metric, value in summarise(outcomes).items():
            yield dict(method=name, seed=SFT_CONFIG.seed, metric=metric, value=value, step=0)
    for metric, value in summarise(BASE["sft"]["final_inference_tools"]).items():
        yield dict(method=SFT_NAME, seed=SFT_CONFIG.seed, metric=f"{metric}_inference_tools", value=value, step=0)


RUNS = runs.runs_frame(runs_rows())
runs.write_runs(RUNS, OUT, missing={"tool_use_accuracy": "no response called a tool",
                                     "tool_use_accuracy_inference_tools": "no response called a tool"})
print(f"runs.csv: {len(RUNS)} rows from {len(RESULTS)} RL runs and the models without RL")


def per_seed(metric: str, method: str) -> stats.Sample:
    return runs.per_seed(RUNS, metric, method, step=rl_steps)


def fmt_ci(values) -> str:
    return stats.format_ci(values, spec=".3f")


# %% [markdown]
# ## Tuning and pilot
#
# The tuning trials (mean over the tuning seeds), whether each selected step size is interior to the grid, and from
# the selected configurations a pilot: the spread over tuning seeds of ours minus each baseline (paired). The
# tolerance of the "not worse" claims and of "RL moves the policy" is declared here, before the reported runs, from
# noise measured on the tuning seeds: `TOLERANCE` = twice the pooled between-seed standard deviation of one run's
# final validation accuracy (every method and step size tried, on the same validation questions, pooled over those
# groups: the run-to-run noise of training itself). The binomial resolution of the test set is printed beside it.

# %%
def pooled_seed_sd(trials: pd.DataFrame, metric: str) -> tuple[float, int]:
    """Pooled within-group standard deviation over tuning seeds, groups = (method, configuration): sqrt(Σ (n_g − 1)
    s_g² / Σ (n_g − 1)), and its degrees of freedom."""
    groups = trials.groupby(["method", *[c for c in trials.columns if c.startswith("config.")]])[metric]
    dof = groups.count() - 1
    dof = dof[dof > 0]
    if dof.sum() == 0:
        return float("nan"), 0
    variance = groups.var(ddof=1)[dof.index]
    return float(np.sqrt((dof * variance).sum() / dof.sum())), int(dof.sum())


SEED_SD, SEED_SD_DOF = pooled_seed_sd(TUNED.trials, "final_validation_accuracy")
# TOLERANCE = 2 × pooled SD of a run's final validation accuracy over tuning seeds
BINOMIAL_RESOLUTION = float(2 * np.sqrt(SFT_SUMMARY["accuracy"] * (1 - SFT_SUMMARY["accuracy"]) / len(TEST)))
TOLERANCE = 2 * SEED_SD if np.isfinite(SEED_SD) and SEED_SD > 0 else BINOMIAL_RESOLUTION   # one tuning seed: binomial
print(f"TOLERANCE = 2 × pooled between-seed SD {SEED_SD:.4f} ({SEED_SD_DOF} degrees of freedom over "
      f"{len(tuning_seeds)} tuning seeds) = {TOLERANCE:.4f}; the test set's binomial resolution 2 × sqrt(p (1 − p) / N)"
      f" = {BINOMIAL_RESOLUTION:.4f}")
TUNING_TABLE = TUNED.configuration_table([SETUP.metric, "final_validation_accuracy"])
display(table(TUNING_TABLE.round({SETUP.metric: 4, "final_validation_accuracy": 4}).assign(
    **{"config.learning_rate": TUNING_TABLE["config.learning_rate"].map("{:g}".format)}).rename(
    columns={"config.learning_rate": "step size", SETUP.metric: "validation accuracy over the run",
             "final_validation_accuracy": "final validation accuracy"}),
    f"Mean over tuning seeds {tuning_seeds}. " + TUNED.summary()))
display(prose([f"Selected step sizes on the grid {{{', '.join(f'{v:g}' for v in STEP_SIZE_GRID)}}}: "
               + "; ".join(f"{meth} {CONFIG[meth]['learning_rate']:g} ({TUNED.position(meth, 'learning_rate')})"
                           for meth in methods) + "."]))
PILOTS = {b: tune.pilot(TUNED, first=OURS, second=b) for b in methods if b != OURS and OURS in TUNED.selected}
display(prose([f"- {OURS} − {b}: {p_.describe(TOLERANCE, len(seeds))}" for b, p_ in PILOTS.items()]
              + [f"Each pilot spread comes from {len(tuning_seeds)} tuning seeds ({len(tuning_seeds) - 1} degree(s) of "
                 "freedom per pair): a rough guide to the seed count, not a power analysis to lean on."]))

# %% [markdown]
# ## Results
#
# ### Training (the paper's reward and multi-tool curves)

# %%
def smoothed(metric: str) -> pd.DataFrame:
    d = RUNS[RUNS["metric"] == metric].sort_values("step").copy()
    d["value"] = d.groupby(["method", "seed"])["value"].transform(
        lambda v: v.rolling(smooth_window, min_periods=1).mean())
    return d


fig, axes = plt.subplots(1, 4, figsize=(15, 3.3))
panels = [("train_reward", "training reward (rolling mean)", True),
          ("train_both_tools", "rollouts calling both tools", True),
          ("train_format_ok", "rollouts with a valid format", True),
          ("test_accuracy_curve", "test accuracy (greedy)", False)]
for ax, (metric, label, smooth) in zip(axes, panels):
    data = smoothed(metric) if smooth else RUNS[RUNS["metric"] == metric]
    sns.lineplot(data=data, x="step", y="value", hue="method", hue_order=methods, ax=ax,
                 legend=(metric == "test_accuracy_curve"), **figures.SEEDS_BAND)
    ax.set(xlabel="GRPO step", ylabel=label)
sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "training", "Training reward, share of rollouts calling both tools, share with a valid "
                    "format (rolling mean over " f"{smooth_window} steps) and greedy test accuracy vs GRPO step, "
                    "step 0 = the cold-start model offered the method's tools "
                    f"({figures.band_caption()}; the tables give IQMs).", **SAVE)
plt.show()

# %% [markdown]
# ### Accuracy per split (the paper's Table 1 analogue) and tool statistics
#
# IQM over seeds for the RL methods; the models without RL are single models (one SFT seed).

# %%
REFERENCES = [SFT_NAME, UNTRAINED_NAME, f"{SFT_NAME} (search only)", f"{SFT_NAME} (python only)"]
ROWS = methods + [STRONG] * any(run_name(r) == STRONG for r in RESULTS) + REFERENCES


def iqm_of(metric: str, method: str) -> float:
    values = RUNS[(RUNS["metric"] == metric) & (RUNS["method"] == method)]["value"].to_numpy(dtype=float)
    if len(values) == 0:               # a group the test set does not hold (no stated question in a small smoke set)
        return float("nan")
    return float(stats.iqm(values)) if len(values) > 1 else float(values[0])


ACCURACY_TABLE = pd.DataFrame({m: {**{s: iqm_of(f"accuracy_{s}", m) for s in SPLITS},
                                   "average": iqm_of("accuracy", m)} for m in ROWS}).T
display(table(ACCURACY_TABLE.round(3).rename_axis("method").reset_index(),
              f"Greedy test accuracy ({len(TEST)} questions: "
              + ", ".join(f"{s} {int((TEST_SPLIT == s).sum())}" for s in SPLITS)
              + "). sft-only (search only / python only): the cold-start model offered one tool."))
TOOL_TABLE = pd.DataFrame({m: {"calls per answer": iqm_of("calls", m), "both tools (hybrid)":
                               iqm_of("both_tools_hybrid", m), "both tools (stated density questions)":
                               iqm_of("both_tools_stated", m), "both tools (single-tool splits)":
                               (iqm_of("both_tools_knowledge", m) + iqm_of("both_tools_computational", m)) / 2,
                               "tool-use accuracy": iqm_of("tool_use_accuracy", m),
                               "right answers per call": iqm_of("efficiency", m),
                               "failed calls": iqm_of("failed_calls", m), "format errors": iqm_of("format_errors", m)}
                           for m in methods + [SFT_NAME]}).T
display(table(TOOL_TABLE.round(3).rename_axis("method").reset_index(), "Tool statistics on the test set (IQM over seeds). Tool-use accuracy: accuracy "
              "among responses that call a tool (the paper's exact TE definition was not found)."))

fig, ax = plt.subplots(figsize=(10, 3.4))
bars = RUNS[RUNS["metric"].isin([f"accuracy_{s}" for s in SPLITS]) & RUNS["method"].isin(methods)].copy()
bars["split"] = bars["metric"].str.replace("accuracy_", "")
sns.barplot(data=bars, x="split", y="value", hue="method", hue_order=methods, ax=ax, **figures.SEEDS_BAND)
for s_i, s in enumerate(SPLITS):
    ax.hlines(iqm_of(f"accuracy_{s}", SFT_NAME), s_i - 0.45, s_i + 0.45, colors="black", linestyles="--",
              label=SFT_NAME if s_i == 0 else None)
ax.set(xlabel="", ylabel="test accuracy (greedy)")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
fig.tight_layout()
figures.save_figure(fig, "accuracy_per_split", "Greedy test accuracy per split and method "
                    f"({figures.band_caption()}; the tables give IQMs); dashed: the cold-start model.", **SAVE)
plt.show()

# %% [markdown]
# ### Inference-time tools
#
# The same final models, answering again with the code debugger and the tool-use backtracer on.

# %%
INFERENCE = pd.DataFrame({m: {"without": iqm_of("accuracy", m), "with inference-time tools":
                              iqm_of("accuracy_inference_tools", m)} for m in methods + [SFT_NAME]}).T
display(table(INFERENCE.round(3).rename_axis("method").reset_index(), "Greedy test accuracy without and with the debugger and backtracer (IQM over "
              "seeds)."))
fig, ax = plt.subplots(figsize=(7, 3))
gain = RUNS[RUNS["metric"] == "accuracy_inference_tools"].merge(
    RUNS[RUNS["metric"] == "accuracy"], on=["method", "seed", "step"], suffixes=("_with", "_without"))
gain["gain"] = gain["value_with"] - gain["value_without"]
sns.stripplot(data=gain[gain["method"].isin(methods)], x="method", y="gain", order=methods, ax=ax)
ax.axhline(0, color="black", lw=0.8)
ax.set(xlabel="", ylabel="accuracy gain")
ax.tick_params(axis="x", rotation=20)
fig.tight_layout()
figures.save_figure(fig, "inference_tools", "Per-seed accuracy gain from the inference-time tools (debugger and "
                    "backtracer) on the final models.", **SAVE)
plt.show()

# %% [markdown]
# ## Claims
#
# For a given seed every RL method answers the same test questions, so comparisons are **paired**. An accuracy
# claim's statistic is the IQM over seeds of the per-seed accuracy difference; its 95 % CI resamples seeds **and test
# questions** (a two-way bootstrap, `Claim.compare_items`), so it also covers which questions the test set happens to
# hold (greedy answers vary little across seeds, and a seeds-only CI would be too narrow). Comparisons with the
# cold-start model use its one model (one SFT seed) on every seed: their CI covers RL's seeds and the questions, not
# the SFT stage's seed.
#
# **p values.** The p value beside each row, and its Holm adjustment across the declared rows (the multiplicity
# view), come from hrlkit's two-sided paired test over seeds alone; the verdict comes from the CI, which also
# resamples the test questions, so a row can be significant by p and inconclusive by its CI (or the reverse). The
# summary below gives the Holm-adjusted p of every row it names.
#
# **Declared and post hoc.** Statements, statistics and thresholds are fixed in this notebook before its reported
# runs, and the notebook's git history shows when: the claims cell of each design is committed before the runs that
# report it. *History:* reviews of earlier designs found rows that the setup decided (a test that could not fail or
# could not pass); the preconditions marked *(added)* were written then, and make such a row untestable rather than
# letting the setup decide it. The stated density questions, the no-gate arm, rows C2c, C10 and C10b, the measure of
# C2's precondition on sampled answers and the tolerance from tuning-seed noise came with the current design.
# Preconditions:
# - C1a, C1b (multi-tool against single-tool RL on the union) need the regime the paper targets: the cold-start
#   model offered one tool solves at most half of the hybrid questions it solves with both; and *(added)* a test that
#   can fail: a single-tool system's **ceiling** on the union (its own split solved entirely, the other splits at the
#   cold-start accuracy with that tool alone) reaches ours' accuracy. Otherwise the task design (a search-only system
#   cannot run arithmetic on these numbers; a python-only one cannot look facts up) decides the row.
# - C1c, C1d (the specialist is not better on its own split) need *(added)* the specialist to learn there (its
#   own-split accuracy rises above the cold start's by more than `TOLERANCE`) and a test that can fail (ours leaves
#   more than `TOLERANCE` of room on that split). Until this design's review the code accepted a move in either
#   direction, so a specialist that got worse passed; the code was corrected to the stated intent after the reported
#   runs, and the row shows its verdict as first declared.
# - C2a, C2b (the bonus) need room for it: the cold-start model calls both tools on at most 90 % of the hybrid
#   questions; and *(added)* a bonus that can change a choice: some one-tool answer to a hybrid question can be right.
#   Where none can, correctness alone already rewards calling both tools and r_M only raises rewards that are already
#   the highest. It is measured where RL meets it, in the cold-start model's sampled answers with both tools offered
#   (an earlier design measured it with one tool offered, where the model also writes the other tool's tag).
# - C2c (the bonus where one tool suffices) needs a regime of a size that can show it: right one-tool answers make
#   at least 10 % of the cold-start model's sampled answers to the stated questions (with its exact binomial
#   interval); and room: the no-bonus arm's sampled answers there call both tools on at most 95 % (otherwise both arms
#   sit at the ceiling and neither outcome says anything about r_M). Its statistic uses `pool_samples` sampled answers
#   per stated question and seed, not the few greedy ones.
#
#   Why r_M matters only there: GRPO standardises rewards within a group, so a group whose rewards are {0, 1.1} gets
#   exactly the advantages of {0, 1}; the bonus changes an advantage only in a group that holds a right two-tool answer
#   beside a right one-tool answer (or a −1). The DPO pairs (chosen r ≥ 1, rejected r < 1) ignore it too.
# - C10, C10b (the format gate) need invalid formats for the gate to punish: at least 1 % of ours' step-1 rollouts.
# - C3, C3-readme (self-critic DPO) test the DPO phase at the GRPO step size. Whether it acts at all is shown beside
#   them (fact F12: its loss at the end of a phase, against ln 2 where the policy equals its reference). Runs of ours
#   at the authors' step-size ratio (a DPO step 5 × larger, above the grid's top GRPO step size) are a sensitivity
#   fact (F13), not a test: that step size was never a candidate for any method.
# - C6's wording was narrowed after this design's review to what its statistic measures (against the cold start,
#   not against the other RL arms, which its note lists).
# - C4's wording was narrowed after an earlier design's results to what its statistic measures (accuracy at the end
#   of the budget; how each method's accuracy moves is shown beside it); C5-other *(post hoc)* asks whether RL gains
#   anything on the splits the corpus's python-skipping does not touch.
# - C7 (inference-time tools) needs *(added)* something for them to act on: failed calls or invalid formats in at
#   least 1 % of ours' greedy answers without them.
# - Every comparison between RL methods needs RL to move the policy: ours' test accuracy or both-tool rate differs
#   from the cold start's by more than `TOLERANCE` (IQM over seeds).
#
# The cut-offs 90 % and 95 % (room), 1 % (faults to act on) and 10 % (the stated regime) are round numbers chosen
# with each precondition, before the runs it guards, not fitted to any data; `TOLERANCE` is the only threshold
# measured (tuning-seed noise). The cold start must use its tools competently for any of this to mean something:
# the cold-start stage's SFT length was raised (to the SFT steps printed in the cold-start section) after a shorter
# SFT of this corpus miscopied numbers into the calculator and got most computational questions wrong. That run's
# report, verdicts included, was seen before it was discarded with all its RL runs; the rerun was decided on the cold
# start's competence with its own tools, and no threshold, statistic or precondition changed between the two runs.

# %%
ACC = f"final greedy test accuracy, all three splits ({len(TEST)} questions)"
CLAIMS = ClaimsTable([
    Claim("C1a", "Multi-tool RL beats single-tool RL on the union of tasks (vs search only, the Search-R1 analogue)",
          ACC, "IQM over seeds of acc(tool-star) − acc(search-only)", threshold=0.0, direction=">",
          precondition="a single tool cannot solve the hybrid split; RL moves the policy; (added) the test can fail: "
          "the single-tool ceiling reaches ours' accuracy"),
    Claim("C1b", "… (vs python only, the ToRL analogue)", ACC, "IQM over seeds of acc(tool-star) − acc(python-only)",
          threshold=0.0, direction=">", precondition="as C1a"),
    Claim("C1c", "Single-tool RL is strong only on its own split: search-only RL is not better than Tool-Star on "
          "knowledge questions (by TOLERANCE or more)", "final greedy test accuracy, knowledge split",
          "IQM over seeds of acc(search-only) − acc(tool-star)", threshold=TOLERANCE, direction="<",
          precondition="RL moves the policy; (added) the specialist learns on its split; ours leaves room there"),
    Claim("C1d", "… python-only RL is not better than Tool-Star on computational questions",
          "final greedy test accuracy, computational split", "IQM over seeds of acc(python-only) − acc(tool-star)",
          threshold=TOLERANCE, direction="<", precondition="as C1c"),
    Claim("C2a", "The multi-tool bonus r_M raises multi-tool use on hybrid questions",
          "share of hybrid test questions answered with both tools",
          "IQM over seeds of both(tool-star) − both(no-bonus)", threshold=0.0, direction=">",
          precondition="room for the bonus: the cold-start model calls both tools on ≤ 90 % of hybrid questions; "
          "(added) a one-tool answer to a hybrid question can be right"),
    Claim("C2b", "The multi-tool bonus raises accuracy on hybrid questions", "final greedy test accuracy, hybrid",
          "IQM acc(tool-star) − acc(no-bonus)", threshold=0.0, direction=">", precondition="as C2a; RL moves the policy"),
    Claim("C2c", "… where one tool suffices: the bonus raises multi-tool use on the stated density questions",
          "share of sampled answers to the stated level-3 hybrid test questions that call both tools",
          "IQM over seeds of both(tool-star) − both(no-bonus)", threshold=0.0, direction=">",
          precondition="right one-tool answers ≥ 10 % of the cold-start model's sampled answers to stated questions; "
          "no-bonus calls both tools on ≤ 95 % of them (room); RL moves the policy"),
    Claim("C3", "Self-critic DPO improves on plain RL (the paper's ablation)", ACC,
          "IQM over seeds of acc(tool-star) − acc(no-dpo)", threshold=0.0, direction=">",
          precondition="RL moves the policy"),
    Claim("C3-readme", "SFT + vanilla RL almost reproduces Tool-Star (the authors' README): DPO adds less than "
          "TOLERANCE", ACC, "IQM over seeds of acc(tool-star) − acc(no-dpo)", threshold=TOLERANCE, direction="<",
          precondition="as C3"),
    Claim("C4", "Masking tool results from the loss helps RL within the budget (the paper: needed for stable RL)",
          ACC,
          "IQM over seeds of acc(tool-star) − acc(no-mask)", threshold=0.0, direction=">",
          precondition="RL moves the policy"),
    Claim("C4b", "… (format stays valid during training)", "share of training rollouts with a valid format, mean "
          "over all GRPO steps", "IQM over seeds of format(tool-star) − format(no-mask)", threshold=0.0,
          direction=">", precondition="RL moves the policy"),
    Claim("C5", "The RL stage (GRPO with self-critic DPO phases) improves on the cold-start model", ACC,
          "IQM over seeds of acc(tool-star) − acc(cold-start SFT model)", threshold=0.0, direction=">"),
    Claim("C5-other", "… on the splits the corpus's python-skipping does not touch", "final greedy test accuracy, "
          "knowledge and computational splits", "IQM over seeds of acc(tool-star) − acc(cold start)", threshold=0.0,
          direction=">", post_hoc=True),
    Claim("C6", "Tool-Star uses tools efficiently, as measured here: RL raises the right answers per tool call over "
          "the cold-start model (not a comparison with other RL methods)",
          "right answers per tool call on the test set", "IQM over seeds of eff(tool-star) − eff(cold start)",
          threshold=0.0, direction=">"),
    Claim("C7", "The inference-time tools (debugger, backtracer) raise Tool-Star's accuracy", ACC,
          "IQM over seeds of acc(with inference-time tools) − acc(without)", threshold=0.0, direction=">",
          precondition="(added) failed calls or invalid formats in ≥ 1 % of ours' answers"),
    Claim("C8", "Tool-integrated prompting with hint-based sampling, then quality normalisation and a "
          "difficulty-aware split, produce the training data", "—", "—", threshold=0.0, direction=">"),
    Claim("C9", "The cold-start fine-tuning is what lets RL explore tool use", "—", "—", threshold=0.0,
          direction=">"),
    Claim("C10", "The hierarchical reward (format gate, correctness, bonus) reinforces reward understanding: RL with "
          "its format gate ends more accurate than without it", ACC, "IQM over seeds of acc(tool-star) − "
          "acc(no-gate)", threshold=0.0, direction=">",
          precondition="invalid formats for the gate to punish: ≥ 1 % of ours' step-1 rollouts (sampled from the "
          "cold-start model) are invalid; RL moves the policy"),
    Claim("C10b", "… and keeps the format valid during training", "share of training rollouts with a valid format, "
          "mean over all GRPO steps", "IQM over seeds of format(tool-star) − format(no-gate)", threshold=0.0,
          direction=">", precondition="as C10"),
    Claim("H1", "Tool-Star reaches a 10-benchmark average of 56.6 (7B, third-party reproduction)", "—", "—",
          threshold=56.6, direction=">"),
])


# %%
def items(method: str, key: str = "final", split: str | None = None, outcome: str = "correct") -> np.ndarray:
    """(seeds × test questions) outcomes of one method's final greedy answers, seeds in order."""
    rows = sorted((r for r in RESULTS if run_name(r) == method), key=lambda r: r["seed"])
    where = slice(None) if split is None else TEST_STATED if split == "stated" else TEST_SPLIT == split
    return np.array([np.asarray(r[key][outcome])[where] for r in rows], dtype=float)


def both_tool_items(method: str, split: str) -> np.ndarray:
    """(seeds × questions) 1 where the answer called both tools; ``split`` may be "stated" (the stated questions)."""
    return np.minimum(items(method, split=split, outcome="search"), 1) * np.minimum(
        items(method, split=split, outcome="python"), 1)


def cold_start_items(like: np.ndarray, split: str | None = None) -> np.ndarray:
    """The cold-start model's outcomes, repeated for every seed of ``like``."""
    where = slice(None) if split is None else TEST_SPLIT == split
    return np.tile(np.asarray(BASE["sft"]["final"]["correct"], dtype=float)[where], (like.shape[0], 1))


def rl_moves_policy() -> tuple[bool, str]:
    """RL moves the policy: ours' test accuracy or both-tool rate differs from the cold start by > TOLERANCE."""
    acc = iqm_of("accuracy", OURS) - SFT_SUMMARY["accuracy"]
    both = iqm_of("both_tools", OURS) - SFT_SUMMARY["both_tools"]
    return max(abs(acc), abs(both)) > TOLERANCE, (f"tool-star − cold start: accuracy {acc:+.3g}, both-tool rate "
                                                  f"{both:+.3g} (IQM over seeds), TOLERANCE {TOLERANCE:.3g}")


def single_tool_regime() -> tuple[bool, str]:
    both = SFT_SUMMARY["accuracy_hybrid"]
    alone = {t: ONE_TOOL[t]["accuracy_hybrid"] for t in TOOLS}
    return all(a <= both / 2 for a in alone.values()), (
        f"cold-start hybrid accuracy with both tools {both:.3g}, " + ", ".join(f"{t} only {a:.3g}"
                                                                             for t, a in alone.items()))


OWN_SPLIT = {"search-only": "knowledge", "python-only": "computational"}


def single_tool_ceiling(baseline: str) -> tuple[bool, str]:
    """Can a single-tool system beat ours on the union? Its ceiling: its own split solved entirely, the others at the
    cold-start accuracy with that tool alone."""
    tool, own = METHODS[baseline]["tools"][0], OWN_SPLIT[baseline]
    alone = ONE_TOOL[tool]
    ceiling = float(np.mean([1.0 if s == own else alone[f"accuracy_{s}"] for s in SPLITS]))
    ours = iqm_of("accuracy", OURS)
    return ceiling >= ours, (f"the {baseline} ceiling on the union is {ceiling:.3g} ({own} solved entirely, the "
                             f"other splits at the cold-start {tool}-only accuracy), below tool-star's accuracy "
                             f"{ours:.3g} (IQM over seeds): decided by the task design; measured tool-star − "
                             f"{baseline}: " + fmt_ci(np.asarray(per_seed("accuracy", OURS))
                                                      - np.asarray(per_seed("accuracy", baseline))))


def specialist_can_decide(baseline: str) -> tuple[bool, str]:
    """The specialist learns on its split, and ours leaves room there for it to be better."""
    own = OWN_SPLIT[baseline]
    start = ONE_TOOL[METHODS[baseline]["tools"][0]][f"accuracy_{own}"]
    learned = iqm_of(f"accuracy_{own}", baseline) - start
    room = 1 - iqm_of(f"accuracy_{own}", OURS)
    return learned > TOLERANCE and room > TOLERANCE, (
        f"{baseline} on {own}: {start:.3g} at the cold start, {learned:+.3g} after RL; tool-star leaves {room:.3g} "
        f"of room there (IQM over seeds; each must exceed TOLERANCE {TOLERANCE:.3g})")


def one_tool_right_count(group: str) -> tuple[int, int]:
    """How many of the cold-start model's sampled answers (both tools offered, RL's sampling temperature) to the
    ``group`` questions ("hybrid" or "stated") are right and call exactly one tool, and of how many."""
    where = TEST_STATED if group == "stated" else TEST_SPLIT == group
    right_alone = [(o["correct"] > 0) & ((o["search"] > 0) != (o["python"] > 0)) for o in BASE["sft_sampled"]]
    return int(sum(r[where].sum() for r in right_alone)), int(where.sum()) * len(right_alone)


def exact_binomial_ci(k: int, n: int) -> tuple[float, float]:
    """Clopper–Pearson 95 % interval of a proportion k / n (scipy)."""
    if n == 0:
        return float("nan"), float("nan")
    ci = scipy_stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def bonus_can_act(group: str = "hybrid") -> tuple[bool, str]:
    """A one-tool answer in ``group`` can be right in RL's rollouts: only then does r_M decide between two right
    answers. Measured on the cold-start model's sampled answers with both tools offered (an earlier design
    measured it with one tool offered, where the model also writes the other tool's tag, a format error)."""
    right, n = one_tool_right_count(group)
    low, high = exact_binomial_ci(right, n)
    alone = {t: ONE_TOOL[t].get(f"accuracy_{group}", 0.0) for t in TOOLS}
    return right > 0, (f"right one-tool answers among the cold-start model's sampled answers to the {group} questions "
                       f"(both tools offered, {pool_samples} samples each): {right} of {n} [exact 95 % {low:.3g}, "
                       f"{high:.3g}]; greedy accuracy offered one "
                       "tool: " + ", ".join(f"{t} only {a:.3g}" for t, a in alone.items())
                       + " (with no right one-tool answer, correctness alone rewards both tools and r_M never changes "
                       "which of two right answers is preferred)")


def gate_can_act() -> tuple[bool, str]:
    start = RUNS[(RUNS["metric"] == "train_format_ok") & (RUNS["method"] == OURS) & (RUNS["step"] == 1)]["value"]
    invalid = 1 - float(start.mean())
    return invalid >= 0.01, f"invalid step-1 rollouts of tool-star (mean over seeds): {invalid:.3g}"


def tools_have_faults() -> tuple[bool, str]:
    faults = float(np.mean(items(OURS, outcome="failed_calls") > 0) + 1 - np.mean(items(OURS, outcome="format_ok")))
    return faults >= 0.01, f"tool-star's answers with a failed call or an invalid format: {faults:.3g}"


def compare_accuracy(claim_id: str, first: str, second: str, split: str | None = None) -> None:
    if first not in methods or second not in methods:
        CLAIMS[claim_id].untestable(f"needs {first} and {second} in `methods`")
        return
    CLAIMS[claim_id].compare_items(items(first, split=split), items(second, split=split), (first, second))


def as_declared(claim_id: str, first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> str:
    """The verdict the row would have had under its preconditions as first declared (without the added ones)."""
    twin = copy.copy(CLAIMS[claim_id]).compare_items(first, second, names)
    return (f"as first declared, without the added precondition: {twin.verdict}, {twin.value:.3g} "
            f"[{twin.ci95[0]:.3g}, {twin.ci95[1]:.3g}]")


def train_mean(metric: str, method: str) -> np.ndarray:
    d = RUNS[(RUNS["metric"] == metric) & (RUNS["method"] == method)]
    return d.groupby("seed")["value"].mean().sort_index().to_numpy()


def tuning_finals(method: str) -> str:
    """A method's final validation accuracy at each step size of the grid (mean over tuning seeds)."""
    rows = TUNING_TABLE[TUNING_TABLE["method"] == method]
    return f"{method} " + ", ".join(f"{lr:g}: {v:.3g}" for lr, v in zip(rows["config.learning_rate"],
                                                                       rows["final_validation_accuracy"]))


def last_gain(method: str) -> float:
    """Change of the mean test accuracy between the last two evaluations (> 0: still improving at the end)."""
    curve = RUNS[(RUNS["metric"] == "test_accuracy_curve") & (RUNS["method"] == method)]
    by_step = curve.groupby("step")["value"].mean().sort_index()
    return float(by_step.iloc[-1] - by_step.iloc[-2]) if len(by_step) > 1 else float("nan")


LAST_GAINS = {m: last_gain(m) for m in methods}
STILL_RISING = [m for m, g in LAST_GAINS.items() if g > TOLERANCE]     # a rise larger than run-to-run noise
PLATEAU = ("change of mean test accuracy over the last evaluation interval: "
           + ", ".join(f"{m} {g:+.3f}" for m, g in LAST_GAINS.items()))
MOVES = rl_moves_policy()
REGIME = single_tool_regime()
ROOM = (SFT_SUMMARY["both_tools_hybrid"] <= 0.9,
        f"the cold-start model calls both tools on {SFT_SUMMARY['both_tools_hybrid']:.3g} of hybrid questions")
for cid, baseline in (("C1a", "search-only"), ("C1b", "python-only")):
    if baseline not in methods:
        CLAIMS[cid].untestable(f"needs {baseline} in `methods`")
    elif (CLAIMS[cid].require(*REGIME) and CLAIMS[cid].require(*MOVES)
          and CLAIMS[cid].require(*single_tool_ceiling(baseline))):
        compare_accuracy(cid, OURS, baseline)
for cid, baseline in (("C1c", "search-only"), ("C1d", "python-only")):
    if baseline not in methods:
        CLAIMS[cid].untestable(f"needs {baseline} in `methods`")
    elif CLAIMS[cid].require(*MOVES) and CLAIMS[cid].require(*specialist_can_decide(baseline)):
        compare_accuracy(cid, baseline, OURS, OWN_SPLIT[baseline])
BONUS_TESTABLE = {cid: CLAIMS[cid].require(*ROOM) and CLAIMS[cid].require(*bonus_can_act())
                  and CLAIMS[cid].require(*MOVES) for cid in ("C2a", "C2b")}
if BONUS_TESTABLE["C2a"]:
    CLAIMS["C2a"].compare_items(both_tool_items(OURS, "hybrid"), both_tool_items("no-bonus", "hybrid"),
                                (OURS, "no-bonus"))
    _unstated = ~TEST_STATED[TEST_SPLIT == "hybrid"]
    CLAIMS["C2a"].note += ("; on the hybrid questions one tool cannot answer, both-tool shares (mean over seeds and "
                           "questions): " + ", ".join(f"{m} {both_tool_items(m, 'hybrid')[:, _unstated].mean():.3g}"
                                                      for m in (OURS, "no-bonus"))
                           + ": the difference comes from the stated questions (C2c)")
if BONUS_TESTABLE["C2b"]:
    compare_accuracy("C2b", OURS, "no-bonus", "hybrid")
def sampled_share(samples: list[dict], outcome: str) -> np.ndarray:
    """Per stated question, the share of its sampled answers that call both tools ("both") or are right."""
    def one(o: dict) -> np.ndarray:
        return (np.minimum(o["search"], 1) * np.minimum(o["python"], 1) if outcome == "both"
                else o["correct"]).astype(float)
    return np.mean([one(o) for o in samples], axis=0)


def stated_sampled_items(method: str, outcome: str = "both") -> np.ndarray:
    """(seeds × stated questions) of :func:`sampled_share`, seeds in order."""
    rows = sorted((r for r in RESULTS if run_name(r) == method), key=lambda r: r["seed"])
    return np.array([sampled_share(r["stated_sampled"], outcome) for r in rows])


def stated_regime() -> tuple[bool, str]:
    right, n = one_tool_right_count("stated")
    low, high = exact_binomial_ci(right, n)
    return n > 0 and right / n >= 0.10, (f"right one-tool answers among the cold-start model's {n} sampled answers to "
                                         f"the stated questions: {right} = {right / max(n, 1):.3g} [exact 95 % "
                                         f"{low:.3g}, {high:.3g}], against the declared 10 %")


def stated_room() -> tuple[bool, str]:
    both = float(stats.iqm(stated_sampled_items("no-bonus").mean(axis=1)))
    return both <= 0.95, f"no-bonus calls both tools on {both:.3g} of its sampled answers to stated questions"


if "no-bonus" not in methods or not STATED_TEST:
    CLAIMS["C2c"].untestable("needs no-bonus in `methods` and stated questions in the test set")
elif (CLAIMS["C2c"].require(*stated_regime()) and CLAIMS["C2c"].require(*stated_room())
      and CLAIMS["C2c"].require(*MOVES)):
    CLAIMS["C2c"].compare_items(stated_sampled_items(OURS), stated_sampled_items("no-bonus"), (OURS, "no-bonus"))
if "no-bonus" in methods and STATED_TEST:
    CLAIMS["C2c"].note += ("; sampled answers to the stated questions, both-tool share / accuracy (IQM over seeds): "
                           + ", ".join(f"{m} {stats.iqm(stated_sampled_items(m).mean(axis=1)):.3g} / "
                                       f"{stats.iqm(stated_sampled_items(m, 'correct').mean(axis=1)):.3g}"
                                       for m in (OURS, "no-bonus"))
                           + "; cold start " + " / ".join(f"{sampled_share(BASE['sft']['stated_sampled'], k).mean():.3g}"
                                                          for k in ("both", "correct")))
if "no-gate" not in methods:
    for cid in ("C10", "C10b"):
        CLAIMS[cid].untestable("needs no-gate in `methods`")
elif CLAIMS["C10"].require(*gate_can_act()) and CLAIMS["C10"].require(*MOVES):
    compare_accuracy("C10", OURS, "no-gate")
    CLAIMS["C10"].note += (f"; format errors of the final greedy answers: tool-star {iqm_of('format_errors', OURS):.3g}"
                           f", no-gate {iqm_of('format_errors', 'no-gate'):.3g} (IQM over seeds); each arm runs at "
                           f"its own tuned step size ({CONFIG[OURS]['learning_rate']:g}, "
                           f"{CONFIG['no-gate']['learning_rate']:g}); tuning trials at equal step sizes, final "
                           f"validation accuracy: {tuning_finals(OURS)}; {tuning_finals('no-gate')}")
    CLAIMS["C10b"].compare(train_mean("train_format_ok", OURS), train_mean("train_format_ok", "no-gate"),
                           (OURS, "no-gate"))
    CLAIMS["C10b"].note += "; the threshold is 0: compare the size of the difference with the rates themselves"
else:
    CLAIMS["C10b"].untestable(CLAIMS["C10"].reason)
for cid in ("C3", "C3-readme"):
    if CLAIMS[cid].require(*MOVES):
        compare_accuracy(cid, OURS, "no-dpo")
        CLAIMS[cid].note += (f"; tuning trials, final validation accuracy by step size: {tuning_finals(OURS)}; "
                             f"{tuning_finals('no-dpo')}; {PLATEAU}")
if CLAIMS["C4"].require(*MOVES):
    compare_accuracy("C4", OURS, "no-mask")
    _curve = RUNS[(RUNS["metric"] == "test_accuracy_curve") & RUNS["method"].isin([OURS, "no-mask"])]
    _by_step = _curve.groupby(["method", "step"])["value"].mean().unstack("step").round(3)
    CLAIMS["C4"].note += ("; mean test accuracy at the evaluations (steps " + ", ".join(map(str, _by_step.columns))
                          + "): " + "; ".join(f"{m} " + ", ".join(f"{v:.3g}" for v in row)
                                             for m, row in _by_step.iterrows())
                          + "; how much each seed's accuracy moves between evaluations is fact F15")
if "no-mask" in methods and CLAIMS["C4b"].require(*MOVES):
    CLAIMS["C4b"].compare(train_mean("train_format_ok", OURS), train_mean("train_format_ok", "no-mask"),
                          (OURS, "no-mask"))
    CLAIMS["C4b"].note += "; the threshold is 0: compare the size of the difference with the rates themselves"
CLAIMS["C5"].compare_items(items(OURS), cold_start_items(items(OURS)), (OURS, "cold start"))
CLAIMS["C5"].note += "; per split, IQM over seeds: " + ", ".join(
    f"{s} {SFT_SUMMARY[f'accuracy_{s}']:.3g} → {iqm_of(f'accuracy_{s}', OURS):.3g}" for s in SPLITS) + (
    "; the hybrid gain repairs the python-skipping the corpus put into the cold start (the deviations table): see "
    "C5-other")
if "no-dpo" in methods:
    CLAIMS["C5"].note += (f"; plain GRPO without the DPO phases reaches {iqm_of('accuracy', 'no-dpo'):.3g}: the gain "
                          "is RL's, not the self-critic phases' (C3)")
UNTOUCHED = np.isin(TEST_SPLIT, ["knowledge", "computational"])
CLAIMS["C5-other"].compare_items(items(OURS)[:, UNTOUCHED], cold_start_items(items(OURS))[:, UNTOUCHED],
                                 (OURS, "cold start"))
CLAIMS["C6"].measure_units(np.asarray(per_seed("efficiency", OURS)) - SFT_SUMMARY["efficiency"],
                           note=f"cold start {SFT_SUMMARY['efficiency']:.3g} right answers per call (one model); calls "
                                f"per answer {SFT_SUMMARY['calls']:.3g} → {iqm_of('calls', OURS):.3g}, right answers "
                                f"{SFT_SUMMARY['accuracy']:.3g} → {iqm_of('accuracy', OURS):.3g}: RL's extra right "
                                "answers come with extra calls; CI over seeds only; right answers per call of the other "
                                "RL arms (IQM): " + ", ".join(f"{m} {iqm_of('efficiency', m):.3g}" for m in methods
                                                               if m != OURS and m in ("no-dpo", "no-bonus", "no-mask",
                                                                                      "no-gate"))
                                + f" (tool-star {iqm_of('efficiency', OURS):.3g}): the row compares with the cold start "
                                "only, as declared")
if CLAIMS["C7"].require(*tools_have_faults()):
    CLAIMS["C7"].compare_items(items(OURS, "final_inference_tools"), items(OURS), ("with inference-time tools",
                                                                                  "without"))
else:
    CLAIMS["C7"].reason += ("; where calls do fail (python-only, F11), the tools gain about nothing either: the "
                            "rule-based repairs cannot fix a call that should have been a search")
for cid, first, second, names, declared in (
        ("C1a", items(OURS), items("search-only"), (OURS, "search-only"), REGIME[0] and MOVES[0]),
        ("C1b", items(OURS), items("python-only"), (OURS, "python-only"), REGIME[0] and MOVES[0]),
        ("C1c", items("search-only", split="knowledge"), items(OURS, split="knowledge"), ("search-only", OURS),
         MOVES[0]),
        ("C1d", items("python-only", split="computational"), items(OURS, split="computational"),
         ("python-only", OURS), MOVES[0]),
        ("C2a", both_tool_items(OURS, "hybrid"), both_tool_items("no-bonus", "hybrid"), (OURS, "no-bonus"),
         ROOM[0] and MOVES[0]),
        ("C2b", items(OURS, split="hybrid"), items("no-bonus", split="hybrid"), (OURS, "no-bonus"),
         ROOM[0] and MOVES[0]),
        ("C7", items(OURS, "final_inference_tools"), items(OURS), ("with the tools", "without"), True)):
    if CLAIMS[cid].verdict == "untestable" and declared and len(first) and len(second):
        CLAIMS[cid].reason += "; " + as_declared(cid, first, second, names)
CLAIMS["C8"].untestable("the sampler is a scripted teacher with a noise model (no LLM to sample from), so what the "
                        "pipeline yields is by construction; its counts are facts F6–F8")
CLAIMS["C9"].untestable("RL without the cold start needs a pretrained LLM; an untrained tiny LM has no language at "
                        "all (F2)")
CLAIMS["H1"].untestable("the benchmarks need a 7B LLM, web search and an LLM judge; accuracies on the synthetic "
                        "splits are not comparable")
display(CLAIMS)

# %% [markdown]
# ### Facts
#
# Numbers the claims rest on that are not tests.

# %%
STATS = CORPUS["stats"]


def bootstrap_fact(fact_id: str, fact: str, values, note: str) -> Fact:
    """A descriptive fact: the IQM over seeds of per-seed values, with its 95 % bootstrap CI over seeds."""
    value, ci = stats.bootstrap_ci(values)
    return Fact(fact_id, fact, value, "descriptive", ci95=ci, note=note)


def dpo_end_loss(name: str) -> float:
    losses = [p_["loss"] for r in RESULTS if run_name(r) == name for p_ in r["dpo"] if p_["pairs"] > 0]
    return float(np.mean(losses)) if losses else float("nan")


_strong_seeds = sorted(r["seed"] for r in RESULTS if run_name(r) == STRONG)
_strong_gap = (items(STRONG).mean(axis=1)
               - items("no-dpo")[np.isin(sorted(r["seed"] for r in RESULTS if run_name(r) == "no-dpo"),
                                         _strong_seeds)].mean(axis=1)) if _strong_seeds and "no-dpo" in methods \
    else np.array([])
_gaming = (np.asarray(per_seed("both_tools_knowledge", OURS)) + np.asarray(per_seed("both_tools_computational", OURS))
           - np.asarray(per_seed("both_tools_knowledge", "no-bonus"))
           - np.asarray(per_seed("both_tools_computational", "no-bonus"))) / 2 if "no-bonus" in methods else None
def instability(method: str) -> np.ndarray:
    """Per seed: the mean absolute change of test accuracy between consecutive evaluations after step 0 (the first
    interval, from the cold start, is learning rather than instability)."""
    curve = RUNS[(RUNS["metric"] == "test_accuracy_curve") & (RUNS["method"] == method) & (RUNS["step"] > 0)]
    return np.array([np.abs(np.diff(g.sort_values("step")["value"].to_numpy())).mean()
                     for _, g in curve.groupby("seed")])


def stated_share_gap(method: str) -> np.ndarray:
    """Per seed: the method's both-tool share of sampled answers to the stated questions minus no-bonus's."""
    return stated_sampled_items(method).mean(axis=1) - stated_sampled_items("no-bonus").mean(axis=1)


_bonus_arms = [m for m in ("no-dpo", "no-mask", "no-gate") if m in methods]
STATED_ONE_TOOL = one_tool_right_count("stated")      # (right one-tool answers, sampled answers) at the cold start
FACTS = FactsTable([f for f in [
    Fact("F1", "greedy test accuracy of the cold-start model every RL run starts from", SFT_SUMMARY["accuracy"],
         "descriptive", note=", ".join(f"{s} {SFT_SUMMARY[f'accuracy_{s}']:.3g}" for s in SPLITS)),
    Fact("F2", "greedy test accuracy of an untrained model of the same size offered both tools (prompting without "
         "SFT)", summarise(BASE["untrained"])["accuracy"], "descriptive",
         note="a tiny LM has no pretraining: without the cold start it has no language, let alone the protocol"),
    Fact("F3", "cold-start hybrid accuracy with search only, with python only (the multi-tool regime)",
         ONE_TOOL["search"]["accuracy_hybrid"], "descriptive",
         note=f"python only: {ONE_TOOL['python']['accuracy_hybrid']:.3g}; both: "
              f"{SFT_SUMMARY['accuracy_hybrid']:.3g}"),
    Fact("F4", "share of hybrid test questions the cold-start model answers with both tools",
         SFT_SUMMARY["both_tools_hybrid"], "descriptive",
         note=f"on the single-tool splits: knowledge {SFT_SUMMARY['both_tools_knowledge']:.3g}, computational "
              f"{SFT_SUMMARY['both_tools_computational']:.3g}"),
    Fact("F14", "cold-start share of the stated density questions answered with both tools (where r_M decides)",
         SFT_SUMMARY.get("both_tools_stated", float("nan")), "descriptive",
         note=f"{int(TEST_STATED.sum())} stated test questions; cold-start accuracy on them "
              f"{SFT_SUMMARY.get('accuracy_stated', float('nan')):.3g} with both tools (greedy), "
              f"{ONE_TOOL['search'].get('accuracy_stated', float('nan')):.3g} offered search alone; right one-tool "
              f"answers among its sampled answers: {STATED_ONE_TOOL[0]} of {STATED_ONE_TOOL[1]} [exact 95 % "
              + ", ".join(f"{x:.3g}" for x in exact_binomial_ci(*STATED_ONE_TOOL)) + "]"),
    Fact("F5", "RL pool: candidates the cold-start model solves sometimes but not always", len(RL_POOL),
         "descriptive", note=f"of {len(RL_CANDIDATES)} candidates, {pool_samples} samples each"),
    Fact("F6", "SFT trajectories synthesised (tool-integrated prompting + hint-based sampling)",
         STATS["sft_trajectories"], "descriptive", note=f"{STATS['hint_based']} of them hint-based"),
    Fact("F7", "synthesised responses dropped by quality normalisation (call limit, repeated calls, format, wrong)",
         sum(STATS["normalisation_dropped"].values()), "descriptive",
         note=", ".join(f"{k}: {v}" for k, v in STATS["normalisation_dropped"].items())),
    Fact("F8", "hard synthesis questions by the sampler's difficulty-aware split", sum(STATS["hard"].values()),
         "descriptive", note=f"easy (SFT): {sum(STATS['easy'].values())}; solved without tools (dropped): "
                             f"{sum(STATS['no_tool_needed'].values())}"),
    Fact("F9", "parameters of the policy", count_parameters(SFT_MODEL), "by construction"),
    bootstrap_fact("F10", "both-tool calls on single-tool questions, tool-star − no-bonus (does r_M buy needless "
                   "calls?)", _gaming, "mean of the knowledge and computational splits; IQM over seeds, paired 95 % CI")
    if _gaming is not None else None,
    bootstrap_fact("F11", "accuracy gain from the inference-time tools for python-only RL, whose calls fail most",
                   np.asarray(per_seed("accuracy_inference_tools", "python-only"))
                   - np.asarray(per_seed("accuracy", "python-only")),
                   f"its failed calls: {iqm_of('failed_calls', 'python-only'):.3g} of calls (IQM over seeds)")
    if "python-only" in methods else None,
    bootstrap_fact("F13", f"sensitivity: accuracy of tool-star at the authors' DPO/GRPO step-size ratio "
                   f"({strong_dpo_lr_ratio:g}) minus no-dpo's", _strong_gap,
                   f"paired over the {len(_strong_gap)} sensitivity seeds (CI over seeds only); its DPO step is above "
                   "every step size the tuning tried, where GRPO itself degraded in the pilots")
    if len(_strong_gap) else None,
    bootstrap_fact("F15", "instability (post hoc): mean absolute change of test accuracy between evaluations after "
                   "step 0, no-mask − tool-star", instability("no-mask") - instability(OURS),
                   f"per seed, IQM: no-mask {stats.iqm(instability('no-mask')):.3g}, tool-star "
                   f"{stats.iqm(instability(OURS)):.3g}; paired over seeds")
    if "no-mask" in methods else None,
    bootstrap_fact("F16", "consistency check (post hoc): both-tool share of sampled answers to stated questions, "
                   "no-dpo (r_M, no DPO) − no-bonus (DPO, no r_M); the arms differ in two things, so this is not a "
                   "clean replication of C2c", stated_share_gap("no-dpo"),
                   "the other arms with r_M minus no-bonus (IQM over seeds): " + ", ".join(
                       f"{m} {stats.iqm(stated_share_gap(m)):+.3g}" for m in _bonus_arms))
    if "no-bonus" in methods and "no-dpo" in methods and STATED_TEST else None,
    Fact("F12", "tool-star's DPO loss at the end of a self-critic phase (ln 2 where the policy equals its reference)",
         dpo_end_loss(OURS), "descriptive",
         note=f"ln 2 = {np.log(2):.3g}; at the authors' step-size ratio ({STRONG}): {dpo_end_loss(STRONG):.3g}; "
              "mean over phases and seeds"),
] if f is not None])
display(FACTS)

# %% [markdown]
# ## Deviations from the paper

# %%
SELECTED_STEP_SIZES = ", ".join(f"{m} {c['learning_rate']:g}" for m, c in CONFIG.items())
DEVIATIONS = pd.DataFrame([
    ("Model", "Qwen2.5-3B-Instruct (and 7B)", f"{count_parameters(SFT_MODEL)}-parameter tiny causal LM "
     f"(d = {SFT_CONFIG.d_model}, {SFT_CONFIG.n_layers} layers), trained from scratch by the cold start",
     "CPU budget; no weights may be downloaded"),
    ("Tools", "six: search (Wikipedia retriever / web), web-browser agent, Python interpreter; debugger, "
     "backtracer, refiner at inference", "search (BM25 over a generated knowledge base), sandboxed arithmetic "
     "python; a rule-based debugger and a backtracer at inference; no browser agent, no refiner",
     "offline; responses of at most a few turns leave nothing for a refiner to cut"),
    ("Debugger and backtracer", "an LLM repairs the code; the backtracer rolls back to before the failed call",
     "rules repair the expression; the backtracer resamples the whole response", "no second LLM; simpler"),
    ("Data", "90 K language-only problems + 1 K TIR data, sampled by the LLM with prompts and hints",
     f"{STATS['sft_trajectories']} trajectories from a noisy scripted sampler (the corpus stage)",
     "no LLM to sample from; the pipeline's steps are kept"),
    ("Single-tool answers to hybrid questions", "whatever the sampled LLM does", f"the sampler skips python on a "
     f"share {CORPUS_CONFIG.skip_python_noise:g} of its hybrid samples and writes the right result (on a density "
     "question it searches the density)", "constructed: they make most of RL's room (C5); C5's size depends on this "
     "share, which has no sensitivity run"),
    ("Questions one tool can answer", "open-domain questions where a retrieved page may already state a derived "
     "fact", f"hybrid level 3 (population density); the knowledge base states it for a share "
     f"{CORPUS_CONFIG.derived_share:g} of the {CORPUS_CONFIG.n_entities} places ({int(TEST_STATED.sum())} stated test "
     "questions)", "without them no one-tool hybrid answer can be right and r_M cannot change a choice (C2)"),
    ("Reward ablation", "none in the paper (the format gate, correctness and bonus are one design)", "no-gate: "
     "R = F1 (+ r_M), an invalid response scored on its boxed answer like any other", "the ladder's bottom rung is "
     "the part a claim about the hierarchy can test (C10); the top rung is no-bonus (C2)"),
    ("Hint-based sampling", "a language-only reasoning chain cut at a point, a hint inserted, continued with tools",
     "the language-only attempt's think block holds only the question, so the hint goes right after the whole "
     "question", "no reasoning chain to cut; cutting the question would teach answers to questions never asked (an "
     "earlier corpus did, in about a quarter of its SFT data)"),
    ("Hard set for RL", "questions tool-integrated sampling solves less often (difficulty-aware split)",
     "RL candidates the cold-start model solves sometimes but not always", "the sampler's split gave too few hard "
     "questions (F8)"),
    ("Benchmarks", "AIME, MATH, GSM8K, HotpotQA, 2Wiki, Bamboogle, MuSiQue, WebWalker, GAIA, HLE; LLM judge",
     "three synthetic splits × two or three levels; exact match of the boxed answer", "offline, deterministic"),
    ("Accuracy", "benchmark metrics (exact match, F1, LLM judge)", "exact match of the boxed answer, whatever the "
     "format (the reward gates on the format; the reported accuracy does not)", "a wrong format with a right box "
     "counts as right, for every method alike (format errors are in the tool table)"),
    ("DPO masking and minibatches", "not stated for DPO; verl's PPO minibatch 16 of a batch of 128 (8 per step)",
     f"the DPO log-likelihoods skip tool-result tokens like the GRPO loss; {minibatches} policy minibatches per step",
     "reconstructed; few rollouts per step"),
    ("Math reward", "the code's math branch: 0 (bad format) / 0.1 (wrong) / 1 (right), no bonus",
     "the paper's hierarchical reward on every split (F1 = exact match for numbers)", "the paper's definition; "
     "the code's branch contradicts it"),
    ("RL budget", "batch 128, rollout n = 8, 2 epochs over 10 K questions, lr 1e-6",
     f"{rl_steps} steps × {prompts_per_step} questions × {samples} rollouts; Adam step size tuned per method "
     f"({SELECTED_STEP_SIZES})", "CPU budget"),
    ("DPO phase", "LlamaFactory, LoRA r = 8, lr 5e-6 (GRPO 1e-6), 3 epochs; \"periodically\"",
     f"full model, an Adam of its own at {dpo_lr_ratio:g} × the GRPO step size ({strong_dpo_lr_ratio:g} × in the "
     f"sensitivity runs), {dpo_steps} steps on the pairs of {dpo_prompts} questions at GRPO steps "
     f"{', '.join(map(str, DPO_STEPS))} (halfway between evaluations)",
     "no LoRA at this size (a LoRA step size does not transfer to a full fine-tune); the period and the number of "
     "steps are not given (chosen, not tuned); the sensitivity runs use "
     f"{len(strong_dpo_seeds)} seeds (their effect is many times its CI; the budget went to the no-gate arm)"),
    ("Sampling budget of the ablations", "the paper's ablation removes the DPO phases",
     f"the same: the DPO methods sample {dpo_prompts * samples * len(DPO_STEPS)} more rollouts and take "
     f"{dpo_steps * len(DPO_STEPS)} more gradient steps than no-dpo (of "
     f"{rl_steps * prompts_per_step * samples} rollouts in all)", "the ablation as the paper defines it"),
    ("Single-tool baselines", "Search-R1 and ToRL (their own recipes, from a base model, on QA or math data)",
     "ours minus one tool (DPO and masking kept), from the same cold start, trained on their own split's part of the "
     "RL pool and evaluated with that tool only", "isolates the tool set; the cold start is the only pretrained "
     "model here"),
    ("Prompting baseline", "the instruct model prompted with the tool protocol", "an untrained tiny LM of the same "
     "size", "a tiny LM has no pretraining; shown for completeness (F2)"),
    ("Headline numbers", "third-party 7B: 10-benchmark average 56.6", "not comparable (H1 untestable)",
     "different model and tasks; only trends are tested"),
], columns=["what", "paper", "here", "why"])
display(table(DEVIATIONS))

# %% [markdown]
# ## Summary

# %%
metrics_doc = build_metrics(
    paper=PAPER, profile=profile, seeds=seeds, methods=methods,
    headline={"accuracy": headline_entry({m: per_seed("accuracy", m) for m in methods}),
              **{f"accuracy_{s}": headline_entry({m: per_seed(f"accuracy_{s}", m) for m in methods})
                 for s in SPLITS},
              "both_tools_hybrid": headline_entry({m: per_seed("both_tools_hybrid", m) for m in methods}),
              "accuracy_inference_tools": headline_entry({m: per_seed("accuracy_inference_tools", m)
                                                          for m in methods})},
    claims=CLAIMS, facts=FACTS, tuning=TUNED.to_json(),
    extra={"cold_start": {k: stats.round_sig(v) for k, v in SFT_SUMMARY.items()},
           "tolerance": stats.round_sig(TOLERANCE),
           "pilot": {f"{OURS} - {b}": {"sd": stats.round_sig(p_.sd), "effect": stats.round_sig(TOLERANCE),
                                        "seeds_for_effect": p_.seeds_for(TOLERANCE)}
                     for b, p_ in PILOTS.items() if np.isfinite(p_.sd)}})
write_metrics(OUT, metrics_doc)
clock.write(OUT, workers=workers, device=device, profile=profile, training=RUNNER.timing())


def verdict_of(cid: str) -> str:
    """The verdict, its value and, for a tested declared row, its Holm-adjusted p value."""
    c = CLAIMS[cid]
    holm = f"; Holm p {c.p_holm:.2g}" if c.p_holm is not None else ""
    return c.verdict + (f" ({c.value:+.3f}{holm})" if c.value is not None else "")


CLAIMS.apply_holm()
_counts = pd.Series([c.verdict for c in CLAIMS if not c.post_hoc]).value_counts()
lines = [f"**In short.** Of the {int(_counts.sum())} declared rows: "
         + ", ".join(f"{n} {v}" for v, n in _counts.items()) + "; the untestable ones ("
         + ", ".join(c.id for c in CLAIMS if c.verdict == "untestable") + ") say in their reason what decides them. "
         f"RL from the cold-start model, against the cold start itself: {verdict_of('C5')} (per split: "
         + ", ".join(f"{s_} {iqm_of(f'accuracy_{s_}', OURS) - SFT_SUMMARY[f'accuracy_{s_}']:+.3f}" for s_ in SPLITS)
         + f"; the hybrid split's room was built into the corpus); on the knowledge and computational splits "
         f"{verdict_of('C5-other')} (post hoc; knowledge accuracy below the cold start's on "
         f"{int((np.asarray(per_seed('accuracy_knowledge', OURS)) < SFT_SUMMARY['accuracy_knowledge']).sum())} of "
         f"{len(seeds)} seeds). "
         f"Multi-tool against single-tool RL on all splits: {verdict_of('C1a')} (search only), {verdict_of('C1b')} "
         f"(python only). The multi-tool bonus: multi-tool use on hybrid questions {verdict_of('C2a')}, hybrid "
         f"accuracy {verdict_of('C2b')}; on the stated density questions, where one tool suffices and only r_M "
         f"prefers two: {verdict_of('C2c')}. Self-critic DPO: {verdict_of('C3')}; the README's \"plain RL almost "
         f"reproduces it\": {verdict_of('C3-readme')}; at the authors' DPO step-size ratio, ours minus plain RL: "
         + (fmt_ci(_strong_gap) if len(_strong_gap) else "not run") + " (F13, a sensitivity run). "
         f"Masking tool results: {verdict_of('C4')} (accuracy at the end of the budget; see C4's note and fact F15 "
         "for the curves and their stability). "
         f"The reward's format gate: accuracy {verdict_of('C10')}, valid formats during training "
         f"{verdict_of('C10b')}. Still rising by more than TOLERANCE over the last evaluation interval: "
         f"{', '.join(STILL_RISING) or 'none'} ({PLATEAU}). "
         f"Precondition that RL moves the policy: {MOVES[1]}.", ""]
lines += CLAIMS.summary_lines()
lines.append(f"- Cold-start model (no RL): greedy test accuracy {SFT_SUMMARY['accuracy']:.3f} ("
             + ", ".join(f"{s} {SFT_SUMMARY[f'accuracy_{s}']:.3f}" for s in SPLITS) + ")")
for m in methods:
    lines.append(f"- **{m}** (step size {CONFIG[m]['learning_rate']:g}): accuracy {fmt_ci(per_seed('accuracy', m))}"
                 f"; hybrid {iqm_of('accuracy_hybrid', m):.3f}; both tools on hybrid "
                 f"{iqm_of('both_tools_hybrid', m):.3f} (IQM over {len(seeds)} seeds [95 % CI])")
display(prose(lines))
