"""Tests of the tiny hand-written causal LM (hrlkit.lm.tiny)."""

from __future__ import annotations

import pytest
import torch

from hrlkit.lm.tiny import (
    GenerationOutput,
    TinyCausalLM,
    TinyLMConfig,
    attention_bias_mask,
    attention_positions,
    count_parameters,
    top_p_filter,
)

VOCAB = 23


def make_model(seed: int = 0, **kwargs) -> TinyCausalLM:
    torch.manual_seed(seed)
    cfg = TinyLMConfig(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_len=64, **kwargs)
    model = TinyCausalLM(cfg)
    # GPT-2 init makes logits nearly uniform; sharpen them so that comparisons are meaningful.
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.mul_(10.0)
    return model


def left_padded_batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(B=3, P=6) prompt ids and mask; row 1 has 2 left pads, row 2 has 4."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (3, 6), generator=g)
    mask = torch.ones(3, 6)
    mask[1, :2] = 0
    mask[2, :4] = 0
    ids[mask == 0] = 0
    return ids, mask


# ---------------------------------------------------------------------------- config


def test_config_validation():
    with pytest.raises(ValueError, match="d_model|n_heads"):
        TinyLMConfig(vocab_size=10, d_model=30, n_heads=4)
    for field in ("vocab_size", "d_model", "n_layers", "n_heads", "max_len", "d_ff"):
        kwargs = {"vocab_size": 10, field: 0}
        with pytest.raises(ValueError, match=field):
            TinyLMConfig(**kwargs)
    cfg = TinyLMConfig(vocab_size=10)
    assert cfg.ff_dim == 4 * cfg.d_model and cfg.d_head == 16


def test_parameter_count_and_tied_head():
    cfg = TinyLMConfig(vocab_size=100, d_model=64, n_layers=3, n_heads=4)
    model = TinyCausalLM(cfg)
    d, f = 64, 256
    per_block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
    assert count_parameters(model) == 100 * d + 256 * d + 3 * per_block + 2 * d
    # init: N(0, 0.02) weights, zero biases
    assert abs(model.blocks[0].qkv.weight.std().item() - 0.02) < 0.002
    assert model.blocks[0].qkv.bias.abs().max().item() == 0.0


# ---------------------------------------------------------------------------- forward


def test_positions_ignore_left_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert attention_positions(mask, 5).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]
    assert attention_positions(mask, 2).tolist() == [[1, 2], [3, 4]]


def test_attention_mask_causal_padding_and_no_empty_rows():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0]])
    allowed = attention_bias_mask(mask, 4)[:, 0]  # (B, T, S)
    assert allowed.any(dim=-1).all()  # no all-masked query row (backend-independent NaN guard)
    assert allowed[0, 0].tolist() == [True, False, False, False]  # a left pad attends only to itself
    assert allowed[0, 3].tolist() == [False, False, True, True]  # real query: real keys, causal
    assert allowed[1, 2].tolist() == [True, True, True, False]
    # with a cache: the last query sees every earlier real key
    assert attention_bias_mask(mask, 1)[1, 0, 0].tolist() == [True, True, True, True]
    assert attention_bias_mask(mask, 1)[0, 0, 0].tolist() == [False, False, True, True]


def test_kv_cache_matches_full_forward():
    model = make_model()
    ids, mask = left_padded_batch()
    cont = torch.randint(1, VOCAB, (3, 5), generator=torch.Generator().manual_seed(2))
    full_ids = torch.cat((ids, cont), dim=1)
    full_mask = torch.cat((mask, torch.ones(3, 5)), dim=1)
    with torch.no_grad():
        full_logits, full_cache = model(model.embed_tokens(full_ids), full_mask)
        logits, cache = model(model.embed_tokens(ids), mask)
        steps = [logits]
        for t in range(5):
            step_logits, cache = model(model.embed_tokens(cont[:, t : t + 1]), full_mask[:, : 6 + t + 1], cache)
            steps.append(step_logits)
    inc_logits = torch.cat(steps, dim=1)
    real = full_mask.bool()
    assert torch.isfinite(full_logits).all()
    torch.testing.assert_close(inc_logits[real], full_logits[real], atol=1e-5, rtol=0)
    assert full_cache[0][0].shape == (3, 4, 11, 8) and cache[1][1].shape == (3, 4, 11, 8)
    torch.testing.assert_close(cache[1][0], full_cache[1][0], atol=1e-5, rtol=0)


