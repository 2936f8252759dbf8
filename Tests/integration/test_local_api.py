"""Every route of API.md in LOCAL mode, through the real stack (`scripts/run-stack`:
nginx in front of the responder processes) with tokens from the dev issuer.

Tokens are signed here with pyca/cryptography and the dev issuer's key, an
implementation independent of the responder's. The stack runs from the release
build (`make test` builds it first; RECSTORE_BIN names another binary's directory).
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ROOT = Path(__file__).resolve().parents[2]
ALICE = "auth0|5f7c8ec7c33c6c004bbafe82"
BOB = "google-oauth2|1034"
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Stack:
    """One `scripts/run-stack` with its own port, run directory and storage."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.run_dir = base / "run"
        self.storage = base / "uploads"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AUTH0_", "AWS_", "STUDY_BUDDY_", "S3_")) and k not in ("STORAGE", "RUN_DIR")}
        env.update(PORT=str(self.port), RUN_DIR=str(self.run_dir), LOCAL_STORAGE_DIR=str(self.storage),
                   WORKERS="2", THREADS="4", STORAGE="LOCAL", RECSTORE_SKIP_DEPS="1", RECSTORE_SKIP_BUILD="1")
        self.log = open(base / "stack.log", "wb")
        # Its own session, so that stopping it reaches nginx and every worker.
        self.process = subprocess.Popen([str(ROOT / "scripts" / "run-stack")], cwd=base, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while True:
            assert self.process.poll() is None, (base / "stack.log").read_text()
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "the stack did not become ready"
            time.sleep(0.2)
        issuer = json.loads((self.run_dir / "dev-issuer" / "issuer.json").read_text())
        self.issuer, self.audience, self.kid = issuer["issuer"], issuer["audience"], issuer["kid"]
        self.key = serialization.load_pem_private_key((self.run_dir / "dev-issuer" / "private.pem").read_bytes(), None)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()

    def token(self, sub: str, **claims) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        body = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + 600, **claims}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(body).encode())
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def auth(self, sub: str = ALICE) -> dict:
        return {"Authorization": "Bearer " + self.token(sub)}

    def request(self, method: str, path: str, sub: str | None = ALICE, headers=None, **kwargs) -> requests.Response:
        h = dict(self.auth(sub)) if sub else {}
        h.update(headers or {})
        return requests.request(method, self.url + path, headers=h, timeout=120, **kwargs)

    def save(self, audio: bytes, sub: str = ALICE, **fields) -> requests.Response:
        files = {"audio": ("recording.bin", audio, "application/octet-stream")}
        data = {k: v for k, v in fields.items()}
        return self.request("POST", "/api/v1/save_recording_details", sub, files=files, data=data)

    def workers(self) -> list[int]:
        """The responder's worker processes (children of `recstore serve`)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if len(cmdline) > 1 and cmdline[0].split(b"/")[-1] in (b"recstore", b"recstore-worker") and cmdline[1] == b"worker" \
                    and f"RUN_DIR={self.run_dir}".encode() in environ.split(b"\0"):
                pids.append(int(entry.name))
        return pids

    def leftovers(self) -> list[str]:
        """Temporary files anywhere in the store (staged uploads, half-written objects)."""
        found = [str(p.relative_to(self.storage)) for p in self.storage.rglob("*")
                 if p.is_file() and (p.parent.name == ".tmp" or p.name.startswith(".~tmp"))]
        return sorted(found)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("local-api"))
    yield s
    s.stop()


def wav(seconds: float, rate: int = 8000) -> bytes:
    data = bytes((i * 7) & 0xFF for i in range(int(seconds * rate)))
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt \
        + b"data" + struct.pack("<I", len(data)) + data


OGG = b"OggS\x00\x02" + b"\x11" * 200
WEBM = b"\x1a\x45\xdf\xa3" + b"\x42" * 200


def sid() -> str:
    return "s-" + uuid.uuid4().hex[:12]


# --- Happy paths -----------------------------------------------------------------

def test_save_get_list_transcript_audio_delete(stack):
    session = sid()
    audio = wav(2.5)
    r = stack.save(audio, session_id=session, user_id=ALICE, transcript="héllo wörld",
                   metadata='{"name": "Standup", "tags": ["work"], "notes": "n", "extra": {"k": [1, 2.50]}}')
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-ID"]
    info = r.json()
    assert list(info) == ["session_id", "user_id", "name", "date", "duration", "tags", "notes", "storage", "audio_key",
                          "transcript_key", "audio_content_type", "audio_bytes", "audio_url", "transcript_url"]
    assert info["session_id"] == session and info["user_id"] == ALICE and info["name"] == "Standup"
    assert info["duration"] == 2.5 and info["tags"] == ["work"] and info["storage"] == "local"
    assert info["audio_key"] == f"user_recordings/{ALICE}/{session}/audio.wav"
    assert info["audio_content_type"] == "audio/wav" and info["audio_bytes"] == len(audio)
    assert info["audio_url"] == f"/api/v1/recordings/auth0%7C5f7c8ec7c33c6c004bbafe82/{session}/audio"
    assert info["date"].endswith("Z") and len(info["date"]) == 20

    folder = stack.storage / "user_recordings" / ALICE / session
    assert sorted(p.name for p in folder.iterdir()) == ["audio.wav", "session_metadata.json", "transcript.txt"]
    stored = json.loads((folder / "session_metadata.json").read_text())
    for key in ("session_id", "user_id", "name", "created_at", "duration", "tags", "notes", "audio_key",
                "audio_content_type", "audio_bytes", "audio_sha256", "transcript_key", "transcript_bytes", "storage"):
        assert key in stored, key
    assert stored["audio_sha256"] == hashlib.sha256(audio).hexdigest()
    assert stored["extra"] == {"k": [1, 2.5]} and '"extra":{"k":[1,2.50]}' in (folder / "session_metadata.json").read_text()

    one = stack.request("GET", f"/api/v1/recordings/{quote(ALICE, safe='')}/{session}")
    assert one.status_code == 200 and one.json() == info
    listing = stack.request("GET", f"/api/v1/user_recordings/{quote(ALICE, safe='')}")
    assert listing.status_code == 200 and info in listing.json()

    transcript = stack.request("GET", info["transcript_url"])
    assert transcript.status_code == 200
    assert transcript.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert transcript.content == "héllo wörld".encode()

    download = stack.request("GET", info["audio_url"])
    assert download.status_code == 200
    assert download.content == audio
    assert download.headers["Content-Type"] == "audio/wav"
    assert int(download.headers["Content-Length"]) == len(audio)
    assert download.headers["X-Request-ID"]
    head = stack.request("HEAD", info["audio_url"])
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(audio)

    deleted = stack.request("DELETE", f"/api/v1/recordings/{quote(ALICE, safe='')}/{session}")
    assert deleted.status_code == 200
    assert deleted.json() == {"session_id": session, "deleted_objects": 3}
    assert stack.request("DELETE", f"/api/v1/recordings/{quote(ALICE, safe='')}/{session}").status_code == 404
    assert stack.request("GET", f"/api/v1/recordings/{quote(ALICE, safe='')}/{session}").status_code == 404


def test_generated_session_ids_and_listing_order(stack):
    user = "auth0|order-" + uuid.uuid4().hex[:6]
    made = [stack.save(OGG, sub=user, session_id=s).json()["session_id"] for s in ("b", "a", "c")]
    generated = stack.save(WEBM, sub=user).json()
    assert generated["session_id"][:16].endswith("Z") and generated["session_id"][16] == "-"
    assert generated["name"] == generated["session_id"] and generated["duration"] is None
    listing = stack.request("GET", f"/api/v1/user_recordings/{quote(user, safe='')}", sub=user).json()
    ids = [r["session_id"] for r in listing]
    assert set(ids) == set(made) | {generated["session_id"]}
    dated = [(r["date"], r["session_id"]) for r in listing]
    assert dated == sorted(dated, reverse=True), "newest first, ties by session id descending"
    limited = stack.request("GET", f"/api/v1/user_recordings/{quote(user, safe='')}?limit=2", sub=user).json()
    assert limited == listing[:2]
    assert stack.request("GET", "/api/v1/user_recordings/auth0%7Cnobody", sub="auth0|nobody").json() == []


def await_settled(directory: Path, seconds: float = 2.5):
    """Until `directory` last changed `seconds` ago: the responders keep a listing for
    reuse only then (ListingMemo's settled rule), so what follows runs on kept ones."""
    deadline = time.time() + 30
    while time.time() - directory.stat().st_ctime < seconds:
        assert time.time() < deadline
        time.sleep(0.1)


def test_listings_are_fresh_on_every_worker_and_large_ones_arrive_whole(stack):
    """A listing kept by a worker is checked by its user directory alone: every save
    and delete, by whichever worker, must show in the next listing of every worker.
    240 sessions make a ~100 KB body, sent in FastCGI records of up to 64 KiB."""
    import concurrent.futures
    user = "auth0|fresh-" + uuid.uuid4().hex[:6]
    path = f"/api/v1/user_recordings/{quote(user, safe='')}"
    notes = "n" * 300

    def save(session):
        r = stack.save(OGG, sub=user, session_id=session, metadata=json.dumps({"name": session, "notes": notes}))
        assert r.status_code == 201, r.text
        return r.json()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        saved = list(pool.map(save, [f"s{i:03d}" for i in range(240)]))
    folder = stack.storage / "user_recordings" / user

    def listings(count=12):
        # Sequential requests: nginx hands them to both workers.
        out = []
        for _ in range(count):
            r = stack.request("GET", path, sub=user)
            assert r.status_code == 200
            assert int(r.headers["Content-Length"]) == len(r.content)
            out.append(r.json())
        return out

    # Two cases where the user directory itself does not change, so only the touch of
    # the directories above a change can tell the other worker: a session directory
    # left by an interrupted save (a temporary file in it) that a later save fills, and
    # a deleted session whose directory stays (a leftover temporary file keeps it).
    (folder / "t-added").mkdir()
    (folder / "t-added" / ".~tmp.interrupted").write_bytes(b"x")
    (folder / "s007" / ".~tmp.leftover").write_bytes(b"x")
    await_settled(folder)
    first = listings()
    assert len(stack.workers()) == 2
    assert len(stack.request("GET", path, sub=user).content) > 65536
    assert all(l == first[0] for l in first)
    assert sorted(r["session_id"] for r in first[0]) == sorted(r["session_id"] for r in saved)
    assert all(r["notes"] == notes for r in first[0])

    added = save("t-added")
    assert (folder / "t-added" / ".~tmp.interrupted").exists()
    for listing in listings():
        assert added in listing and len(listing) == 241

    await_settled(folder)
    listings()
    deleted = stack.request("DELETE", f"/api/v1/recordings/{quote(user, safe='')}/s007", sub=user)
    assert deleted.status_code == 200
    assert (folder / "s007").is_dir(), "the case where the user directory is unchanged"
    for listing in listings():
        assert len(listing) == 240 and "s007" not in {r["session_id"] for r in listing}
    # The planted leftovers go: later tests check the store has none.
    (folder / "t-added" / ".~tmp.interrupted").unlink()
    (folder / "s007" / ".~tmp.leftover").unlink()


def test_retention_and_corrupt_metadata(stack):
    user = "auth0|retention"
    old, fresh, broken = sid(), sid(), sid()
    for s in (old, fresh, broken):
        assert stack.save(OGG, sub=user, session_id=s).status_code == 201
    base = stack.storage / "user_recordings" / user
    sixteen_days_ago = time.time() - 16 * 86400
    os.utime(base / old / "session_metadata.json", (sixteen_days_ago, sixteen_days_ago))
    (base / broken / "session_metadata.json").write_text("{not json")
    r = stack.request("GET", f"/api/v1/user_recordings/{quote(user, safe='')}", sub=user)
    assert r.status_code == 200
    assert [x["session_id"] for x in r.json()] == [fresh]
    # Retention filters listings only.
    assert stack.request("GET", f"/api/v1/recordings/{quote(user, safe='')}/{old}", sub=user).status_code == 200


def test_settings(stack):
    path = f"/api/v1/user_settings/{quote(ALICE, safe='')}"
    first = stack.request("GET", path)
    assert first.status_code == 200
    assert first.json() == {"macro_phrases": [], "custom_vocabulary": [], "transcription_profiles": []}
    etag = first.headers["ETag"]
    settings = {"custom_vocabulary": ["Kubernetes"], "macro_phrases": [{"trigger": "sig", "text": "Best"}], "theme": "dark"}
    saved = stack.request("POST", "/api/v1/user_settings", json={"user_id": ALICE, "settings": settings},
                          headers={"If-Match": etag})
    assert saved.status_code == 200, saved.text
    assert saved.json() == settings and list(saved.json()) == list(settings)
    new_etag = saved.headers["ETag"]
    assert new_etag.startswith('"') and new_etag != etag
    read = stack.request("GET", path)
    assert read.json() == settings and read.headers["ETag"] == new_etag
    stale = stack.request("POST", "/api/v1/user_settings", json={"settings": {}}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["detail"]
    weak = stack.request("POST", "/api/v1/user_settings", json={"user_id": "", "settings": {"v": 2}},
                         headers={"If-Match": "W/" + new_etag})
    assert weak.status_code == 200
    assert stack.request("GET", path).json() == {"v": 2}


def test_storage_info_and_probes(stack):
    info = stack.request("GET", "/api/v1/upload/storage-info")
    assert info.status_code == 200
    body = info.json()
    assert body["storage_mode"] == "LOCAL" and body["s3_enabled"] is False
    assert body["bucket_name"] is None and body["region"] is None
    assert stack.request("GET", "/api/v1/upload/storage-info", sub=None).status_code == 401
    assert stack.request("GET", "/healthz", sub=None).status_code == 200
    ready = stack.request("GET", "/readyz", sub=None)
    assert ready.status_code == 200 and ready.headers["X-Request-ID"]


# --- Every status of the table that LOCAL mode can produce -----------------------

def test_statuses(stack):
    session = sid()
    assert stack.save(OGG, session_id=session, transcript="original").status_code == 201
    alice = quote(ALICE, safe="")
    multipart = "/api/v1/save_recording_details"

    def check(response, status):
        assert response.status_code == status, (status, response.status_code, response.text)
        assert response.headers.get("X-Request-ID"), "every response carries X-Request-ID"
        if status >= 400:
            assert response.headers["Content-Type"].startswith("application/json")
            assert isinstance(response.json()["detail"], str) and response.json()["detail"]
        return response

    # 400: multipart framing, boundary; unparseable JSON.
    check(stack.request("POST", multipart, headers={"Content-Type": "multipart/form-data"}, data=b"x"), 400)
    check(stack.request("POST", multipart, headers={"Content-Type": "multipart/form-data; boundary=zz"},
                        data=b"--zz\r\nContent-Disposition: form-data; name=\"audio\"\r\n\r\nOggS trunc"), 400)
    check(stack.request("POST", "/api/v1/user_settings", headers={"Content-Type": "application/json"}, data=b"{nope"), 400)
    # 401, with WWW-Authenticate.
    for r in (stack.request("GET", f"/api/v1/user_recordings/{alice}", sub=None),
              stack.request("GET", f"/api/v1/user_recordings/{alice}", sub=None, headers={"Authorization": "Bearer x.y.z"}),
              stack.request("GET", f"/api/v1/user_recordings/{alice}", sub=None,
                            headers={"Authorization": "Bearer " + stack.token(ALICE, exp=int(time.time()) - 3600)})):
        check(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # 403: another user in the path, the form and the body.
    check(stack.request("GET", f"/api/v1/user_recordings/{alice}", sub=BOB), 403)
    check(stack.request("GET", f"/api/v1/recordings/{alice}/{session}/audio", sub=BOB), 403)
    check(stack.request("DELETE", f"/api/v1/recordings/{alice}/{session}", sub=BOB), 403)
    check(stack.save(OGG, sub=BOB, user_id=ALICE), 403)
    check(stack.request("POST", "/api/v1/user_settings", sub=BOB, json={"user_id": ALICE, "settings": {}}), 403)
    # 404: no such recording, unknown route.
    for suffix in ("", "/audio", "/transcript"):
        check(stack.request("GET", f"/api/v1/recordings/{alice}/nope{suffix}"), 404)
    check(stack.request("GET", "/api/v1/no/such/route"), 404)
    # 405 with Allow.
    r = check(stack.request("PUT", f"/api/v1/recordings/{alice}/{session}"), 405)
    assert "GET" in r.headers["Allow"] and "DELETE" in r.headers["Allow"]
    # 409, the original untouched.
    check(stack.save(WEBM, session_id=session, transcript="second"), 409)
    assert stack.request("GET", f"/api/v1/recordings/{alice}/{session}/transcript").text == "original"
    # 412.
    check(stack.request("POST", "/api/v1/user_settings", json={"settings": {}}, headers={"If-Match": '"stale"'}), 412)
    # 413: a part over its limit, settings over 256 KiB.
    check(stack.save(OGG, metadata=json.dumps({"notes": "x" * (64 * 1024)})), 413)
    check(stack.save(OGG, transcript="x" * (10 * MIB + 1)), 413)
    check(stack.request("POST", "/api/v1/user_settings", json={"settings": {"big": "x" * (256 * 1024)}}), 413)
    # 415: not multipart, not audio.
    check(stack.request("POST", multipart, json={"audio": "x"}), 415)
    check(stack.save(b"just text, not audio"), 415)
    # 416: nginx serves local files, but a range past the end is the responder's JSON answer.
    r = stack.request("GET", f"/api/v1/recordings/{alice}/{session}/audio", headers={"Range": "bytes=999999-"})
    assert r.status_code == 416 and r.headers.get("X-Request-ID")
    assert r.headers["Content-Type"].startswith("application/json") and set(r.json()) == {"detail"}
    assert re.fullmatch(r"bytes \*/[0-9]+", r.headers["Content-Range"])
    # 422: ids, metadata shape, transcript encoding, limit, settings shape.
    check(stack.request("GET", "/api/v1/user_recordings/%2E%2E", sub=".."), 422)
    check(stack.request("GET", f"/api/v1/recordings/{alice}/..%2F..%2Fetc"), 422)
    check(stack.request("GET", f"/api/v1/recordings/{alice}/.hidden"), 422)
    check(stack.save(OGG, session_id="a/b"), 422)
    check(stack.save(OGG, session_id="x" * 65), 422)
    check(stack.save(OGG, metadata="[1,2]"), 422)
    check(stack.save(OGG, metadata='{"duration": "long"}'), 422)
    check(stack.request("POST", multipart, files={"audio": ("a", OGG), "transcript": ("t.txt", b"\xff\xfe\xfa")}), 422)
    check(stack.request("GET", f"/api/v1/user_recordings/{alice}?limit=0"), 422)
    check(stack.request("POST", "/api/v1/user_settings", json={"settings": {"custom_vocabulary": [1]}}), 422)
    check(stack.request("POST", "/api/v1/user_settings", json={"settings": []}), 422)
    assert stack.leftovers() == []


# --- Large files, memory, ranges ---------------------------------------------------

class StreamedMultipart:
    """A multipart body of one large audio part, generated as it is read, with a
    known length (so requests sends Content-Length, not chunks)."""

    def __init__(self, fields: dict, audio_size: int):
        self.boundary = "----recstore-" + uuid.uuid4().hex
        head = b""
        for name, value in fields.items():
            head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"big.wav\"\r\n"
                 "Content-Type: audio/wav\r\n\r\n").encode()
        header = wav(0)
        self.prefix = head + b"RIFF" + struct.pack("<I", 36 + audio_size - 44) + header[8:40] + struct.pack("<I", audio_size - 44)
        self.suffix = f"\r\n--{self.boundary}--\r\n".encode()
        self.audio_size = audio_size
        self.total = len(self.prefix) + (audio_size - 44) + len(self.suffix)
        self.position = 0
        self.digest = hashlib.sha256(self.prefix[len(head):])
        self.block = bytes(range(256)) * 4096

    def __len__(self):
        return self.total

    @property
    def content_type(self):
        return f"multipart/form-data; boundary={self.boundary}"

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.total - self.position
        out = bytearray()
        while size > 0 and self.position < self.total:
            body_start = len(self.prefix)
            body_end = body_start + self.audio_size - 44
            if self.position < body_start:
                chunk = self.prefix[self.position:self.position + size]
            elif self.position < body_end:
                offset = (self.position - body_start) % len(self.block)
                n = min(size, body_end - self.position, len(self.block) - offset)
                chunk = self.block[offset:offset + n]
                self.digest.update(chunk)
            else:
                start = self.position - body_end
                chunk = self.suffix[start:start + size]
            out += chunk
            self.position += len(chunk)
            size -= len(chunk)
        return bytes(out)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_200_mib_upload_bounded_memory_and_identical_download(stack):
    size = 200 * MIB
    session = sid()
    body = StreamedMultipart({"session_id": session, "transcript": "big"}, size)
    r = stack.request("POST", "/api/v1/save_recording_details", data=body, headers={"Content-Type": body.content_type})
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["audio_bytes"] == size
    assert info["duration"] == pytest.approx((size - 44) / 8000, abs=0.001)
    expected = body.digest.hexdigest()
    stored = json.loads((stack.storage / "user_recordings" / ALICE / session / "session_metadata.json").read_text())
    assert stored["audio_sha256"] == expected

    workers = stack.workers()
    assert workers, "worker processes found"
    peaks = {pid: peak_rss_kib(pid) for pid in workers}
    print("peak RSS of the workers (KiB):", peaks)
    assert max(peaks.values()) < 64 * 1024, f"peak RSS of the workers (KiB): {peaks}"

    with stack.request("GET", info["audio_url"], stream=True) as download:
        assert download.status_code == 200
        assert int(download.headers["Content-Length"]) == size
        digest = hashlib.sha256()
        for chunk in download.iter_content(1 * MIB):
            digest.update(chunk)
    assert digest.hexdigest() == expected

    with open(stack.storage / "user_recordings" / ALICE / session / "audio.wav", "rb") as f:
        original = f.read(4096)
        f.seek(size - 4096)
        tail = f.read()
        f.seek(100 * MIB)
        middle = f.read(1000)
    for header, want in (("bytes=0-4095", original), (f"bytes=-4096", tail),
                         (f"bytes={size - 4096}-", tail), (f"bytes={100 * MIB}-{100 * MIB + 999}", middle)):
        part = stack.request("GET", info["audio_url"], headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == want, header
        assert part.headers["Content-Range"].endswith(f"/{size}")
        assert part.headers["Content-Type"] == "audio/wav"
    assert stack.request("DELETE", f"/api/v1/recordings/{quote(ALICE, safe='')}/{session}").json()["deleted_objects"] == 3
    assert stack.leftovers() == []


def test_no_temporary_file_after_100_mixed_uploads(stack):
    user = "auth0|mixed"
    good = 0
    for i in range(100):
        kind = i % 5
        if kind == 0:
            r = stack.save(wav(0.5), sub=user, session_id=f"m{i}")
            good += r.status_code == 201
        elif kind == 1:
            r = stack.save(b"not audio at all" * 100, sub=user)
            assert r.status_code == 415
        elif kind == 2:
            r = stack.save(OGG, sub=user, session_id=f"m{i - 2}")
            assert r.status_code == 409
        elif kind == 3:
            r = stack.save(OGG, sub=user, metadata="{broken")
            assert r.status_code == 422
        else:
            r = stack.save(OGG * 1000, sub=user, user_id="auth0|someone-else")
            assert r.status_code == 403
    assert good == 20
    assert stack.leftovers() == []
    listing = stack.request("GET", f"/api/v1/user_recordings/{quote(user, safe='')}", sub=user).json()
    assert len(listing) == 20


def test_client_disconnecting_mid_upload(stack):
    session = sid()
    boundary = "cut-" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n{session}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\n").encode()
    promised = 50 * MIB
    request = (f"POST /api/v1/save_recording_details HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {stack.token(ALICE)}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {len(head) + promised}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", stack.port)) as s:
        s.sendall(request + head + wav(1)[:44])
        chunk = b"\x00" * MIB
        for _ in range(8):
            s.sendall(chunk)
        time.sleep(0.5)  # the responder is now writing the temporary file
    deadline = time.time() + 10
    while stack.leftovers() and time.time() < deadline:
        time.sleep(0.2)
    assert stack.leftovers() == []
    assert not (stack.storage / "user_recordings" / ALICE / session).exists()
    # The service is still there, and the id still free.
    assert stack.request("GET", "/healthz", sub=None).status_code == 200
    assert stack.save(OGG, session_id=session).status_code == 201


def test_concurrent_saves_of_one_session_one_wins(stack):
    from concurrent.futures import ThreadPoolExecutor
    session = sid()
    audios = [OGG, WEBM, wav(0.2), OGG, WEBM, wav(0.3), OGG, WEBM]
    with ThreadPoolExecutor(len(audios)) as pool:
        results = list(pool.map(lambda a: stack.save(a, session_id=session, transcript=str(len(a))), audios))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * (len(audios) - 1), statuses
    winner = next(r.json() for r in results if r.status_code == 201)
    folder = stack.storage / "user_recordings" / ALICE / session
    assert sorted(p.name for p in folder.iterdir()) == sorted([winner["audio_key"].rsplit("/", 1)[1], "session_metadata.json", "transcript.txt"])
    audio = stack.request("GET", winner["audio_url"]).content
    assert len(audio) == winner["audio_bytes"]
    assert stack.request("GET", winner["transcript_url"]).text == str(len(audio))
    assert stack.leftovers() == []


def test_traversal_never_leaves_the_store(stack):
    outside = stack.base / "outside.txt"
    for user in ("..", "../x", "%2E%2E", "..%2F..%2Foutside", "%EF%BC%8E%EF%BC%8E", "a%5Cb"):
        r = stack.request("GET", f"/api/v1/user_settings/{user}", sub=user)
        assert r.status_code in (404, 422), (user, r.status_code)
        r = stack.request("POST", "/api/v1/user_settings", sub="auth0|x", json={"user_id": user, "settings": {}})
        assert r.status_code == 422, (user, r.status_code)
    r = stack.request("POST", "/api/v1/user_settings", sub="auth0|x", json={"user_id": "a\u0000b", "settings": {}})
    assert r.status_code == 422
    for session in ("..", "..%2F..%2Foutside", "%2E%2E%2Foutside"):
        r = stack.request("DELETE", f"/api/v1/recordings/{quote(ALICE, safe='')}/{session}")
        assert r.status_code in (404, 422), (session, r.status_code)
    assert not outside.exists()
    assert all(p.is_relative_to(stack.storage) for p in stack.storage.rglob("*"))


def test_nul_in_a_path_is_a_client_error(stack):
    # nginx itself refuses %00 in a URI; its answer must still be a 400, not a 500.
    r = stack.request("GET", "/api/v1/user_settings/a%00b")
    assert r.status_code in (400, 422), r.status_code
