"""--set parsing, type coercion, validation and hashing of study configs."""
import dataclasses
from typing import Optional

import pytest

from attnlab.config import StudyConfig, build_config, config_hash, parse_set_args
from attnlab.errors import ConfigError, UserError


@dataclasses.dataclass(frozen=True)
class Cfg(StudyConfig):
    D: int = 10
    lr: float = 0.1
    flag: bool = False
    name: str = "softmax"
    Ls: tuple[int, ...] = (4, 8)
    cap: Optional[float] = None

    def validate(self):
        super().validate()
        self.check_positive("D", "lr", "Ls")
        self.check_choice("name", {"softmax", "linear"})


PRESETS = {"smoke": {"D": 2}, "quick": {}, "paper": {"D": 1000, "Ls": [16, 32]}}


def test_parse_set_types():
    got = parse_set_args(Cfg, ["D=12", "lr=1e-3", "flag=true", "name=linear", "Ls=1,2,3", "cap=none", "seeds=3"])
    assert got == {"D": 12, "lr": 1e-3, "flag": True, "name": "linear", "Ls": (1, 2, 3), "cap": None, "seeds": 3}
    assert parse_set_args(Cfg, ["cap=2.5"]) == {"cap": 2.5}


@pytest.mark.parametrize("item, field", [("nosuchkey=1", "nosuchkey"), ("D=1.5", "D"), ("D=abc", "D"),
                                         ("flag=maybe", "flag"), ("Ls=1,x", "Ls"), ("lr=", "lr")])
def test_bad_set_items_name_the_field(item, field):
    with pytest.raises(ConfigError) as e:
        parse_set_args(Cfg, [item])
    assert e.value.field == field


def test_malformed_set_item():
    with pytest.raises(UserError, match="key=value"):
        parse_set_args(Cfg, ["D12"])


def test_build_config_layers_and_validation():
    c = build_config(Cfg, PRESETS, "paper", {"lr": 0.5})
    assert (c.D, c.lr, c.Ls) == (1000, 0.5, (16, 32))
    with pytest.raises(UserError, match="unknown preset"):
        build_config(Cfg, PRESETS, "huge")
    for bad, field in [({"D": -1}, "D"), ({"seeds": 0}, "seeds"), ({"Ls": (4, 0)}, "Ls"),
                       ({"name": "sigmoidx"}, "name"), ({"lr": float("nan")}, "lr")]:
        with pytest.raises(ConfigError) as e:
            build_config(Cfg, PRESETS, "quick", bad)
        assert e.value.field == field


def test_config_hash_is_stable_and_sensitive():
    a = build_config(Cfg, PRESETS, "quick")
    assert config_hash(a) == config_hash(build_config(Cfg, PRESETS, "quick"))
    assert config_hash(a) != config_hash(a.replace(D=11))
    assert config_hash(a) == config_hash(a.replace(device="cuda"))  # device does not change the science
    assert config_hash(a, {"study": "x"}) != config_hash(a, {"study": "y"})
