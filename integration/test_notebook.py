"""examples/notebook.ipynb runs top to bottom in a real IPython kernel of this interpreter.

The kernel is started by nbclient from the ``python3`` kernelspec. jupyter_client runs a spec whose
argv starts with ``python`` with this interpreter; a spec that names another interpreter is
shadowed by a temporary one in ``tmp_path`` (put first on ``JUPYTER_PATH``), so the kernel always
imports the pymesos_rt under test. A first cell, added to the in-memory copy only, reports the
kernel's ``sys.executable`` so the test can check it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"
TIMEOUT = 120
PROBE = "import sys\nprint('kernel python:', sys.executable)"
# argv[0] values jupyter_client replaces with sys.executable when it starts a kernel
_MAJOR, _MINOR = sys.version_info[:2]
_SELF_NAMES = {"python", f"python{_MAJOR}", f"python{_MAJOR}.{_MINOR}"}


def _spec_runs_this_python() -> bool:
    try:
        argv = KernelSpecManager().get_kernel_spec("python3").argv
    except NoSuchKernel:
        return False
    exe = argv[0] if argv else ""
    if exe in _SELF_NAMES:
        return True
    return os.path.realpath(exe) == os.path.realpath(sys.executable)


@pytest.fixture
def kernel_of_this_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if _spec_runs_this_python():
        return
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (pymesos_rt tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    old = os.environ.get("JUPYTER_PATH")
    path = str(tmp_path / "jupyter") + (os.pathsep + old if old else "")
    monkeypatch.setenv("JUPYTER_PATH", path)
    assert _spec_runs_this_python()


def _text(cell: Any) -> str:
    parts: list[str] = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_notebook_has_no_outputs_saved() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_runs(kernel_of_this_python: None) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=TIMEOUT,
        startup_timeout=60,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that errors

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code:
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"cell failed:\n{cell.source}\n{errors}"
    texts = [_text(cell) for cell in code]
    kernel_python = texts[0].strip().removeprefix("kernel python: ")
    assert os.path.realpath(kernel_python) == os.path.realpath(sys.executable)
    joined = "\n".join(texts)
    assert "mode: embedded" in joined
    assert "[0, 1, 4, 9, 16]" in joined  # rt.get as the cell's value
    assert "awaited: 144" in joined  # await ref
    assert "gathered: [9, 16, 25]" in joined  # asyncio.gather over refs
    assert "actor total: 10" in joined  # an actor's state, its calls in order
    assert "initialized: False" in joined  # rt.shutdown()


def test_task_output_appears_in_the_cell_that_ran_the_task(kernel_of_this_python: None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import pymesos_rt as rt\n\nrt.init(num_cpus=1)"),
        nbformat.v4.new_code_cell(
            "@rt.remote\ndef hello() -> int:\n    print('hello from a task')\n    return 1\n\n\n"
            "rt.get(hello.remote())"
        ),
        nbformat.v4.new_code_cell("import time\n\ntime.sleep(0.5)\nrt.shutdown()"),
    ]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=TIMEOUT).execute()
    assert "hello from a task" in _text(nb.cells[1])
