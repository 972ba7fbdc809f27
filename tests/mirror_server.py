"""A local HTTP mirror for download tests: serves a folder on 127.0.0.1 with
byte ranges (for resumed downloads) and BrainWeb's download-form query
(``?do_download_alias=<name>&...`` serves the file ``<path>/<name>``)."""

import contextlib
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    requests_seen: list  # (path, Range header) of every GET, for the tests to inspect

    def log_message(self, *args):  # keep pytest output quiet
        pass

    def translate_path(self, path):
        parsed = urllib.parse.urlsplit(path)
        alias = urllib.parse.parse_qs(parsed.query).get("do_download_alias")
        local = super().translate_path(parsed.path)
        return str(Path(local) / alias[0]) if alias else local

    def do_GET(self):
        self.requests_seen.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        ranged = self.headers.get("Range", "")
        start = int(ranged.removeprefix("bytes=").split("-")[0]) if ranged.startswith("bytes=") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])


@contextlib.contextmanager
def serve(folder: Path):
    """Serve `folder` on a free port; yield (base URL, list of requests seen)."""
    seen: list = []
    handler = type("Handler", (_Handler,), {"requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
