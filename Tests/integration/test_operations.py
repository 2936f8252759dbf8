"""Operations (API.md "Operations"): /metrics for the whole host, /status, named
processes, the slow-request log with the request id on every line, and a real
Prometheus server scraping the stack."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import FastCGIClient, free_port, wait_until

METRIC_NAMES = [
    "recstore_http_requests_total", "recstore_http_request_duration_seconds", "recstore_http_requests_in_flight",
    "recstore_upload_bytes_total", "recstore_s3_requests_total", "recstore_s3_retries_total",
    "recstore_storage_fallbacks_total", "recstore_jwks_fetches_total", "recstore_token_cache_hits_total",
    "recstore_token_cache_misses_total", "recstore_workers", "recstore_worker_restarts_total", "recstore_threads_busy",
    "recstore_threads_busy_max", "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
    "process_start_time_seconds",
]
SETTINGS_ROUTE = "/api/v1/user_settings/{user_id}"


def token(release_binary, auth_env, sub):
    issuer_dir = Path(auth_env["AUTH0_JWKS_FILE"]).parent
    return subprocess.run([str(release_binary), "token", "--dir", str(issuer_dir), "--sub", sub],
                          check=True, capture_output=True, text=True).stdout.strip()


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, f"not an exposition line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def total(text, name, **labels):
    want = set(labels.items())
    return sum(v for (n, l), v in samples(text).items() if n == name and want <= set(l))


def promtool_check(text):
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_metrics_status_names_and_slow_log_of_one_host(make_stack, auth_env, release_binary):
    stack = make_stack(env={"SLOW_REQUEST_SECONDS": "0.000001"})
    alice = token(release_binary, auth_env, "alice")
    for _ in range(5):
        r = stack.get("/api/v1/user_settings/alice", headers={"Authorization": f"Bearer {alice}"})
        assert r.status_code == 200, r.text
    assert stack.get("/no/such/route/secret-user").status_code == 404

    r = stack.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-store" in r.headers.get("Cache-Control", "")
    status, complaints = promtool_check(r.text)
    assert status == 0 and complaints == "", complaints
    families = {line.split()[2] for line in r.text.splitlines() if line.startswith("# TYPE ")}
    assert set(METRIC_NAMES) <= families, set(METRIC_NAMES) - families
    # Route templates, never raw paths or user ids.
    assert "alice" not in r.text and "secret-user" not in r.text
    assert total(r.text, "recstore_http_requests_total", route=SETTINGS_ROUTE, method="GET", status="200") == 5
    assert total(r.text, "recstore_http_requests_total", route="unmatched", status="404") == 1
    assert total(r.text, "recstore_http_request_duration_seconds_count", route=SETTINGS_ROUTE, method="GET") == 5
    assert total(r.text, "recstore_workers") == 2
    assert total(r.text, "recstore_token_cache_misses_total") + total(r.text, "recstore_token_cache_hits_total") == 5
    assert total(r.text, "recstore_jwks_fetches_total", outcome="success") >= 2  # one per worker at start
    assert total(r.text, "process_resident_memory_bytes") > 0
    assert total(r.text, "process_open_fds") > 0

    # /status: the pool as JSON; ?full one entry per worker.
    pool = stack.get("/status").json()
    assert pool["workers"] == 2 and pool["threads_per_worker"] == 4
    assert pool["busy_threads"] + pool["idle_threads"] == 8
    assert pool["accepted_requests"] >= 8 and pool["max_busy_threads"] >= 1
    assert pool["slow_requests"] >= 5
    assert "processes" not in pool
    full = stack.get("/status?full").json()
    workers = stack.worker_pids()
    assert sorted(p["pid"] for p in full["processes"]) == workers
    assert all(p["rss_bytes"] > 0 and p["start_time"] > 0 for p in full["processes"])

    # Named processes: ps/pidof see recstore and recstore-worker, with the slot in the command line.
    supervisor = stack.supervisor_pid()
    comm = lambda pid: subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    assert comm(supervisor) == "recstore"
    for pid in workers:
        assert comm(pid) == "recstore-worker"
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0] == b"recstore-worker" and b"--slot" in cmdline, cmdline
    pidof = subprocess.run(["pidof", "recstore-worker"], capture_output=True, text=True).stdout.split()
    assert set(workers) <= {int(p) for p in pidof}

    # The responder refuses the pages to addresses outside OPERATIONS_ALLOW_FROM, whatever nginx did.
    client = FastCGIClient(stack.run_dir / "recstore.sock")
    for path in ("/metrics", "/status"):
        params = {"REQUEST_METHOD": "GET", "REQUEST_URI": path, "REMOTE_ADDR": "203.0.113.9"}
        assert client.request(params).status == 403
        assert client.request({**params, "REMOTE_ADDR": "127.0.0.1"}).status == 200

    # Slow requests: logged once at warning with where the time went, and the request id.
    r = stack.get("/api/v1/user_settings/alice", headers={"Authorization": f"Bearer {alice}"})
    rid = r.headers["X-Request-ID"]
    record = wait_until(lambda: next((x for x in stack.log_records()
                                      if x.get("msg") == "slow request" and x.get("request_id") == rid), None), timeout=10)
    assert record, stack.log_text()[-3000:]
    assert record["level"] == "warning"
    assert record["storage_calls"] >= 1 and record["auth_ms"] >= 0 and record["duration_ms"] > 0
    assert sum(1 for x in stack.log_records() if x.get("msg") == "slow request" and x.get("request_id") == rid) == 1

    # A worker killed: the host's counters do not go down.
    before = stack.get("/metrics").text
    count_before = total(before, "recstore_http_requests_total", route=SETTINGS_ROUTE)
    os.kill(workers[0], signal.SIGKILL)
    assert wait_until(lambda: len(stack.worker_pids()) == 2 and workers[0] not in stack.worker_pids(), timeout=20)
    after = wait_until(lambda: (lambda t: t if total(t, "recstore_workers") == 2 else None)(stack.get("/metrics").text),
                       timeout=20)
    assert after
    assert total(after, "recstore_http_requests_total", route=SETTINGS_ROUTE) == count_before
    assert total(after, "recstore_worker_restarts_total") == 1
    assert total(after, "process_cpu_seconds_total") >= total(before, "process_cpu_seconds_total")


class Prometheus:
    """A real Prometheus server on loopback scraping one target every 0.5 s."""

    def __init__(self, workdir, target):
        self.port = free_port()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "500ms", "scrape_timeout": "400ms", "evaluation_interval": "500ms"},
            "scrape_configs": [{"job_name": "recstore", "metrics_path": "/metrics",
                                "static_configs": [{"targets": [target]}]}],
        }))
        self.process = None

    def __enter__(self):
        self.log = open(self.workdir / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={self.workdir / 'prometheus.yml'}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT)
        assert wait_until(self.ready, timeout=60), (self.workdir / "prometheus.log").read_text()[-2000:]
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def ready(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1, proxies={"http": None}).status_code == 200
        except requests.RequestException:
            return False

    def query(self, expression):
        r = requests.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": expression}, timeout=5,
                         proxies={"http": None})
        r.raise_for_status()
        result = r.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def up(self):
        return self.query('up{job="recstore"}') == 1


def test_a_real_prometheus_scrapes_what_the_host_served(make_stack, auth_env, release_binary, tmp_path):
    stack = make_stack()
    with Prometheus(tmp_path / "prometheus", f"127.0.0.1:{stack.port}") as prometheus:
        assert wait_until(prometheus.up, timeout=30)
        alice = token(release_binary, auth_env, "alice")
        sent = 0
        for i in range(40):
            path = "/api/v1/user_settings/alice" if i % 2 else "/api/v1/user_recordings/alice"
            r = stack.get(path, headers={"Authorization": f"Bearer {alice}"})
            assert r.status_code == 200, r.text
            sent += 1
        # Everything but the scrapes themselves and the stack's start-up /healthz polls.
        ours = 'sum(recstore_http_requests_total{route=~"/api/v1/.*"})'
        assert wait_until(lambda: prometheus.query(ours) == sent, timeout=30), prometheus.query(ours)
        assert prometheus.query(f'sum(recstore_http_requests_total{{route="{SETTINGS_ROUTE}"}})') == 20
        everything = prometheus.query("sum(recstore_http_requests_total)")
        scrapes = prometheus.query('sum(recstore_http_requests_total{route="/metrics"})')
        healthz = prometheus.query('sum(recstore_http_requests_total{route="/healthz"})') or 0
        assert everything == sent + scrapes + healthz
        assert prometheus.query("recstore_workers") == 2

        status, complaints = promtool_check(stack.get("/metrics").text)
        assert status == 0 and complaints == "", complaints

        # Counters survive a worker kill: no reset seen by Prometheus.
        os.kill(stack.worker_pids()[0], signal.SIGKILL)
        assert wait_until(lambda: prometheus.query("recstore_worker_restarts_total") == 1, timeout=30)
        assert wait_until(lambda: prometheus.query(ours) == sent, timeout=10)
        assert prometheus.query(f"sum(resets(recstore_http_requests_total[5m]))") == 0
