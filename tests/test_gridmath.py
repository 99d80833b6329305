import numpy as np
import pytest

from hrlkit.tasks import gridmath as gm

# colours: 0 red, 1 green, 2 blue.  Written row by row from the top.
COLOURS_FIXED = [
    [0, 1, 2, 0],
    [1, 1, 0, 2],
    [2, 0, 0, 1],
    [0, 2, 1, 2],
]
DIGITS_FIXED = [
    [3, 7, 1, 5],
    [0, 9, 2, 8],
    [4, 6, 1, 2],
    [5, 3, 7, 9],
]
GRID_FIXED = np.stack([np.array(COLOURS_FIXED), np.array(DIGITS_FIXED)], axis=-1)


def test_answers_by_hand():
    g = GRID_FIXED
    # red cells: (0,0)=3 (0,3)=5 (1,2)=2 (2,1)=6 (2,2)=1 (3,0)=5
    assert gm.answer_of(g, "sum_colour", ("red",)) == 22
    assert gm.answer_of(g, "count_colour", ("red",)) == 6
    # green: (0,1)=7 (1,0)=0 (1,1)=9 (2,3)=2 (3,2)=7 ; blue: (0,2)=1 (1,3)=8 (2,0)=4 (3,1)=3 (3,3)=9
    assert gm.answer_of(g, "sum_colour", ("green",)) == 25
    assert gm.answer_of(g, "count_colour", ("blue",)) == 5
    assert gm.answer_of(g, "max_row", (1,)) == 7
    assert gm.answer_of(g, "max_row", (3,)) == 6
    assert gm.answer_of(g, "diag_sum", ()) == 3 + 9 + 1 + 9
    assert gm.answer_of(g, "count_greater", (6,)) == 5  # 7, 9, 8, 7, 9
    assert gm.answer_of(g, "count_greater", (0,)) == 15
    assert gm.difficulty_of(g, "sum_colour", ("red",)) == 6
    assert gm.difficulty_of(g, "diag_sum", ()) == 4
    assert gm.difficulty_of(g, "count_greater", (6,)) == 5


def test_chains_by_hand():
    g = GRID_FIXED
    assert gm.chain_of(g, "sum_colour", ("blue",)) == "1 + 8 + 4 + 3 + 9 = 2 5".split()
    assert gm.chain_of(g, "count_colour", ("green",)) == "1 + 1 + 1 + 1 + 1 = 5".split()
    assert gm.chain_of(g, "max_row", (2,)) == "max 0 9 2 8 = 9".split()
    assert gm.chain_of(g, "diag_sum", ()) == "3 + 9 + 1 + 9 = 2 2".split()
    assert gm.chain_of(g, "count_greater", (8,)) == "1 + 1 = 2".split()
    empty = GRID_FIXED.copy()
    empty[..., 0] = 1
    assert gm.chain_of(empty, "sum_colour", ("red",)) == "0 = 0".split()
    assert gm.number_words(10) == ["1", "0"] and gm.number_words(0) == ["0"]
    with pytest.raises(ValueError):
        gm.number_words(-1)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="question type"):
        gm.answer_of(GRID_FIXED, "nope", ())
    with pytest.raises(ValueError, match="bad args"):
        gm.answer_of(GRID_FIXED, "max_row", (5,))
    with pytest.raises(ValueError, match="shape"):
        gm.answer_of(GRID_FIXED[:3], "diag_sum", ())
    with pytest.raises(ValueError, match="split"):
        gm.sample_problem(np.random.default_rng(0), split="test")
    with pytest.raises(ValueError, match="always involve"):
        gm.sample_problem(np.random.default_rng(0), split="hard", qtypes=["diag_sum"])
    with pytest.raises(ValueError, match="template"):
        gm.sample_problem(np.random.default_rng(0), template=gm.N_TEMPLATES)


def test_geometric_transforms_by_hand():
    g = np.arange(4).reshape(2, 2)  # [[0, 1], [2, 3]]
    assert gm.transform_grid(g, "rot90cw").tolist() == [[2, 0], [3, 1]]
    assert gm.transform_grid(g, "rot90ccw").tolist() == [[1, 3], [0, 2]]
    assert gm.transform_grid(g, "rot180").tolist() == [[3, 2], [1, 0]]
    assert gm.transform_grid(g, "vflip").tolist() == [[2, 3], [0, 1]]
    assert gm.transform_grid(g, "hflip").tolist() == [[1, 0], [3, 2]]
    assert gm.transform_grid(g, "hvflip").tolist() == [[3, 2], [1, 0]]


