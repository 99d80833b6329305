"""hrlkit.tasks.tool_sft: the loss mask leaves out exactly the prompt and the tool results, a short SFT run is
reproducible and lowers the loss, and a saved model reloads to the same outputs."""

import pytest
import torch

from hrlkit.tasks.tool_corpus import CorpusConfig, build_corpus
from hrlkit.tasks.tool_sft import SFTConfig, corpus_vocab, load_model, save_model, sft_example, train_sft

TEXT = ("<think> what is the area of vora ? </think> <search> area of vora </search> <result> the area of vora is "
        "12 . </result> <answer> \\boxed{12} </answer>")


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(CorpusConfig(n_entities=40, synthesis_per_split_level=3, rl_per_split_level=1,
                                     validation_per_split_level=1, test_per_split_level=1, samples=2))


def test_the_mask_covers_the_response_but_not_the_prompt_or_results():
    from hrlkit.tasks.tool_vocab import ToolVocab

    vocab = ToolVocab(["what", "is", "the", "area", "of", "vora"])
    ids, mask = sft_example(vocab, TEXT)
    tokens = [vocab.tokens[i] for i in ids]
    trained = [t for t, m in zip(tokens, mask) if m]
    assert trained == ["<search>", "area", "of", "vora", "</search>", "<answer>", "\\boxed{", "1", "2", "}",
                       "</answer>", "<eos>"]
    assert len(ids) == len(mask) and tokens[0] == "<bos>"


def test_a_short_run_is_reproducible_and_learns(corpus):
    vocab = corpus_vocab(corpus)
    texts = [item["text"] for item in corpus["sft"]]
    config = SFTConfig(d_model=16, n_layers=1, n_heads=2, steps=150, batch=8, learning_rate=3e-3, warmup_steps=5)
    a, log_a = train_sft(texts, vocab, config)
    b, log_b = train_sft(texts, vocab, config)
    assert log_a == log_b
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert log_a["loss"][-1] < 0.7 * log_a["loss"][0]


def test_save_and_load_round_trip(corpus, tmp_path):
    vocab = corpus_vocab(corpus)
    config = SFTConfig(d_model=16, n_layers=1, n_heads=2, steps=3, batch=4)
    model, log = train_sft([item["text"] for item in corpus["sft"]][:5], vocab, config)
    save_model(tmp_path / "m.pt", model, vocab, config, log)
    save_model(tmp_path / "n.pt", model, vocab, config, log)
    assert (tmp_path / "m.pt").read_bytes() == (tmp_path / "n.pt").read_bytes()
    again, vocab_again, config_again, log_again = load_model(tmp_path / "m.pt")
    assert vocab_again.tokens == vocab.tokens and config_again == config and log_again == log
    ids = torch.tensor([[vocab.bos, vocab.id("<think>")]])
    with torch.no_grad():
        assert torch.equal(model(model.embed_tokens(ids), torch.ones(1, 2))[0],
                           again(again.embed_tokens(ids), torch.ones(1, 2))[0])


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="steps"):
        SFTConfig(steps=0)
    with pytest.raises(ValueError, match="unknown SFTConfig field"):
        SFTConfig.from_dict({"step": 3})
