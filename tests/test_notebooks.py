"""Every notebook of notebooks/ has a title and runs from top to bottom without an error.

The notebooks run with nbclient in an IPython kernel started from the interpreter that
runs pytest (a kernelspec written to a temporary JUPYTER_PATH, which Jupyter searches
first), so a fresh virtualenv needs no ``ipykernel install`` and a user's own ``python3``
kernel pointing elsewhere is not used.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMS = [pytest.param(path, id=path.stem) for path in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", PARAMS)
def test_notebook_has_a_title(path):
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    source = "".join(first["source"])                  # a string or a list of lines
    assert first["cell_type"] == "markdown" and source.startswith("# "), (
        f"{path.name} must start with a Markdown title cell ('# Title')")


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernelspec for this interpreter, found before any other of the same name."""
    pytest.importorskip("nbclient", reason="running the notebooks needs nbclient "
                        "(and ipykernel)")
    if importlib.util.find_spec("ipykernel") is None:
        pytest.fail("nbclient is installed but ipykernel is not: the notebooks need an "
                    "IPython kernel (pip install ipykernel)")
    name = "python3"
    spec = tmp_path / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (hsproto tests)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("HSPROTO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MPLBACKEND", raising=False)     # the kernel's inline backend
    # one thread: the notebooks' small tensors run several times faster on a busy 2-core
    # machine (06 and 07: about 55 s with 2 threads, 12-16 s with one)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return name


@pytest.mark.slow
@pytest.mark.parametrize("path", PARAMS)
def test_notebook_runs(path, kernel_name, tmp_path):
    import nbclient  # the kernel_name fixture skips without it
    import nbformat  # a dependency of nbclient

    nb = nbformat.read(path, as_version=4)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=300,
                                     startup_timeout=120, record_timing=False,
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()     # raises CellExecutionError naming the cell on any error
