#!/usr/bin/env python3
"""Instructions per request, counted by callgrind on one worker: numbers that do not
move with the machine's load (wall-clock figures on a shared machine move ±30 %).

One `recstore worker --threads 1` runs under `valgrind --tool=callgrind` on a unix
socket this script listens on, and is spoken to directly in FastCGI (the parameters
nginx sends), so nginx and the client cost nothing in the count. A scenario is run
twice, with N and with N/2 measured requests after the same warm-up; the difference
of the two totals divided by N/2 is the cost of one request, start-up and shutdown
cancelling out. The count is repeatable for the same binary and input (callgrind
serialises threads; the only time-dependent work, the worker's supervisor watch,
is a few hundred instructions per 200 ms).

    bench/instructions.py                 all scenarios, a JSON object on stdout
    bench/instructions.py --check         settings GET and listing against
                                          bench/baseline.json; exit 1 when either
                                          rose more than 10 % (`make bench-check`)
    bench/instructions.py --write-baseline  record the current counts as the baseline
    bench/instructions.py --metrics-cost  settings GET with host metrics on and off

Environment: BENCH_IR_REQUESTS (N for the small requests, default 400).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "integration"))
from conftest import FastCGIClient  # noqa: E402

BIN = os.environ.get("RECSTORE_BIN") or os.path.join(ROOT, ".build", "release", "recstore")
BASELINE = os.path.join(ROOT, "bench", "baseline.json")
TOLERANCE = 0.10
N = int(os.environ.get("BENCH_IR_REQUESTS", "400"))
USER = "bench|user"
LIST_USER = "list200"


def auth_env(work):
    out = subprocess.run([BIN, "dev-issuer", "--dir", os.path.join(work, "issuer")],
                         check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if name.startswith("AUTH0_"):
            env[name] = value.strip("'\"")
    return env


def token(env, sub):
    return subprocess.check_output([BIN, "token", "--dir", os.path.dirname(env["AUTH0_JWKS_FILE"]),
                                    "--sub", sub, "--ttl", "3600"], text=True).strip()


def callgrind_binary(work):
    """The binary without its debug info, for valgrind: valgrind 3.19 gives up on the
    DWARF 5 clang writes for the package's C target. Same code, symbols kept, so the
    counts are the same and profiles still name functions (not lines)."""
    out = os.path.join(work, "recstore-nodebug")
    if not os.path.exists(out):
        if not shutil.which("objcopy") or subprocess.run(["objcopy", "--strip-debug", BIN, out]).returncode != 0:
            return BIN
    return out


class Worker:
    """`recstore worker` on a socket of our own, optionally under callgrind."""

    def __init__(self, work, name, env, callgrind=False):
        self.sock_path = os.path.join(work, name + ".sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.sock_path)
        self.listener.listen(64)
        self.out = os.path.join(work, name + ".callgrind")
        args = [BIN, "worker", "--threads", "1", "--supervisor-pid", str(os.getpid())]
        fds = ()
        if METRICS:
            fds = (metrics_region(),)
            args += ["--metrics-fd", str(fds[0]), "--metrics-slot", "0"]
        if callgrind:
            args[0] = callgrind_binary(work)
            args = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}",
                    "--dump-instr=no", "--compress-strings=no"] + args
        self.log = open(os.path.join(work, name + ".log"), "wb")
        self.proc = subprocess.Popen(args, stdin=self.listener.fileno(), stdout=self.log, stderr=self.log,
                                     env=env, start_new_session=True, pass_fds=fds)
        for fd in fds:
            os.close(fd)
        self.client = FastCGIClient(self.sock_path)

    def stop(self):
        """SIGTERM; the callgrind total of the whole run (or None)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.listener.close()
        self.log.close()
        if not os.path.exists(self.out):
            return None
        with open(self.out) as f:
            for line in f:
                m = re.match(r"(?:summary|totals):\s+(\d+)", line)
                if m:
                    return int(m.group(1))
        return None

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# BENCH_METRICS=1: each worker writes into a host metrics region, as under `recstore
# serve` (without it every Metrics call is a no-op): `--metrics-cost` compares the two.
METRICS = os.environ.get("BENCH_METRICS") == "1"
# HostMetrics's layout (Sources/Diagnostics/HostMetrics.swift): 16 header words, then
# slots of SLOT_WORDS words. A worker derives the slot count from the size, so any size
# from one slot's worth to just under two means one slot: 1.5 × the current slot size
# tolerates layout changes of ±30 %, and a region it refuses stops the worker (an error).
HEADER_WORDS, SLOT_WORDS = 16, 19_296
METRICS_MAGIC = 0x7265_6373_746F_7201


