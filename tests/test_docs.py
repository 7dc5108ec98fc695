"""Every python code block of the README and of docs/*.md runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks():
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"```python\n(.*?)```", text, re.S):
            line = text[:match.start()].count("\n") + 1
            yield pytest.param(match.group(1), id=f"{page.name}:{line}")


@pytest.mark.slow
@pytest.mark.parametrize("code", list(_blocks()))
def test_code_block_runs_as_written(code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False,
                          env={**os.environ, "HSPROTO_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
