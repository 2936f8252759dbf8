"""CORS through the real stack (API.md "Browsers on other origins"): preflights for every
route and method from allowed and refused origins, the headers on answers from the
responder, from nginx's own error pages and from files nginx serves after
X-Accel-Redirect, and the one origin list both read."""

import os
import socket
import time
from urllib.parse import quote

import pytest
import requests

from conftest import wait_until
from cors_support import (EXPOSED, REQUEST_HEADERS, assert_cors_response, assert_no_cors, cors_headers,
                          header_list, token)

ALLOWED = "http://localhost:5173"
ALSO_ALLOWED = "https://app.recstore.test"
REFUSED = ["http://localhost:5174", "https://evil.example", "null", "HTTP://LOCALHOST:5173", ALLOWED + "/"]
ALICE = "auth0|cors-alice"
A = quote(ALICE, safe="")
WAV = (b"RIFF" + (36 + 8).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
       + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
       + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
       + b"data" + (8).to_bytes(4, "little") + b"\x00\x01" * 4)

# Every route of API.md with the methods a preflight must list (HEAD with GET).
ROUTES = [
    ("/api/v1/save_recording_details", {"POST"}),
    (f"/api/v1/user_recordings/{A}", {"GET", "HEAD"}),
    (f"/api/v1/recordings/{A}/s1", {"GET", "HEAD", "DELETE"}),
    (f"/api/v1/recordings/{A}/s1/audio", {"GET", "HEAD"}),
    (f"/api/v1/recordings/{A}/s1/transcript", {"GET", "HEAD"}),
    (f"/api/v1/user_settings/{A}", {"GET", "HEAD"}),
    ("/api/v1/user_settings", {"POST"}),
    ("/api/v1/upload/storage-info", {"GET", "HEAD"}),
    ("/api/v1/uploads", {"OPTIONS", "POST"}),
    # POST there is tus's X-HTTP-Method-Override form of PATCH, DELETE and HEAD.
    ("/api/v1/uploads/0123456789abcdef0123456789abcdef", {"OPTIONS", "HEAD", "PATCH", "DELETE", "POST"}),
]


@pytest.fixture
def cors_stack(make_stack):
    return make_stack(env={"CORS_ALLOW_ORIGINS": f" {ALLOWED},{ALSO_ALLOWED} ", "MAX_UPLOAD_BYTES": "4096"})


def preflight(stack, path, origin, method, request_headers="authorization,content-type"):
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    return stack.request("OPTIONS", path, headers=headers)


def test_preflight_every_route_and_method_from_allowed_and_refused_origins(cors_stack):
    log_mark = len(cors_stack.access_log_text())
    for path, methods in ROUTES:
        for method in sorted(methods - {"HEAD"}):
            for origin in (ALLOWED, ALSO_ALLOWED):
                r = preflight(cors_stack, path, origin, method)
                assert r.status_code == 204, (path, method, r.status_code, r.text)
                assert r.content == b""
                assert r.headers["Access-Control-Allow-Origin"] == origin
                assert "origin" in header_list(r.headers.get("Vary"))
                assert {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")} == methods, path
                assert header_list(r.headers["Access-Control-Allow-Headers"]) >= REQUEST_HEADERS
                assert int(r.headers["Access-Control-Max-Age"]) > 0
                assert r.headers.get("X-Request-ID")
            for origin in REFUSED:
                r = preflight(cors_stack, path, origin, method)
                assert r.status_code == 403, (path, method, origin, r.status_code)
                assert_no_cors(r)
                assert r.json()["detail"]
    # No token anywhere above, and none of it reached a route (no 401 was logged).
    assert " 401 " not in cors_stack.access_log_text()[log_mark:]


def test_preflight_never_reaches_storage(cors_stack, release_binary, auth_env):
    bearer = {"Authorization": "Bearer " + token(release_binary, auth_env, ALICE)}
    saved = cors_stack.post("/api/v1/save_recording_details", headers=bearer,
                            files={"audio": ("a.wav", WAV, "audio/wav")}, data={"session_id": "kept"})
    assert saved.status_code == 201, saved.text
    before = sorted(cors_stack.storage_dir.rglob("*"))
    # A preflight for DELETE, even one carrying a token, deletes nothing and saves nothing.
    for method in ("DELETE", "GET"):
        r = cors_stack.request("OPTIONS", f"/api/v1/recordings/{A}/kept",
                               headers={**bearer, "Origin": ALLOWED, "Access-Control-Request-Method": method})
        assert r.status_code == 204
    r = cors_stack.request("OPTIONS", "/api/v1/save_recording_details",
                           headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert sorted(cors_stack.storage_dir.rglob("*")) == before
    assert cors_stack.get(f"/api/v1/recordings/{A}/kept", headers=bearer).status_code == 200


def test_preflight_of_an_unknown_api_path_is_a_readable_404(cors_stack):
    r = preflight(cors_stack, "/api/v1/no/such/route", ALLOWED, "GET")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}
    assert_cors_response(r, ALLOWED)
    assert "Access-Control-Allow-Methods" not in r.headers
    r = preflight(cors_stack, "/api/v1/no/such/route", REFUSED[0], "GET")
    assert r.status_code == 403
    assert_no_cors(r)


def test_plain_options_is_no_preflight(cors_stack):
    # Without Access-Control-Request-Method it goes to the router like any request.
    r = cors_stack.request("OPTIONS", "/api/v1/user_settings", headers={"Origin": ALLOWED})
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]
    assert_cors_response(r, ALLOWED)


