"""Resumable uploads (tus 1.0.0) under /api/v1/uploads, from outside, with a stock client
(tuspy) and raw requests, in LOCAL and S3 mode (moto with signature checks)."""
import hashlib
import io
import json
import socket
import threading
import time

import pytest
import requests
from tusclient import client as tus_client

from conftest import wait_until
from contract_support import Stack, sha256_hex, unique, wav
from moto_server import MotoS3

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
UPLOADS = "/api/v1/uploads"
S3_PREFIX = "tus_uploads/"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("tus")


@pytest.fixture(scope="module")
def moto():
    with MotoS3(bucket="recstore-tus") as server:
        yield server


def make(base, moto, mode, name, env=None):
    env = dict(env or {})
    if mode == "S3":
        env["STORAGE"] = "S3"
        env.setdefault("S3_FALLBACK_TO_LOCAL", "false")
    return Stack(name, base, env=env, moto=moto if mode == "S3" else None)


@pytest.fixture(scope="module", params=["LOCAL", "S3"])
def stack(request, base, moto):
    s = make(base, moto, request.param, f"tus-{request.param.lower()}")
    s.start()
    yield s
    s.stop()


def tus_headers(client, **extra):
    return {**TUS, "Authorization": f"Bearer {client.token}", **extra}


def create(client, length, **headers):
    r = client.post(UPLOADS, headers={**TUS, "Upload-Length": str(length), **headers})
    assert r.status_code == 201, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Location"].startswith(UPLOADS + "/")
    return r.headers["Location"]


def head(client, location, **kw):
    return client.request("HEAD", location, headers=TUS, **kw)


def patch(client, location, offset, data, **headers):
    return client.request("PATCH", location, data=data, headers={
        **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **headers})


def upload_id(location):
    return location.rsplit("/", 1)[1]


def leftovers(stack, location=None):
    """What the store still holds of uploads (all, or one): helper objects or files,
    and in S3 multipart uploads in progress."""
    ident = upload_id(location) if location else ""
    if stack.mode == "S3":
        left = [k for k in stack.s3_keys(S3_PREFIX) if ident in k]
        multipart = stack.s3().list_multipart_uploads(Bucket=stack.bucket, Prefix=S3_PREFIX).get("Uploads", [])
        left += ["multipart:" + u["Key"] for u in multipart if ident in u["Key"]]
        return left
    directory = stack.storage_dir / ".uploads"
    return sorted(p.name for p in directory.glob("*") if ident in p.name) if directory.exists() else []


def recording_audio(client, session):
    r = client.get(client.recording_path(session) + "/audio")
    assert r.status_code == 200, r.text
    return r.content


def save_by_reference(client, reference, session=None, **parts):
    fields = [("audio_upload", reference)]
    if session:
        fields.append(("session_id", session))
    return client.save(parts=fields, **parts)


