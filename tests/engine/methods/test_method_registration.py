"""A method class that names itself in its class line is registered with the config it is generic in."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.config import OptionalPath, StrictModel, path_field, share, validate, weight
from engine.core.errors import UserError
from engine.methods import METHODS, get_method
from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Method, MethodConfig
from engine.methods.coral import CORALConfig, DeepCORAL
from engine.methods.dann import DANN, DANNConfig
from engine.methods.dann_at import DannAT, DannATConfig


def test_builtin_methods_keep_name_label_config_and_summary() -> None:
    assert get_method("coral") is DeepCORAL
    assert (DeepCORAL.name, DeepCORAL.label, DeepCORAL.Config) == ("coral", "Deep CORAL", CORALConfig)
    assert DeepCORAL.summary.startswith("Sun & Saenko 2016")
    assert DANN.Config is DANNConfig  # generic in a type variable: its own Config line counts
    assert DannAT.Config is DannATConfig and get_method("dann_at") is DannAT


def test_a_new_method_registers_itself_from_its_class_line() -> None:
    class ToyConfig(AdaptationConfig):
        toy_weight: float = weight(2.0, "Weight of the toy loss.")

    try:

        class Toy(AdaptationMethod[ToyConfig], name="toy_method", label="Toy"):
            """A toy method.

            More words that are not the summary."""

        assert get_method("toy_method") is Toy
        assert Toy.Config is ToyConfig and Toy.summary == "A toy method." and Toy.kind == "domain adaptation"

        class Sub(Toy):  # a subclass without a name is not registered again, and keeps the config
            pass

        assert Sub.Config is ToyConfig and METHODS.find("toy_method") is Toy
        with pytest.raises(ValueError, match="already registered"):

            class Clash(Method[MethodConfig], name="toy_method"):
                pass

    finally:
        if "toy_method" in METHODS:
            del METHODS["toy_method"]


class _Fields(StrictModel):
    w: float = weight(1.0, "A weight.", le=10)
    s: float = share(0.5, "A share.")
    run_share: float = share(0.2, "A share of the run.", below_one=True)
    path: OptionalPath = path_field("A file.", "file")


def test_field_helpers_bound_values_and_read_blank_paths_as_none() -> None:
    assert validate(_Fields, {"path": "  "}).path is None
    assert validate(_Fields, {"path": "a/b.csv"}).path == Path("a/b.csv")
    assert _Fields.model_fields["path"].json_schema_extra == {"path": "file"}
    assert validate(_Fields, {"w": 10, "s": 1}).s == 1
    for bad in ({"w": 10.5}, {"w": -1}, {"s": 1.01}, {"run_share": 1.0}):
        with pytest.raises(UserError, match=next(iter(bad))):
            validate(_Fields, bad)
