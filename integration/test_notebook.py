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
import queue
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
    assert "total: 328350" in joined  # rt.get(..., progress=True)
    assert "dashboard" in joined  # ClusterInfo's repr names the dashboard
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


# ---- the notebook experience: progress, interrupts, output routing, tracebacks ------------------

SETUP = """\
import json, time, urllib.request
import pymesos_rt as rt

info = rt.init(num_cpus=2, idle_timeout=1.0)


@rt.remote
def square(x):
    time.sleep(0.02)
    return x * x


@rt.remote
def forever():
    for _ in range(60000):
        time.sleep(0.01)
    return "not cancelled"


@rt.remote
def late_print():
    time.sleep(1.0)
    print("printed by the task of cell A")
    return 1


@rt.remote(num_cpus=0.5)
class Speaker:
    def say(self):
        time.sleep(1.0)
        print("printed by the actor call of cell A")
        return 1


def boom(x):
    y = x + 1
    raise ValueError(f"bad value {y}")


@rt.remote
def fails(x):
    z = 2
    return boom(x)


print("URL", info.dashboard_url, info.framework_id)
info"""


def _json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def _outputs(cell: Any, kind: str) -> list[Any]:
    return [o for o in cell.outputs if o.get("output_type") == kind]


async def _until(probe: Any, timeout: float, what: str) -> Any:
    """Poll ``probe`` (a blocking call, run off the loop) until it returns something truthy."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if asyncio.get_running_loop().time() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.1)


async def _notebook_experience() -> None:
    import asyncio
    import re

    nb = nbformat.v4.new_notebook()
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=TIMEOUT, startup_timeout=60, allow_errors=True
    )

    async def run(source: str) -> Any:
        nb.cells.append(nbformat.v4.new_code_cell(source))
        index = len(nb.cells) - 1
        return await client.async_execute_cell(nb.cells[index], index)

    async with client.async_setup_kernel():
        setup = await run(SETUP)
        assert not _outputs(setup, "error"), setup.outputs
        base, framework = re.search(r"URL (\S+) (\S+)", _text(setup)).groups()  # type: ignore[union-attr]
        # ClusterInfo's HTML repr links the dashboard; init logged its URL once
        html = [o["data"]["text/html"] for o in _outputs(setup, "execute_result")]
        assert html and f"href='{base}/'" in html[0]
        assert f"pymesos_rt dashboard: {base}/" in _text(setup) + "".join(
            o.get("text", "") for o in setup.outputs if o.get("name") == "stderr"
        )

        # 1. a progress widget while rt.get waits
        cell = await run(
            "values = rt.get([square.remote(i) for i in range(40)], progress=True)\n"
            "print('sum', sum(values))"
        )
        widgets = [
            o
            for o in _outputs(cell, "display_data")
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        ]
        assert widgets, cell.outputs
        assert "sum 20540" in _text(cell)

        # 2. a kernel interrupt during rt.get cancels its task; the kernel stays usable
        def running_forever() -> bool:
            job = _json(f"{base}/jobs/{framework}")
            return any(f["name"] == "forever" and f["running"] == 1 for f in job["functions"])

        waiting = asyncio.ensure_future(run("ref = forever.remote()\nrt.get(ref)"))
        await _until(running_forever, 60, "the task running")
        await client.km.interrupt_kernel()
        interrupted = await asyncio.wait_for(waiting, 60)
        (error,) = _outputs(interrupted, "error")
        assert error["ename"] == "KeyboardInterrupt"
        after = await run(
            "print('still usable', rt.get(square.remote(7)))\n"
            "try:\n    rt.get(ref)\n"
            "except rt.TaskCancelledError as exc:\n    print('cancelled:', exc)"
        )
        assert "still usable 49" in _text(after) and "cancelled: task forever" in _text(after)

        def cancelled_and_free() -> bool:
            job = _json(f"{base}/jobs/{framework}")
            forever = next(f for f in job["functions"] if f["name"] == "forever")
            agents = _json(f"{base}/state")["agents"]
            used = sum(a["used"].get("cpus", 0.0) for a in agents)
            return forever["cancelled"] == 1 and forever["running"] == 0 and used == 0.0

        await _until(cancelled_and_free, 60, "the task cancelled and its executor given back")

        # 3. a task's print lands under the cell that submitted it, while another cell runs
        kc = client.kc
        assert kc is not None
        cell_a = kc.execute(
            "speaker = Speaker.remote()\nref_a = late_print.remote()\nref_s = speaker.say.remote()"
        )
        cell_b = kc.execute("time.sleep(3)\nprint('cell B done')")
        streams: dict[str, str] = {cell_a: "", cell_b: ""}
        idle: set[str] = set()
        deadline = asyncio.get_running_loop().time() + 60
        both = ("printed by the task of cell A", "printed by the actor call of cell A")
        while idle != {cell_a, cell_b} or not all(text in streams[cell_a] for text in both):
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"cells did not finish: {streams}"
            try:
                msg = await kc.get_iopub_msg(timeout=left)
            except queue.Empty:
                raise AssertionError(f"not every print came under cell A: {streams}") from None
            parent = msg["parent_header"].get("msg_id")
            if parent not in streams:
                continue
            if msg["msg_type"] == "stream":
                streams[parent] += msg["content"]["text"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle.add(parent)
        assert "cell B done" in streams[cell_b]
        assert "printed by" not in streams[cell_b], streams

        # 4. a task's traceback points at the user's lines, without the runtime's frames
        failed = await run("rt.get(fails.remote(1))")
        (error,) = _outputs(failed, "error")
        shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
        assert re.search(r"---> \d+\s+return boom\(x\)", shown), shown
        assert re.search(r"---> \d+\s+raise ValueError\(f\"bad value \{y\}\"\)", shown), shown
        assert re.search(r"---> 1\s+rt.get\(fails.remote\(1\)\)", shown), shown
        assert "api.py" not in shown and "refs.py" not in shown and "interactiveshell" not in shown

        await run("rt.shutdown()")


def test_progress_interrupt_output_and_tracebacks_in_a_kernel(kernel_of_this_python: None) -> None:
    import asyncio

    asyncio.run(_notebook_experience())
