"""The layering written in pyproject.toml ([tool.importlinter]) holds: `lint-imports` passes.

Layers: cli > jobs, tasks > models, data, text, export > layers > runtime; the runtime imports no
TensorFlow, Keras or training code; export imports no training code; the top-level modules have
no import cycles.
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports") or os.path.join(os.path.dirname(sys.executable),
                                                        "lint-imports")
    if not os.path.exists(lint):
        pytest.fail("lint-imports is missing: install the test extra (pip install -e .[test])")
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
