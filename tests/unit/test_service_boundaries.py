"""Each service is deployed and scaled on its own: its code reaches another service only
through events and HTTP, and shares code only through the project's `shared/` package.
One exception, on purpose: feedback classifies survey comments with the classifier's
model and lexicon (the same code path, so a comment and a case are read alike)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
ALLOWED = {("feedback", "classifier")}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def crossings() -> set[tuple[str, str, str]]:
    services = {p.name for p in SERVICES.iterdir() if (p / "entrypoint.py").exists()}
    found = set()
    for svc in services:
        for path in (SERVICES / svc).rglob("*.py"):
            for module in imported_modules(path):
                parts = module.split(".")
                if len(parts) > 1 and parts[0] == "services" and parts[1] in services - {svc}:
                    found.add((svc, parts[1], str(path.relative_to(SERVICES.parent))))
    return found


def test_no_service_imports_another_except_feedback_reading_the_classifiers_model():
    assert {"intake", "classifier", "routing", "feedback"} <= {p.name for p in SERVICES.iterdir()}
    unexpected = sorted(c for c in crossings() if c[:2] not in ALLOWED)
    assert not unexpected, f"cross-service imports (move shared code to shared/): {unexpected}"
    assert {c[:2] for c in crossings()} == ALLOWED  # the exception is still real, or drop it