def test_responder_answers_carry_cors_headers_errors_included(cors_stack, release_binary, auth_env):
    bearer = {"Authorization": "Bearer " + token(release_binary, auth_env, ALICE)}
    cases = [
        ("GET", f"/api/v1/user_settings/{A}", bearer, 200),
        ("GET", "/api/v1/upload/storage-info", bearer, 200),
        ("GET", f"/api/v1/user_settings/{A}", {}, 401),
        ("GET", f"/api/v1/recordings/{A}/nothing-here", bearer, 404),
        ("GET", "/api/v1/no/such/route", bearer, 404),
        ("PUT", "/api/v1/user_settings", bearer, 405),
    ]
    for method, path, headers, status in cases:
        r = cors_stack.request(method, path, headers={**headers, "Origin": ALLOWED})
        assert r.status_code == status, (method, path, r.status_code, r.text)
        assert_cors_response(r, ALLOWED)
        for origin in REFUSED[:2]:
            other = cors_stack.request(method, path, headers={**headers, "Origin": origin})
            assert other.status_code == status
            assert_no_cors(other)
        bare = cors_stack.request(method, path, headers=headers)
        assert_no_cors(bare)
    # A 413 the responder answers (the audio part over MAX_UPLOAD_BYTES, under nginx's limit).
    r = cors_stack.post("/api/v1/save_recording_details", headers={**bearer, "Origin": ALLOWED},
                        files={"audio": ("a.wav", WAV + b"\0" * 8192, "audio/wav")})
    assert r.status_code == 413
    assert_cors_response(r, ALLOWED)
    # Outside /api/v1 nothing changes.
    health = cors_stack.get("/healthz", headers={"Origin": ALLOWED})
    assert health.status_code == 200
    assert_no_cors(health)


