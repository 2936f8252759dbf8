"""`make cluster` under failure (issue: operate it at scale): three responder hosts on
127.0.0.2-4 behind one nginx rendered from nginx/production.conf, sharing one bucket
(moto behind a relay the test can cut), with load running the whole time:

- kill -9 of one whole host (supervisor and workers): no failed GET;
- SIGHUP of each remaining host in turn: no failed request of any method;
- a rolling restart of every host (stop, start: the procedure of deploy/OPERATIONS.md):
  no failed GET;
- every recording saved before is readable afterwards through every host;
- a save that fell back to one host's disk during an S3 outage is readable through
  every host once `recstore sync` ran on that host;
- a resumable (tus) upload begun on one host, which is then killed, is continued on
  another and saved by reference through a third.

Failures are counted and printed (`pytest -s`); the test asserts zero.
"""
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, FastCGIClient, children_of, clean_environment, free_port, wait_until
from contract_support import plain_session, quote, wav
from moto_server import MotoS3
from s3_proxy import S3Proxy

RUN_CLUSTER = ROOT / "scripts" / "run-cluster"
BIN = ROOT / ".build" / "release" / "recstore"
HOSTS = 3


class Cluster:
    def __init__(self, run_dir, env):
        self.run_dir = Path(run_dir)
        self.port = free_port()
        self.env = {**clean_environment(), **env, "PORT": str(self.port), "HOSTS": str(HOSTS), "WORKERS": "2",
                    "RUN_DIR": str(self.run_dir), "RECSTORE_SKIP_DEPS": "1", "RECSTORE_SKIP_BUILD": "1",
                    "RECSTORE_CLUSTER_KEEP_GOING": "1"}
        self.log_path = self.run_dir.parent / "cluster.log"
        self.process = None
        self.restarted = {}  # host → the Popen of a host this test started again

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([str(RUN_CLUSTER)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True, cwd=ROOT)
        up = wait_until(lambda: self.process.poll() is not None or "cluster is up" in self.log_text(), timeout=120)
        assert up and self.process.poll() is None, self.log_text()
        return self

    def stop(self):
        for p in self.restarted.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        for p in self.restarted.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def host_dir(self, i):
        return self.run_dir / "hosts" / str(i)

    def address(self, i):
        host, port = (self.host_dir(i) / "address").read_text().strip().rsplit(":", 1)
        return host, int(port)

    def supervisor(self, i):
        try:
            return int((self.host_dir(i) / "recstore.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def host_env(self, i):
        """The environment run-cluster gave host i (the S3 and issuer settings are the test's own)."""
        return {**self.env, "STORAGE": "S3", "LOCAL_STORAGE_DIR": str(self.host_dir(i) / "local")}

    def start_host(self, i):
        host, port = self.address(i)
        (self.host_dir(i) / "recstore.pid").unlink(missing_ok=True)
        log = open(self.host_dir(i) / "recstore.log", "ab")
        self.restarted[i] = subprocess.Popen(
            [str(BIN), "serve", "--listen", f"{host}:{port}", "--workers", "2", "--pid-file",
             str(self.host_dir(i) / "recstore.pid")], env=self.host_env(i), cwd=self.host_dir(i), stdout=log, stderr=log)
        assert wait_until(lambda: self.supervisor(i) and len(children_of(self.supervisor(i))) == 2, timeout=60)

    def serving(self, i, requests=20):
        """Waits until nginx sends host i traffic again: a host that failed stays out of
        the upstream for fail_timeout (production.conf), and stopping the next host
        before this one is back would leave nginx short of hosts."""
        probes = 0

        def accepted():
            # Each probe is a request of its own: counted out.
            nonlocal probes
            probes += 1
            reply = FastCGIClient(self.address(i)).request({"REQUEST_METHOD": "GET", "REQUEST_URI": "/status",
                                                            "REMOTE_ADDR": "127.0.0.1"})
            assert reply.status == 200, reply.body
            return reply.json()["accepted_requests"] - probes
        start = accepted()
        assert wait_until(lambda: accepted() >= start + requests, timeout=60, interval=0.2), f"host {i} gets no traffic"

    def stop_host(self, i):
        """SIGTERM to the supervisor: in-flight requests finish, then it exits."""
        pid = self.supervisor(i)
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=60)
        if i in self.restarted:
            self.restarted[i].wait(timeout=10)

    def direct(self, i, method, path, token, headers=None, body=b""):
        """A request straight to host i over FastCGI, bypassing nginx. `headers`: HTTP
        request headers by name (Content-Type and Content-Length become their CGI params)."""
        params = {"REQUEST_METHOD": method, "REQUEST_URI": path, "REMOTE_ADDR": "127.0.0.1",
                  "HTTP_AUTHORIZATION": f"Bearer {token}", "CONTENT_LENGTH": str(len(body))}
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            params[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
        return FastCGIClient(self.address(i)).request(params, body)


def _zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def token(env, sub):
    issuer_dir = Path(env["AUTH0_JWKS_FILE"]).parent
    return subprocess.run([str(BIN), "token", "--dir", str(issuer_dir), "--sub", sub], check=True,
                          capture_output=True, text=True).stdout.strip()


def save(session, base, tok, user, label):
    from contract_support import multipart, File
    body, content_type = multipart([("audio", File("a.wav", wav(0.05), "audio/wav")), ("transcript", label)])
    return session.post(f"{base}/api/v1/save_recording_details", data=body, timeout=60,
                        headers={"Authorization": f"Bearer {tok}", "Content-Type": content_type})


class Load:
    """Client threads hitting nginx the whole time: GET settings, listings and single
    recordings; with `saves`, one thread saving recordings too. Counts failures."""

    def __init__(self, base, tok, user, sessions, threads=4):
        self.base, self.tok, self.user, self.sessions = base, tok, user, list(sessions)
        self.threads = threads
        self.saves = False
        self.stopping = threading.Event()
        self.save_idle = threading.Event()  # set while the save thread has no save in flight
        self.save_idle.set()
        self.lock = threading.Lock()
        self.counts = {"GET": 0, "POST": 0}
        self.failures = []
        self.saved = []

    def __enter__(self):
        self.workers = [threading.Thread(target=self._get_loop, args=(n,), daemon=True) for n in range(self.threads)]
        self.workers.append(threading.Thread(target=self._save_loop, daemon=True))
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for w in self.workers:
            w.join(timeout=120)

    def _record(self, method, what, response=None, error=None):
        with self.lock:
            self.counts[method] += 1
            if error is not None or response.status_code not in (200, 201):
                self.failures.append((method, what, error or f"{response.status_code} {response.text[:200]}"))

    def _get_loop(self, n):
        session = plain_session()
        headers = {"Authorization": f"Bearer {self.tok}"}
        i = n
        while not self.stopping.is_set():
            kind = i % 3
            path = (f"/api/v1/user_settings/{quote(self.user)}" if kind == 0 else
                    f"/api/v1/user_recordings/{quote(self.user)}?limit=20" if kind == 1 else
                    f"/api/v1/recordings/{quote(self.user)}/{quote(self.sessions[i % len(self.sessions)])}")
            try:
                self._record("GET", path, session.get(self.base + path, headers=headers, timeout=60))
            except Exception as e:  # noqa: BLE001 - every kind of failure counts
                self._record("GET", path, error=repr(e))
            i += 1

    def _save_loop(self):
        session = plain_session()
        n = 0
        while not self.stopping.is_set():
            if not self.saves:
                self.save_idle.set()
                time.sleep(0.05)
                continue
            self.save_idle.clear()
            try:
                r = save(session, self.base, self.tok, self.user, f"load {n}")
                self._record("POST", "save", r)
                if r.status_code == 201:
                    with self.lock:
                        self.saved.append(r.json()["session_id"])
            except Exception as e:  # noqa: BLE001
                self._record("POST", "save", error=repr(e))
            n += 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts), list(self.failures)

    def run_for(self, requests):
        """Waits until `requests` more GETs were answered (or failed)."""
        start = self.snapshot()[0]["GET"]
        assert wait_until(lambda: self.snapshot()[0]["GET"] >= start + requests, timeout=120)


def report(phase, load, before):
    counts, failures = load.snapshot()
    new = failures[len(before):]
    print(f"\n[cluster] {phase}: {counts['GET']} GETs, {counts['POST']} POSTs so far; {len(new)} failed in this phase")
    for f in new[:10]:
        print("   ", f)
    return new


@pytest.fixture
def moto():
    with MotoS3(bucket="recstore-cluster") as server:
        yield server


def test_hosts_die_reload_and_restart_under_load_without_failed_requests(tmp_path, moto, auth_env, release_binary):
    with S3Proxy(moto.port) as proxy:
        env = {**auth_env, "AWS_S3_BUCKET_NAME": moto.bucket, "AWS_ENDPOINT_URL_S3": proxy.endpoint,
               "AWS_REGION": moto.region, "AWS_ACCESS_KEY_ID": moto.access_key_id,
               "AWS_SECRET_ACCESS_KEY": moto.secret_access_key}
        cluster = Cluster(tmp_path / "cluster", env)
        try:
            cluster.start()
            run(cluster, proxy)
        finally:
            cluster.stop()


def run(cluster, proxy):
    base = f"http://127.0.0.1:{cluster.port}"
    user = "auth0|cluster-user"
    tok = token(cluster.env, user)
    session = plain_session()
    assert (cluster.run_dir / "nginx.conf").read_text().count("server 127.0.0.") == HOSTS
    for i in range(1, HOSTS + 1):
        assert cluster.supervisor(i) and (cluster.host_dir(i) / "local").is_dir()

    sessions = []
    for n in range(12):
        r = save(session, base, tok, user, f"before {n}")
        assert r.status_code == 201, r.text
        assert r.json()["storage"] == "s3"
        sessions.append(r.json()["session_id"])

    # A resumable upload begun on host 1 (its first bytes wait in S3 below the minimum
    # part size); host 1 is killed below, and hosts 2 and 3 finish it.
    audio = wav(200.0)  # ~3.2 MB of WAV: the first PATCH stays below 5 MiB, the second crosses it
    audio += bytes(7 * 1024 * 1024 - len(audio))
    first = 3 * 1024 * 1024 + 12345
    tus = {"Tus-Resumable": "1.0.0"}
    created = cluster.direct(1, "POST", "/api/v1/uploads", tok, {**tus, "Upload-Length": str(len(audio))})
    assert created.status == 201, created.body
    upload = created.headers["location"]
    patched = cluster.direct(1, "PATCH", upload, tok, {**tus, "Upload-Offset": "0",
                             "Content-Type": "application/offset+octet-stream"}, audio[:first])
    assert patched.status == 204 and patched.headers["upload-offset"] == str(first), (patched.status, patched.body)

    with Load(base, tok, user, sessions) as load:
        load.run_for(60)
        before = load.snapshot()[1]
        assert before == [], before

        # 1. kill -9 of a whole host: supervisor and workers at once.
        victim = 1
        pid = cluster.supervisor(victim)
        for p in [pid] + children_of(pid):
            os.kill(p, signal.SIGKILL)
        load.run_for(150)
        failed = report("kill -9 of host 1", load, before)
        assert failed == []

        # The upload host 1 began: host 2 reports the kept bytes and takes the rest,
        # host 3 saves it by reference; the audio is the bytes sent.
        head = cluster.direct(2, "HEAD", upload, tok, tus)
        assert head.status == 200 and head.headers["upload-offset"] == str(first), (head.status, head.headers)
        patched = cluster.direct(2, "PATCH", upload, tok, {**tus, "Upload-Offset": str(first),
                                 "Content-Type": "application/offset+octet-stream"}, audio[first:])
        assert patched.status == 204 and patched.headers["upload-offset"] == str(len(audio)), (patched.status, patched.body)
        from contract_support import multipart
        form, form_type = multipart([("audio_upload", upload), ("transcript", "resumed across hosts")])
        saved = cluster.direct(3, "POST", "/api/v1/save_recording_details", tok, {"Content-Type": form_type}, form)
        assert saved.status == 201, saved.body
        resumed = json.loads(saved.body)["session_id"]
        assert json.loads(saved.body)["audio_bytes"] == len(audio)
        got = session.get(f"{base}/api/v1/recordings/{quote(user)}/{quote(resumed)}/audio",
                          headers={"Authorization": f"Bearer {tok}"}, timeout=60)
        assert got.status_code == 200 and got.content == audio
        assert cluster.direct(2, "HEAD", upload, tok, tus).status == 404
        sessions.append(resumed)
        cluster.start_host(victim)
        cluster.serving(victim)

        # 2. SIGHUP of each remaining host in turn, saves running too: no failed request at all.
        load.saves = True
        before = load.snapshot()[1]
        for i in range(2, HOSTS + 1):
            old = set(children_of(cluster.supervisor(i)))
            os.kill(cluster.supervisor(i), signal.SIGHUP)
            assert wait_until(lambda: len(set(children_of(cluster.supervisor(i))) - old) == 2, timeout=60)
            load.run_for(60)
        failed = report("SIGHUP of the other hosts", load, before)
        assert failed == []
        load.saves = False
        # A save in flight finishes before only GETs count.
        assert wait_until(lambda: load.save_idle.is_set() and not load.saves, timeout=60)

        # 3. Rolling restart of every host: stop, start, next.
        before = load.snapshot()[1]
        for i in range(1, HOSTS + 1):
            cluster.stop_host(i)
            load.run_for(30)
            cluster.start_host(i)
            cluster.serving(i)
        failed = report("rolling restart", load, before)
        assert [f for f in failed if f[0] == "GET"] == []
        saved_under_load = list(load.saved)

    # 4. Everything saved before is readable through every host.
    for i in range(1, HOSTS + 1):
        for s in sessions + saved_under_load:
            r = cluster.direct(i, "GET", f"/api/v1/recordings/{quote(user)}/{quote(s)}", tok)
            assert r.status == 200, (i, s, r.status, r.body[:200])

    # 5. An S3 outage: the save falls back to one host's disk; after `recstore sync` on that
    # host it is readable through every host.
    proxy.cut()
    r = save(session, base, tok, user, "during the outage")
    proxy.restore()
    assert r.status_code == 201, r.text
    assert r.json()["storage"] == "local"
    fallback = r.json()["session_id"]
    request_id = r.headers["X-Request-ID"]
    holders = [i for i in range(1, HOSTS + 1)
               if any(fallback in str(p) for p in (cluster.host_dir(i) / "local").rglob("*"))]
    assert len(holders) == 1, holders
    holder = holders[0]
    # The S3 and storage lines that save caused carry its request id without being handed it.
    records = [json.loads(line) for line in (cluster.host_dir(holder) / "recstore.log").read_text().splitlines()
               if line.startswith("{")]
    mine = [x["msg"] for x in records if x.get("request_id") == request_id]
    assert any(m.startswith("S3 request failed") for m in mine), mine
    assert {"store unavailable for the existence check", "active store unavailable, saving to the fallback store"} & set(mine), mine
    assert "recording saved" in mine, mine
    path = f"/api/v1/recordings/{quote(user)}/{quote(fallback)}"
    assert cluster.direct(holder, "GET", path, tok).status == 200
    sync = subprocess.run([str(BIN), "sync"], env=cluster.host_env(holder), cwd=cluster.host_dir(holder),
                          capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    for i in range(1, HOSTS + 1):
        r = cluster.direct(i, "GET", path, tok)
        assert r.status == 200, (i, r.status, r.body[:200])
        assert json.loads(r.body)["session_id"] == fallback


def _processes_mentioning(text):
    """Pids of live (non-zombie) processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and not _zombie(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_cluster_with_no_configuration_serves_and_stops_everything_it_started(tmp_path, release_binary):
    # No bucket, no AUTH0_*: run-cluster starts its own S3 server and dev issuer.
    run_dir = tmp_path / "bare"
    cluster = Cluster(run_dir, {})
    cluster.env = {k: v for k, v in cluster.env.items() if k != "RECSTORE_CLUSTER_KEEP_GOING"}
    cluster.start()
    try:
        log = cluster.log_text()
        assert "starting a local S3 server" in log, log
        # The token line it prints works as printed.
        line = next(l for l in log.splitlines() if "a token:" in l)
        command = line.split("TOKEN=$(", 1)[1].rsplit(")", 1)[0]
        tok = subprocess.run(command, shell=True, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
        base = f"http://127.0.0.1:{cluster.port}"
        session = plain_session()
        r = save(session, base, tok, "alice", "bare cluster")
        assert r.status_code == 201, r.text
        assert r.json()["storage"] == "s3"
        got = session.get(f"{base}/api/v1/recordings/alice/{quote(r.json()['session_id'])}/transcript",
                          headers={"Authorization": f"Bearer {tok}"}, timeout=30)
        assert got.status_code == 200 and got.text == "bare cluster"
        assert session.get(f"{base}/api/v1/openapi.json", timeout=30).json()["openapi"].startswith("3.1")
        moto_endpoint = json.loads((run_dir / "moto.json").read_text())["endpoint"]
        moto_port = moto_endpoint.rsplit(":", 1)[1]
        assert _processes_mentioning(f"--serve {moto_port}"), "the local S3 server is not running"
        assert _processes_mentioning(str(run_dir))
    finally:
        cluster.process.send_signal(signal.SIGTERM)
        status = cluster.process.wait(timeout=60)
    assert status == 0, cluster.log_text()
    # Nothing it started is left: hosts, workers, nginx, the S3 server.
    assert wait_until(lambda: not _processes_mentioning(str(run_dir)) and
                      not _processes_mentioning(f"--serve {moto_port}"), timeout=30), \
        (_processes_mentioning(str(run_dir)), _processes_mentioning(f"--serve {moto_port}"))
