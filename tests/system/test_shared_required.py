"""Without ../shared the conformance tests fail, saying what is missing; they never pass with their checks off."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_conformance_tests_fail_loudly_without_shared(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-p", "no:cacheprovider", "-rfEs",
         "tests/integration/test_simulator_conformance.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "AMAZON_SYNC_SHARED": str(tmp_path / "nowhere")})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "skipped" not in run.stdout and " passed" not in run.stdout
    assert f"{tmp_path / 'nowhere' / 'amazon-models'} is missing: conformance checks need Amazon's models" in run.stdout
