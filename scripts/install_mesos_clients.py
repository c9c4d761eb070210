"""Install the Mesos client libraries the integration tests drive: douban's pymesos 0.3.15 and
mesoshttp 0.4.2, into the interpreter that runs this script (the test venv), reproducibly.

pymesos depends on ``http-parser`` 0.9.0, whose sdist does not build on Python 3.11: its C
extension is generated for old CPython headers (``longintrepr.h``) and its ``setup.py`` imports
``imp``. Its pure-Python parser (``http_parser.pyparser``) works, and ``http_parser.http`` falls
back to it when the extension is missing. So this script downloads the sdist with pip, checks it
against a pinned SHA-256, and builds a wheel of the package's Python modules only (the C files
are left out): nothing of it is vendored in this repository. Then pip installs that wheel and,
with ``--require-hashes --no-deps``, the exact archives of pymesos, mesoshttp and pymesos's small
dependencies (``PINNED``); the rest of their dependencies (kazoo, requests, pyjwt, cryptography)
are the ones any venv of this project resolves, installed by a plain ``pip install`` of the two.

Run by ``scripts/test``; does nothing when both libraries import already.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HTTP_PARSER = "http-parser==0.9.0"
HTTP_PARSER_SHA256 = "441d3a57c6227230f98aa97539da006fda0f8f4880bc4c5cd895ff2138a52621"
CLIENTS = ["pymesos==0.3.15", "mesoshttp==0.4.2"]
# the archives pip picks on PyPI for Python 3.11 (pymesos publishes only an sdist)
PINNED = {
    "pymesos==0.3.15": "ee8d5ac0664467fcc70bb5a639d1520547523c80f0e83e73f689778f46a846de",
    "mesoshttp==0.4.2": "a88ced6924920eb664addf07befdfed916dfe810a4c43e4c11d2f8b3cda93fd9",
    "addict==2.4.0": "249bb56bbfd3cdc2a004ea0ff4c2b6ddc84d53bc2194761636eb314d5cfa5dfc",
    "six==1.17.0": "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
}


def _installed() -> bool:
    probe = "import http_parser.http, pymesos, mesoshttp.client"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False)
    return run.returncode == 0


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_http_parser_wheel(sdist: Path, out: Path) -> Path:
    """A pure-Python wheel of http-parser from its sdist (the C extension left out)."""
    files: dict[str, bytes] = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "http_parser" and parts[2].endswith(".py"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[f"http_parser/{parts[2]}"] = extracted.read()
            elif len(parts) == 2 and parts[1] == "LICENSE":
                extracted = tar.extractfile(member)
                assert extracted is not None
                files["http_parser-0.9.0.dist-info/LICENSE"] = extracted.read()
    if "http_parser/pyparser.py" not in files:
        raise SystemExit(f"{sdist} holds no http_parser/pyparser.py")
    info = "http_parser-0.9.0.dist-info"
    files[f"{info}/METADATA"] = (
        b"Metadata-Version: 2.1\nName: http-parser\nVersion: 0.9.0\n"
        b"Summary: http request/response parser (pure-Python build)\nLicense: MIT\n"
    )
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pymesos_rt scripts/install_mesos_clients.py\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/top_level.txt"] = b"http_parser\n"
    record = [_record_line(name, data) for name, data in sorted(files.items())]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / "http_parser-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return wheel


def main() -> int:
    if _installed():
        return 0
    with tempfile.TemporaryDirectory(prefix="mesos-clients-") as tmp:
        work = Path(tmp)
        _pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(work), HTTP_PARSER)
        sdists = list(work.glob("http-parser-0.9.0.tar.gz")) + list(
            work.glob("http_parser-0.9.0.tar.gz")
        )
        if not sdists:
            raise SystemExit(f"pip downloaded no http-parser sdist into {work}")
        digest = hashlib.sha256(sdists[0].read_bytes()).hexdigest()
        if digest != HTTP_PARSER_SHA256:
            raise SystemExit(
                f"{sdists[0].name}: sha256 {digest} is not the pinned {HTTP_PARSER_SHA256}"
            )
        wheel = build_http_parser_wheel(sdists[0], work)
        _pip("install", "--no-deps", str(wheel))
        pinned = work / "pinned.txt"
        pinned.write_text("".join(f"{req} --hash=sha256:{sha}\n" for req, sha in PINNED.items()))
        _pip("install", "--no-deps", "--require-hashes", "-r", str(pinned))
        _pip("install", *CLIENTS)  # their remaining dependencies; the pinned ones are kept
    if not _installed():
        raise SystemExit("pymesos or mesoshttp still does not import after installing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
