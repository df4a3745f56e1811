"""README's "Using it as a library" example runs as written: plain Keras compile() with no
arguments, fit and evaluate under MirroredStrategy, save and load_model, generate.

It runs in a fresh process (logical CPU devices must be configured before TensorFlow starts).
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    match = re.search(r"<!-- library-example -->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README.md lost its library example (marked <!-- library-example -->)"
    return match.group(1)


def test_readme_library_example_runs(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", _example()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    last = result.stdout.strip().splitlines()[-1]
    assert "'d_loss'" in last and "'g_loss'" in last, last
    assert last.endswith("(1, 32, 32, 3)"), last
    assert (tmp_path / "shapes32.keras").is_file()
