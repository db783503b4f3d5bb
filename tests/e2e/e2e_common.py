"""What both end-to-end clients share: numbered checks that stop at the first
failure, and a loopback web server serving one hostile page."""

from __future__ import annotations

import http.server
import sys
import threading
from typing import Any

import mcp_types as types


class Checks:
    """Prints one line per check; exits non-zero on the first failure."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, condition: bool, what: str, detail: Any = "") -> None:
        if not condition:
            print(f"FAIL: {what}\n  {detail}", flush=True)
            sys.exit(1)
        self.count += 1
        print(f"ok: {what}", flush=True)


def serve_page(body: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A loopback server answering every GET with `body` as HTML; it and its
    base URL. Call `shutdown()` when done."""
    page = body.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def meta_of(obj: Any) -> dict[str, Any]:
    return obj.model_dump(by_alias=True).get("_meta") or {}


class Approver:
    """Answers elicitation: accepts (ticking `approve`) or declines, and counts."""

    def __init__(self) -> None:
        self.answer = "accept"
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params.message)
        if self.answer == "accept":
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")
