"""A service whose operator data file is broken does not start, and says which file and line, as it does for
invalid configuration: before, the message came at the end of a traceback (a lexicon saved as CP949, a pattern
that does not compile, a directory with a typo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def start(service: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"services.{service}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


@pytest.mark.parametrize("content,where", [
    ('version: "x"\nguards:\n  impersonation: ["(unclosed"]\n', ":3: guards.impersonation"),
    ("version: \"x\"\n# 금감원\n".encode("cp949"), ":2: not UTF-8 text"),
])
def test_a_broken_lexicon_stops_the_classifier_naming_the_file_and_line(tmp_path, content, where):
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = start("classifier", LEXICON_FILE=str(lexicon))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"moksori-classifier: {lexicon}{where}") and "Traceback" not in done.stderr


def test_a_broken_directory_stops_routing_naming_the_file(tmp_path):
    directory = tmp_path / "directory.yaml"
    directory.write_text("affiliates:\n  bank: [\n", encoding="utf-8")
    done = start("routing", DIRECTORY_FILE=str(directory), TEAM_KEYS="card:local-card-team-key-0001")
    assert done.returncode == 2 and done.stderr.startswith(f"moksori-routing: {directory}:"), done.stderr
    assert "Traceback" not in done.stderr