def test_left_padding_matches_unpadded():
    model = make_model()
    ids, mask = left_padded_batch()
    with torch.no_grad():
        batch_logits, _ = model(model.embed_tokens(ids), mask)
        for row, n_pad in ((1, 2), (2, 4)):
            alone, _ = model(model.embed_tokens(ids[row : row + 1, n_pad:]), torch.ones(1, 6 - n_pad))
            torch.testing.assert_close(batch_logits[row, n_pad:], alone[0], atol=1e-5, rtol=0)


def test_non_text_embeddings_and_bad_masks():
    model = make_model()
    ids, mask = left_padded_batch()
    visual = torch.randn(3, 2, 32)  # e.g. projected "visual tokens"
    embeds = torch.cat((visual, model.embed_tokens(ids)), dim=1)
    with torch.no_grad():
        logits, _ = model(embeds, torch.cat((torch.ones(3, 2), mask), dim=1))
    assert logits.shape == (3, 8, VOCAB) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="attention_mask"):
        model(model.embed_tokens(ids), mask[:, 1:])
    right_padded = mask.flip(1)
    with pytest.raises(ValueError, match="left-padded"):
        model.generate(model.embed_tokens(ids), right_padded, 3)
    with pytest.raises(ValueError, match="max_len"):
        model(model.embed_tokens(torch.zeros(1, 65, dtype=torch.long)), torch.ones(1, 65))


# ---------------------------------------------------------------------------- generate / log-probs