def raw_exchange(port, head, timeout=20.0):
    """Sends a request head (no body) and returns (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        head_bytes, _, body = data.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        return int(lines[0].split()[1]), headers, body


def test_nginx_answered_413_carries_cors_headers(cors_stack):
    # Over client_max_body_size (MAX_UPLOAD_BYTES + 16 MiB) on a buffered route: nginx
    # refuses it from the Content-Length alone, before a byte of body is sent.
    too_large = 64 * 1024 * 1024
    for path in ("/api/v1/user_settings", "/api/v1/save_recording_details"):
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {ALLOWED}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {too_large}\r\nConnection: close\r\n\r\n")
        status, headers, body = raw_exchange(cors_stack.port, head)
        assert status == 413, (path, headers, body)
        assert headers["access-control-allow-origin"] == [ALLOWED]
        assert headers["vary"] == ["Origin"]
        assert header_list(headers["access-control-expose-headers"][0]) >= EXPOSED
        assert headers.get("x-request-id")
        # nginx matches exactly as the responder does: no regex wildcards, no prefixes.
        for origin in (REFUSED[1], "https://appxrecstore.test", ALSO_ALLOWED + ".evil.example",
                       "x" + ALSO_ALLOWED, "HTTPS://APP.RECSTORE.TEST"):
            status, headers, _ = raw_exchange(cors_stack.port, head.replace(ALLOWED, origin))
            assert status == 413
            assert not [h for h in headers if h.startswith("access-control-")], origin
        status, headers, _ = raw_exchange(cors_stack.port, head.replace(ALLOWED, ALSO_ALLOWED))
        assert headers["access-control-allow-origin"] == [ALSO_ALLOWED]


def test_nginx_answered_502_carries_cors_headers(cors_stack):
    # The responder's socket out of nginx's reach: nginx answers 502 itself.
    socket_path = cors_stack.run_dir / "recstore.sock"
    away = cors_stack.run_dir / "recstore.sock.away"
    os.rename(socket_path, away)
    try:
        r = cors_stack.get("/api/v1/upload/storage-info", headers={"Origin": ALLOWED})
        assert r.status_code == 502
        assert r.headers["Retry-After"]
        assert_cors_response(r, ALLOWED)
        other = cors_stack.get("/api/v1/upload/storage-info", headers={"Origin": REFUSED[1]})
        assert other.status_code == 502
        assert_no_cors(other)
    finally:
        os.rename(away, socket_path)
    assert cors_stack.get("/healthz").status_code == 200


def test_audio_served_by_nginx_after_x_accel_redirect_carries_cors_headers(cors_stack, release_binary, auth_env):
    bearer = {"Authorization": "Bearer " + token(release_binary, auth_env, ALICE)}
    saved = cors_stack.post("/api/v1/save_recording_details", headers=bearer,
                            files={"audio": ("a.wav", WAV, "audio/wav")}, data={"session_id": "cors-audio"})
    assert saved.status_code == 201, saved.text
    path = f"/api/v1/recordings/{A}/cors-audio/audio"
    r = cors_stack.get(path, headers={**bearer, "Origin": ALLOWED, "Range": "bytes=0-11"})
    assert r.status_code == 206
    assert r.content == WAV[:12]
    assert r.headers["Content-Range"] == f"bytes 0-11/{len(WAV)}"
    assert_cors_response(r, ALLOWED)
    assert len([v for k, v in r.raw.headers.items() if k.lower() == "access-control-allow-origin"]) == 1
    other = cors_stack.get(path, headers={**bearer, "Origin": REFUSED[1]})
    assert other.status_code == 200 and other.content == WAV
    assert_no_cors(other)


def test_one_origin_list_for_the_responder_and_nginx(make_stack):
    # Nothing allowed when the variable is set to nothing: both sides agree.
    stack = make_stack(env={"CORS_ALLOW_ORIGINS": "", "MAX_UPLOAD_BYTES": "4096"})
    r = preflight(stack, "/api/v1/user_settings", ALLOWED, "POST")
    assert r.status_code == 403
    assert_no_cors(r)
    status, headers, _ = raw_exchange(stack.port, (
        f"POST /api/v1/user_settings HTTP/1.1\r\nHost: x\r\nOrigin: {ALLOWED}\r\n"
        f"Content-Length: {64 * 1024 * 1024}\r\nConnection: close\r\n\r\n"))
    assert status == 413 and not [h for h in headers if h.startswith("access-control-")]


def test_make_run_allows_the_dev_server_origins_by_default(make_stack):
    stack = make_stack()  # CORS_ALLOW_ORIGINS unset, as in a plain `make run`
    for origin in ("http://localhost:3000", "http://localhost:5173", "http://127.0.0.1:3000", "http://127.0.0.1:5173"):
        r = preflight(stack, "/api/v1/user_settings", origin, "POST")
        assert r.status_code == 204, origin
        assert r.headers["Access-Control-Allow-Origin"] == origin
    assert preflight(stack, "/api/v1/user_settings", "http://localhost:8080", "POST").status_code == 403


def test_a_bad_origin_list_stops_the_stack_with_a_message(make_stack):
    stack = make_stack(env={"CORS_ALLOW_ORIGINS": "http://localhost:5173/"}, start=False)
    stack.launch()
    assert stack.wait(timeout=60) != 0
    assert "CORS_ALLOW_ORIGINS" in stack.log_text()


def test_the_shipped_nginx_map_allows_no_origin_like_the_unset_variable():
    import subprocess
    from conftest import ROOT
    rendered = subprocess.run([str(ROOT / "scripts" / "nginx-cors-map"), ""], check=True, capture_output=True,
                              text=True).stdout
    assert (ROOT / "nginx" / "recstore_cors_origins.conf").read_text() == rendered
    assert "~^" not in rendered


def test_nginx_answered_429_carries_cors_headers(make_stack):
    # Requests without a token beyond nginx's per-address rate (NGINX_ANON_*): nginx
    # answers 429 itself, and the page can still read why.
    stack = make_stack(env={"CORS_ALLOW_ORIGINS": ALLOWED, "NGINX_ANON_RATE": "1r/m", "NGINX_ANON_BURST": "1"})
    statuses = []
    for _ in range(5):
        r = stack.get("/api/v1/upload/storage-info", headers={"Origin": ALLOWED})
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert r.headers["Retry-After"]
    assert_cors_response(r, ALLOWED)
    other = stack.get("/api/v1/upload/storage-info", headers={"Origin": REFUSED[1]})
    assert other.status_code == 429
    assert_no_cors(other)


def test_preflights_and_token_less_requests_are_limited_in_separate_zones(make_stack):
    # Preflights never carry a token. Counted with token-less requests, a page that
    # preflights many URLs at once would be refused by the anonymous allowance; in a
    # zone of their own, each kind is limited without using up the other's.
    stack = make_stack(env={"CORS_ALLOW_ORIGINS": ALLOWED, "NGINX_ANON_RATE": "1r/m", "NGINX_ANON_BURST": "2",
                            "NGINX_PREFLIGHT_RATE": "1r/m", "NGINX_PREFLIGHT_BURST": "5"})
    # Five preflights pass although the anonymous allowance is three...
    for _ in range(5):
        assert preflight(stack, "/api/v1/user_settings", ALLOWED, "POST").status_code == 204
    # ...and have not used any of it: three token-less requests reach the responder.
    for _ in range(3):
        assert stack.get("/api/v1/user_settings/u1", headers={"Origin": ALLOWED}).status_code == 401
    assert stack.get("/api/v1/user_settings/u1", headers={"Origin": ALLOWED}).status_code == 429
    # The preflight zone has its own limit: the seventh is refused, readable by the page.
    assert preflight(stack, "/api/v1/user_settings", ALLOWED, "POST").status_code == 204
    limited = preflight(stack, "/api/v1/user_settings", ALLOWED, "POST")
    assert limited.status_code == 429
    assert_cors_response(limited, ALLOWED)
