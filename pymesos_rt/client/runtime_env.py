"""``runtime_env=``: checking it, and packing its local directories once.

Supported keys (Ray's names): ``env_vars`` (a dict of strings), ``working_dir`` (a local
directory: zipped, stored in the cluster once, and unpacked into each executor's sandbox,
which becomes the task's working directory and the first entry of ``sys.path``) and
``py_modules`` (local package directories or ``.py`` files, or imported modules: zipped,
stored once, unpacked and put on ``sys.path``). Installing packages (``pip``, ``conda``,
``uv``, ``container``) is refused with a clear error: install them on the agents.

The result is a :class:`~pymesos_rt.protocol.messages.RuntimeEnvSpec` whose ``key`` digests
everything in it; executors of different keys are different executor kinds. A directory is
packed again only when a file in it changed (its tree signature: names, sizes, mtimes).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import types
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pymesos_rt.protocol import messages as m

UNSUPPORTED = ("pip", "conda", "uv", "container", "image_uri")
SUPPORTED = ("env_vars", "working_dir", "py_modules")
SKIP_DIRS = {"__pycache__", ".git", ".hg", ".venv", ".mypy_cache", ".ruff_cache"}
MAX_PACKED_BYTES = 512 * 2**20

Put = Callable[[bytes], Any]  # stores bytes in the cluster; returns an ObjectRef


def check(env: Any) -> dict[str, Any]:
    """``env`` validated (a plain dict), or a ``ValueError`` naming the problem."""
    if not isinstance(env, Mapping):
        raise TypeError(f"runtime_env must be a dict, got {type(env).__name__}")
    for key in env:
        if key in UNSUPPORTED:
            raise ValueError(
                f"runtime_env {key!r} is not supported by pymesos_rt: install packages on "
                "the agents' Python (or use working_dir/py_modules for your own code)"
            )
        if key not in SUPPORTED:
            raise ValueError(f"unknown runtime_env key {key!r}; supported: {', '.join(SUPPORTED)}")
    env_vars = env.get("env_vars") or {}
    if not isinstance(env_vars, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()
    ):
        raise TypeError("runtime_env['env_vars'] must be a dict of str to str")
    working_dir = env.get("working_dir")
    if working_dir is not None and not Path(working_dir).is_dir():
        raise ValueError(
            f"runtime_env['working_dir'] {working_dir!r} is not a local directory "
            "(remote URIs are not supported)"
        )
    modules = env.get("py_modules") or []
    if not isinstance(modules, list | tuple):
        raise TypeError("runtime_env['py_modules'] must be a list")
    for module in modules:
        _module_path(module)
    return dict(env)


def _module_path(module: Any) -> Path:
    if isinstance(module, types.ModuleType):
        file = getattr(module, "__file__", None)
        if not file:
            raise ValueError(f"py_modules: module {module.__name__!r} has no file to pack")
        path = Path(file)
        return path.parent if path.name == "__init__.py" else path
    if not isinstance(module, str | os.PathLike):
        raise TypeError(f"py_modules entries are paths or modules, got {module!r}")
    path = Path(module)
    if not (path.is_dir() or (path.is_file() and path.suffix == ".py")):
        raise ValueError(f"py_modules: {module!r} is not a local directory or .py file")
    return path


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        out += [Path(dirpath) / name for name in sorted(filenames) if not name.endswith(".pyc")]
    return out


def _signature(root: Path) -> str:
    digest = hashlib.sha1()
    for path in _files(root):
        st = path.stat()
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def pack(root: Path, *, as_package: bool) -> bytes:
    """A zip of ``root``'s files: relative to ``root`` (a working dir), or under the
    directory's own name (a package for ``py_modules``)."""
    base = root.parent if (as_package or root.is_file()) else root
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _files(root):
            total += path.stat().st_size
            if total > MAX_PACKED_BYTES:
                raise ValueError(
                    f"runtime_env: {root} holds more than {MAX_PACKED_BYTES >> 20} MiB; "
                    "keep data out of working_dir (put it in the cluster with rt.put)"
                )
            zf.write(path, path.relative_to(base).as_posix())
    return buf.getvalue()


class Packer:
    """Packs and stores directories once per content; keeps the stored objects alive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: dict[tuple[int, str, str, bool], Any] = {}

    def stored(self, put: Put, owner: object, root: Path, *, as_package: bool) -> str:
        """The object id of ``root`` packed, storing it with ``put`` if it changed."""
        root = root.resolve()
        key = (id(owner), str(root), _signature(root), as_package)
        with self._lock:
            ref = self._stored.get(key)
            if ref is None:
                ref = self._stored[key] = put(pack(root, as_package=as_package))
            return str(ref.object_id)


PACKER = Packer()


def to_spec(env: Mapping[str, Any], put: Put, owner: object) -> m.RuntimeEnvSpec:
    """The wire form of a checked ``env``; directories are stored with ``put`` once."""
    env_vars = {str(k): str(v) for k, v in (env.get("env_vars") or {}).items()}
    working_dir = ""
    if env.get("working_dir") is not None:
        working_dir = PACKER.stored(put, owner, Path(env["working_dir"]), as_package=False)
    modules = [
        PACKER.stored(put, owner, _module_path(mod), as_package=True)
        for mod in env.get("py_modules") or []
    ]
    text = json.dumps([sorted(env_vars.items()), working_dir, modules])
    key = hashlib.sha1(text.encode()).hexdigest()[:12]
    return m.RuntimeEnvSpec(key, env_vars, working_dir, modules)
