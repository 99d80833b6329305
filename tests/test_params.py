"""The parameter declaration (hrlkit.params): every bad value fails naming the parameter; nothing is converted."""

import math
from typing import Any

import pytest
from pydantic import model_validator

from hrlkit import params as P


class Demo(P.Parameters):
    methods: P.Subset("ours", "pf", "static", first="ours")
    n: P.Int(ge=1)
    fleet: P.Int(ge=4, multiple_of=4)
    lr: P.Number(gt=0)
    levels: P.UniqueList(P.Number(ge=0, le=10), min_len=2)
    default_level: P.Number(ge=0, le=10)
    path: P.FilePath
    backend: P.Choice("tiny", "hf")

    @model_validator(mode="after")
    def relations(self):
        P.require(self.default_level in self.levels, "default_level", self.default_level,
                  f"must be one of levels {self.levels}")
        return self


GOOD: dict[str, Any] = dict(profile="smoke", seeds=[0, 1], workers=1, out_dir="scratch/demo", runs_dir="scratch/demo/r",
                            device="auto", methods=["ours", "pf"], n=3, fleet=8, lr=1, levels=[1.0, 2.5],
                            default_level=1, path="params.yaml", backend="tiny")


def test_good_values_pass_unchanged():
    out = Demo.check(GOOD)
    assert out == GOOD and type(out["lr"]) is int    # validation never converts a value
    assert list(out) == Demo.names()


@pytest.mark.parametrize("change, name, says", [
    ({"n": 2.0}, "n", "integer"),                               # float for an integer
    ({"n": True}, "n", "integer"),                              # bool for an integer
    ({"n": "3"}, "n", "integer"),                               # string for an integer
    ({"n": 0}, "n", ">= 1"),
    ({"lr": math.nan}, "lr", "finite"),
    ({"lr": math.inf}, "lr", "finite"),
    ({"lr": -math.inf}, "lr", "finite"),
    ({"lr": 0}, "lr", "> 0"),
    ({"levels": [1.0, 1.0]}, "levels", "duplicate"),
    ({"levels": [1.0]}, "levels", "at least 2"),
    ({"levels": [1.0, math.nan]}, "levels[1]", "finite"),
    ({"levels": [1.0, 11]}, "levels[1]", "<= 10"),
    ({"path": "no/such/file.pt"}, "path", "does not exist"),
    ({"path": "hrlkit"}, "path", "folder"),
    ({"methods": ["ours", "bogus"]}, "methods[1]", "one of"),
    ({"methods": ["pf", "ours"]}, "methods", "must start with 'ours'"),
    ({"methods": ["ours", "ours"]}, "methods", "duplicate"),
    ({"fleet": 6}, "fleet", "multiple of 4"),
    ({"backend": "gpt2"}, "backend", "one of"),
    ({"seeds": [0, 0]}, "seeds", "duplicate"),
    ({"seeds": [-1]}, "seeds[0]", ">= 0"),
    ({"workers": 0}, "workers", ">= 1"),
    ({"profile": "fast"}, "profile", "one of"),
    ({"out_dir": "/etc/hrl"}, "out_dir", "inside the repository"),
    ({"out_dir": "../../elsewhere"}, "out_dir", "inside the repository"),
    ({"out_dir": "."}, "out_dir", "inside the repository"),
    ({"runs_dir": "params.yaml"}, "runs_dir", "is a file"),
    ({"default_level": 5}, "default_level", "must be one of levels"),
])
def test_each_bad_value_names_the_parameter(change, name, says):
    with pytest.raises(P.ParameterError) as err:
        Demo.check({**GOOD, **change})
    message = str(err.value)
    assert f"'{name}'" in message and says in message, message


def test_unknown_and_missing_names():
    with pytest.raises(P.ParameterError, match=r"unknown parameter\(s\) 'nn' \(did you mean 'n'\?\)"):
        Demo.check({**GOOD, "nn": 1})
    with pytest.raises(P.ParameterError, match="lr"):
        Demo.check({k: v for k, v in GOOD.items() if k != "lr"})


def test_from_notebook_rejects_a_name_papermill_injected():
    namespace = {**GOOD, "In": ["", "profile = 'smoke'", "# Parameters\nn = 4\ntrain_update = 0\n", "x = 1"],
                 "np": math, "CONSTANT": 3}      # other globals of the notebook are not parameters: ignored
    with pytest.raises(P.ParameterError, match="'train_update'"):
        Demo.from_notebook(namespace)
    namespace["In"][2] = "# Parameters\nn = 4\n"
    assert Demo.from_notebook(namespace)["n"] == 3      # the namespace holds the values; history only names them
    assert P.injected_names({"In": ["x = 1"]}) == [] and P.injected_names({}) == []


def test_scratch_outside_the_repository_is_allowed(tmp_path):
    assert Demo.check({**GOOD, "out_dir": str(tmp_path / "out")})["out_dir"] == str(tmp_path / "out")


def test_describe_reads_the_declaration():
    rows = {r["name"]: r["allowed"] for r in Demo.describe()}
    assert rows["n"] == "integer >= 1" and rows["lr"] == "finite number > 0"
    assert rows["backend"] == "one of tiny, hf" and rows["levels"].startswith("list of distinct finite number")


def test_tuning_seeds_must_be_disjoint_from_the_reported_seeds():
    class Tuned(Demo):
        tuning_seeds: P.Seeds

    assert Tuned.check({**GOOD, "tuning_seeds": [100]})["tuning_seeds"] == [100]
    with pytest.raises(P.ParameterError, match="'tuning_seeds'.*disjoint"):
        Tuned.check({**GOOD, "tuning_seeds": [1, 100]})
