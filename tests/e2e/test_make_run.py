"""`moksori run` (what `make run` calls): starts everything, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.e2e


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("round_", [1, 2])  # the second start reuses the first one's data
def test_run_starts_the_system_and_ctrl_c_stops_every_process(tmp_path_factory, round_):
    var = Path(tmp_path_factory.getbasetemp()) / "make-run-var"
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--var", str(var), "--no-demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Running."):
                break
        assert any(line.startswith("Running.") for line in lines), "".join(lines)
        children = descendants(proc.pid)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        for expected in ("nats-server", "postgres", "services.intake", "services.classifier", "services.routing",
                         "services.feedback"):
            assert expected in names
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped." in out
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphans left: {[p.cmdline() for p in alive]}"
    text = "".join(lines)
    if round_ == 1:
        assert re.search(r"migrations +\d+ applied: intake/000_messaging.sql", text)
    else:
        assert "(up to date)" in text
