"""Convert CustomResourceDefinitions into JSON Schema files for `check-jsonschema`.

Usage:
    .venv/bin/python deploy/crd2jsonschema.py CRD.yaml [CRD.yaml ...] [--kind Stream --kind Consumer]
                                              [--out deploy/schemas]

Writes one file per CRD version, `<out>/<group>/<kind>_<version>.json` (kind lower-cased), the
layout of the datreeio/CRDs-catalog and of kubeconform's openapi2jsonschema.py. The conversion
follows openapi2jsonschema, and goes one step further at the root:

- every object schema that declares `properties`, has no `additionalProperties` and is not marked
  `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`, so a misspelt field
  is an error instead of being pruned silently by the API server;
- the root also gets `apiVersion` (the CRD's group/version), `kind` and `metadata`, which CRDs
  leave implicit, so the root can be closed too (`spc:` instead of `spec:` is caught); objects
  marked `x-kubernetes-embedded-resource` get the same three;
- OpenAPI `nullable: true` becomes a `"null"` type; `x-kubernetes-int-or-string` without an
  `anyOf` becomes integer-or-string; boolean `exclusiveMinimum`/`exclusiveMaximum` (OpenAPI 3.0)
  become draft-07 numbers;
- `description` texts are dropped (they do not take part in validation and make the CNPG schema
  ten times larger). Pass `--keep-descriptions` to keep them.

Where the CRDs come from, and how to refresh them: deploy/schemas/README.md.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
DRAFT = "http://json-schema.org/draft-07/schema#"


def _strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        # a *property* called "description" maps to a schema (a dict); the keyword maps to a string
        return {k: _strip_descriptions(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_descriptions(v) for v in node]
    return node


def _implicit_resource_fields(schema: dict, api_version: str | None = None, kind: str | None = None) -> None:
    """apiVersion, kind and metadata, which Kubernetes validates itself; pinned at a CRD's root."""
    props = schema.setdefault("properties", {})
    for key, const in (("apiVersion", api_version), ("kind", kind)):
        props.setdefault(key, {"type": "string"})
        if const:
            props[key] = {**props[key], "const": const}
    props.setdefault("metadata", {"type": "object"})


def _convert(node: Any) -> Any:
    """Turn one OpenAPI v3 (structural, Kubernetes-flavoured) schema node into draft-07, in place."""
    if isinstance(node, list):
        for v in node:
            _convert(v)
        return node
    if not isinstance(node, dict):
        return node
    if node.get("nullable") is True:
        del node["nullable"]
        t = node.get("type")
        if isinstance(t, str):
            node["type"] = [t, "null"]
        elif "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    if node.get("x-kubernetes-int-or-string") is True and "anyOf" not in node and "oneOf" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(key), bool):
            if node[key] and bound in node:
                node[key] = node.pop(bound)
            else:
                del node[key]
    if node.get("x-kubernetes-embedded-resource") is True:
        _implicit_resource_fields(node)
    if ("properties" in node and "additionalProperties" not in node
            and node.get("x-kubernetes-preserve-unknown-fields") is not True):
        node["additionalProperties"] = False
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            for sub in value.values():
                _convert(sub)
        elif key in ("items", "additionalProperties", "not") and isinstance(value, (dict, list)):
            _convert(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            _convert(value)
    return node


def version_schema(crd: dict, version: dict, keep_descriptions: bool = False) -> dict:
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    if not keep_descriptions:
        schema = _strip_descriptions(schema)
    schema.setdefault("type", "object")
    _implicit_resource_fields(schema, f"{group}/{version['name']}", kind)
    required = schema.setdefault("required", [])
    schema["required"] = [*("apiVersion", "kind", "metadata"), *(r for r in required if r not in
                                                                   ("apiVersion", "kind", "metadata"))]
    _convert(schema)
    return {"$schema": DRAFT, "title": f"{kind} {group}/{version['name']}", **schema}


def convert_file(path: Path, out: Path, kinds: set[str] | None, keep_descriptions: bool) -> list[Path]:
    written = []
    for crd in yaml.safe_load_all(path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        if kinds and kind not in kinds:
            continue
        for version in crd["spec"]["versions"]:
            if "openAPIV3Schema" not in version.get("schema", {}):
                continue
            target = out / group / f"{kind.lower()}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(version_schema(crd, version, keep_descriptions), indent=1,
                                         ensure_ascii=False) + "\n")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("crds", nargs="+", type=Path, help="CRD YAML files (multi-document allowed)")
    p.add_argument("--kind", action="append", help="convert only these kinds (repeatable)")
    p.add_argument("--out", type=Path, default=DEPLOY / "schemas")
    p.add_argument("--keep-descriptions", action="store_true")
    args = p.parse_args(argv)
    for crd in args.crds:
        digest = hashlib.sha256(crd.read_bytes()).hexdigest()
        for target in convert_file(crd, args.out, set(args.kind or ()), args.keep_descriptions):
            print(f"{target.relative_to(args.out)}  <-  {crd.name} (sha256 {digest[:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