def forbid_processor(allowed: list[int]):
    def process(step: int, generated: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        assert generated.shape == (logits.shape[0], step)
        keep = torch.zeros(logits.shape[-1], dtype=torch.bool)
        keep[allowed] = True
        return logits.masked_fill(~keep, float("-inf"))

    return process


def test_token_logprobs_match_generate_unconstrained():
    model = make_model()
    ids, mask = left_padded_batch()
    prompt = model.embed_tokens(ids)
    out = model.generate(prompt, mask, 8, stop_token_ids=(3,), generator=torch.Generator().manual_seed(0))
    assert isinstance(out, GenerationOutput)
    with torch.no_grad():
        lp = model.token_logprobs(prompt, mask, out.tokens, out.response_mask)
    torch.testing.assert_close(lp, out.logprobs, atol=1e-5, rtol=0)
    assert (out.logprobs[out.response_mask == 1] < 0).all()


def test_token_logprobs_match_generate_constrained():
    model = make_model()
    ids, mask = left_padded_batch()
    prompt = model.embed_tokens(ids)
    proc = forbid_processor([2, 3, 5, 7, 11])
    out = model.generate(
        prompt, mask, 8, stop_token_ids=(3,), logits_processor=proc, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        constrained = model.token_logprobs(prompt, mask, out.tokens, out.response_mask, logits_processor=proc)
        unconstrained = model.token_logprobs(prompt, mask, out.tokens, out.response_mask)
    torch.testing.assert_close(constrained, out.logprobs, atol=1e-5, rtol=0)
    real = out.response_mask == 1
    # renormalising over the allowed tokens raises every log-prob
    assert (constrained[real] > unconstrained[real]).all()


def test_stop_tokens_pad_and_mask():
    model = make_model()
    ids, mask = left_padded_batch()
    stop = 4
    # stop token allowed from step 2 on, and forced at step 2 for row 0 and step 5 for the others
    def proc(step, generated, logits):
        logits = logits.clone()
        forced_step = torch.tensor([2, 5, 5])
        logits[:, stop] = float("-inf")
        logits[forced_step == step] = float("-inf")
        logits[forced_step == step, stop] = 0.0
        return logits

    out = model.generate(
        model.embed_tokens(ids), mask, 12, stop_token_ids=(stop, 99), pad_token_id=0, logits_processor=proc,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.tokens.shape == (3, 6)  # loop ended early once all rows stopped
    assert out.tokens[0, 2] == stop and out.response_mask[0, :3].tolist() == [1, 1, 1]
    assert out.tokens[0, 3:].tolist() == [0, 0, 0] and out.response_mask[0, 3:].tolist() == [0, 0, 0]
    assert out.logprobs[0, 3:].tolist() == [0, 0, 0]
    assert (out.tokens[1:, 5] == stop).all() and (out.response_mask[1:] == 1).all()
    assert (out.tokens[:, :2] != stop).all()
    with torch.no_grad():
        lp = model.token_logprobs(model.embed_tokens(ids), mask, out.tokens, out.response_mask, logits_processor=proc)
    torch.testing.assert_close(lp, out.logprobs, atol=1e-5, rtol=0)


def test_logits_processor_restricts_tokens():
    model = make_model()
    ids, mask = left_padded_batch()
    out = model.generate(
        model.embed_tokens(ids), mask, 10, logits_processor=forbid_processor([6, 9]),
        generator=torch.Generator().manual_seed(0),
    )
    assert set(out.tokens.unique().tolist()) == {6, 9}


def test_greedy_top_p_and_seeds():
    model = make_model()
    ids, mask = left_padded_batch()
    prompt = model.embed_tokens(ids).detach()
    greedy = model.generate(prompt, mask, 10, temperature=0.0)
    nucleus = model.generate(prompt, mask, 10, top_p=1e-6, generator=torch.Generator().manual_seed(5))
    assert torch.equal(greedy.tokens, nucleus.tokens)
    torch.testing.assert_close(greedy.logprobs, nucleus.logprobs)
    # greedy by hand with the full forward
    with torch.no_grad():
        cur, cur_mask = ids, mask
        for _ in range(3):
            logits, _ = model(model.embed_tokens(cur), cur_mask)
            cur = torch.cat((cur, logits[:, -1].argmax(-1, keepdim=True)), dim=1)
            cur_mask = torch.cat((cur_mask, torch.ones(3, 1)), dim=1)
    assert torch.equal(greedy.tokens[:, :3], cur[:, 6:])

    big = prompt.repeat(4, 1, 1), mask.repeat(4, 1)
    a = model.generate(*big, 10, generator=torch.Generator().manual_seed(123))
    b = model.generate(*big, 10, generator=torch.Generator().manual_seed(123))
    c = model.generate(*big, 10, generator=torch.Generator().manual_seed(456))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.logprobs, b.logprobs)
    assert not torch.equal(a.tokens, c.tokens)


def test_top_p_filter_keeps_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.6) == [True, True, False, False]
    assert kept(0.8) == [True, True, False, False]
    assert kept(0.81) == [True, True, True, False]
    assert kept(1.0) == [True, True, True, True]


def test_gradients_flow_to_inputs_and_weights():
    model = make_model()
    ids, mask = left_padded_batch()
    out = model.generate(model.embed_tokens(ids), mask, 5, generator=torch.Generator().manual_seed(0))
    projector = torch.nn.Linear(7, 32)
    feats = torch.randn(3, 6, 7, requires_grad=True)
    prompt = projector(feats)
    lp = model.token_logprobs(prompt, mask, out.tokens, out.response_mask)
    lp.sum().backward()
    assert feats.grad is not None and feats.grad[0].abs().sum() > 0
    assert projector.weight.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.blocks[0].qkv.weight.grad.abs().sum() > 0
    assert model.tok_emb.weight.grad.abs().sum() > 0


def test_overfits_one_sequence():
    torch.manual_seed(0)
    model = TinyCausalLM(TinyLMConfig(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_len=32))
    prompt_ids = torch.tensor([[1, 2]])
    target = torch.tensor([[5, 9, 9, 14, 3, 7, 20, 4]])
    prompt_mask, target_mask = torch.ones(1, 2), torch.ones(1, 8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss = -model.token_logprobs(model.embed_tokens(prompt_ids), prompt_mask, target, target_mask).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = model.generate(model.embed_tokens(prompt_ids), prompt_mask, 8, temperature=0.0, stop_token_ids=(4,))
    assert out.tokens.tolist() == target.tolist()
    assert out.response_mask.sum() == 8
