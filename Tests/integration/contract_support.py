"""What test_contract.py needs to drive whole stacks (`scripts/run-stack`, which is what
`make run` runs) the way a client does: stacks in each storage mode, tokens from the
dev issuer (and forged ones), multipart bodies, small audio files of every format,
a look at what each backend really holds, and the checks every response must pass.

Run as a script (``--moto-serve PORT CLOCK_FILE [--stock]``) it is the S3 test server of
moto_server.py (or, with ``--stock``, moto_server's own) whose object timestamps can be set
back, for the retention rule.
"""
import base64
import datetime
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import conftest
import openapi_oracle
from moto_server import MotoS3

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".build" / "release" / "recstore"

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
GENERATED_SESSION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
LAYOUT = re.compile(r"^(user_recordings/[^/]+/[^/]+/(audio\.(wav|webm|ogg|mp3|m4a|flac)|transcript\.txt|session_metadata\.json)"
                    r"|user_settings/[^/]+/settings\.json)$")
RECORDING_INFO_KEYS = {"session_id", "user_id", "name", "date", "duration", "tags", "notes", "storage", "audio_key",
                       "transcript_key", "audio_content_type", "audio_bytes", "audio_url", "transcript_url"}
# API.md's status table, plus the errors nginx itself answers (its template gives them
# the same shape), and 416 (a range past the end, refused by the responder even when
# nginx serves the file).
JSON_ERROR_STATUSES = {400, 401, 403, 404, 405, 409, 412, 413, 414, 415, 416, 422, 500, 502, 503, 504}
DEFAULT_SETTINGS = {"macro_phrases": [], "custom_vocabulary": [], "transcription_profiles": []}