def test_variants_preserve_answer_exhaustively():
    rng = np.random.default_rng(123)
    for i in range(500):
        p = gm.sample_problem(rng, split="train" if i % 2 else "hard")
        original = p.grid
        assert p.answer == gm.answer_of(original, p.qtype, p.args)
        for template in range(gm.N_TEMPLATES):
            for transform in gm.TRANSFORMS:
                v = gm.make_variant(p, rng, template=template, force_transform=transform)
                assert v.transform == transform and v.template == template
                assert v.answer == p.answer == gm.answer_of(original, p.qtype, p.args)
                assert v.chain == p.chain and v.difficulty == p.difficulty
                if transform == "noise":
                    assert gm.answer_of(v.grid, p.qtype, p.args) == p.answer
                    assert np.array_equal(v.grid[..., 1], original[..., 1])
                    changed = v.grid[..., 0] != original[..., 0]
                    assert changed.any()
                    if gm.QUESTION_TYPES[p.qtype].colour_question:
                        asked = gm.COLOURS.index(p.args[0])
                        assert not (original[..., 0][changed] == asked).any()
                        assert not (v.grid[..., 0][changed] == asked).any()
                else:
                    assert np.array_equal(gm.undo_transform(v.grid, transform), original)
            # no transform at all
            v = gm.make_variant(p, rng, template=template, transform_prob=0.0)
            assert v.transform is None and v.grid is p.grid and v.answer == p.answer


def test_prefix_present_iff_transformed_and_names_it():
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(400):
        p = gm.sample_problem(rng)
        t = int(rng.integers(gm.N_TEMPLATES))
        v = gm.make_variant(p, rng, template=t, transform_prob=0.5)
        body = gm.render_question(p.qtype, p.args, t)
        seen.add(v.transform)
        if v.transform is None:
            assert v.question == body
            assert not any(w.startswith("<") for w in v.question)
        else:
            prefix = gm.TRANSFORM_PREFIXES[v.transform]
            assert v.question[0] == f"<{v.transform}>"
            assert v.question == [*prefix, *body]
            assert [w for w in v.question if w.startswith("<")] == [f"<{v.transform}>"]
    assert seen == {None, *gm.TRANSFORMS}


def test_paraphrases_and_templates():
    p = gm.sample_problem(np.random.default_rng(0), template=2)
    texts = gm.paraphrases(p)
    assert len(texts) == gm.N_TEMPLATES >= 3
    assert len({tuple(t) for t in texts}) == gm.N_TEMPLATES
    assert texts[2] == p.question and p.template == 2
    for qt in gm.QUESTION_TYPES.values():
        assert len(qt.templates) >= 3


def test_vocab_covers_prompts_and_targets():
    v = gm.VOCAB
    assert v.tokens[:7] == list(gm.SPECIAL_TOKENS)
    assert (v.pad_id, v.bos_id, v.eos_id, v.think_id, v.end_think_id, v.box_id, v.end_box_id) == tuple(range(7))
    for w in [*map(str, range(10)), "+", "-", "=", "x", *gm.COLOURS, *(f"<{t}>" for t in gm.TRANSFORMS)]:
        assert w in v
    rng = np.random.default_rng(1)
    for _ in range(300):
        p = gm.sample_problem(rng, split="train" if rng.random() < 0.5 else "hard")
        q = gm.make_variant(p, rng, template=int(rng.integers(gm.N_TEMPLATES)), transform_prob=0.7)
        for words in (gm.prompt_words(q), gm.target_words(q)):
            assert v.decode(v.encode(words)) == words
        assert gm.prompt_words(q) == ["<bos>", *q.question]
        assert gm.target_words(q)[-1] == "<eos>"
    assert v.decode(np.array(v.encode(["<box>", "7"]))) == ["<box>", "7"]
    with pytest.raises(KeyError, match="purple"):
        v.encode(["purple"])


