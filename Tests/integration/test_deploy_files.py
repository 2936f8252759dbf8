"""The deployment files as shipped (issue 14): the systemd units verify and score "OK"
in `systemd-analyze security`, the sync timer is a no-op outside S3 mode, the socket
directory lets nginx in, the environment example cannot smuggle comments into values,
and nginx/production.conf passes `nginx -t` and behaves as its comments say when run
with a test certificate in front of a real responder.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import ROOT, free_port, wait_until
import production_nginx

SYSTEMD_DIR = ROOT / "deploy" / "systemd"
UNITS = sorted(p for p in SYSTEMD_DIR.iterdir() if p.suffix in (".service", ".socket", ".timer"))
SERVICES = [p for p in UNITS if p.suffix == ".service"]
ENV_EXAMPLE = ROOT / "deploy" / "recstore.env.example"


def unit_settings(path):
    """[(section, key, value)] of a unit file (comments and blank lines dropped)."""
    section, out = None, []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def setting(path, key):
    values = [v for _, k, v in unit_settings(path) if k == key]
    return values[-1] if values else None


@pytest.fixture(scope="module")
def installed_units(tmp_path_factory, release_binary):
    """The units with the package's /usr/bin/recstore pointing at this build, so
    verify can check the executables exist."""
    directory = tmp_path_factory.mktemp("units")
    for unit in UNITS:
        text = unit.read_text().replace("/usr/bin/recstore", str(release_binary))
        (directory / unit.name).write_text(text)
    return directory


def systemd_version():
    out = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.match(r"systemd (\d+)", out).group(1))


def test_every_unit_verifies_clean(installed_units):
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (Debian package systemd)"
    assert len(UNITS) >= 7
    for unit in sorted(installed_units.iterdir()):
        r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                           cwd=installed_units, timeout=60)
        assert r.returncode == 0 and r.stderr.strip() == "", f"{unit.name}: {r.stderr}"


def test_services_score_ok_in_systemd_analyze_security(installed_units):
    # --offline (rate a unit file without a running systemd) arrived in systemd 250.
    assert systemd_version() >= 250, "systemd-analyze security --offline needs systemd >= 250"
    for unit in SERVICES:
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(installed_units / unit.name)],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", r.stdout)
        assert m, f"{unit.name}: {r.stdout}{r.stderr}"
        assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", f"{unit.name}: {m.group(0)}"


def test_services_run_the_packaged_binary_without_privileges():
    for unit in SERVICES:
        assert setting(unit, "User") == "recstore", unit.name
        assert setting(unit, "CapabilityBoundingSet") == "", unit.name
        starts = [v for _, k, v in unit_settings(unit) if k == "ExecStart"]
        assert starts and all(v.startswith("/usr/bin/recstore ") for v in starts), unit.name
        # The configuration comes from the package's file, through systemd or read by
        # recstore itself (serve --env-file, which a reload reads again).
        assert setting(unit, "EnvironmentFile") == "/etc/recstore/recstore.env" or \
            all("--env-file /etc/recstore/recstore.env" in v for v in starts), unit.name


def test_socket_directories_are_reachable_by_nginx_group():
    socket_unit = SYSTEMD_DIR / "recstore-activated.socket"
    # systemd creates the socket's directory owned by root: nginx (www-data, not
    # the owner) needs the "other" search bit; the socket itself is the gate.
    directory_mode = int(setting(socket_unit, "DirectoryMode"), 8)
    assert directory_mode & 0o001, oct(directory_mode)
    socket_mode = int(setting(socket_unit, "SocketMode"), 8)
    assert setting(socket_unit, "SocketGroup") == "www-data"
    assert socket_mode & 0o060 == 0o060 and socket_mode & 0o007 == 0, oct(socket_mode)
    # recstore.service makes /run/recstore itself, with its group www-data.
    service = SYSTEMD_DIR / "recstore.service"
    assert setting(service, "Group") == "www-data"
    assert int(setting(service, "RuntimeDirectoryMode"), 8) & 0o010
    assert "/run/recstore/" in setting(service, "ExecStart")


def test_sync_job_has_a_start_timeout_and_is_skipped_unless_s3(tmp_path):
    unit = SYSTEMD_DIR / "recstore-sync.service"
    timeout = setting(unit, "TimeoutStartSec")
    assert timeout and timeout not in ("0", "infinity"), timeout
    condition = setting(unit, "ExecCondition")
    assert condition, "recstore-sync.service has no ExecCondition"
    # What systemd runs: "$$" is a literal "$" in a unit's command line.
    argv = [a.replace("$$", "$") for a in _split_unit_command(condition)]

    def outcome(storage):
        env = {"PATH": os.environ["PATH"]}
        if storage is not None:
            env["STORAGE"] = storage
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30).returncode

    # ExecCondition: 0 runs the job; 1..254 skips it without failing the unit.
    assert outcome("S3") == 0
    assert outcome("s3") == 0
    for storage in ("LOCAL", "local", None, ""):
        assert 1 <= outcome(storage) <= 254, storage


def _split_unit_command(command):
    import shlex
    return shlex.split(command)


def test_prune_timer_is_not_wanted_by_default_and_its_service_needs_a_day_count():
    service = SYSTEMD_DIR / "recstore-prune.service"
    assert "${PRUNE_OLDER_THAN_DAYS}" in setting(service, "ExecStart")
    assert (SYSTEMD_DIR / "recstore-prune.timer").exists()
    # The package's maintainer scripts never enable or start a unit.
    for script in ("postinst", "prerm", "postrm"):
        text = (ROOT / "deploy" / "debian" / script).read_text()
        commands = [l for l in text.splitlines() if "systemctl" in l and not l.strip().startswith(("#", "echo"))]
        for line in commands:
            assert not re.search(r"systemctl\s+(enable|start|restart|reload|try-restart)\b", line), f"{script}: {line}"


def test_env_example_keeps_comments_on_their_own_lines():
    assignments = 0
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        # A commented-out setting must work when uncommented as it is.
        m = re.match(r"^#\s*([A-Z][A-Z0-9_]*)=(.*)$", text)
        if m or not text.startswith("#"):
            name, value = (m.group(1), m.group(2)) if m else text.split("=", 1)
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"line {number}: {line}"
            assert "#" not in value and not re.search(r"\s", value), f"line {number}: {line}"
            assignments += 1
    assert assignments >= 15


def test_inline_comment_in_the_issuer_stops_start_up(release_binary, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    env = {"PATH": os.environ["PATH"], "AUTH0_ISSUER": "https://tenant.eu.auth0.com/   # default: from the domain",
           "AUTH0_AUDIENCE": "https://api.example", "AUTH0_JWKS_FILE": str(jwks),
           "LOCAL_STORAGE_DIR": str(tmp_path / "uploads")}
    r = subprocess.run([str(release_binary), "serve", "--listen", f"127.0.0.1:{free_port()}", "--workers", "1"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "AUTH0_ISSUER" in r.stderr and "#" in r.stderr, r.stderr


# ---------------------------------------------------------------------------- nginx

def test_production_conf_passes_nginx_t(tmp_path):
    conf = production_nginx.prepare(tmp_path, free_port(), free_port(), f"127.0.0.1:{free_port()}")
    r = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", conf], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr and "test is successful" in r.stderr
    site = (tmp_path / "site.conf").read_text()
    # The shipped file as an operator installs it: HTTP/2 in the 1.22 form, a JSON log.
    assert re.search(r"listen \S+ ssl http2;", site)
    assert "$request_id" in site and "$request_time" in site and "$upstream_response_time" in site
    # nginx elsewhere than the responders by default: no X-Accel-Redirect prefix is
    # passed (the responder streams local audio itself) unless an operator adds it.
    for text in (production_nginx.FASTCGI_PARAMS.read_text(), site):
        assert not re.search(r"^\s*fastcgi_param\s+RECSTORE_ACCEL_PREFIX", text, re.M)


@pytest.fixture
def production_stack(tmp_path, release_binary):
    """recstore serve --listen behind nginx running the production config (LOCAL store,
    dev issuer). Yields a small namespace; `accel=True` in the request param turns on
    the same-host X-Accel-Redirect switch exactly as production.conf's comment says."""
    stacks = []

    def start(accel=False, alias_dir=None):
        base = tmp_path / f"stack{len(stacks)}"
        base.mkdir()
        storage = base / "uploads"
        storage.mkdir()
        issuer_dir = base / "issuer"
        out = subprocess.run([str(release_binary), "dev-issuer", "--dir", str(issuer_dir)],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        env = {"PATH": os.environ["PATH"], "STORAGE": "LOCAL", "LOCAL_STORAGE_DIR": str(storage)}
        for line in out.splitlines():
            name, _, value = line.partition("=")
            env[name] = value.strip("'")
        upstream_port, http_port, https_port = free_port(), free_port(), free_port()
        responder = subprocess.Popen([str(release_binary), "serve", "--listen", f"127.0.0.1:{upstream_port}",
                                      "--workers", "1", "--threads", "2"], env=env, cwd=base,
                                     stdout=subprocess.DEVNULL, stderr=open(base / "responder.log", "w"))
        prefix = base / "nginx"
        # As root, nginx's workers would switch to "nobody", who cannot enter pytest's
        # private temporary directories; unprivileged, nginx stays who it is.
        conf = production_nginx.prepare(prefix, http_port, https_port, f"127.0.0.1:{upstream_port}",
                                        storage_dir=str(alias_dir or storage),
                                        user="root" if os.geteuid() == 0 else None)
        if accel:
            site = prefix / "site.conf"
            text = site.read_text()
            marker = "location /api/ {\n"
            head, _, tail = text.rpartition(marker)
            include_end = tail.index(";\n", tail.index("include ")) + 2
            tail = tail[:include_end] + "        fastcgi_param RECSTORE_ACCEL_PREFIX /_recstore_files/;\n" + tail[include_end:]
            site.write_text(head + marker + tail)
        nginx = subprocess.Popen(["nginx", "-p", str(prefix), "-c", conf], stdout=subprocess.DEVNULL,
                                 stderr=open(base / "nginx.stderr", "w"))
        stacks.append((responder, nginx))
        token = subprocess.run([str(release_binary), "token", "--sub", "auth0|alice", "--dir", str(issuer_dir)],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip()

        class S:
            pass
        s = S()
        s.https = f"https://127.0.0.1:{https_port}"
        s.http = f"http://127.0.0.1:{http_port}"
        s.headers = {"Authorization": f"Bearer {token}"}
        s.prefix, s.storage = prefix, storage

        def healthy():
            try:
                return requests.get(s.https + "/healthz", verify=False, timeout=5).status_code == 200
            except requests.RequestException:
                return False
        assert wait_until(healthy, timeout=60, interval=0.2), (base / "responder.log").read_text() + \
            (base / "nginx.stderr").read_text()
        return s

    yield start
    for responder, nginx in stacks:
        for p in (nginx, responder):
            p.terminate()
        for p in (nginx, responder):
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _save(s, audio):
    r = requests.post(s.https + "/api/v1/save_recording_details", headers=s.headers, verify=False, timeout=60,
                      files={"audio": ("a.wav", audio, "audio/wav"), "transcript": (None, "hello"),
                             "metadata": (None, '{"name":"deploy"}')})
    assert r.status_code in (200, 201), r.text
    return r.json()


def _session_id(saved):
    for key in ("session_id", "id", "sessionId"):
        if key in saved:
            return saved[key]
    raise AssertionError(f"no session id in {saved}")


def _wav(size):
    import struct
    data = bytes(range(256)) * (size // 256)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) \
        + b"data" + struct.pack("<I", len(data))
    return header + data


def test_production_conf_serves_acme_http2_logs_and_streams_local_audio(production_stack):
    requests.packages.urllib3.disable_warnings()
    s = production_stack()
    # ACME on port 80 is answered there; everything else is sent to HTTPS.
    (s.prefix / "acme/.well-known/acme-challenge/tok123").write_text("tok123.thumb")
    r = requests.get(s.http + "/.well-known/acme-challenge/tok123", allow_redirects=False, timeout=10)
    assert r.status_code == 200 and r.text == "tok123.thumb"
    r = requests.get(s.http + "/api/v1/upload/storage-info", allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["Location"].startswith("https://")

    # HTTP/2 is offered over TLS.
    version = subprocess.run(["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version}", s.https + "/healthz"],
                             capture_output=True, text=True, timeout=30).stdout
    assert version == "2"

    # Without RECSTORE_ACCEL_PREFIX (nginx on another host) the responder streams
    # local audio itself, Range included.
    audio = _wav(64 * 1024)
    saved = _save(s, audio)
    sid = _session_id(saved)
    r = requests.get(s.https + f"/api/v1/recordings/auth0%7Calice/{sid}/audio", headers={**s.headers, "Range": "bytes=100-199"},
                     verify=False, timeout=30)
    assert r.status_code == 206 and r.content == audio[100:200], (r.status_code, r.text[:200])
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(audio)}"

    # The internal location is never reachable from outside, and says so in JSON.
    r = requests.get(s.https + "/_recstore_files/anything", verify=False, timeout=10)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json") and r.json()["detail"]

    # One JSON access-log line per request with the request id the client saw and timings.
    r = requests.get(s.https + "/api/v1/upload/storage-info", headers=s.headers, verify=False, timeout=10)
    rid = r.headers["X-Request-ID"]
    log = s.prefix / "logs" / "recstore.access.log"

    def line():
        if not log.exists():
            return None
        for text in log.read_text().splitlines():
            entry = json.loads(text)
            if entry["request_id"] == rid:
                return entry
    entry = wait_until(line, timeout=20, interval=0.1)
    assert entry, log.read_text() if log.exists() else "no access log"
    assert entry["status"] == r.status_code and entry["uri"] == "/api/v1/upload/storage-info"
    assert float(entry["request_time"]) >= 0 and entry["upstream_response_time"] not in ("", "-")
    assert "Bearer" not in log.read_text()


def test_production_conf_same_host_accel_and_json_404_for_a_missing_file(production_stack, tmp_path):
    requests.packages.urllib3.disable_warnings()
    # Same host, storage shared: nginx serves the file itself (Range by nginx).
    s = production_stack(accel=True)
    audio = _wav(32 * 1024)
    sid = _session_id(_save(s, audio))
    r = requests.get(s.https + f"/api/v1/recordings/auth0%7Calice/{sid}/audio", headers={**s.headers, "Range": "bytes=0-9"},
                     verify=False, timeout=30)
    assert r.status_code == 206 and r.content == audio[:10]
    # nginx's alias pointing elsewhere (the storage not mounted there): a JSON 404.
    elsewhere = tmp_path / "not-mounted"
    elsewhere.mkdir()
    s2 = production_stack(accel=True, alias_dir=str(elsewhere))
    sid2 = _session_id(_save(s2, audio))
    r = requests.get(s2.https + f"/api/v1/recordings/auth0%7Calice/{sid2}/audio", headers=s2.headers, verify=False, timeout=30)
    assert r.status_code == 404, r.text
    assert r.headers["Content-Type"].startswith("application/json") and r.json()["detail"]


def test_dev_stack_still_lets_nginx_send_local_audio(make_stack, release_binary, tmp_path):
    """RECSTORE_ACCEL_PREFIX moved from the shared params into the dev template (nginx
    on the same host): there nginx still sends the file, not the responder."""
    out = subprocess.run([str(release_binary), "dev-issuer", "--dir", str(tmp_path / "issuer")],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    env = {k: v.strip("'") for k, v in env.items()}
    stack = make_stack(env=env)
    token = subprocess.run([str(release_binary), "token", "--sub", "auth0|alice", "--dir", str(tmp_path / "issuer")],
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    audio = _wav(256 * 1024)
    r = stack.post("/api/v1/save_recording_details", headers=headers, timeout=60,
                   files={"audio": ("a.wav", audio, "audio/wav")})
    assert r.status_code == 201, r.text
    sid = _session_id(r.json())
    got = stack.get(f"/api/v1/recordings/auth0%7Calice/{sid}/audio", headers=headers, timeout=30)
    assert got.status_code == 200 and got.content == audio

    def audio_line():
        return [rec for rec in stack.log_records()
                if rec.get("msg") == "request" and str(rec.get("path", "")).endswith("/audio")]
    lines = wait_until(audio_line, timeout=20, interval=0.1)
    assert lines, stack.log_text()[-2000:]
    assert lines[-1]["bytes_out"] < 4096, lines[-1]


def test_production_conf_limits_preflights_apart_from_token_less_requests(production_stack):
    # As shipped: token-less requests 10 r/s (burst 20), CORS preflights 20 r/s (burst
    # 50) per address, in separate zones. Whatever the timing, a burst of 40 preflights
    # fits in its zone, and leaves all 21 of the token-less burst to token-less requests.
    requests.packages.urllib3.disable_warnings()
    s = production_stack()
    with requests.Session() as client:
        preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
        statuses = [client.options(s.https + "/api/v1/user_settings/u1", headers=preflight, verify=False,
                                   timeout=10).status_code
                    for _ in range(40)]
        assert 429 not in statuses, statuses
        anonymous = []
        while len(anonymous) < 300 and 429 not in anonymous:
            anonymous.append(client.get(s.https + "/api/v1/user_settings/u1", verify=False, timeout=10).status_code)
    assert anonymous[-1] == 429, anonymous
    assert len(anonymous) > 21 and set(anonymous[:21]) == {401}, anonymous


def test_production_conf_answers_trace_with_the_apis_json_405(production_stack):
    # TRACE never reaches the responder: nginx refuses it, in the API's shape, with the
    # route's methods, like the development stack.
    requests.packages.urllib3.disable_warnings()
    s = production_stack()
    for path, methods in (("/api/v1/user_settings/u1", {"GET", "HEAD"}), ("/api/v1/save_recording_details", {"POST"}),
                          ("/api/v1/recordings/u1/s1", {"GET", "HEAD", "DELETE"})):
        r = requests.request("TRACE", s.https + path, headers=s.headers, verify=False, timeout=10)
        assert r.status_code == 405, (path, r.status_code, r.text)
        assert r.json() == {"detail": "Method Not Allowed"}
        assert {m.strip() for m in r.headers["Allow"].split(",")} == methods
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Request-ID"]