def unique(prefix="u"):
    """A fresh id, so that tests sharing a stack never see each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def parse_iso_z(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# S3 test server with a movable clock for object timestamps


class ClockedMotoS3(MotoS3):
    """moto_server.py's server (signature checks on), plus `backdated(seconds)`: objects
    written meanwhile get a LastModified that far in the past, as if written then.

    `stock=True`: moto's signature checks as they come (not moto_server.py's), so this is
    stock moto_server but for the clock, which only moves while a test backdates."""

    def __init__(self, workdir, bucket="recstore-test", stock=False):
        super().__init__(bucket, stock=stock)
        self.clock_file = Path(workdir) / f"moto-{self.port}.clock"
        self.clock_file.write_text("0")

    def start(self):
        env = dict(os.environ)
        env.update(AWS_ACCESS_KEY_ID="setup", AWS_SECRET_ACCESS_KEY="setup", AWS_DEFAULT_REGION=self.region)
        self._launch([sys.executable, os.path.abspath(__file__), "--moto-serve", str(self.port), str(self.clock_file)]
                     + (["--stock"] if self.stock else []), env)
        try:
            self._enable_auth()
        except BaseException:
            self.stop()
            raise
        return self

    @contextmanager
    def backdated(self, seconds):
        self.clock_file.write_text(str(seconds))
        try:
            yield
        finally:
            self.clock_file.write_text("0")


def serve_clocked_moto(port, clock_file, stock=False):
    import moto.s3.models as s3_models
    import moto_server

    real_utcnow = s3_models.utcnow

    def utcnow():
        try:
            back = float(Path(clock_file).read_text() or 0)
        except (OSError, ValueError):
            back = 0
        return real_utcnow() - datetime.timedelta(seconds=back)

    s3_models.utcnow = utcnow
    moto_server.serve(port, stock=stock)


# ---------------------------------------------------------------------------
# Stacks


class Stack(conftest.Stack):
    """One `scripts/run-stack` (nginx + responders) on its own port and run directory,
    named `name` under `base`, in the storage mode `env` says (LOCAL by default; with
    `moto`, the bucket is configured too).

    `storage_dir` is LOCAL_STORAGE_DIR; it sits inside `outside_dir`, which nothing may
    ever write to except through it (the escape checks look there). TMPDIR is a
    directory of its own, so leftover temporary files of any kind show up."""

    def __init__(self, name, base, env=None, moto=None, storage_dir=None, dotenv=None, aliases=False, workers=2):
        base = Path(base)
        self.name = name
        self.moto = moto
        self.outside_dir = base / f"{name}-data"
        self.tmpdir = base / f"{name}-tmp"
        self.workdir = base / f"{name}-cwd"
        self.dotenv = dotenv  # text of a .env in the working directory
        self.extra_env = dict(env or {})
        overrides = {"LOCAL_STORAGE_DIR": str(storage_dir or self.outside_dir / "store"), "TMPDIR": str(self.tmpdir),
                     "THREADS": "4"}
        if moto:
            overrides.update(AWS_ACCESS_KEY_ID=moto.access_key_id, AWS_SECRET_ACCESS_KEY=moto.secret_access_key)
            if aliases:  # the bucket, region and endpoint by their alias variables
                overrides.update(STUDY_BUDDY_BUCKET_NAME=moto.bucket, AWS_DEFAULT_REGION=moto.region,
                                 AWS_ENDPOINT_URL=moto.endpoint)
            else:
                overrides.update(AWS_S3_BUCKET_NAME=moto.bucket, AWS_REGION=moto.region,
                                 AWS_ENDPOINT_URL_S3=moto.endpoint)
        super().__init__(base / f"{name}-run", env={**overrides, **self.extra_env}, workers=workers, cwd=self.workdir)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._tokens = {}
        self._s3 = None

    @property
    def mode(self):
        return self.extra_env.get("STORAGE", "LOCAL")

    @property
    def bucket(self):
        return self.moto.bucket if self.moto else None

    def start(self, timeout=60.0):
        for d in (self.storage_dir, self.tmpdir, self.workdir):
            d.mkdir(parents=True, exist_ok=True)
        if self.dotenv is not None:
            (self.workdir / ".env").write_text(self.dotenv)
        return super().start(timeout)

    # -- tokens

    @property
    def issuer_dir(self):
        return self.run_dir / "dev-issuer"

    def token(self, sub):
        if sub not in self._tokens:
            result = subprocess.run([str(BIN), "token", "--sub", sub, "--dir", str(self.issuer_dir)],
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, result.stderr
            self._tokens[sub] = result.stdout.strip()
        return self._tokens[sub]

    def client(self, sub=None):
        sub = sub or unique()
        return Client(self, sub, self.token(sub))

    def forger(self):
        return TokenForger.dev_issuer(self.issuer_dir, self.token("forger-template"))

    # -- what the backends hold, by key (API.md's storage layout)

    def local_path(self, key):
        return self.storage_dir / key

    def local_keys(self, prefix=""):
        keys = []
        for path in self.storage_dir.rglob("*"):
            if path.is_file():
                key = path.relative_to(self.storage_dir).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def s3(self):
        if self._s3 is None:
            self._s3 = self.moto.client()
        return self._s3

    def s3_keys(self, prefix=""):
        keys = []
        for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket=self.moto.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def keys(self, prefix=""):
        """The keys the active store holds under prefix."""
        return self.s3_keys(prefix) if self.mode == "S3" else self.local_keys(prefix)

    def read(self, key):
        """An object of the active store, or None."""
        if self.mode == "S3":
            try:
                return self.s3().get_object(Bucket=self.moto.bucket, Key=key)["Body"].read()
            except self.s3().exceptions.NoSuchKey:
                return None
        path = self.local_path(key)
        return path.read_bytes() if path.exists() else None

    def write(self, key, data, content_type="application/octet-stream"):
        """Puts an object straight into the active store, as an older deployment or
        another tool would have."""
        if isinstance(data, str):
            data = data.encode()
        if self.mode == "S3":
            self.s3().put_object(Bucket=self.moto.bucket, Key=key, Body=data, ContentType=content_type)
        else:
            write_local(self.storage_dir, key, data)

    def write_recording(self, user, session, created_at, audio=None, extra=None):
        """A whole recording written straight into the active store."""
        audio = audio if audio is not None else wav(0.25)
        prefix = f"user_recordings/{user}/{session}/"
        self.write(prefix + "audio.wav", audio, "audio/wav")
        self.write(prefix + "transcript.txt", b"hello", "text/plain; charset=utf-8")
        metadata = {"session_id": session, "user_id": user, "name": session, "created_at": created_at, "duration": 0.25,
                    "tags": [], "notes": "", "audio_key": prefix + "audio.wav", "audio_content_type": "audio/wav",
                    "audio_bytes": len(audio), "audio_sha256": sha256_hex(audio), "transcript_key": prefix + "transcript.txt",
                    "transcript_bytes": 5, "storage": "s3" if self.mode == "S3" else "local", **(extra or {})}
        self.write(prefix + "session_metadata.json", json.dumps(metadata), "application/json")
        return metadata

    def worker_peak_rss(self):
        """Peak resident memory (bytes) of each responder worker process."""
        peaks = {}
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) * 1024
        return peaks

    def outside_files(self):
        """Every file under the directory around LOCAL_STORAGE_DIR (the store included)."""
        return sorted(p.relative_to(self.outside_dir).as_posix() for p in self.outside_dir.rglob("*") if p.is_file())

    def stray_files(self):
        """Files that are not API.md's layout: temporary files left behind, or writes
        outside the layout. Looks in the local store, TMPDIR and nginx's body buffers."""
        stray = [k for k in self.local_keys() if not LAYOUT.match(k)]
        stray += [str(p) for p in self.tmpdir.rglob("*") if p.is_file()]
        stray += [str(p) for p in (self.run_dir / "tmp").rglob("*") if p.is_file()]
        return stray


