"""Loading operator-edited YAML data files with errors that name the file and line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    pass


def located(path: tuple, message: str) -> ValueError:
    """For model-level validators: an error that still points at the entry's line."""
    return ValueError(f"@{'.'.join(str(p) for p in path)}@ {message}")


_LOCATED = re.compile(r"^(?:Value error, )?@([^@]*)@ (.*)$", re.S)


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping and sequence item so errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, value_node in node.value:
        lines[loader.construct_object(key_node)] = value_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("__lines__", "__line__")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _line_of(raw, loc: tuple) -> int | None:
    line, node = None, raw
    for part in loc:
        if isinstance(node, dict):
            key = part if part in node else str(part) if str(part) in node else part
            line = node.get("__lines__", {}).get(key, node.get("__line__", line))
            node = node.get(key)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return line


def load_yaml(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataFileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return model.model_validate(_strip(raw))
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            loc, msg = tuple(e["loc"]), e["msg"]
            m = _LOCATED.match(msg)
            if m:
                loc = loc + tuple(int(p) if p.isdigit() else p for p in m.group(1).split(".") if p)
                msg = m.group(2)
            line = _line_of(raw, loc) or 1
            field = ".".join(str(p) for p in loc) or "(top level)"
            msgs.append(f"{path}:{line}: {field}: {msg}")
        raise DataFileError("\n".join(msgs)) from None
