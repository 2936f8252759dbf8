"""Shared helpers for the integration tests: real nginx in front of real `recstore serve`.

Every stack is started with scripts/run-stack -- the script behind `make run` -- with its
own PORT and RUN_DIR in a temporary directory, so tests never share state. `make test`
builds the release binary before pytest runs; the stacks skip installing and building.

Fixtures
    release_binary  Path of .build/release/recstore (built here if it is missing).
    auth_env        AUTH0_ISSUER / AUTH0_AUDIENCE / AUTH0_JWKS_FILE with an empty key set
                    ({"keys": []}): enough for a stack to start; no token verifies.
    make_stack      Factory: make_stack(env=None, workers=2, start=True) -> Stack. The env
                    overrides are applied over auth_env. Every stack made is stopped at teardown.
    stack           A started stack with auth_env and 2 workers.

Helpers
    free_port()             A free TCP port on 127.0.0.1.
    Stack                   One stack:
        .start(timeout=30)      run run-stack, wait until GET /healthz is 200 (raises with the
                                stack's log if it exits instead)
        .stop(sig=SIGTERM)      signal run-stack, wait for it, return its exit status
        .url(path)              "http://127.0.0.1:PORT" + path
        .get/.post/.request     `requests` calls against the stack (no proxies, 10 s timeout)
        .run_dir .port .cwd     RUN_DIR, PORT, and the working directory (its .env is read)
        .env                    the environment the stack was started with
        .storage_dir            LOCAL_STORAGE_DIR (under the run dir unless overridden)
        .supervisor_pid()       pid of `recstore serve` (RUN_DIR/recstore.pid)
        .worker_pids()          pids of its worker processes
        .log_text()             everything the stack wrote (stdout + stderr)
        .log_records()          the responder's JSON log lines, parsed
        .access_log_text()      nginx's access log
    wait_until(predicate, timeout, interval)   poll until predicate() is truthy; returns it
    FastCGIClient(address)  A minimal FastCGI client for talking to `recstore serve`
                            without nginx (address: a unix socket path or (host, port)).
        .request(params, body=b"")  -> FastCGIReply(status, headers, body, ended)
        .open() / .send_begin / .send_params / .send_stdin / .read_reply  for step by step
                                    exchanges (slow bodies, aborted requests)

Configuration variables a developer may have exported (AUTH0_*, AWS_*, STORAGE, ...) are
removed from the inherited environment, so every stack starts from the documented defaults.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
RUN_STACK = ROOT / "scripts" / "run-stack"
RELEASE_BINARY = ROOT / ".build" / "release" / "recstore"

# Inherited variables that would change how a stack behaves.
_CONFIG_PREFIXES = ("AUTH0_", "AWS_", "S3_", "JWT_", "JWKS_", "STUDY_BUDDY_",
                    "REQUEST_BODY_", "NGINX_")  # the last two: body deadline, nginx limits (issue 16)
_CONFIG_NAMES = {"STORAGE", "LOCAL_STORAGE_DIR", "RETENTION_DAYS", "MAX_UPLOAD_BYTES", "LOG_LEVEL", "CORS_ALLOW_ORIGINS",
                 "PORT", "WORKERS", "THREADS", "RUN_DIR",
                 "BACKLOG", "RECSTORE_ENV_FILE"}


def clean_environment():
    """os.environ without recstore's configuration variables."""
    return {k: v for k, v in os.environ.items()
            if k not in _CONFIG_NAMES and not k.startswith(_CONFIG_PREFIXES)}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Stack:
    def __init__(self, run_dir, port=None, env=None, workers=2, cwd=None):
        self.run_dir = Path(run_dir)
        self.port = port or free_port()
        self.workers = workers
        self.cwd = Path(cwd) if cwd else self.run_dir.parent
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir.parent / f"{self.run_dir.name}.log"
        self.env = clean_environment()
        self.env.update({
            "LOCAL_STORAGE_DIR": str(self.run_dir / "uploads"),
            **(env or {}),
            "PORT": str(self.port),
            "RUN_DIR": str(self.run_dir),
            "WORKERS": str(workers),
            "RECSTORE_SKIP_DEPS": "1",
            "RECSTORE_SKIP_BUILD": "1",
        })
        self.storage_dir = Path(self.env["LOCAL_STORAGE_DIR"])
        self.process = None
        self._log = None

    # -- lifecycle

    def launch(self):
        """Starts run-stack without waiting for it to answer."""
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen([str(RUN_STACK)], cwd=self.cwd, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def start(self, timeout=30.0):
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url("/healthz"), timeout=1, proxies={"http": None}).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the stack did not answer /healthz within {timeout} s:\n{self.log_text()}")

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Signals run-stack and waits; returns its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        self._reap_group()
        return self.process.returncode

    def wait(self, timeout=30.0):
        """Waits for run-stack to exit by itself; returns its status."""
        status = self.process.wait(timeout=timeout)
        self._reap_group()
        return status

    def kill(self):
        if self.process is not None:
            self._reap_group(force=True)
            self.process.wait(timeout=10)

    def _reap_group(self, force=False):
        # Whatever run-stack started is in its process group; make sure nothing outlives it.
        try:
            if force or self.process.poll() is not None:
                os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._log:
            self._log.flush()

    # -- requests

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("proxies", {"http": None})
        return requests.request(method, self.url(path), **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    # -- processes and logs

    def supervisor_pid(self):
        try:
            return int((self.run_dir / "recstore.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def worker_pids(self):
        pid = self.supervisor_pid()
        return children_of(pid) if pid else []

    def log_text(self):
        if self._log:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self):
        return parse_log_records(self.log_text())

    def access_log_text(self):
        try:
            return (self.run_dir / "logs" / "access.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


def children_of(pid):
    """Live child pids of a process (Linux /proc)."""
    children = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(p) for p in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []
    return sorted(set(children))


def parse_log_records(text):
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


# -- FastCGI without nginx

class FastCGIReply:
    def __init__(self, stdout, ended):
        self.ended = ended
        head, _, self.body = stdout.partition(b"\r\n\r\n")
        self.status = None
        self.headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                self.status = int(value.strip().split()[0])
            elif name:
                self.headers[name.lower()] = value.strip()

    def json(self):
        return json.loads(self.body)


class FastCGIClient:
    BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6

    def __init__(self, address):
        self.address = address

    def open(self, timeout=10.0):
        family = socket.AF_UNIX if isinstance(self.address, (str, Path)) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(self.address) if family == socket.AF_UNIX else self.address)
        return sock

    @staticmethod
    def record(kind, content=b"", request_id=1):
        return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content

    @classmethod
    def encode_params(cls, params):
        blob = b""
        for name, value in params.items():
            for part in (name.encode(), value.encode()):
                blob += bytes([len(part)]) if len(part) < 128 else struct.pack(">I", len(part) | 0x80000000)
            blob += name.encode() + value.encode()
        return blob

    def send_begin(self, sock):
        sock.sendall(self.record(self.BEGIN, struct.pack(">HB5x", 1, 0)))

    def send_params(self, sock, params):
        blob = self.encode_params(params)
        for i in range(0, len(blob), 65535):
            sock.sendall(self.record(self.PARAMS, blob[i:i + 65535]))
        sock.sendall(self.record(self.PARAMS))

    def send_stdin(self, sock, data, end=False):
        for i in range(0, len(data), 65535):
            sock.sendall(self.record(self.STDIN, data[i:i + 65535]))
        if end:
            sock.sendall(self.record(self.STDIN))

    def read_reply(self, sock):
        buffer, stdout = b"", b""
        while True:
            while len(buffer) >= 8:
                _, kind, _, length, padding = struct.unpack(">BBHHB", buffer[:7])
                if len(buffer) < 8 + length + padding:
                    break
                content = buffer[8:8 + length]
                buffer = buffer[8 + length + padding:]
                if kind == self.STDOUT:
                    stdout += content
                elif kind == self.END:
                    return FastCGIReply(stdout, True)
            chunk = sock.recv(65536)
            if not chunk:
                return FastCGIReply(stdout, False)
            buffer += chunk

    def request(self, params, body=b""):
        with self.open() as sock:
            self.send_begin(sock)
            self.send_params(sock, params)
            self.send_stdin(sock, body, end=True)
            return self.read_reply(sock)


# -- fixtures

@pytest.fixture(scope="session")
def release_binary():
    if not RELEASE_BINARY.exists():
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True)
    return RELEASE_BINARY


@pytest.fixture
def auth_env(tmp_path, release_binary):
    """A dev issuer of the test's own (real RSA key, JWKS file): its AUTH0_* settings.
    Tokens: `recstore token --dir <AUTH0_JWKS_FILE's directory> --sub NAME`."""
    out = subprocess.run([str(release_binary), "dev-issuer", "--dir", str(tmp_path / "dev-issuer")],
                         check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if name.startswith("AUTH0_"):
            env[name] = value.strip("'\"")
    assert {"AUTH0_ISSUER", "AUTH0_AUDIENCE", "AUTH0_JWKS_FILE"} <= env.keys(), out
    return env


@pytest.fixture
def keyless_auth_env(tmp_path):
    """An issuer whose JWKS holds no key at all: the service starts but is not ready."""
    jwks = tmp_path / "empty-jwks.json"
    jwks.write_text('{"keys": []}')
    return {"AUTH0_ISSUER": "https://issuer.recstore.test/", "AUTH0_AUDIENCE": "https://api.recstore.test",
            "AUTH0_JWKS_FILE": str(jwks)}


@pytest.fixture
def make_stack(tmp_path, auth_env, release_binary):
    stacks = []

    def make(env=None, workers=2, start=True, name=None, cwd=None):
        stack = Stack(tmp_path / (name or f"stack{len(stacks)}"), env={**auth_env, **(env or {})},
                      workers=workers, cwd=cwd)
        stacks.append(stack)
        return stack.start() if start else stack

    yield make
    for stack in stacks:
        try:
            stack.stop(timeout=20)
        except Exception:
            stack.kill()


@pytest.fixture
def stack(make_stack):
    return make_stack()


@pytest.fixture
def proxy(moto):
    """An S3Proxy relay in front of the requesting module's `moto` fixture."""
    from s3_proxy import S3Proxy
    with S3Proxy(moto.port) as relay:
        yield relay


@pytest.fixture
def stacks():
    """Starts contract_support stacks on demand; stops them all at teardown, whatever happened."""
    started = []

    def start(stack):
        started.append(stack)
        stack.start()
        return stack

    yield start
    for stack in started:
        try:
            stack.stop(timeout=30)
        except Exception:
            stack.kill()