def write_local(root, key, data):
    path = Path(root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ---------------------------------------------------------------------------
# Tokens


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenForger:
    """Tokens made here rather than by `recstore token`: with the dev issuer's key but
    wrong claims, or wrong algorithms, keys and signatures."""

    def __init__(self, private_key, kid, issuer, audience):
        self.private_key = private_key
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        self.public_pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def dev_issuer(cls, issuer_dir, template_token):
        """The dev issuer's key, kid, issuer and audience (the last three read from a token it made)."""
        key = serialization.load_pem_private_key((Path(issuer_dir) / "private.pem").read_bytes(), None)
        header, claims = (json.loads(b64url_decode(p)) for p in template_token.split(".")[:2])
        return cls(key, header["kid"], claims["iss"], claims["aud"])

    def claims(self, subject, **overrides):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": subject, "iat": now, "exp": now + 600}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, subject, header=None, key=None, alg="RS256", **claim_overrides):
        """claim_overrides: claims to change (`sub` too); None drops a claim."""
        head = {"alg": alg, "typ": "JWT", "kid": self.kid}
        head.update(header or {})
        head = {k: v for k, v in head.items() if v is not None}
        signing_input = (b64url(json.dumps(head).encode()) + "." +
                         b64url(json.dumps(self.claims(subject, **claim_overrides)).encode())).encode()
        if alg == "none":
            return signing_input.decode() + "."
        if alg.startswith("HS"):
            mac = hmac.HMAC(key or self.public_pem, hashes.SHA256())
            mac.update(signing_input)
            return signing_input.decode() + "." + b64url(mac.finalize())
        digest = {"RS384": hashes.SHA384(), "RS512": hashes.SHA512()}.get(alg, hashes.SHA256())
        if alg.startswith("PS"):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            signature = (key or self.private_key).sign(signing_input, pss, hashes.SHA256())
            return signing_input.decode() + "." + b64url(signature)
        signature = (key or self.private_key).sign(signing_input, padding.PKCS1v15(), digest)
        return signing_input.decode() + "." + b64url(signature)

    @staticmethod
    def other_key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# ---------------------------------------------------------------------------
# HTTP


def check_response(response):
    """What API.md's conventions promise of every response."""
    path = response.request.path_url
    where = f"{response.request.method} {path if len(path) < 200 else path[:200] + '…'} → {response.status_code}"
    assert response.headers.get("X-Request-ID", "").strip(), f"{where}: no X-Request-ID"
    status = response.status_code
    if status in JSON_ERROR_STATUSES and response.request.method != "HEAD":  # a HEAD answer has no body
        assert response.headers.get("Content-Type", "").startswith("application/json"), \
            f"{where}: error Content-Type {response.headers.get('Content-Type')!r}"
        body = response.json()
        assert isinstance(body, dict) and list(body) == ["detail"], f"{where}: error body {body!r}"
        assert isinstance(body["detail"], str) and body["detail"].strip(), f"{where}: detail {body['detail']!r}"
    assert status != 500, f"{where}: a 500 ({response.text})"
    if status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), \
            f"{where}: WWW-Authenticate {response.headers.get('WWW-Authenticate')!r}"
    if status == 405:
        assert response.headers.get("Allow", "").strip(), f"{where}: no Allow"
    if status == 503:
        assert response.headers.get("Retry-After", "").strip(), f"{where}: no Retry-After"
    # And what docs/openapi.yaml says of this route and status (schema, required headers).
    openapi_oracle.check(response)


