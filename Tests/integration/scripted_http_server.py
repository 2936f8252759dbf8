"""A small HTTP/1.1 server with scripted answers, for the Curl and S3 retry tests.

Prints its port, then serves until its standard input closes. Paths:
- ``.../status/CODE[/AFTER/CODE2]``: answers CODE (with an S3-style error body), or,
  with AFTER, CODE for the first AFTER requests to that path and CODE2 after;
- ``.../s3error/STATUS/CODE/AFTER``: for the first AFTER requests to that path, STATUS
  with an S3 error document naming CODE (and ``Retry-After: 0``); 200 ``ok`` after;
- ``.../sleep/SECONDS``: waits, then answers 200;
- ``.../echo``: answers the body's length, SHA-256 and the Range header it got;
- ``.../peer``: answers the client's port (the same port = a kept-alive connection);
- ``/count/PATH``: how many requests PATH has had.
"""
import hashlib
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = Counter()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        path = self.path.split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path.startswith("/count/"):
            return self.answer(200, str(counts[path[len("/count"):]]).encode())
        with lock:
            counts[path] += 1
            n = counts[path]
        parts = path.strip("/").split("/")
        if "status" in parts:
            i = parts.index("status")
            code = int(parts[i + 1])
            if len(parts) > i + 3 and n > int(parts[i + 2]):
                code = int(parts[i + 3])
            if code >= 300:
                xml = (f"<?xml version=\"1.0\"?><Error><Code>Scripted{code}</Code><Message>as scripted</Message>"
                       f"<RequestId>req-{n}</RequestId></Error>").encode()
                return self.answer(code, xml, [("x-amz-request-id", f"req-{n}")])
            return self.answer(code, b"ok", [("ETag", '"abc"'), ("Last-Modified", "Sat, 21 Nov 2026 23:33:39 GMT")])
        if "s3error" in parts:
            i = parts.index("s3error")
            status, code, after = int(parts[i + 1]), parts[i + 2], int(parts[i + 3])
            if n <= after:
                xml = (f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>as scripted</Message>"
                       f"<RequestId>req-{n}</RequestId></Error>").encode()
                return self.answer(status, xml, [("x-amz-request-id", f"req-{n}"), ("Retry-After", "0")])
            return self.answer(200, b"ok", [("ETag", '"abc"'), ("Last-Modified", "Sat, 21 Nov 2026 23:33:39 GMT")])
        if "sleep" in parts:
            time.sleep(float(parts[parts.index("sleep") + 1]))
            return self.answer(200, b"slept")
        if "echo" in parts:
            text = f"{len(body)} {hashlib.sha256(body).hexdigest()} {self.headers.get('Range', '-')}"
            return self.answer(200, text.encode())
        if "peer" in parts:
            return self.answer(200, str(self.client_address[1]).encode())
        return self.answer(404)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()
