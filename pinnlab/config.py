"""Strategy registry and typed settings.

Every strategy kind (``model``, ``sampler``, ``optimizer``, ``weighting``) has a
registry mapping names to dataclasses. A setting is given as an instance, a
name (``"r3"``), or a dict ``{"name": "r3", "n_interior": 4096}``. ``--set``
overrides (``sampler=r3``, ``sampler.n_interior=4096``, ``steps=2000``) are
parsed as typed literals, validated against the dataclass fields, and never
evaluated as code.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any

from .errors import ConfigError

KINDS = ("model", "sampler", "optimizer", "weighting")

#: Top-level solve settings and their types.
SOLVE_SETTINGS: dict[str, type] = {
    "steps": int, "seed": int, "device": str, "dtype": str, "engine": str,
    "log_every": int, "eval_every": int, "checkpoint_every": int, "compile": Any,
    "max_failures": int, "hard": bool,
}


def registry(kind: str) -> dict[str, type]:
    """Name -> class for one strategy kind (imported lazily to keep imports light)."""
    if kind == "model":
        from .models import MODELS
        return MODELS
    if kind == "sampler":
        from .samplers import SAMPLERS
        return SAMPLERS
    if kind == "optimizer":
        from .optimizers.strategies import STRATEGIES
        return STRATEGIES
    if kind == "weighting":
        from .weighting import all_weightings
        return all_weightings()
    raise ConfigError(f"unknown strategy kind {kind!r}; kinds are {KINDS}")


def suggest(name: str, options) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(kind: str, name: Any, reg: dict) -> str:
    """The message for a strategy name that is not registered."""
    message = f"unknown {kind} {name!r}{suggest(str(name), reg)}; valid: {', '.join(sorted(reg))}"
    if kind == "sampler" and str(name).lower() in ("sobol", "halton", "lhs", "latin", "random"):
        method = {"latin": "lhs", "random": "uniform"}.get(str(name).lower(), str(name).lower())
        message += (f" ({name} is a point set, chosen by a sampler's method setting: "
                    f"{{'name': 'uniform', 'method': '{method}'}}, or --set sampler.method={method})")
    return message


def build(kind: str, spec: Any) -> Any:
    """An instance of a strategy from an instance, a name, or a ``{"name": ..., **settings}`` dict."""
    reg = registry(kind)
    if spec is None:
        spec = next(iter(reg))
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None) or next(iter(reg))
        if name not in reg:
            raise ConfigError(_unknown(kind, name, reg))
        cls = reg[name]
        kwargs = {k: coerce(cls, k, v, f"{kind}.{k}") for k, v in spec.items()}
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{kind} {name!r}: {exc}") from None
    protocol = _PROTOCOL.get(kind)
    if protocol and not any(isinstance(spec, c) for c in reg.values()) \
            and not callable(getattr(spec, protocol, None)):
        raise ConfigError(f"{kind} must be a name ({', '.join(sorted(reg))}), a {{'name': ..., "
                          f"**settings}} dict or a {kind} object with a {protocol}() method; "
                          f"got {spec!r} ({type(spec).__name__})")
    return spec


#: the method a strategy object of each kind must have (objects of other types are refused)
_PROTOCOL = {"sampler": "setup", "optimizer": "setup", "weighting": "setup", "model": "build"}


def fields_of(cls: type) -> dict[str, Any]:
    if not dataclasses.is_dataclass(cls):
        return {}
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)
            if f.init and not f.name.startswith("_") and f.repr}


def coerce(cls: type, key: str, value: Any, where: str) -> Any:
    """Check that ``key`` is a setting of ``cls`` and convert ``value`` to its type."""
    fields = fields_of(cls)
    if key not in fields:
        raise ConfigError(f"unknown setting {where!r}{suggest(key, fields)}; "
                          f"{getattr(cls, 'name', cls.__name__)} takes {', '.join(sorted(fields)) or 'no settings'}")
    return convert(value, fields[key], where)


def convert(value: Any, typ: Any, where: str) -> Any:
    origin = typing.get_origin(typ)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        typ = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(typ)
    if typ is Any:
        return value
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if not f.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(f)
    if typ is float:
        if isinstance(value, bool):  # (True is 1.0 to Python: lbfgs_fraction=True ran L-BFGS alone)
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if math.isnan(f):
            raise ConfigError(f"{where}: NaN is not a valid value")
        return f
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin in (tuple, list) or typ in (tuple, list):
        if isinstance(value, str):  # "0.9,0.999", also written "[0.9, 0.999]" or "(0.9, 0.999)"
            text = value.strip()
            if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
                text = text[1:-1]
            items = [item.strip() for item in text.split(",")]
        elif isinstance(value, (int, float)):   # one number from --set stands for a 1-item list
            items = [value]
        else:
            try:
                items = list(value)
            except TypeError:
                raise ConfigError(f"{where}: expected a list of values, got {value!r}") from None
        args = typing.get_args(typ)
        inner = args[0] if args and args[0] is not Ellipsis else float
        conv = [convert(v.strip() if isinstance(v, str) else v, inner, where) for v in items]
        return tuple(conv) if (origin or typ) is tuple else conv
    if origin is dict or typ is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{where}: expected a mapping (set its entries one by one as {where}.KEY=VALUE)")
    return value


def parse_literal(text: str) -> Any:
    """A ``--set`` value: int, float, bool, none or string. Never evaluated as code."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _as_spec(strategy: Any) -> dict | None:
    """A strategy setting (a name, a settings dict, a strategy dataclass) as a settings dict;
    None for another object, whose settings cannot be read."""
    if isinstance(strategy, str):
        return {"name": strategy}
    if isinstance(strategy, dict) or strategy is None:
        return dict(strategy or {})
    if dataclasses.is_dataclass(strategy):
        return {"name": getattr(strategy, "name", None),
                **{f: getattr(strategy, f) for f in fields_of(type(strategy))}}
    return None