def big_wav(size):
    """A WAV of about `size` bytes whose samples are not all alike (so a misplaced
    chunk shows)."""
    rate = 16000
    body = hashlib.sha256(b"seed").digest() * (size // 32 + 1)
    audio = wav(0.0, rate=rate)
    header = bytearray(audio[:44])
    data = body[: size - 44]
    header[4:8] = (36 + len(data)).to_bytes(4, "little")
    header[40:44] = len(data).to_bytes(4, "little")
    return bytes(header) + data


def cut_patch(stack, client, location, offset, data, sent):
    """A PATCH announcing all of `data` that sends only `sent` bytes, then closes."""
    path = location
    head_text = (f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {client.token}\r\n"
                 f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
                 f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", stack.port), timeout=30)
    s.sendall(head_text.encode() + data[:sent])
    return s


# ---------------------------------------------------------------------------


def test_options_needs_no_token(stack):
    r = requests.options(stack.url(UPLOADS), timeout=10)
    assert r.status_code == 204
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Tus-Version"] == "1.0.0"
    assert r.headers["Tus-Extension"] == "creation,creation-with-upload,termination,expiration"
    assert r.headers["Tus-Max-Size"] == "536870912"


def test_tuspy_upload_cut_resume_save(stack):
    client = stack.client()
    original = big_wav(12 * MiB + 12345)
    tus = tus_client.TusClient(stack.url(UPLOADS), headers={"Authorization": f"Bearer {client.token}"})
    # Chunks that are no multiple of S3's 5 MiB minimum part size.
    uploader = tus.uploader(file_stream=io.BytesIO(original), chunk_size=3 * MiB + 1001,
                            metadata={"filename": "lecture.wav"})
    uploader.upload(stop_at=6 * MiB + 2002)
    location = uploader.url[len(stack.base_url):]
    r = head(client, location)
    assert r.status_code == 200
    assert r.headers["Upload-Offset"] == str(6 * MiB + 2002)
    assert r.headers["Upload-Length"] == str(len(original))
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Upload-Metadata"].startswith("filename ")

    # A PATCH whose connection breaks after 1 MiB: what arrived is kept.
    offset = 6 * MiB + 2002
    sock = cut_patch(stack, client, location, offset, original[offset:], MiB)
    if stack.mode == "LOCAL":
        data_file = stack.storage_dir / ".uploads" / (upload_id(location) + ".data")
        wait_until(lambda: data_file.stat().st_size >= offset + MiB, timeout=30)
    sock.close()
    kept = wait_until(lambda: int(head(client, location).headers["Upload-Offset"]) > offset and
                      int(head(client, location).headers["Upload-Offset"]), timeout=30)
    assert kept, "the bytes that arrived before the connection broke were not kept"
    assert offset < kept <= offset + MiB
    if stack.mode == "LOCAL":
        assert kept == offset + MiB

    # A fresh client resumes from the server's offset to the end.
    fresh = tus_client.TusClient(stack.url(UPLOADS), headers={"Authorization": f"Bearer {client.token}"})
    resumed = fresh.uploader(file_stream=io.BytesIO(original), url=stack.url(location), chunk_size=4 * MiB + 7)
    assert resumed.offset == kept
    resumed.upload()
    r = head(client, location)
    assert r.headers["Upload-Offset"] == str(len(original))

    # Saved by reference (by URL); the recording's audio is the original, byte for byte.
    session = unique("s")
    r = save_by_reference(client, stack.url(location), session=session, transcript="hello")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["audio_bytes"] == len(original)
    assert info["audio_content_type"] == "audio/wav"
    assert info["duration"] == pytest.approx((len(original) - 44) / 32000, abs=0.001)
    metadata = json.loads(stack.read(f"user_recordings/{client.sub}/{session}/session_metadata.json"))
    assert metadata["audio_sha256"] == sha256_hex(original)
    assert recording_audio(client, session) == original
    assert head(client, location).status_code == 404
    assert leftovers(stack, location) == []


def test_creation_with_upload_and_save_by_id(stack):
    client = stack.client()
    audio = wav(0.5)
    r = client.post(UPLOADS, data=audio, headers={**TUS, "Upload-Length": str(len(audio)),
                                                 "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(audio))
    assert "GMT" in r.headers["Upload-Expires"]
    location = r.headers["Location"]
    session = unique("s")
    r = save_by_reference(client, upload_id(location), session=session)
    assert r.status_code == 201, r.text
    assert recording_audio(client, session) == audio
    # The save's own rules are unchanged: the same session again is 409, and the
    # upload is gone afterwards anyway.
    assert save_by_reference(client, upload_id(location), session=session).status_code in (404, 409)
    assert head(client, location).status_code == 404


def test_protocol_statuses(stack):
    client = stack.client()
    # 412: Tus-Resumable missing or another version.
    r = client.post(UPLOADS, headers={"Upload-Length": "10"})
    assert r.status_code == 412 and r.headers["Tus-Resumable"] == "1.0.0"
    r = client.post(UPLOADS, headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"})
    assert r.status_code == 412
    # 401 without a token, still a tus answer.
    r = client.post(UPLOADS, token=None, headers={**TUS, "Upload-Length": "10"})
    assert r.status_code == 401 and r.headers["Tus-Resumable"] == "1.0.0"
    # 413: Upload-Length above MAX_UPLOAD_BYTES.
    r = client.post(UPLOADS, headers={**TUS, "Upload-Length": str(536870912 + 1)})
    assert r.status_code == 413
    r = client.post(UPLOADS, headers={**TUS, "Upload-Length": "-1"})
    assert r.status_code == 400
    r = client.post(UPLOADS, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": "bad key value!"})
    assert r.status_code == 400

    location = create(client, 100, **{"Upload-Metadata": "filename YS53YXY=,private"})
    r = head(client, location)
    assert r.headers["Upload-Metadata"] == "filename YS53YXY=,private"
    # 415: a PATCH that is not tus data.
    r = client.request("PATCH", location, data=b"x", headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"})
    assert r.status_code == 415 and r.headers["Tus-Resumable"] == "1.0.0"
    # 409: an offset that is not the stored one.
    r = patch(client, location, 5, b"hello")
    assert r.status_code == 409
    assert patch(client, location, 0, b"0123456789").headers["Upload-Offset"] == "10"
    assert patch(client, location, 0, b"0123456789").status_code == 409
    # 413: a PATCH that would pass Upload-Length changes nothing.
    r = patch(client, location, 10, bytes(91))
    assert r.status_code == 413
    assert head(client, location).headers["Upload-Offset"] == "10"
    r = patch(client, location, 10, bytes(90))
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "100"
    assert "GMT" in r.headers["Upload-Expires"]
    # 404: unknown ids, malformed ids, another caller's upload.
    assert head(client, UPLOADS + "/" + "0" * 32).status_code == 404
    assert head(client, UPLOADS + "/not-an-id").status_code == 404
    other = stack.client()
    assert head(other, location).status_code == 404
    assert patch(other, location, 100, b"").status_code == 404
    assert other.request("DELETE", location, headers=TUS).status_code == 404
    assert save_by_reference(other, location).status_code == 404
    # Not audio: sniffed like an audio part.
    assert save_by_reference(client, location).status_code == 415
    assert head(client, location).status_code == 200


def test_ids_are_unguessable(stack):
    client = stack.client()
    ids = {upload_id(create(client, 1)) for _ in range(3)}
    assert len(ids) == 3
    for ident in ids:
        assert len(ident) >= 32 and int(ident, 16) >= 0  # 128 bits of hex


def test_saving_an_incomplete_upload_is_409(stack):
    client = stack.client()
    audio = wav(0.5)
    location = create(client, len(audio))
    assert patch(client, location, 0, audio[:100]).status_code == 204
    r = save_by_reference(client, location)
    assert r.status_code == 409, r.text
    assert head(client, location).headers["Upload-Offset"] == "100"


def test_termination(stack):
    client = stack.client()
    location = create(client, 6 * MiB)
    assert patch(client, location, 0, bytes(5 * MiB + 3)).status_code == 204
    r = client.request("DELETE", location, headers=TUS)
    assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
    assert head(client, location).status_code == 404
    assert patch(client, location, 5 * MiB + 3, b"x").status_code == 404
    assert leftovers(stack, location) == []


def test_racing_patches_one_wins(stack):
    client = stack.client()
    data = bytes(range(256)) * (8 * 1024)  # 2 MiB
    location = create(client, len(data))
    # A holds the upload: its body is half sent when B arrives at the same offset.
    sock = cut_patch(stack, client, location, 0, data, MiB)
    r_b = patch(client, location, 0, data)
    try:
        sock.sendall(data[MiB:])
    except OSError:
        pass  # A was refused and its connection closed before the rest was sent
    status_a = int(sock.recv(4096).split(b" ", 2)[1])
    sock.close()
    statuses = sorted([status_a, r_b.status_code])
    assert statuses == [204, 409], statuses
    r = head(client, location)
    assert r.headers["Upload-Offset"] == str(len(data))


def test_worker_memory_stays_flat(stack):
    """256 MiB in 8 MiB PATCHes: worker RSS grows by less than 4 MiB."""
    client = stack.client()
    chunk = bytes(range(256)) * (32 * 1024)  # 8 MiB
    warm = create(client, 2 * len(chunk))
    for i in range(2):
        assert patch(client, warm, i * len(chunk), chunk).status_code == 204

    def rss():
        total = {}
        for pid in stack.worker_pids():
            for line in open(f"/proc/{pid}/status").read().splitlines():
                if line.startswith("VmRSS:"):
                    total[pid] = int(line.split()[1]) * 1024
        return total

    before = rss()
    total = 256 * MiB
    location = create(client, total)
    for offset in range(0, total, len(chunk)):
        r = patch(client, location, offset, chunk)
        assert r.status_code == 204, r.text
    after = rss()
    growth = max(after[pid] - before.get(pid, after[pid]) for pid in after)
    assert growth < 4 * MiB, (before, after)
    assert client.request("DELETE", location, headers=TUS).status_code == 204
    assert client.request("DELETE", warm, headers=TUS).status_code == 204


@pytest.mark.parametrize("mode", ["LOCAL", "S3"])
def test_expiry(base, moto, mode):
    s = make(base, moto, mode, f"tus-expiry-{mode.lower()}", env={"UPLOAD_EXPIRY_SECONDS": "2"})
    s.start()
    try:
        client = s.client()
        location = create(client, 6 * MiB)
        r = patch(client, location, 0, bytes(5 * MiB + 1))
        assert r.status_code == 204
        expires = r.headers["Upload-Expires"]
        assert expires.endswith(" GMT")
        untouched = create(client, 10)  # never patched: reclaimed by the sweep alone
        assert wait_until(lambda: head(client, location).status_code == 404, timeout=30)
        assert save_by_reference(client, location).status_code == 404
        # The sweep reclaims both (the bucket is shared with other tests' uploads).
        gone = lambda: leftovers(s, location) == [] and leftovers(s, untouched) == []
        assert wait_until(gone, timeout=60), (leftovers(s, location), leftovers(s, untouched))
        assert head(client, untouched).status_code == 404
    finally:
        s.stop()


def test_s3_outage_is_503_and_the_offset_stays_true(base, moto):
    """S3 unreachable during a PATCH: 503 with Retry-After, never a wrong offset; the
    upload continues once S3 is back."""
    from s3_proxy import S3Proxy

    with S3Proxy(moto.port) as proxy:
        # The circuit breaker stays off in this test (test_s3_faults covers it): opened in
        # one worker by the outage's failed attempts, it would answer that worker's next
        # reads 503 for its cool-down, after S3 is back.
        s = Stack("tus-outage", base, env={"STORAGE": "S3", "S3_FALLBACK_TO_LOCAL": "false",
                                           "AWS_ENDPOINT_URL_S3": proxy.endpoint,
                                           "S3_BREAKER_FAILURES": "0"}, moto=moto)
        s.start()
        try:
            client = s.client()
            original = big_wav(7 * MiB)
            location = create(client, len(original))
            assert patch(client, location, 0, original[:6 * MiB]).status_code == 204
            proxy.cut()
            r = patch(client, location, 6 * MiB, original[6 * MiB:])
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] and r.headers["Tus-Resumable"] == "1.0.0"
            assert head(client, location).status_code == 503
            proxy.restore()
            assert head(client, location).headers["Upload-Offset"] == str(6 * MiB)
            assert patch(client, location, 6 * MiB, original[6 * MiB:]).status_code == 204
            session = unique("s")
            assert save_by_reference(client, location, session=session).status_code == 201
            assert recording_audio(client, session) == original
            assert leftovers(s, location) == []
        finally:
            proxy.restore()
            s.stop()
