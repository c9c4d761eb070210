"""The master's HTTP shell as a standby: where it sends clients (a real server on loopback)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from pymesos_rt.master.server import MasterServer
from pymesos_rt.master.state import MasterState


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # report the 307 itself


def _status(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location") or ""


def test_a_standby_redirects_to_the_leader_but_never_to_itself():
    async def run() -> None:
        server = MasterServer(MasterState(), leading=False)
        port = server.serve_http("127.0.0.1", 0, None)
        loop = asyncio.get_running_loop()
        base = f"http://127.0.0.1:{port}"
        try:
            server.leader_address = "ws://127.0.0.1:1"  # another master leads
            assert await loop.run_in_executor(None, _status, f"{base}/state") == (
                307,
                "http://127.0.0.1:1/state",
            )
            # ZooKeeper still names this master (taking over, or its lease lapsed): no loop
            server.leader_address = server.state.address
            assert await loop.run_in_executor(None, _status, f"{base}/state") == (503, "")
            assert await loop.run_in_executor(None, _status, f"{base}/") == (503, "")
        finally:
            await server.stop()

    asyncio.run(run())
