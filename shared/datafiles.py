"""Loading operator-edited YAML data files with errors that name the file and line; reading and writing
JSONL files line by line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
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

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # a value its tag cannot hold: 2026-02-30, !!int x
            raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from None


class _Seq(list):
    """A YAML sequence that knows the line of each item (plain lists once stripped)."""

    lines: list[int]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, value_node in node.value:
        lines[loader.construct_object(key_node)] = value_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    seq = _Seq(loader.construct_sequence(node, deep=True))
    seq.lines = [item.start_mark.line + 1 for item in node.value]
    return seq


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("__lines__", "__line__")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _line_of(raw, loc: tuple, msg: str = "") -> int | None:
    line, node = None, raw
    for part in loc:
        if isinstance(node, dict):
            key = part if part in node else str(part) if str(part) in node else part
            line = node.get("__lines__", {}).get(key, node.get("__line__", line))
            node = node.get(key)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            line = getattr(node, "lines", {part: line})[part]
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            return line
    # a whole list (or mapping) was refused for one of its entries: the line of the entry the message quotes
    return next((at for value, at in _strings(node) if repr(value) in msg), line) if msg and loc else line


def _strings(node):
    """(string, line) of every string entry under a list or mapping node, in file order."""
    if isinstance(node, dict):
        items = [(v, node.get("__lines__", {}).get(k)) for k, v in node.items() if k not in ("__lines__", "__line__")]
    elif isinstance(node, list):
        items = list(zip(node, getattr(node, "lines", [None] * len(node))))
    else:
        return
    for value, at in items:
        if isinstance(value, str) and at:
            yield value, at
        else:
            yield from _strings(value)


def _where(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (1-based, in characters) of a byte offset into UTF-8 data."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1


def read_utf8(path: Path) -> str:
    """A UTF-8 text file (a leading BOM dropped); DataFileError naming the file, and the line of a byte that is
    not UTF-8 (a file saved as CP949/EUC-KR by a Windows editor, say)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _where(data, exc.start)
        raise DataFileError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
                            "save the file as UTF-8") from None


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 JSONL file, split at "\\n" only (a "\\r" before it dropped): not with
    str.splitlines(), which also splits at U+2028, U+2029 and U+0085, which JSON allows unescaped in a string."""
    for n, line in enumerate(read_utf8(path).split("\n"), 1):
        yield n, line.removesuffix("\r")


def json_line(row: object) -> str:
    """One JSONL line, "\\n" included: UTF-8 text as is, but U+2028, U+2029 and U+0085 escaped, so a reader that
    splits lines at them (str.splitlines(), some editors) still sees one line."""
    text = json.dumps(row, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\u0085", "\\u0085") + "\n"


def load_yaml(path: Path, model: type[M]) -> M:
    text = read_utf8(path)
    loader = _LineLoader(text)
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataFileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise DataFileError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    try:
        return model.model_validate(_strip(raw))
    except RecursionError:
        raise DataFileError(f"{path}: nested too deeply") from None
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            loc, msg = tuple(e["loc"]), e["msg"]
            m = _LOCATED.match(msg)
            if m:
                loc = loc + tuple(int(p) if p.isdigit() else p for p in m.group(1).split(".") if p)
                msg = m.group(2)
            line = _line_of(raw, loc, msg) or 1
            field = ".".join(str(p) for p in loc) or "(top level)"
            msgs.append(f"{path}:{line}: {field}: {msg}")
        raise DataFileError("\n".join(msgs)) from None
