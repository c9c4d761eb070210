"""Setting up an executor's ``runtime_env`` before its first task (``client/runtime_env.py``
packs it; the driver puts it in the executor's environment as ``RUNTIME_ENV_VAR``).

``env_vars`` are already in the environment. The packed ``working_dir`` is fetched from the
driver once, unpacked into ``<sandbox>/working_dir``, made the working directory and put first
on ``sys.path``; each of ``py_modules`` is unpacked into ``<sandbox>/py_modules/<i>`` and put on
``sys.path``. Done by the first task's thread (fetching needs the driver connection that the
main thread serves), under a lock that later tasks wait on.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import msgspec

from pymesos_rt.protocol import messages as m

log = logging.getLogger(__name__)

Fetch = Callable[[list[str]], list[bytes]]


class RuntimeEnv:
    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        text = os.environ.get(m.RUNTIME_ENV_VAR)
        self.spec = msgspec.json.decode(text, type=m.RuntimeEnvSpec) if text else None
        self._ready = self.spec is None or not (self.spec.working_dir or self.spec.py_modules)

    @property
    def ready(self) -> bool:
        """Whether what the env holds is unpacked (or it holds nothing to unpack)."""
        return self._ready

    def ensure(self) -> None:
        """Unpack what the env holds (once; raises if that fails, failing the task)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            assert self.spec is not None
            sandbox = Path(os.environ.get("PYMESOS_RT_SANDBOX") or os.getcwd())
            oids = ([self.spec.working_dir] if self.spec.working_dir else []) + list(
                self.spec.py_modules
            )
            archives = dict(zip(oids, self._fetch(oids), strict=True))
            paths: list[str] = []
            if self.spec.working_dir:
                target = sandbox / "working_dir"
                _unpack(archives[self.spec.working_dir], target)
                os.chdir(target)
                paths.append(str(target))
            for i, oid in enumerate(self.spec.py_modules):
                target = sandbox / "py_modules" / str(i)
                _unpack(archives[oid], target)
                paths.append(str(target))
            sys.path[0:0] = paths
            importlib.invalidate_caches()
            log.info("runtime env %s ready in %s", self.spec.key, sandbox)
            self._ready = True


def _unpack(data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"runtime env archive holds an unsafe path {name!r}")
        zf.extractall(target)
