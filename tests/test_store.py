"""Raw results on disk (hrlkit.store): exact round trip, deterministic bytes, no live objects, the reader's loader."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from hrlkit import runs, store


def same(a, b, path="result"):
    """Equal values and equal types, all the way down (NaN equals NaN)."""
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            same(u, v, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), path
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_index_type=True, check_column_type=True)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, (path, a, b)


RESULT = {
    "int": 3, "float": 0.1, "nan": float("nan"), "inf": -float("inf"), "none": None, "flag": True, "text": "é",
    "mixed": [1, 2.0, "s", None, False], "tuple": (1, (2, 3)),
    "np_f64": np.float64(1.5), "np_i32": np.int32(-3), "np_bool": np.bool_(True), "np_nan": np.float64("nan"),
    "small": np.arange(5.0), "large": np.random.default_rng(0).normal(size=(50, 3)), "ints": np.arange(40, dtype=np.int16),
    "with_nan": np.array([np.nan, 1.0]), "empty_array": np.zeros((0, 3)),
    "tensor": torch.randn(30, 2, generator=torch.Generator().manual_seed(0)), "tensor_i": torch.arange(3),
    "curve": [{"step": i, "value": i / 7, "done": i % 2 == 0, "tag": f"t{i}"} for i in range(12)],
    "curve_np": [{"step": np.int64(i), "value": np.float64(i) / 3} for i in range(9)],
    "trace": [(i, np.float64(i) * 0.5, i * 0.25) for i in range(10)],
    "short_curve": [{"a": 1}, {"a": 2}],
    7: "an int key", "__private": 1, (1, 2): "a tuple key",
    "frame": pd.DataFrame({"x": np.arange(10), "y": np.linspace(0, 1, 10), "s": [f"k{i}" for i in range(10)]}),
    "frame_indexed": pd.DataFrame({"v": [1.0, 2.0]}, index=[5, 9]),
    "series": pd.Series([1.0, 2.0], index=[3, 4], name="v"),
    "nested": {"deeper": [{"state": {"w": torch.ones(2, 2)}}]}, "empty": [], "empty_dict": {},
}


def test_round_trip_is_exact_types_included():
    same(RESULT, store.roundtrip(RESULT))


def test_files_round_trip_and_are_deterministic(tmp_path):
    store.write_result(tmp_path / "a", "r", RESULT, {"key": "k"})
    store.write_result(tmp_path / "b", "r", RESULT, {"key": "k"})
    for name in ("r.json", "r.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    header, back = store.read_result(tmp_path / "a", "r")
    assert header == {"key": "k"}
    same(RESULT, back)
    text = (tmp_path / "a" / "r.json").read_text()
    assert '["int", 3]' in text and '["float", 0.1]' in text      # small values stay readable in the JSON


def test_curves_are_stored_as_columns():
    curve = [{"step": i, "value": i / 7, "done": i % 2 == 0, "tag": f"t{i}"} for i in range(40)]
    tree, arrays = store.encode({"curve": curve})
    assert "__records__" in tree["result"]["curve"] and len(arrays) == 3    # int, float, bool columns; text inline


def test_live_objects_are_refused_with_their_path():
    with pytest.raises(store.StoreError, match=r"result\['m'\]\[1\].*Linear"):
        store.encode({"m": [1, torch.nn.Linear(2, 2)]})
    with pytest.raises(store.StoreError, match="object"):
        store.encode(np.array([object()]))
    with pytest.raises(store.StoreError, match="duplicate column"):
        store.encode(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_content_hash_follows_values():
    assert store.content_hash({"a": np.arange(3)}) == store.content_hash({"a": np.arange(3)})
    assert store.content_hash({"a": np.arange(3)}) != store.content_hash({"a": np.arange(3) + 1})
    assert store.content_hash({"a": 1}) != store.content_hash({"a": 1.0})


def test_npz_bytes_do_not_depend_on_the_clock(monkeypatch):
    import time

    first = store.npz_bytes([np.arange(4)])
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    monkeypatch.setattr(time, "localtime", lambda *a: time.gmtime(2_000_000_000))
    assert store.npz_bytes([np.arange(4)]) == first


@pytest.mark.parametrize("slug", ["teleop_slicing", "share_grpo", "ebus_charging", "motion_priors"])
def test_committed_raw_results_load_in_one_call(slug, root):
    if not (root / "data" / "runs" / slug / "manifest.json").exists():
        pytest.skip(f"no committed raw results for {slug}")
    df = runs.load(slug)
    manifest = store.read_manifest(root / "data" / "runs" / slug)
    assert len(df) == sum(len(g["tasks"]) for g in manifest["groups"].values())
    assert set(df["group"]) == set(manifest["groups"])
    if "seed" in df:
        assert df["seed"].notna().any()