class Client:
    """A caller with a token for `sub`, talking to a stack through nginx."""

    def __init__(self, stack, sub, token):
        self.stack = stack
        self.sub = sub
        self.token = token
        self.session = plain_session()

    def request(self, method, path, token=..., headers=None, **kwargs):
        headers = dict(headers or {})
        token = self.token if token is ... else token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.session.request(method, self.stack.base_url + path, headers=headers, allow_redirects=False,
                                        timeout=120, **kwargs)
        check_response(response)
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def save(self, audio=None, transcript=None, metadata=None, session_id=None, user_id=None, parts=None, **kw):
        """POST save_recording_details with the parts given (None: part left out)."""
        fields = []
        if audio is not None:
            fields.append(("audio", audio if isinstance(audio, File) else File("recording.bin", audio)))
        for name, value in (("transcript", transcript), ("session_id", session_id), ("user_id", user_id)):
            if value is not None:
                fields.append((name, value))
        if metadata is not None:
            fields.append(("metadata", metadata if isinstance(metadata, (str, bytes)) else json.dumps(metadata)))
        fields += parts or []
        body, content_type = multipart(fields)
        headers = {"Content-Type": content_type, **kw.pop("headers", {})}
        return self.post("/api/v1/save_recording_details", data=body, headers=headers, **kw)

    def recording_path(self, session, user=None):
        return f"/api/v1/recordings/{quote(user or self.sub)}/{quote(session)}"

    def list(self, user=None, query=""):
        return self.get(f"/api/v1/user_recordings/{quote(user or self.sub)}{query}")


def plain_session():
    """requests without any proxy from the environment: everything here is on loopback."""
    session = requests.Session()
    session.trust_env = False
    return session


def quote(segment):
    return requests.utils.quote(segment, safe="")


class File:
    def __init__(self, filename, content, content_type="application/octet-stream"):
        self.filename = filename
        self.content = content
        self.content_type = content_type


def multipart(fields, boundary=None):
    """A multipart/form-data body; values are str/bytes (text parts) or File."""
    boundary = boundary or "----contract" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, File):
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{value.filename}"\r\n'
                    f"Content-Type: {value.content_type}\r\n\r\n").encode()
            out += value.content
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value.encode() if isinstance(value, str) else value
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def raw_http(port, request_bytes, timeout=10):
    """Sends bytes as they are; returns (status, headers with lower-case names, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request_bytes)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body


# ---------------------------------------------------------------------------
# Audio of every accepted format, and bytes that are not audio


def wav(seconds=1.0, rate=8000, channels=1, bits=16):
    frames = int(seconds * rate)
    block = channels * bits // 8
    data = bytes(frames * block)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" +
            b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)


AUDIO_SAMPLES = {
    "wav": (wav(0.5), "audio/wav"),
    "webm": (bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + bytes(200), "audio/webm"),
    "ogg": (b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis" + bytes(200), "audio/ogg"),
    "mp3": (b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400), "audio/mpeg"),
    "m4a": (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom\x00\x00\x00\x00" + bytes(200), "audio/mp4"),
    "flac": (b"fLaC\x00\x00\x00\x22" + bytes(34) + bytes(200), "audio/flac"),
}

NOT_AUDIO = {
    "text": b"just some text, not a recording\n" * 10,
    "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(100),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100),
    "empty": b"",
    "riff-avi": b"RIFF\x24\x00\x00\x00AVI LIST" + bytes(100),
}


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--moto-serve" and sys.argv[4:] in ([], ["--stock"]):
        serve_clocked_moto(int(sys.argv[2]), sys.argv[3], stock=sys.argv[4:] == ["--stock"])
    else:
        sys.exit("usage: contract_support.py --moto-serve PORT CLOCK_FILE [--stock]")
