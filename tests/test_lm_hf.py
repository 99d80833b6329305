"""The transformers adapter drives the same RL code as the tiny LM (model built from a config, no download)."""

import pytest
import torch

pytest.importorskip("transformers")

from hrlkit.lm.hf import HFCausalLM  # noqa: E402

VOCAB = 23


@pytest.fixture(scope="module")
def model():
    m = HFCausalLM.from_config(VOCAB, d_model=32, n_layers=2, n_heads=4, seed=0)
    with torch.no_grad():   # sharpen the random model so sampling is not uniform
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(20.0)
    return m.eval()


def _prompts(model):
    ids = torch.tensor([[0, 0, 5, 6, 7], [3, 4, 5, 6, 7]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    return model.embed_tokens(ids), mask


def test_cache_matches_full_forward(model):
    ids = torch.tensor([[3, 4, 5, 6, 7, 8]])
    mask = torch.ones(1, 6)
    full, _ = model(model.embed_tokens(ids), mask)
    step, cache = model(model.embed_tokens(ids[:, :4]), mask[:, :4])
    nxt, _ = model(model.embed_tokens(ids[:, 4:5]), mask[:, :5], cache)
    torch.testing.assert_close(nxt[:, -1], full[:, 4], atol=1e-4, rtol=1e-4)


def test_left_padding_gives_the_same_logits(model):
    embeds, mask = _prompts(model)
    batched, _ = model(embeds, mask)
    alone, _ = model(model.embed_tokens(torch.tensor([[5, 6, 7]])), torch.ones(1, 3))
    torch.testing.assert_close(batched[0, -1], alone[0, -1], atol=1e-4, rtol=1e-4)


def test_generate_logprobs_equal_teacher_forced(model):
    embeds, mask = _prompts(model)
    gen = model.generate(embeds, mask, 6, stop_token_ids=(2,), generator=torch.Generator().manual_seed(0))
    again = model.generate(embeds, mask, 6, stop_token_ids=(2,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(gen.tokens, again.tokens)
    with torch.no_grad():
        lp = model.token_logprobs(embeds, mask, gen.tokens, gen.response_mask)
    torch.testing.assert_close(lp, gen.logprobs, atol=1e-4, rtol=1e-4)


def test_local_loading_never_downloads(tmp_path):
    with pytest.raises(Exception):
        HFCausalLM.from_local(tmp_path / "no-such-model")
