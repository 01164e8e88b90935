from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, input: str | None = None, cwd: Path | None = None,
            timeout: float = 300, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run the real `jinjian` command in a subprocess (a Scrapy reactor runs once per process)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("JINJIAN_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "jinjian.cli", *args], input=input, capture_output=True,
        text=True, cwd=cwd or REPO, timeout=timeout, env=full_env,
    )


@pytest.fixture
def cli():
    return run_cli