def metrics_region():
    fd = os.memfd_create("recstore-bench-metrics", 0)
    words = HEADER_WORDS + SLOT_WORDS * 3 // 2
    os.ftruncate(fd, words * 8)
    os.pwrite(fd, METRICS_MAGIC.to_bytes(8, "little") + (1).to_bytes(8, "little"), 0)
    return fd


def params(method, uri, auth, content_type=None, length=0):
    p = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "DOCUMENT_URI": uri.split("?")[0],
         "QUERY_STRING": uri.partition("?")[2], "SERVER_PROTOCOL": "HTTP/1.1",
         "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1", "HTTP_AUTHORIZATION": f"Bearer {auth}",
         "CONTENT_LENGTH": str(length) if length else ""}
    if content_type:
        p["CONTENT_TYPE"] = content_type
    return p


def send(worker, request, expect):
    p, body = request
    deadline = time.monotonic() + 120
    while True:
        try:
            reply = worker.client.request(p, body)
            break
        except (ConnectionRefusedError, FileNotFoundError, socket.timeout, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    code = reply.status or 200
    if code != expect:
        raise RuntimeError(f"{p['REQUEST_METHOD']} {p['REQUEST_URI']}: {code}, expected {expect}: {reply.body[:300]!r}")
    return reply


def wav_multipart(size):
    boundary = "benchboundary7d3a"
    data = size - 44
    wav = (b"RIFF" + (36 + data).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
           + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
           + (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
           + b"data" + data.to_bytes(4, "little") + bytes((i * 7) & 0xFF for i in range(data)))
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + wav + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


class Bench:
    def __init__(self, work):
        self.work = work
        self.env = dict(os.environ, STORAGE="LOCAL", LOCAL_STORAGE_DIR=os.path.join(work, "uploads"),
                        LOG_LEVEL=os.environ.get("LOG_LEVEL", "info"), **auth_env(work),
                        # The listing memo checks every file of a reused listing again once a
                        # second: under callgrind a listing takes tens of ms, so how many of
                        # those rechecks fall into the measured run moved the count ±5 % with
                        # the machine's speed. Measured without them: the steady state.
                        LISTING_RECHECK_SECONDS="86400",
                        # Swift seeds its hashing per process: each run's first listing
                        # (a walk building dictionaries of 200 sessions, ~7 M instructions)
                        # then costs differently, and over 20 listings that moved the count
                        # by up to ±10 %. A fixed seed makes the two runs comparable.
                        SWIFT_DETERMINISTIC_HASHING="1")
        for k in [k for k in self.env if k.startswith("AWS_")]:
            del self.env[k]
        self.user_token = token(self.env, USER)
        self.list_token = token(self.env, LIST_USER)
        self.runs = 0
        self.settings = (params("GET", "/api/v1/user_settings/" + USER.replace("|", "%7C"), self.user_token), b"")
        self.listing = (params("GET", f"/api/v1/user_recordings/{LIST_USER}", self.list_token), b"")
        ctype, body = wav_multipart(1 << 20)
        self.save = (params("POST", "/api/v1/save_recording_details", self.user_token, ctype, len(body)), body)
        self.seed()

    def seed(self):
        """Stored settings and 200 sessions, written by a native worker."""
        w = Worker(self.work, "seed", self.env)
        try:
            s = json.dumps({"settings": {"macro_phrases": ["a", "b"], "custom_vocabulary": ["recstore"],
                                         "transcription_profiles": []}}).encode()
            send(w, (params("POST", "/api/v1/user_settings", self.user_token, "application/json", len(s)), s), 200)
            ctype, body = wav_multipart(2048)
            small = (params("POST", "/api/v1/save_recording_details", self.list_token, ctype, len(body)), body)
            for _ in range(200):
                send(w, small, 201)
        finally:
            w.stop()
        # The local store reuses a listing only once the directories it read changed
        # ≥ 2 s before the walk (ListingMemo's settled rule): without this wait the first
        # measured run would rebuild some listings and the second none, a count that
        # moved with timing. The steady state is what is measured.
        time.sleep(2.5)

    def total(self, request, expect, warm, count):
        self.runs += 1
        w = Worker(self.work, f"run{self.runs}", self.env, callgrind=True)
        try:
            for _ in range(warm):
                send(w, request, expect)
            for _ in range(count):
                send(w, request, expect)
        finally:
            total = w.stop()
        if total is None:
            raise RuntimeError("callgrind wrote no total (is valgrind installed?)")
        return total

    def per_request(self, request, expect, n, warm=20):
        half = max(1, n // 2)
        full = self.total(request, expect, warm, 2 * half)
        base = self.total(request, expect, warm, half)
        return round((full - base) / half)

    def cpu_per_request(self, request, expect, n, warm=20):
        """Native worker CPU seconds (utime + stime) per request, for the same requests."""
        self.runs += 1
        w = Worker(self.work, f"cpu{self.runs}", self.env)
        try:
            for _ in range(warm):
                send(w, request, expect)
            before = w.cpu_seconds()
            for _ in range(n):
                send(w, request, expect)
            after = w.cpu_seconds()
        finally:
            w.stop()
        return (after - before) / n


def measure(scenarios):
    work = tempfile.mkdtemp(prefix="recstore-ir-")
    try:
        b = Bench(work)
        table = {
            "settings_get": (b.settings, 200, N),
            "listing_200": (b.listing, 200, max(20, N // 10)),
            "save_1mib": (b.save, 201, max(10, N // 40)),
        }
        out = {}
        for name in scenarios:
            request, expect, n = table[name]
            out[name] = {"instructions": b.per_request(request, expect, n)}
            if "--no-cpu" not in sys.argv:
                try:
                    out[name]["cpu_us"] = round(b.cpu_per_request(request, expect, max(n, 50)) * 1e6, 1)
                except (OSError, RuntimeError) as e:
                    print(f"bench: CPU per request of {name} not measured: {e}", file=sys.stderr)
                    out[name]["cpu_us"] = float("nan")
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if not shutil.which("valgrind"):
        sys.exit("bench: valgrind is missing (scripts/install-deps installs it)")
    if not os.path.exists(BIN):
        sys.exit("bench: no release binary (swift build -c release)")
    if "--check" in sys.argv:
        with open(BASELINE) as f:
            baseline = json.load(f)
        sys.argv.append("--no-cpu")
        now = measure(["settings_get", "listing_200"])
        failed = False
        for name, value in now.items():
            ref = baseline[name]["instructions"]
            rise = value["instructions"] / ref - 1
            verdict = "FAIL" if rise > TOLERANCE else "ok"
            failed |= rise > TOLERANCE
            print(f"{verdict:4} {name}: {value['instructions']:,} instructions per request "
                  f"(baseline {ref:,}, {rise:+.1%}; limit +{TOLERANCE:.0%})")
        sys.exit(1 if failed else 0)
    if "--metrics-cost" in sys.argv:
        # Instructions per settings GET with the worker writing host metrics and without.
        global METRICS
        sys.argv.append("--no-cpu")
        METRICS = False
        off = measure(["settings_get"])["settings_get"]["instructions"]
        METRICS = True
        on = measure(["settings_get"])["settings_get"]["instructions"]
        print(json.dumps({"settings_get_metrics_off": off, "settings_get_metrics_on": on,
                          "cost": f"{on / off - 1:+.1%}"}, indent=2))
        return
    if "--write-baseline" in sys.argv:
        sys.argv.append("--no-cpu")
        now = measure(["settings_get", "listing_200"])
        with open(BASELINE, "w") as f:
            json.dump(now, f, indent=2)
            f.write("\n")
        print(json.dumps(now, indent=2))
        return
    print(json.dumps(measure(["settings_get", "listing_200", "save_1mib"]), indent=2))


if __name__ == "__main__":
    main()
