"""YAML / dict → typed dataclasses, the one place config text becomes values.

``from_dict(cls, data)`` checks every key against the dataclass fields (an
unknown key is an error listing the valid ones) and every value against the
field's type (``int``, ``float``, ``str``, ``bool``, ``X | None``,
``tuple[...]``/``list[...]`` and nested dataclasses); a dataclass with a
``validate(where)`` method then checks its values (``where`` is its dotted
key, e.g. ``clip``). ``apply_overrides``
applies ``section.key=value`` strings from the command line, the value parsed
as YAML (``train.lr=0.05``, ``method.transforms=[1x,2x]``).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from vidssl.errors import VidsslError


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing file or non-mapping content is a VidsslError."""
    path = Path(path)
    if not path.is_file():
        raise VidsslError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise VidsslError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VidsslError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def merge_config(base: dict, child: dict) -> dict:
    """``child`` laid over ``base``: sections merge key by key, any other value (lists too) replaces."""
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config_with_base(
    path: str | Path, resolve: Callable[[str, Path], Path], _chain: tuple[Path, ...] = ()
) -> dict:
    """Read a config whose optional top-level ``base: NAME`` names the config it extends.

    A preset then states only what differs from its base (e.g. TransCls = the
    TransRank config with ``method.loss: ce``). ``resolve(name, folder)`` turns
    NAME into a path, ``folder`` being the extending file's folder; chains are
    followed to the root, a cycle is an error naming the files.
    """
    path = Path(path).resolve()
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise VidsslError(f"{path}: config 'base' chain loops ({cycle})")
    data = load_yaml(path)
    base_name = data.pop("base", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise VidsslError(f"{path}: 'base' must name a config file, got {base_name!r}")
    base = load_config_with_base(resolve(base_name, path.parent), resolve, (*_chain, path))
    return merge_config(base, data)


def from_dict(cls, data: dict, *, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, validating keys, value types and (``cls.validate``) values."""
    if not isinstance(data, dict):
        raise VidsslError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise VidsslError(
            f"unknown config key {key!r}; valid keys{' in ' + where if where else ''}: {', '.join(fields)}"
        )
    values = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        values[name] = _coerce(value, hints[name], key)
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(where)
    return obj


def plain(value: Any) -> Any:
    """``value`` as YAML holds it: tuples (at any depth) become lists."""
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    if isinstance(value, dict):
        return {k: plain(x) for k, x in value.items()}
    return value


def to_dict(obj) -> dict:
    """Dataclass → plain dict of YAML-safe values (tuples become lists)."""
    return plain(dataclasses.asdict(obj))


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` overrides to a nested dict (value parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise VidsslError(f"override {item!r}: expected section.key=value")
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise VidsslError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _coerce(value, hint, key: str):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(value, option, key)
            except VidsslError as err:
                errors.append(str(err))
        raise VidsslError(errors[0])
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value if value is not None else {}, where=key)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise VidsslError(f"config key {key!r}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise VidsslError(f"config key {key!r}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise VidsslError(f"config key {key!r}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise VidsslError(f"config key {key!r}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise VidsslError(f"config key {key!r}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. a YAML 1x parsed fine, but 2 → "2"
        raise VidsslError(f"config key {key!r}: expected a string, got {value!r}")
    return value