def _given(strategy: Any) -> dict:
    """A strategy dataclass's settings that differ from its class's defaults."""
    out, settings = {}, fields_of(type(strategy))
    for f in dataclasses.fields(strategy):
        if f.name not in settings:
            continue
        default = (f.default if f.default is not dataclasses.MISSING else
                   f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        value = getattr(strategy, f.name)
        try:
            same = bool(value == default)
        except Exception:  # arrays and the like: keep them
            same = False
        if not same:
            out[f.name] = value
    return out


def apply_overrides(settings: dict, overrides: list[str]) -> dict:
    """Apply ``key=value`` strings to a settings dict (returns a new dict).

    A strategy's name (``weighting=causal``) applies before its settings (``weighting.tol=0.5``)
    whatever their order on the command line, so the settings are checked against, and kept
    for, the strategy named."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in settings.items()}
    overrides = sorted(overrides, key=lambda item: item.split("=", 1)[0].strip() not in KINDS)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if parts[0] in KINDS:
            kind = parts[0]
            cur = out.get(kind)
            spec = _as_spec(cur)
            if len(parts) == 1:
                name = raw.strip()
                reg = registry(kind)
                if name not in reg:
                    raise ConfigError(f"--set {key}: {_unknown(kind, name, reg)}")
                # the script's settings that the named strategy also takes are kept (its point
                # counts, widths, term weights), except an optimizer's: lr and betas are
                # each method's own (Adam's lr 1e-3 would cripple L-BFGS's step of 1)
                takes = fields_of(reg[name]) if kind != "optimizer" else {}
                given = _given(cur) if dataclasses.is_dataclass(cur) else spec or {}
                out[kind] = {"name": name, **{k: v for k, v in given.items() if k in takes and k != "name"}}
                continue
            if spec is None:
                raise ConfigError(f"--set {key}: the script's {kind} is a {type(cur).__name__} object, "
                                  f"which has no settings to override; choose one by name ({kind}=NAME)")
            cls = registry(kind)[spec.get("name") or next(iter(registry(kind)))]
            target = spec
            for p in parts[1:-1]:
                target = target.setdefault(p, {})
            leaf = parts[-1]
            if len(parts) == 2:
                target[leaf] = coerce(cls, leaf, parse_literal(raw), key)
            else:
                target[leaf] = parse_literal(raw)
            out[kind] = spec
        elif key in SOLVE_SETTINGS:
            out[key] = convert(parse_literal(raw), SOLVE_SETTINGS[key], f"--set {key}")
        else:
            options = list(SOLVE_SETTINGS) + list(KINDS)
            raise ConfigError(f"--set: unknown setting {key!r}{suggest(key, options)}; "
                              f"valid: {', '.join(options)} and KIND.SETTING")
    return out


def describe(obj: Any) -> dict:
    """A JSON-able description of a strategy instance (its name and settings)."""
    if dataclasses.is_dataclass(obj):
        out = {"name": getattr(obj, "name", type(obj).__name__)}
        for k in fields_of(type(obj)):
            out[k] = _jsonable(getattr(obj, k))
        return out
    return {"name": getattr(obj, "name", type(obj).__name__), "repr": repr(obj)[:200]}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if dataclasses.is_dataclass(v):
        return describe(v)
    return repr(v)