def test_reward():
    good = ["<think>", "3", "+", "4", "=", "7", "</think>", "<box>", "7", "</box>"]
    assert gm.reward(good, 7) == pytest.approx((1.0, 1.0, 1.0))
    assert gm.reward([*good, "<eos>"], 7) == pytest.approx((1.0, 1.0, 1.0))
    assert gm.reward([*good, "<eos>", "<pad>", "<pad>"], 7) == pytest.approx((1.0, 1.0, 1.0))
    assert gm.reward(good, 8) == pytest.approx((0.1, 0.0, 1.0))
    no_end_think = [w for w in good if w != "</think>"]
    assert gm.reward(no_end_think, 7) == (0.0, 0.0, 0.0)
    assert gm.reward(["7"], 7) == (0.0, 0.0, 0.0)
    assert gm.reward(["<think>", "</think>", "7", "<eos>"], 7) == (0.0, 0.0, 0.0)
    assert gm.reward(["<think>", "</think>", "<box>", "</box>"], 7) == (0.0, 0.0, 0.0)  # empty box
    assert gm.reward([*good, "red"], 7) == (0.0, 0.0, 0.0)  # trailing garbage
    assert gm.reward(["<think>", "<box>", "</think>", "<box>", "7", "</box>"], 7)[2] == 0.0
    two_digit = ["<think>", "</think>", "<box>", "1", "2", "</box>", "<eos>"]
    assert gm.reward(two_digit, 12) == pytest.approx((1.0, 1.0, 1.0))
    p = gm.sample_problem(np.random.default_rng(0))
    assert gm.reward(gm.target_words(p), p.answer) == pytest.approx((1.0, 1.0, 1.0))


def test_splits_respect_difficulty_ranges():
    rng = np.random.default_rng(7)
    lo, hi = gm.SPLITS["hard"]
    assert lo > gm.TRAIN_MAX_DIFFICULTY
    train_qtypes, hard_qtypes = set(), set()
    for _ in range(400):
        p = gm.sample_problem(rng, split="train")
        assert 1 <= p.difficulty <= gm.TRAIN_MAX_DIFFICULTY
        assert p.difficulty == gm.difficulty_of(p.grid, p.qtype, p.args)
        train_qtypes.add(p.qtype)
        h = gm.sample_problem(rng, split="hard")
        assert lo <= h.difficulty <= hi
        assert h.difficulty == gm.difficulty_of(h.grid, h.qtype, h.args)
        hard_qtypes.add(h.qtype)
    assert train_qtypes == set(gm.QUESTION_TYPES)
    assert hard_qtypes == {"sum_colour", "count_colour", "count_greater"}


def test_sampling_is_deterministic_and_read_only():
    a = [gm.sample_problem(np.random.default_rng(42)) for _ in range(2)]
    ra, rb = np.random.default_rng(9), np.random.default_rng(9)
    for _ in range(50):
        p, q = gm.sample_problem(ra, split="hard"), gm.sample_problem(rb, split="hard")
        assert np.array_equal(p.grid, q.grid) and (p.qtype, p.args, p.question) == (q.qtype, q.args, q.question)
        vp = gm.make_variant(p, ra, template=1, transform_prob=0.5)
        vq = gm.make_variant(q, rb, template=1, transform_prob=0.5)
        assert np.array_equal(vp.grid, vq.grid) and vp.question == vq.question
    assert np.array_equal(a[0].grid, a[1].grid)
    with pytest.raises(ValueError):
        a[0].grid[0, 0, 0] = 1


def test_visual_encoder():
    grids = np.stack([GRID_FIXED, gm.transform_grid(GRID_FIXED, "rot90cw")])
    enc = gm.VisualEncoder(d_vis=16, seed=3)
    out = enc(grids)
    assert out.shape == (2, 16, 16) and out.dtype == np.float32
    assert np.all(np.abs(out) < 1.0)
    np.testing.assert_array_equal(out, gm.VisualEncoder(d_vis=16, seed=3)(grids))
    assert not np.allclose(out, gm.VisualEncoder(d_vis=16, seed=4)(grids))
    assert enc(GRID_FIXED).shape == (16, 16)
    # features: one-hots of colour, digit, row, col of the image as seen (row-major)
    f = enc.features(grids)
    assert f.shape == (2, 16, 21) and np.all(f.sum(-1) == 4)
    assert f[0, 1, 1] == 1 and f[0, 1, 3 + 7] == 1 and f[0, 1, 13 + 0] == 1 and f[0, 1, 17 + 1] == 1
    # a rotated image looks different
    assert not np.allclose(out[0], out[1])
    # token of the cell at seen position (0, 0) after rot90cw is original cell (3, 0)
    single = gm.transform_grid(GRID_FIXED, "rot90cw")[0, 0]
    assert single.tolist() == GRID_FIXED[3, 0].tolist()
