#!/usr/bin/env python3
"""`make bench`: speed and memory as numbers, each beside a ceiling measured in the
same run on the same machine.

Brings up the stack the way `make run` does (LOCAL, and S3 against a moto server
with signature checks on), plus the ceilings: nginx answering a constant, and nginx
in front of a minimal C libfcgi responder (bench/c_responder.c). Load comes from
wrk; uploads from curl. Prints one Markdown table and writes it to bench/results.md.

Environment: BENCH_DURATION (seconds per wrk run, default 6), BENCH_UPLOAD_MIB (256),
BENCH_ROUNDS (3: rounds of C ceiling then recstore for the settings GET ratio).
"""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from moto_server import MotoS3  # noqa: E402

BIN = os.path.join(ROOT, ".build", "release", "recstore")
DURATION = int(os.environ.get("BENCH_DURATION", "6"))
UPLOAD_MIB = int(os.environ.get("BENCH_UPLOAD_MIB", "256"))
WORKERS = int(os.environ.get("WORKERS", "2"))
# Rounds of (C ceiling, recstore) for the settings GET ratio; odd, so one is the median.
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")) | 1)
USER = "bench|user"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Process:
    """A process in its own group, stopped with the whole group."""

    def __init__(self, args, env=None, cwd=None, log=None):
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        self.p = subprocess.Popen(args, env=env, cwd=cwd, stdout=self.log, stderr=self.log,
                                  stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGKILL)


class Stack:
    """scripts/run-stack, as `make run` starts it."""

    def __init__(self, work, name, extra_env):
        self.port = free_port()
        self.run_dir = os.path.join(work, name)
        os.makedirs(self.run_dir, exist_ok=True)
        self.env = dict(os.environ, PORT=str(self.port), RUN_DIR=self.run_dir, WORKERS=str(WORKERS),
                        RECSTORE_SKIP_DEPS="1", RECSTORE_SKIP_BUILD="1",
                        LOCAL_STORAGE_DIR=os.path.join(self.run_dir, "uploads"), **extra_env)
        for k in [k for k in self.env if k.startswith("AUTH0_")]:
            del self.env[k]
        self.proc = Process([os.path.join(ROOT, "scripts", "run-stack")], env=self.env, cwd=self.run_dir,
                            log=os.path.join(self.run_dir, "stack.log"))
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/healthz")
        self.token = subprocess.check_output([BIN, "token", "--sub", USER, "--ttl", "3600"],
                                             env=self.env, cwd=self.run_dir, text=True).strip()

    def worker_pids(self):
        with open(os.path.join(self.run_dir, "recstore.pid")) as f:
            supervisor = int(f.read().strip())
        out = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def stop(self):
        self.proc.stop()


