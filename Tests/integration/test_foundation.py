"""The foundation through real parts: nginx + run-stack + recstore serve (or recstore
serve alone, spoken to in FastCGI): routing, JSON errors, request ids, logs, the
process pool (crash replacement, graceful stop, reload, recycling) and start-up checks."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import (ROOT, FastCGIClient, clean_environment, children_of, free_port, parse_log_records,
                      wait_until)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def request_lines(stack):
    return [r for r in stack.log_records() if r.get("msg") == "request"]


def dev_token(release_binary, auth_env, sub="alice"):
    """A token of the test's dev issuer: requests that get past auth read their body."""
    jwks_dir = os.path.dirname(auth_env["AUTH0_JWKS_FILE"])
    return subprocess.run([str(release_binary), "token", "--dir", jwks_dir, "--sub", sub],
                          check=True, capture_output=True, text=True).stdout.strip()


# -- routing and errors through nginx

def test_healthz_and_readyz_through_nginx(stack):
    r = stack.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"status": "ok"}
    assert HEX32.match(r.headers["X-Request-ID"])

    head = stack.request("HEAD", "/healthz")
    assert head.status_code == 200 and head.content == b""
    assert HEX32.match(head.headers["X-Request-ID"])

    ready = stack.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_without_any_jwks_key_readyz_and_the_api_are_503(make_stack, keyless_auth_env):
    stack = make_stack(env=keyless_auth_env)
    assert stack.get("/healthz").status_code == 200
    ready = stack.get("/readyz")
    assert ready.status_code == 503
    assert "JWKS" in ready.json()["detail"] or "key" in ready.json()["detail"]
    assert ready.headers["Retry-After"]
    import base64
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    token = b64({"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." + b64({"sub": "alice"}) + ".c2ln"
    api = stack.get("/api/v1/upload/storage-info", headers={"Authorization": "Bearer " + token})
    assert api.status_code == 503
    assert api.headers["Retry-After"] and "detail" in api.json()


@pytest.mark.parametrize("path", ["/nope", "/api/v1/no-such-route", "/healthz/extra", "/api/v1/user_recordings/a/b/c/d"])
def test_unknown_route_is_404_json(stack, path):
    r = stack.get(path)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"detail": "Not Found"}
    assert HEX32.match(r.headers["X-Request-ID"])


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_with_allow(stack, method):
    r = stack.request(method, "/healthz", data=b"{}")
    assert r.status_code == 405
    assert r.json() == {"detail": "Method Not Allowed"}
    assert r.headers["Allow"] == "GET, HEAD"
    assert HEX32.match(r.headers["X-Request-ID"])


def test_request_id_is_nginxs_and_in_both_logs(stack):
    ids = [stack.get("/healthz").headers["X-Request-ID"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert wait_until(lambda: all(i in {r["request_id"] for r in request_lines(stack)} for i in ids))
    # nginx logs a request after answering it: the last line may land a moment later.
    assert wait_until(lambda: all(f"id={i}" in stack.access_log_text() for i in ids)), stack.access_log_text()


def test_one_structured_log_line_per_request_and_never_a_token(stack):
    secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXNlY3JldA"
    r = stack.get("/api/v1/nothing-here?token=x", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 404
    request_id = r.headers["X-Request-ID"]
    line = wait_until(lambda: next((x for x in request_lines(stack) if x["request_id"] == request_id), None))
    assert line, stack.log_text()
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/nothing-here"
    assert line["status"] == 404
    assert line["bytes_in"] == 0 and line["bytes_out"] == len(r.content)
    assert isinstance(line["duration_ms"], (int, float))
    assert line["pid"] in stack.worker_pids()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])
    assert len([x for x in request_lines(stack) if x["request_id"] == request_id]) == 1

    body = b"x" * 5000
    r = stack.post("/healthz", data=body)
    posted = wait_until(lambda: next((x for x in request_lines(stack) if x["request_id"] == r.headers["X-Request-ID"]), None))
    assert posted["bytes_in"] == len(body) and posted["status"] == 405

    logs = stack.log_text() + stack.access_log_text() + (stack.run_dir / "logs" / "error.log").read_text()
    assert secret not in logs


def test_nginx_refuses_oversized_bodies_with_json(make_stack):
    stack = make_stack(env={"MAX_UPLOAD_BYTES": "1024"})
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as s:
        s.sendall(b"POST /api/v1/save_recording_details HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000\r\n\r\n")
        reply = s.recv(65536).decode("latin-1")
    head, _, body = reply.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    assert re.search(r"(?im)^X-Request-ID: [0-9a-f]{32}$", head)
    assert re.search(r"(?im)^Content-Type: application/json", head)
    assert json.loads(body)["detail"]


# -- stacks and the process pool

def test_two_stacks_side_by_side(make_stack):
    a = make_stack(name="a")
    b = make_stack(name="b")
    assert a.port != b.port
    assert a.get("/healthz").status_code == 200
    assert b.get("/healthz").status_code == 200
    assert len(a.worker_pids()) == 2 and len(b.worker_pids()) == 2
    assert not set(a.worker_pids()) & set(b.worker_pids())
    assert a.stop() == 0
    assert b.get("/healthz").status_code == 200
    assert not (a.run_dir / "recstore.sock").exists()


def test_killed_worker_is_replaced_while_requests_flow(make_stack):
    stack = make_stack(workers=2)
    before = stack.worker_pids()
    assert len(before) == 2
    statuses, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                statuses.append(stack.get("/healthz", timeout=5).status_code)
            except requests.RequestException as error:
                statuses.append(repr(error))

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        os.kill(before[0], signal.SIGKILL)
        replaced = wait_until(lambda: (lambda now: len(now) == 2 and before[0] not in now)(stack.worker_pids()), timeout=10)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert replaced, stack.log_text()
    assert before[1] in stack.worker_pids()
    # A request caught on the killed worker is retried by nginx on another one.
    assert statuses and all(s == 200 for s in statuses), [s for s in statuses if s != 200]
    died = [r for r in stack.log_records() if r.get("msg") == "worker died"]
    assert died and died[0]["worker_pid"] == before[0]
    assert stack.get("/healthz").status_code == 200


def test_sigterm_lets_a_slow_upload_finish_then_the_stack_exits(make_stack, auth_env, release_binary):
    stack = make_stack()
    # With a valid token the body is read to its end (a token-less upload is answered
    # 401 at once, before its body: API.md, Conventions).
    bearer = "Bearer " + dev_token(release_binary, auth_env)
    sent = []

    def slow_body():
        for i in range(12):
            chunk = bytes([65 + i]) * 1000
            sent.append(len(chunk))
            yield chunk
            time.sleep(0.1)

    result = {}

    def upload():
        result["response"] = stack.post("/api/v1/save_recording_details", data=slow_body(),
                                        headers={"Content-Type": "multipart/form-data; boundary=x",
                                                 "Authorization": bearer}, timeout=20)

    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(0.35)
    stack.process.send_signal(signal.SIGTERM)
    uploader.join(timeout=20)
    response = result["response"]
    assert response.status_code not in (502, 503, 504), response.text
    assert HEX32.match(response.headers["X-Request-ID"])
    assert stack.wait(timeout=20) == 0
    line = next(r for r in request_lines(stack) if r["request_id"] == response.headers["X-Request-ID"])
    assert line["bytes_in"] == sum(sent) == 12000
    messages = [r.get("msg") for r in stack.log_records()]
    assert messages.index("stopping: workers finish their requests") < messages.index("supervisor stopped")
    assert stack.worker_pids() == []


def test_stale_socket_file_does_not_stop_start_up(make_stack, tmp_path):
    run_dir = tmp_path / "stale"
    run_dir.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(run_dir / "recstore.sock"))
    stale.close()  # the file stays: what a crashed responder leaves behind
    assert (run_dir / "recstore.sock").exists()
    stack = make_stack(name="stale")
    assert stack.get("/healthz").status_code == 200


def test_sighup_replaces_the_workers_and_refuses_a_bad_configuration(make_stack, tmp_path):
    stack = make_stack(cwd=tmp_path)
    supervisor, first = stack.supervisor_pid(), stack.worker_pids()

    (tmp_path / ".env").write_text("RETENTION_DAYS=zero\n")
    os.kill(supervisor, signal.SIGHUP)
    refused = wait_until(lambda: [r for r in stack.log_records() if r.get("msg", "").startswith("reload refused")])
    assert refused and "RETENTION_DAYS" in refused[0]["error"]
    assert stack.worker_pids() == first

    (tmp_path / ".env").write_text("RETENTION_DAYS=20\n")
    os.kill(supervisor, signal.SIGHUP)
    renewed = wait_until(lambda: (lambda now: len(now) == 2 and not set(now) & set(first))(stack.worker_pids()))
    assert renewed, stack.log_text()
    assert stack.get("/healthz").status_code == 200
    assert stack.supervisor_pid() == supervisor


def test_bad_configuration_stops_start_up_naming_the_variable(make_stack):
    stack = make_stack(env={"MAX_UPLOAD_BYTES": "lots"}, start=False).launch()
    assert stack.wait(timeout=20) != 0
    assert "MAX_UPLOAD_BYTES" in stack.log_text()


def test_without_auth0_settings_make_run_prints_a_token_that_works(tmp_path, release_binary):
    env = clean_environment()
    port = free_port()
    env.update({"PORT": str(port), "RUN_DIR": str(tmp_path / "run"), "RECSTORE_SKIP_DEPS": "1",
                "RECSTORE_SKIP_BUILD": "1", "LOCAL_STORAGE_DIR": str(tmp_path / "uploads")})
    process = subprocess.Popen([str(ROOT / "scripts" / "run-stack")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        while line and "a token:" not in line:
            line = process.stdout.readline()
        assert "token --sub alice" in line, line
        assert (tmp_path / "run" / "dev-issuer").is_dir()
        # The printed command, as a user would paste it (from the stack's directory).
        command = line.split("a token:", 1)[1].strip()
        token = subprocess.run(command, shell=True, cwd=tmp_path, env=clean_environment(), check=True,
                               capture_output=True, text=True).stdout.strip()
        r = requests.get(f"http://127.0.0.1:{port}/api/v1/user_recordings/alice",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and r.json() == []
        other = requests.get(f"http://127.0.0.1:{port}/api/v1/user_recordings/bob",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert other.status_code == 403
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass


# -- recstore serve on its own, spoken to in FastCGI

class Serve:
    """`recstore serve` started directly, so its exit status is ours to see."""

    def __init__(self, binary, env, args, cwd, stdin=None):
        self.log = open(cwd / "serve.log", "wb+")
        self.process = subprocess.Popen([str(binary), "serve", *args], cwd=cwd, env=env, stdin=stdin,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def records(self):
        self.log.flush()
        self.log.seek(0)
        return parse_log_records(self.log.read().decode(errors="replace"))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=20)


@pytest.fixture
def serve(tmp_path, auth_env, release_binary):
    started = []

    def start(*args, stdin=None, env=None):
        s = Serve(release_binary, {**clean_environment(), **auth_env, **(env or {})}, list(args), tmp_path, stdin)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.process.poll() is None:
            s.process.kill()
            s.process.wait()


def wait_for_tcp(port):
    def connects():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    assert wait_until(connects, timeout=10)


def get_params(uri="/healthz", method="GET"):
    return {"REQUEST_METHOD": method, "REQUEST_URI": uri, "QUERY_STRING": ""}


def test_sigterm_during_a_slow_request_completes_it_then_exits_0(serve, auth_env, release_binary):
    port = free_port()
    s = serve("--listen", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2")
    wait_for_tcp(port)
    client = FastCGIClient(("127.0.0.1", port))
    # A request whose handler reads its body (a settings write with a valid token; an
    # early answer such as a 405 would not wait for the body at all).
    slow = get_params(method="POST", uri="/api/v1/user_settings") | {
        "REQUEST_ID": "slow-1", "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": "Bearer " + dev_token(release_binary, auth_env)}
    with client.open() as sock:
        client.send_begin(sock)
        client.send_params(sock, slow)
        client.send_stdin(sock, b"a" * 3000)
        time.sleep(0.2)
        s.process.terminate()
        time.sleep(0.5)
        assert s.process.poll() is None, "the pool exited with a request in flight"
        # Stopped: nobody accepts new connections any more.
        with pytest.raises(OSError):
            client.request(get_params())
        client.send_stdin(sock, b"b" * 2000, end=True)
        reply = client.read_reply(sock)
    # The whole body arrived and was read: not JSON, so 400.
    assert reply.ended and reply.status == 400
    assert reply.headers["x-request-id"] == "slow-1"
    assert s.process.wait(timeout=10) == 0
    line = next(r for r in s.records() if r.get("request_id") == "slow-1")
    assert line["bytes_in"] == 5000


def test_a_thread_does_not_wait_for_the_web_server_to_close(serve):
    # libfcgi's own close shuts the connection for writing and then waits until the web
    # server closes (LIBFCGI_OS_CLOSE_POLL_TIMEOUT, here a minute). Once the whole input
    # was read the worker closes at once: one web-server connection held open after its
    # answer would otherwise hold the worker's only thread.
    port = free_port()
    s = serve("--listen", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1",
              env={"LIBFCGI_OS_CLOSE_POLL_TIMEOUT": "60000"})
    wait_for_tcp(port)
    client = FastCGIClient(("127.0.0.1", port))
    with client.open() as held:
        client.send_begin(held)
        client.send_params(held, get_params() | {"REQUEST_ID": "held"})
        client.send_stdin(held, b"", end=True)
        assert client.read_reply(held).ended
        # Still open on this side; the next request needs the same thread (the client
        # gives up after 10 s, far below the minute libfcgi would linger).
        reply = client.request(get_params() | {"REQUEST_ID": "next"})
        assert reply.ended and reply.status == 200
        assert held.recv(1) == b"", "the worker closed the answered connection"
    assert s.stop() == 0


def test_max_requests_recycles_workers(serve):
    port = free_port()
    s = serve("--listen", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1", "--max-requests", "3")
    wait_for_tcp(port)
    client = FastCGIClient(("127.0.0.1", port))
    for i in range(7):
        reply = client.request(get_params() | {"REQUEST_ID": f"r{i}"})
        assert reply.ended and reply.status == 200
    assert wait_until(lambda: len({r["request_id"]: r for r in s.records() if r.get("msg") == "request"}) == 7)
    served_by = {r["request_id"]: r["pid"] for r in s.records() if r.get("msg") == "request"}
    assert served_by["r0"] == served_by["r2"] != served_by["r3"] == served_by["r5"] != served_by["r6"]
    recycled = [r for r in s.records() if r.get("msg") == "worker exited (recycled)"]
    assert len(recycled) == 2
    assert s.stop() == 0


def test_inherited_listening_socket_on_fd_0(serve):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    s = serve("--workers", "2", stdin=listener.fileno())
    listener.close()
    client = FastCGIClient(("127.0.0.1", port))
    reply = wait_until(lambda: _try(lambda: client.request(get_params())), timeout=10)
    assert reply and reply.status == 200 and reply.json() == {"status": "ok"}
    assert len(wait_until(lambda: children_of(s.process.pid) if len(children_of(s.process.pid)) == 2 else None)) == 2
    assert s.stop() == 0


def test_systemd_listen_fds_socket(tmp_path, auth_env, release_binary):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    # As systemd does it: the socket on fd 3, LISTEN_PID naming the service's own pid.
    script = 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --workers 1 3<&"$1"'
    process = subprocess.Popen(["bash", "-c", script, str(release_binary), str(listener.fileno())], cwd=tmp_path,
                               env={**clean_environment(), **auth_env}, pass_fds=(listener.fileno(),),
                               stdout=open(tmp_path / "serve.log", "wb"), stderr=subprocess.STDOUT)
    listener.close()
    try:
        client = FastCGIClient(("127.0.0.1", port))
        reply = wait_until(lambda: _try(lambda: client.request(get_params())), timeout=10)
        assert reply and reply.status == 200
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def test_worker_crash_loop_backs_off(serve):
    # Each worker is killed soon after it started: to the supervisor, a crash loop.
    port = free_port()
    s = serve("--listen", f"127.0.0.1:{port}", "--workers", "1")
    wait_for_tcp(port)
    for _ in range(4):
        pid = wait_until(lambda: (children_of(s.process.pid) or [None])[0], timeout=15)
        assert pid
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pid not in children_of(s.process.pid), timeout=15)
    deaths = wait_until(lambda: [r for r in s.records() if r.get("msg") == "worker died"] if len(
        [r for r in s.records() if r.get("msg") == "worker died"]) == 4 else None)
    assert [d["restart_in_seconds"] for d in deaths] == [0, 0.25, 0.5, 1.0]
    assert s.stop() == 0


def test_workers_stop_when_their_supervisor_is_killed(serve):
    port = free_port()
    s = serve("--listen", f"127.0.0.1:{port}", "--workers", "2")
    workers = wait_until(lambda: (lambda now: now if len(now) == 2 else None)(children_of(s.process.pid)))
    assert workers
    s.process.kill()
    s.process.wait()

    def gone(pid):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    assert wait_until(lambda: all(gone(pid) for pid in workers), timeout=10)


def test_a_worker_whose_supervisor_died_before_it_started_stops(tmp_path, auth_env, release_binary):
    # The supervisor may be killed between spawning a worker and the worker watching
    # its parent; by then the worker's parent is someone else. It must stop all the same.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with listener:
        gone = subprocess.Popen(["true"])
        gone.wait()  # a pid that is no one's parent
        worker = subprocess.Popen([str(release_binary), "worker", "--supervisor-pid", str(gone.pid)], cwd=tmp_path,
                                  stdin=listener.fileno(), stderr=subprocess.PIPE,
                                  env={**clean_environment(), **auth_env})
        try:
            assert worker.wait(timeout=10) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert "supervisor gone" in worker.stderr.read().decode()


def test_serve_refuses_to_start_without_identity_settings(tmp_path, release_binary):
    result = subprocess.run([str(release_binary), "serve", "--socket", str(tmp_path / "s.sock")], cwd=tmp_path,
                            env=clean_environment(), capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "AUTH0_DOMAIN" in result.stderr and "refusing to start" in result.stderr
    assert not (tmp_path / "s.sock").exists()


def test_serve_refuses_a_live_socket(serve, tmp_path):
    path = tmp_path / "live.sock"
    first = serve("--socket", str(path), "--workers", "1")
    assert wait_until(lambda: path.exists())
    second = subprocess.run([str(first.process.args[0]), "serve", "--socket", str(path)], cwd=tmp_path,
                            env={**clean_environment(), "AUTH0_DOMAIN": "t.example", "AUTH0_AUDIENCE": "a"},
                            capture_output=True, text=True, timeout=20)
    assert second.returncode == 1 and "already listening" in second.stderr
    assert FastCGIClient(str(path)).request(get_params()).status == 200
    assert first.stop() == 0
    assert not path.exists()


def _try(call):
    try:
        return call()
    except OSError:
        return None
