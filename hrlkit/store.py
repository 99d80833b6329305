"""Raw per-run results on disk: a deterministic, diff-friendly format that round-trips exactly, and a loader.

One task's result (what a notebook's task function returns) is written as two files:

* ``<name>.json`` — the structure and every small value, indented, keys in the order the task built them;
* ``<name>.npz``  — the bulk numbers (arrays, tensors, table columns, long curves), one ``.npy`` entry each, in a
  zip archive with fixed timestamps, so the same result always gives the same bytes. Absent when not needed.

What can be stored: ``None``, ``bool``, ``int``, ``float`` (NaN and ±inf included), ``str``, lists, tuples, dicts,
NumPy scalars and arrays (numeric or boolean), torch tensors, pandas DataFrames and Series. Anything else (a live
model, an optimiser, a simulator) is refused with the path to the offending value: return plain data from tasks
(a ``state_dict`` rather than the module). No pickles: a stored result is data, not code.

``decode(encode(x))`` gives back ``x`` exactly: the same types (Python ``float`` stays ``float``, ``np.float64`` stays
``np.float64``, a tuple stays a tuple) and the same bits. The task runner (:mod:`hrlkit.runner`) always hands a
notebook the decoded copy, so a result computed now and one loaded from disk are indistinguishable downstream.

:func:`hrlkit.runs.load` reads a paper's committed raw results (``data/runs/<slug>/``) as a DataFrame in one call.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

FORMAT_VERSION = 1
INLINE_MAX = 16            # arrays with at most this many finite elements stay in the JSON (readable diffs)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SCALAR_TYPES = (bool, int, float, str)
_NP_KINDS = "biuf"         # bool, signed int, unsigned int, float: the array dtypes we store


class StoreError(TypeError):
    """A value cannot be stored as plain data (the message gives its path inside the result)."""


# =====================================================================================================
# Encoding
# =====================================================================================================


class _Encoder:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []

    def array_ref(self, arr: np.ndarray, path: str) -> dict[str, Any]:
        arr = np.ascontiguousarray(arr)
        if arr.dtype.kind not in _NP_KINDS or arr.dtype.byteorder == ">":
            raise StoreError(f"{path}: arrays of dtype {arr.dtype} cannot be stored (numeric or boolean only)")
        out: dict[str, Any] = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
        if arr.size <= INLINE_MAX and (arr.dtype.kind != "f" or np.all(np.isfinite(arr))):
            out["data"] = arr.ravel().tolist()
        else:
            out["npz"] = f"a{len(self.arrays)}"
            self.arrays.append(arr)
        return out

    def encode(self, x: Any, path: str) -> Any:
        t = type(x)
        if x is None or t is bool or t is str:
            return x
        if t is int:
            return x
        if t is float:
            return x if math.isfinite(x) else {"__float__": repr(x)}
        if isinstance(x, np.generic):
            if x.dtype.kind not in _NP_KINDS:
                raise StoreError(f"{path}: NumPy scalars of dtype {x.dtype} cannot be stored")
            return {"__np__": x.dtype.str, "value": _json_number(x.item())}
        if t is list:
            table = _column_table(x)
            if table is not None:
                return {"__records__" if table[0] == "dict" else "__rows__": self._columns(table, path)}
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if t is tuple:
            return {"__tuple__": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(x)]}
        if t is dict:
            if all(type(k) is str and not k.startswith("__") for k in x):
                return {k: self.encode(v, f"{path}[{k!r}]") for k, v in x.items()}
            return {"__dict__": [[self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")]
                                 for k, v in x.items()]}
        if isinstance(x, np.ndarray) and t is np.ndarray:
            return {"__array__": self.array_ref(x, path)}
        mod = t.__module__.split(".")[0]
        if mod == "torch":
            import torch

            if isinstance(x, torch.Tensor):
                if x.dtype == torch.bfloat16:
                    raise StoreError(f"{path}: bfloat16 tensors cannot be stored; convert to float32 first")
                return {"__tensor__": self.array_ref(x.detach().cpu().numpy(), path)}
        if mod == "pandas":
            import pandas as pd

            if isinstance(x, pd.DataFrame):
                return {"__frame__": self._frame(x, path)}
            if isinstance(x, pd.Series):
                frame = self._frame(x.to_frame(name="__values__"), path)
                frame["name"] = self.encode(x.name, f"{path}.name")
                return {"__series__": frame}
        raise StoreError(f"{path}: a {t.__module__}.{t.__qualname__} cannot be stored as raw results; return plain "
                         "data (numbers, strings, lists, dicts, arrays, tensors, DataFrames) from the task")

    def _columns(self, table: tuple, path: str) -> dict[str, Any]:
        _, keys, columns = table
        out: dict[str, Any] = {"keys": [self.encode(k, f"{path} key") for k in keys], "n": len(columns[0][1]),
                               "columns": []}
        for (kind, values), key in zip(columns, keys):
            col_path = f"{path}[*][{key!r}]"
            if kind == "str":
                out["columns"].append({"type": "str", "values": values})
            elif kind in ("float", "int", "bool"):
                dtype = {"float": np.float64, "int": np.int64, "bool": np.bool_}[kind]
                out["columns"].append({"type": kind, **self.array_ref(np.asarray(values, dtype=dtype), col_path)})
            else:  # a NumPy scalar type
                out["columns"].append({"type": "np", **self.array_ref(np.asarray(values, dtype=kind), col_path)})
        return out

    def _frame(self, df, path: str) -> dict[str, Any]:
        import pandas as pd

        cols = []
        if df.columns.has_duplicates:
            raise StoreError(f"{path}: DataFrame has duplicate column names {list(df.columns)}")
        for i, name in enumerate(df.columns):
            if type(name) not in (str, int):
                raise StoreError(f"{path}: DataFrame column names must be str or int, got {name!r}")
            s = df.iloc[:, i]
            if s.dtype.kind in _NP_KINDS:
                cols.append({"name": name, **self.array_ref(s.to_numpy(), f"{path}[{name!r}]")})
            elif (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)) and all(type(v) is str for v in s):
                cols.append({"name": name, "dtype": "str", "pandas_dtype": str(s.dtype), "values": s.tolist()})
            else:
                raise StoreError(f"{path}: DataFrame column {name!r} has dtype {s.dtype}; store numbers, booleans or "
                                 "strings")
        if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
            index = None
        else:
            index = self.encode(df.index.to_numpy(), f"{path}.index")
        return {"columns": cols, "index": index, "n": len(df)}


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    return v


def _scalar_kind(v: Any) -> str | None:
    t = type(v)
    if t is float:
        return "float"
    if t is bool:
        return "bool"
    if t is int:
        return "int" if -2**63 <= v < 2**63 else None
    if t is str:
        return "str"
    if isinstance(v, np.generic) and v.dtype.kind in _NP_KINDS:
        return v.dtype.str
    return None


def _column_table(items: list) -> tuple | None:
    """A list of ≥ 8 dicts with the same keys (or tuples of the same length) whose every column holds one scalar
    type: stored column by column (curves and traces become arrays instead of thousands of JSON numbers)."""
    if len(items) < 8:
        return None
    first = items[0]
    if type(first) is dict:
        keys = list(first)
        if not keys or any(type(r) is not dict or list(r) != keys for r in items):
            return None
        shape = "dict"
    elif type(first) is tuple:
        keys = list(range(len(first)))
        if not keys or any(type(r) is not tuple or len(r) != len(keys) for r in items):
            return None
        shape = "tuple"
    else:
        return None
    columns = []
    for k in keys:
        values = [r[k] for r in items]
        kind = _scalar_kind(values[0])
        if kind is None or any(_scalar_kind(v) != kind for v in values):
            return None
        columns.append((kind, values))
    return shape, keys, columns


def encode(result: Any) -> tuple[dict[str, Any], list[np.ndarray]]:
    """``(json_tree, arrays)`` for one result; raises :class:`StoreError` naming the path of what cannot be stored."""
    enc = _Encoder()
    tree = {"format": FORMAT_VERSION, "result": enc.encode(result, "result")}
    return tree, enc.arrays


# =====================================================================================================
# Decoding
# =====================================================================================================


class _Decoder:
    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = arrays

    def array(self, ref: Mapping[str, Any]) -> np.ndarray:
        if "data" in ref:
            return np.asarray(ref["data"], dtype=np.dtype(ref["dtype"])).reshape(ref["shape"])
        arr = self.arrays[ref["npz"]]
        if arr.dtype.str != ref["dtype"] or list(arr.shape) != ref["shape"]:
            raise ValueError(f"stored array {ref['npz']} does not match its description {ref}")
        return arr

    def decode(self, x: Any) -> Any:
        if isinstance(x, list):
            return [self.decode(v) for v in x]
        if not isinstance(x, dict):
            return x
        if len(x) == 1:
            (tag, body), = x.items()
            if tag == "__float__":
                return float(body)
            if tag == "__tuple__":
                return tuple(self.decode(v) for v in body)
            if tag == "__dict__":
                return {self.decode(k): self.decode(v) for k, v in body}
            if tag == "__array__":
                return self.array(body).copy()
            if tag == "__tensor__":
                import torch

                return torch.from_numpy(self.array(body).copy())
            if tag in ("__records__", "__rows__"):
                return self._table(tag, body)
            if tag == "__frame__":
                return self._frame(body)
            if tag == "__series__":
                frame = self._frame(body)
                return frame["__values__"].rename(self.decode(body["name"]))
        if set(x) == {"__np__", "value"}:
            value = self.decode(x["value"])
            return np.dtype(x["__np__"]).type(value)
        return {k: self.decode(v) for k, v in x.items()}

    def _table(self, tag: str, body: Mapping[str, Any]) -> list:
        keys = [self.decode(k) for k in body["keys"]]
        columns = []
        for col in body["columns"]:
            if col["type"] == "str":
                columns.append(list(col["values"]))
            elif col["type"] == "np":
                arr = self.array(col)
                columns.append([arr.dtype.type(v) for v in arr])
            else:
                columns.append(self.array(col).tolist())
        rows = zip(*columns) if columns else [() for _ in range(body["n"])]
        if tag == "__records__":
            return [dict(zip(keys, row)) for row in rows]
        return [tuple(row) for row in rows]

    def _frame(self, body: Mapping[str, Any]):
        import pandas as pd

        data = {}
        for col in body["columns"]:
            data[col["name"]] = (pd.Series(col["values"], dtype=col["pandas_dtype"]) if col.get("dtype") == "str"
                                 else self.array(col))
        df = pd.DataFrame(data) if data else pd.DataFrame(index=pd.RangeIndex(body["n"]))
        if body["index"] is not None:
            df.index = self.decode(body["index"])
        return df


def decode(tree: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> Any:
    if tree.get("format") != FORMAT_VERSION:
        raise ValueError(f"raw result written in format {tree.get('format')!r}; this hrlkit reads {FORMAT_VERSION}")
    return _Decoder(arrays or {}).decode(tree["result"])


# =====================================================================================================
# Files
# =====================================================================================================


def _compact(x: Any, indent: str, width: int) -> str:
    """JSON with one value per line, except that a list or object that fits on one line stays on one line."""
    flat = json.dumps(x, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    if len(indent) + len(flat) <= width or not isinstance(x, (list, dict)) or not x:
        return flat
    inner = indent + " "
    if isinstance(x, list):
        items = [inner + _compact(v, inner, width) for v in x]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_compact(v, inner, width)}" for k, v in x.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def dumps_json(tree: Any, width: int = 110) -> bytes:
    """Deterministic, diff-friendly JSON (short containers on one line)."""
    return (_compact(tree, "", width) + "\n").encode("utf-8")


def npz_bytes(arrays: Iterable[np.ndarray]) -> bytes:
    """A ``.npz`` archive whose bytes depend only on the arrays (fixed entry dates and attributes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for i, arr in enumerate(arrays):
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"a{i}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.getvalue())
    return buf.getvalue()


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_result(folder: Path, name: str, result: Any, header: Mapping[str, Any] | None = None) -> list[Path]:
    """Store ``result`` as ``folder/<name>.json`` (+ ``.npz``); ``header`` (task, key, …) goes first in the JSON."""
    tree, arrays = encode(result)
    tree = {**(header or {}), **tree}
    folder = Path(folder)
    npz = folder / f"{name}.npz"
    written = []
    if arrays:
        atomic_write(npz, npz_bytes(arrays))
        written.append(npz)
    else:
        npz.unlink(missing_ok=True)
    atomic_write(folder / f"{name}.json", dumps_json(tree))   # the JSON last: it marks the result as complete
    written.append(folder / f"{name}.json")
    return written


def read_result(folder: Path, name: str) -> tuple[dict[str, Any], Any]:
    """``(header, result)`` of a stored result."""
    folder = Path(folder)
    tree = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    npz = folder / f"{name}.npz"
    arrays = read_npz(npz) if npz.exists() else {}
    header = {k: v for k, v in tree.items() if k not in ("format", "result")}
    return header, decode(tree, arrays)


def roundtrip(result: Any) -> Any:
    """``decode(encode(result))`` in memory: exactly what a later load of the stored result returns."""
    tree, arrays = encode(result)
    return decode(tree, {f"a{i}": a.copy() for i, a in enumerate(arrays)})


def content_hash(value: Any) -> str:
    """SHA-256 of a value's stored form (used for task keys whose arguments include arrays or earlier results)."""
    import hashlib

    tree, arrays = encode(value)
    h = hashlib.sha256(dumps_json(tree))
    for arr in arrays:
        h.update(arr.dtype.str.encode())
        h.update(repr(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


# =====================================================================================================
# Reading a paper's raw results
# =====================================================================================================


def runs_dir_for(slug_or_path: str | Path) -> Path:
    """``data/runs/<slug>`` for a slug, or the given folder."""
    from hrlkit.provenance import repo_root

    p = Path(slug_or_path)
    if p.is_dir() and (p / "manifest.json").exists():
        return p
    return repo_root() / "data" / "runs" / str(slug_or_path)


def read_manifest(runs_dir: Path) -> dict[str, Any]:
    path = Path(runs_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"no raw results at {path}: run the notebook (or `dvc repro runs@<slug>`) first")
    return json.loads(path.read_text(encoding="utf-8"))