def nginx_ceiling(work, name, body):
    """nginx alone (`return 200`), or nginx in front of a C responder socket."""
    port = free_port()
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    conf = f"""
worker_processes auto; daemon off; pid {d}/nginx.pid; error_log {d}/logs/error.log warn;
{"user root;" if os.getuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/cb; fastcgi_temp_path {d}/fc; proxy_temp_path {d}/px;
  uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;
  client_max_body_size 2g;
  server {{ listen 127.0.0.1:{port}; {body} }}
}}"""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    proc = Process(["nginx", "-p", d + "/", "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "logs/error.log")])
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/")
    return proc, base


def wrk(url, token=None, connections=32, script=None, duration=DURATION):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": errors, "requests": total}


def cpu_seconds(pids):
    """utime + stime of `pids` (the workers), from /proc/PID/stat."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def measured(stack, run):
    """`run()` (a wrk call) with the workers' CPU per request added."""
    pids = stack.worker_pids()
    before = cpu_seconds(pids)
    r = run()
    r["cpu_us"] = (cpu_seconds(pids) - before) / max(1, r["requests"]) * 1e6
    return r


def pss_kib(pid):
    """Proportional set size: shared library pages divided among the processes using them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def multipart(fields, audio_path=None, audio_bytes=None):
    boundary = "benchboundary7d3a"
    head = b""
    for k, v in fields.items():
        head += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
    head += f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n".encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, head, tail


def wav_bytes(size):
    data = size - 44
    h = b"RIFF" + (36 + data).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    h += (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
    h += (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    h += b"data" + data.to_bytes(4, "little")
    return h + os.urandom(min(data, 1 << 16)) * (data // (1 << 16)) + os.urandom(data % (1 << 16))


def seed(stack, user_suffix, count):
    """`count` small recordings for one user, through the API."""
    import concurrent.futures
    boundary, head, tail = multipart({})
    body = head + wav_bytes(2048) + tail
    url = stack.base + "/api/v1/save_recording_details"

    def one(i):
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {stack.tokens[user_suffix]}",
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 201

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def upload(base, token, path, pids):
    """One large multipart upload with curl; RSS of `pids` sampled from /proc meanwhile."""
    peak = [0]
    peak_pss = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            total = 0
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                peak[0] = max(peak[0], int(line.split()[1]))
                except OSError:
                    pass
                peak_pss[0] = max(peak_pss[0], pss_kib(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    start = time.monotonic()
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"audio=@{path};type=audio/wav"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    code = subprocess.run(args + [base], capture_output=True, text=True).stdout.strip()
    elapsed = time.monotonic() - start
    done.set()
    t.join()
    return {"mibs": (os.path.getsize(path) / (1 << 20)) / elapsed, "rss_mib": peak[0] / 1024,
            "pss_mib": peak_pss[0] / 1024, "status": code}


def main():
    for tool in ("wrk", "nginx", "curl", "gcc"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make bench installs it)")
    work = tempfile.mkdtemp(prefix="recstore-bench-")
    procs, rows, notes = [], [], []
    history = {}
    try:
        c_bin = os.path.join(work, "c_responder")
        subprocess.check_call(["gcc", "-O2", "-o", c_bin, os.path.join(ROOT, "bench", "c_responder.c"), "-lfcgi"])

        moto = MotoS3(bucket="recstore-bench").start()
        procs.append(moto)
        s3_env = {"STORAGE": "S3", "AWS_S3_BUCKET_NAME": moto.bucket, "AWS_REGION": moto.region,
                  "AWS_ENDPOINT_URL_S3": moto.endpoint, "AWS_ACCESS_KEY_ID": moto.access_key_id,
                  "AWS_SECRET_ACCESS_KEY": moto.secret_access_key}
        local = Stack(work, "local", {"STORAGE": "LOCAL"})
        procs.append(local)
        s3 = Stack(work, "s3", s3_env)
        procs.append(s3)

        settings_path = f"/api/v1/user_settings/{urllib.request.quote(USER, safe='')}"
        with urllib.request.urlopen(urllib.request.Request(local.base + settings_path,
                                    headers={"Authorization": f"Bearer {local.token}"})) as r:
            settings_body = r.read()
        reply_file = os.path.join(work, "reply.json")
        with open(reply_file, "wb") as f:
            f.write(settings_body)

        # Ceilings.
        const_nginx, const_base = nginx_ceiling(work, "nginx-const", "location / { return 200 '{\"ok\":true}'; }")
        procs.append(const_nginx)
        sock = os.path.join(work, "c.sock")
        c_reply = Process([c_bin, sock, str(WORKERS), "reply", reply_file])
        procs.append(c_reply)
        time.sleep(0.3)
        c_nginx, c_base = nginx_ceiling(work, "nginx-c", f"location / {{ fastcgi_keep_conn off; include /etc/nginx/fastcgi_params; fastcgi_pass unix:{sock}; }}")
        procs.append(c_nginx)
        upload_dir = os.path.join(work, "c-uploads")
        os.makedirs(upload_dir)
        usock = os.path.join(work, "cu.sock")
        c_upload = Process([c_bin, usock, str(WORKERS), "upload", upload_dir])
        procs.append(c_upload)
        time.sleep(0.3)
        cu_nginx, cu_base = nginx_ceiling(work, "nginx-cu", f"location / {{ fastcgi_request_buffering off; fastcgi_keep_conn off; include /etc/nginx/fastcgi_params; fastcgi_pass unix:{usock}; }}")
        procs.append(cu_nginx)

        # 3. One large upload, first: worker RSS is then what the upload costs, not
        # what earlier scenarios left in the heap.
        # Goal 3: the growth of a worker's RSS (and PSS) over its idle size, for a
        # 128 MiB and a UPLOAD_MIB upload, LOCAL and S3.
        for size in sorted({128, UPLOAD_MIB}):
            big = os.path.join(work, "big.wav")
            with open(big, "wb") as f:
                f.write(wav_bytes(size << 20))
            cu = upload(cu_base + "/", None, big, [p for p in child_pids(c_upload.p.pid)])
            rows.append((f"ceiling: {size} MiB upload → C responder writing a file", None,
                         f"{cu['mibs']:.0f} MiB/s, RSS {cu['rss_mib']:.1f} MiB"))
            for name, stack in (("LOCAL", local), ("S3", s3)):
                pids = stack.worker_pids()
                idle = max(rss_kib(pid) for pid in pids) / 1024
                idle_pss = max(pss_kib(pid) for pid in pids) / 1024
                cpu0 = cpu_seconds(pids)
                u = upload(stack.base + "/api/v1/save_recording_details", stack.token, big, pids)
                cpu = cpu_seconds(pids) - cpu0
                growth = u["rss_mib"] - idle
                rows.append((f"3. {size} MiB upload, {name}", None,
                             f"{u['mibs']:.0f} MiB/s ({u['mibs'] / cu['mibs']:.2f}× C), worker RSS +{growth:.1f} MiB "
                             f"({idle:.1f} → {u['rss_mib']:.1f}; goal ≤ +4), PSS {idle_pss:.1f} → {u['pss_mib']:.1f} MiB, "
                             f"recstore CPU {cpu:.2f} s, HTTP {u['status']}"))
                history[f"rss_growth_{size}_{name}"] = round(growth, 1)
            os.unlink(big)

        ceiling_const = wrk(const_base + "/")
        rows.append(("ceiling: nginx `return 200`", ceiling_const, ""))

        # 1. Settings GET. LOCAL is measured in ROUNDS rounds, each the C ceiling then
        # recstore, back to back: the load of a shared machine drifts within seconds,
        # and a ratio of two runs taken a minute apart measured the drift as much as
        # recstore. The round with the median ratio is the one shown; all are listed.
        rounds = []
        for _ in range(ROUNDS):
            c = wrk(c_base + "/")
            r = measured(local, lambda: wrk(local.base + settings_path, token=local.token))
            rounds.append((r["rps"] / c["rps"], c, r))
        rounds.sort(key=lambda x: x[0])
        _, ceiling_c, r = rounds[len(rounds) // 2]
        rows.append(("ceiling: nginx → C libfcgi responder, same bytes as 1", ceiling_c, ""))
        listed = ", ".join(f"{ratio:.2f} ({rr['rps']:.0f}/{cc['rps']:.0f}, p99 {rr['p99'] / max(cc['p99'], 0.001):.1f}×)"
                           for ratio, cc, rr in rounds)
        s3_settings = measured(s3, lambda: wrk(s3.base + settings_path, token=s3.token))
        for name, r, more in (("LOCAL", r, f"; the median of {ROUNDS} rounds of C then recstore, sorted by ratio: {listed}"),
                              ("S3", s3_settings, "")):
            ratio = (f"{r['rps'] / ceiling_c['rps']:.2f}× C throughput (goal ≥ 0.8), p99 "
                     f"{r['p99'] / max(ceiling_c['p99'], 0.001):.1f}× C p99 (goal ≤ 1.5); recstore CPU {r['cpu_us']:.0f} µs/request"
                     + more)
            rows.append((f"1. GET user_settings, 32 conn, {name}", r, ratio))
            history[f"settings_{name}_rps_vs_c"] = round(r["rps"] / ceiling_c["rps"], 2)
            history[f"settings_{name}_cpu_us"] = round(r["cpu_us"])

        # 2. Listings with 200 and 1,000 sessions.
        for stack in (local, s3):
            stack.tokens = {}
            for n in (200, 1000):
                stack.tokens[n] = subprocess.check_output([BIN, "token", "--sub", f"list{n}", "--ttl", "3600"],
                                                          env=stack.env, cwd=stack.run_dir, text=True).strip()
                seed(stack, n, n)
        for name, stack in (("LOCAL", local), ("S3", s3)):
            for n in (200, 1000):
                # Steady state is what is measured: every worker's cache warm first
                # (a cold S3 listing fetches each metadata object once, concurrently).
                for _ in range(2 * WORKERS):
                    warm = urllib.request.Request(f"{stack.base}/api/v1/user_recordings/list{n}",
                                                  headers={"Authorization": f"Bearer {stack.tokens[n]}"})
                    urllib.request.urlopen(warm, timeout=300).read()
                # moto answers one request at a time: fewer connections, longer runs.
                conns, secs = (8, DURATION) if name == "LOCAL" else (2, max(DURATION, 8))
                r = measured(stack, lambda: wrk(f"{stack.base}/api/v1/user_recordings/list{n}", token=stack.tokens[n],
                                                connections=conns, duration=secs))
                extra = f"recstore CPU {r['cpu_us']:.0f} µs/listing"
                if name == "S3":
                    extra += "; " + s3_requests_per_listing(stack, n)
                elif n == 200:
                    # The FastAPI service scaled to this run's C ceiling (see FASTAPI_LISTING_VS_C).
                    fastapi = FASTAPI_LISTING_VS_C * ceiling_c["rps"]
                    extra += (f"; {r['rps'] / ceiling_c['rps']:.3f}× the C ceiling ({ceiling_c['rps']:.0f} req/s); "
                              f"the FastAPI service at {FASTAPI_LISTING_VS_C:.5f}× C would do {fastapi:.0f}/s here: "
                              f"{r['rps'] / fastapi:.1f}× it (goal ≥ 10×)")
                    history["listing200_LOCAL_rps"] = round(r["rps"])
                    history["listing200_vs_fastapi"] = round(r["rps"] / fastapi, 1)
                history[f"listing{n}_{name}_cpu_us"] = round(r["cpu_us"])
                rows.append((f"2. GET user_recordings, {n} sessions, {conns} conn, {name}", r, extra))

        # 4. Saves of 1 MiB audio, 8 connections.
        boundary, head, tail = multipart({})
        body = head + wav_bytes(1 << 20) + tail
        lua = os.path.join(work, "save.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\n')
            f.write(f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"\n')
            f.write("local f = io.open(%r, 'rb'); wrk.body = f:read('*a'); f:close()\n" % (os.path.join(work, "save.body"),))
        with open(os.path.join(work, "save.body"), "wb") as f:
            f.write(body)
        for name, stack in (("LOCAL", local), ("S3", s3)):
            r = measured(stack, lambda: wrk(stack.base + "/api/v1/save_recording_details", token=stack.token,
                                            connections=8, script=lua))
            rows.append((f"4. POST save_recording_details, 1 MiB, 8 conn, {name}", r,
                         f"saves/s; recstore CPU {r['cpu_us']:.0f} µs/save"))
            history[f"save_{name}_cpu_us"] = round(r["cpu_us"])
    finally:
        for p in reversed(procs):
            try:
                p.stop()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)

    # Goal 4: instructions per request on one worker under callgrind (bench/instructions.py),
    # repeatable whatever the machine's load; and the same requests' CPU on a native worker.
    import instructions
    counts = instructions.measure(["settings_get", "listing_200", "save_1mib"])
    for name, label in (("settings_get", "GET user_settings"), ("listing_200", "GET user_recordings, 200 sessions"),
                        ("save_1mib", "POST save_recording_details, 1 MiB")):
        c = counts[name]
        rows.append((f"instructions per request: {label}, LOCAL, one worker", None,
                     f"{c['instructions']:,} instructions (callgrind); {c['cpu_us']:.0f} µs worker CPU, one client, no nginx"))
        history[f"ir_{name}"] = c["instructions"]
    notes.append(f"Machine load at the start (1-minute load average): {LOAD_AT_START:.1f} on {os.cpu_count()} cores"
                 + (" — loaded: other work shared the CPUs, so compare wall-clock rows within this run only."
                    if LOAD_AT_START > 0.5 * (os.cpu_count() or 1) else "."))
    append_history(history)

    table = render(rows, notes)
    print(table)
    with open(os.path.join(ROOT, "bench", "results.md"), "w") as f:
        f.write(table)


HISTORY = os.path.join(ROOT, "bench", "history.jsonl")
LOAD_AT_START = os.getloadavg()[0]
# The FastAPI + boto3 service this replaces cannot run here, so its 200-session LOCAL
# listing rate is carried over as a fraction of the C libfcgi ceiling measured in the
# same run as it (issue 13: C ceiling ~20,000 req/s, FastAPI 229 listings/s, recstore
# 560/s, one run on this kind of machine): 229 / 20,000 = 0.01145. Scaled by this run's
# C ceiling it is what the FastAPI service would do on the machine as loaded now; the
# goal is recstore ≥ 10× that, i.e. listings/s ≥ 0.1145 × the C ceiling. (An older
# recorded 94/s came from a different run and machine load and is not used.)
FASTAPI_LISTINGS_200_ISSUE = 229
C_CEILING_ISSUE = 20_000
FASTAPI_LISTING_VS_C = FASTAPI_LISTINGS_200_ISSUE / C_CEILING_ISSUE


def head_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# The commit measured: taken at the start, as the binary was built from it.
COMMIT_AT_START = head_commit()


def append_history(values):
    """One line per `make bench` run: the numbers a regression shows in."""
    entry = {"date": datetime.date.today().isoformat(), "commit": COMMIT_AT_START, "load": round(LOAD_AT_START, 1), **values}
    with open(HISTORY, "a") as f:
        f.write(json.dumps(entry) + "\n")


def history_table():
    if not os.path.exists(HISTORY):
        return []
    with open(HISTORY) as f:
        entries = [json.loads(l) for l in f if l.strip()]
    columns = [("date", "date"), ("commit", "commit"), ("load", "load"),
               ("settings_LOCAL_rps_vs_c", "settings ×C"), ("settings_LOCAL_cpu_us", "settings CPU µs"),
               ("ir_settings_get", "settings instr."), ("listing200_LOCAL_rps", "listings/s (200)"), ("listing200_vs_fastapi", "listing ×FastAPI"),
               ("listing200_LOCAL_cpu_us", "listing CPU µs"), ("ir_listing_200", "listing instr."),
               ("ir_save_1mib", "1 MiB save instr."), ("save_LOCAL_cpu_us", "save CPU µs"),
               ("save_S3_cpu_us", "S3 save CPU µs"), ("rss_growth_128_LOCAL", "RSS +MiB 128 LOCAL"),
               ("rss_growth_128_S3", "RSS +MiB 128 S3"), ("rss_growth_256_S3", "RSS +MiB 256 S3")]
    lines = ["## History", "", "One row per `make bench` run (bench/history.jsonl); instruction counts are the stable ones.", "",
             "| " + " | ".join(c[1] for c in columns) + " |", "|" + "---|" * len(columns)]
    for e in entries:
        cells = []
        for key, _ in columns:
            v = e.get(key, "")
            cells.append(f"{v:,}" if isinstance(v, int) and key.startswith("ir_") else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def child_pids(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def s3_requests_per_listing(stack, n):
    """The responder logs how many S3 requests each API request made (`upstream_requests` in its access-log line)."""
    url = f"{stack.base}/api/v1/user_recordings/list{n}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {stack.tokens[n]}", "X-Request-ID": f"benchcount{n}"})
    urllib.request.urlopen(req).read()
    time.sleep(0.3)
    log = os.path.join(stack.run_dir, "stack.log")
    counts = []
    with open(log, errors="replace") as f:
        for line in f:
            if "upstream_requests" in line and f"/list{n}" in line:
                try:
                    counts.append(json.loads(line)["upstream_requests"])
                except (ValueError, KeyError):
                    pass
    # The last few listings, all after the warm-up: the fewest is the steady state.
    return f"{min(counts[-5:])} S3 requests per listing (steady state)" if counts else "S3 request count not logged"


def render(rows, notes):
    cpu = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    lines = [f"# recstore benchmark", "",
             f"{datetime.date.today().isoformat()}, {cpu} cores ({model}), {WORKERS} responder workers, "
             f"wrk {DURATION} s per run, everything on one machine over loopback.", "",
             "| scenario | req/s | p50 ms | p99 ms | errors | notes |", "|---|---:|---:|---:|---:|---|"]
    for name, r, extra in rows:
        if r:
            lines.append(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} | {extra} |")
        else:
            lines.append(f"| {name} | | | | | {extra} |")
    lines += [""] + notes
    lines += ["", "For scale, the FastAPI + boto3 service this replaces, behind the same nginx on this kind of machine:",
              "scenario 1 at 400–660 req/s (p99 ~200 ms); scenario 2 with 200 sessions at 229 listings/s LOCAL in the",
              "issue's run (C ceiling ~20,000 req/s in that run) and",
              "0.37/s against moto; scenario 3 at 116 MiB/s with 79 MiB RSS LOCAL, 29 MiB/s with 198 MiB RSS to moto.",
              "S3 rows are bounded by moto (a single-threaded Python server), not by recstore: their",
              "\"recstore CPU\" figures (the workers' utime + stime per request) are recstore's own cost.",
              "The FastAPI service is not part of this repository and is not run here: the 10× goal for",
              f"listings compares with it as a fraction of the C ceiling of the same run: {FASTAPI_LISTINGS_200_ISSUE} / "
              f"{C_CEILING_ISSUE:,} = {FASTAPI_LISTING_VS_C:.5f}× C, so the goal is listings/s ≥ "
              f"{10 * FASTAPI_LISTING_VS_C:.4f} × the C libfcgi ceiling of this run (row 2, 200 sessions, LOCAL)."]
    lines += [""] + history_table()
    log = os.path.join(ROOT, "bench", "profiling.md")
    if os.path.exists(log):
        with open(log) as f:
            lines += ["", f.read().rstrip()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
