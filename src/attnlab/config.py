"""Shared config machinery: frozen dataclasses, presets, ``--set key=value`` parsing, validation, hashing.

Every study config subclasses :class:`StudyConfig` (a frozen dataclass).  Fields must have simple types:
``int``, ``float``, ``bool``, ``str``, ``Optional[...]`` of those, or ``tuple[...]`` of those (written on the
command line as comma-separated values, e.g. ``--set Ls=32,64,128``).  A study validates its own fields in
``validate()`` by raising :class:`attnlab.errors.ConfigError` naming the field.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from typing import Any, Mapping

from .errors import ConfigError, UserError


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Fields every study has.

    seed:   base seed; every random draw of the run derives from it (runs are deterministic given config).
    seeds:  number of independent seeds / replicas (>= 1).
    device: torch device for the simulations ("cpu", "cuda", "cuda:1", ...).
    """

    seed: int = 0
    seeds: int = 1
    device: str = "cpu"

    # ---- validation -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Check field values; subclasses extend (call ``super().validate()``)."""
        if self.seeds < 1:
            raise ConfigError("seeds", f"must be >= 1, got {self.seeds}")
        if self.seed < 0:
            raise ConfigError("seed", f"must be >= 0, got {self.seed}")
        if not (self.device == "cpu" or self.device.startswith("cuda") or self.device == "mps"):
            raise ConfigError("device", f"must be cpu, cuda[:i] or mps, got {self.device!r}")

    def check_positive(self, *names: str) -> None:
        """Raise ConfigError unless each named field (number or tuple of numbers) is > 0."""
        for name in names:
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if v is None:
                    continue
                if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                    raise ConfigError(name, f"must be positive, got {value!r}")

    def check_nonnegative(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if v is None:
                    continue
                if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                    raise ConfigError(name, f"must be >= 0, got {value!r}")

    def check_choice(self, name: str, choices) -> None:
        value = getattr(self, name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if v not in choices:
                raise ConfigError(name, f"must be one of {sorted(choices)}, got {v!r}")

    # ---- serialization ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> "StudyConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudyConfig":
        """The inverse of :meth:`to_dict` (the one serialized form a worker receives): JSON lists become the
        field's tuples, nothing is parsed from strings, every field must be present and no other."""
        types_ = field_types(cls)
        if set(d) != set(types_):
            extra, missing = sorted(set(d) - set(types_)), sorted(set(types_) - set(d))
            raise ConfigError((extra or missing)[0], f"serialized config does not match {cls.__name__} "
                              f"(unknown: {extra}, missing: {missing})")
        return cls(**{k: _from_json(v, types_[k]) for k, v in d.items()})


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def _from_json(v, tp):
    """A JSON value back to the field type: lists -> tuples (recursively); everything else as is."""
    if isinstance(v, list):
        args = typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next((a for a in args if typing.get_origin(a) is tuple), tp)
            args = typing.get_args(tp)
        elem = args[0] if args else object
        if len(args) > 1 and args[1] is not Ellipsis:
            return tuple(_from_json(x, a) for x, a in zip(v, args))
        return tuple(_from_json(x, elem) for x in v)
    return v


def config_hash(config: StudyConfig, extra: Mapping[str, Any] | None = None) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of the config (device excluded: it does not
    change the science), plus optional extra keys (e.g. the study name)."""
    d = config.to_dict()
    d.pop("device", None)
    payload = {"config": d, "extra": dict(extra or {})}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- parsing of --set values ------------------------------------------------------------------------
def field_types(config_cls) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _parse_scalar(text: str, tp, key: str):
    text = text.strip()
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        last = None
        for a in args:
            try:
                return _parse_scalar(text, a, key)
            except ConfigError as e:
                last = e
        raise last or ConfigError(key, f"cannot parse {text!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        for a in allowed:
            if str(a) == text:
                return a
        raise ConfigError(key, f"must be one of {list(allowed)}, got {text!r}")
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(key, f"expected a boolean (true/false), got {text!r}")
    if tp is int:
        try:
            f = float(text)
        except ValueError:
            raise ConfigError(key, f"expected an integer, got {text!r}") from None
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(key, f"expected an integer, got {text!r}")
        return int(f)
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(key, f"expected a number, got {text!r}") from None
    if tp is str:
        return text
    raise ConfigError(key, f"cannot be set from the command line (type {tp})")


def parse_value(text: str, tp, key: str):
    """Parse one ``--set`` value into the field type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        elem = args[0] if args else str
        if text.strip() in ("", "()"):
            return ()
        parts = [p for p in text.split(",")]
        if len(args) > 1 and args[1] is not Ellipsis:
            if len(parts) != len(args):
                raise ConfigError(key, f"expected {len(args)} comma-separated values, got {text!r}")
            return tuple(_parse_scalar(p, a, key) for p, a in zip(parts, args))
        return tuple(_parse_scalar(p, elem, key) for p in parts)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.strip().lower() in ("none", "null"):
            return None
        if len(args) == 1:
            return parse_value(text, args[0], key)
    return _parse_scalar(text, tp, key)


def parse_set_args(config_cls, items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=x,y"]`` -> ``{"a": 1, "b": ("x", "y")}`` typed by ``config_cls``'s fields.

    Raises UserError naming the argument for a malformed item or an unknown key."""
    types_ = field_types(config_cls)
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected key=value")
        key, _, text = item.partition("=")
        key = key.strip()
        if not key:
            raise UserError(f"--set {item!r}: empty key")
        if key not in types_:
            raise ConfigError(key, f"unknown config key for this study (known: {', '.join(sorted(types_))})")
        if key in out:
            raise ConfigError(key, f"given twice with --set (keep one of the values); second: {item!r}")
        out[key] = parse_value(text, types_[key], key)
    return out


def coerce_overrides(config_cls, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Type-check a dict of overrides (from presets, JSON or Python) against the config fields;
    lists become tuples, ints become floats where a float is expected, strings are parsed."""
    types_ = field_types(config_cls)
    out = {}
    for key, v in overrides.items():
        if key not in types_:
            raise ConfigError(key, f"unknown config key (known: {', '.join(sorted(types_))})")
        out[key] = _coerce(v, types_[key], key)
    return out


def _coerce(v, tp, key):
    if isinstance(v, str) and tp is not str:
        return parse_value(v, tp, key)
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            v = (v,)
        args = typing.get_args(tp)
        elem = args[0] if args else object
        if len(args) > 1 and args[1] is not Ellipsis:
            return tuple(_coerce(x, a, key) for x, a in zip(v, args))
        return tuple(_coerce(x, elem, key) for x in v)
    if origin in (typing.Union, types.UnionType):
        if v is None:
            return None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        for a in args:
            try:
                return _coerce(v, a, key)
            except ConfigError:
                pass
        raise ConfigError(key, f"invalid value {v!r}")
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(key, f"expected a number, got {v!r}")
        return float(v)
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v):
            raise ConfigError(key, f"expected an integer, got {v!r}")
        return int(v)
    if tp is bool:
        if not isinstance(v, bool):
            raise ConfigError(key, f"expected a boolean, got {v!r}")
        return v
    if tp is str:
        if not isinstance(v, str):
            raise ConfigError(key, f"expected a string, got {v!r}")
        return v
    return v


def build_config(config_cls, presets: Mapping[str, Mapping[str, Any]], preset: str,
                 overrides: Mapping[str, Any] | None = None, sets: list[str] | tuple[str, ...] = (),
                 seeds: int | None = None, device: str | None = None) -> StudyConfig:
    """The one path of a config: defaults <- preset <- overrides (Python values, from the API) <- ``sets``
    (``--set key=value`` strings, each key at most once) <- ``seeds`` (``--seeds``) <- ``device``
    (``--device``), then ``validate()``.  ``--seeds``/``--device`` and a ``--set`` of the same field must
    agree.  Everything after this works on the validated, frozen config and its :meth:`StudyConfig.to_dict`."""
    if not isinstance(preset, str) or not preset.strip():
        raise UserError(f"--preset {preset!r}: empty preset name (known: {', '.join(presets)})")
    if preset not in presets:
        raise UserError(f"--preset {preset!r}: unknown preset (known: {', '.join(presets)})")
    values = coerce_overrides(config_cls, presets[preset])
    values.update(coerce_overrides(config_cls, overrides or {}))
    given = parse_set_args(config_cls, list(sets or ()))
    values.update(given)
    for flag, key, value in (("--seeds", "seeds", seeds), ("--device", "device", device)):
        if value is None:
            continue
        value = _coerce(value, field_types(config_cls)[key], key)
        if key in given and given[key] != value:
            raise ConfigError(key, f"{flag} {value} and --set {key}={given[key]} disagree (give one)")
        values[key] = value
    try:
        config = config_cls(**values)
    except TypeError as e:  # pragma: no cover - field mismatch is a programming error
        raise UserError(str(e)) from None
    config.validate()
    return config
