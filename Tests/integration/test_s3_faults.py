"""S3 misbehaving in every way a network can, through the whole stack (nginx, the
responders, moto behind a fault-injecting relay: s3_proxy.py), with small budgets so
each case takes seconds:

- hang (accepts, never answers), slow (a byte a second), reset, 503 SlowDown bursts:
  every save answers 201 (local fallback) or 503 within its budget, /healthz within a
  second throughout, the circuit breaker opens so the second wave answers at once,
  reads that need S3 get 503 with Retry-After at once, and once S3 is back every
  acknowledged save is readable with its bytes;
- SIGTERM while S3 hangs: the stack stops within the grace period;
- kill -9 of a worker during 24 concurrent saves: every 201 is readable with the same
  bytes, no listed recording lacks its audio, the leftovers are swept.
"""
import hashlib
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import wait_until
from contract_support import Stack, plain_session, quote, unique, wav
from moto_server import MotoS3

SAVE_BUDGET = 3
READ_BUDGET = 2
COOL_DOWN = 3
# Small budgets so every case takes seconds (README: "Deadlines, the breaker and the sweep").
FAST = {"S3_SAVE_BUDGET_SECONDS": str(SAVE_BUDGET), "S3_READ_BUDGET_SECONDS": str(READ_BUDGET),
        "S3_CONNECT_TIMEOUT_SECONDS": "1", "S3_LOW_SPEED_SECONDS": "1", "S3_MAX_ATTEMPTS": "3",
        "S3_BREAKER_FAILURES": "3", "S3_BREAKER_COOLDOWN_SECONDS": str(COOL_DOWN)}
# A save may take its budget, plus the local fallback, on a busy machine.
SAVE_LIMIT = SAVE_BUDGET + 4


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("s3faults")


@pytest.fixture(scope="module")
def moto():
    with MotoS3(bucket="recstore-faults") as server:
        yield server


class HealthWatch:
    """Polls /healthz in the background; every answer must come within a second."""

    def __init__(self, stack):
        self.stack = stack
        self.slow = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        session = plain_session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = session.get(self.stack.url("/healthz"), timeout=5).status_code
            except Exception as e:  # noqa: BLE001 - a failed probe is what we are looking for
                status = repr(e)
            took = time.monotonic() - started
            self.count += 1
            if status != 200 or took >= 1:
                self.slow.append((status, round(took, 2)))
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        wait_until(lambda: self.count >= 3, timeout=10)  # at least a few probes, however quick the phase
        self._stop.set()
        self._thread.join(timeout=10)


def timed_saves(client, audios, session_prefix):
    """Saves every audio at once; returns [(audio, response, seconds)]."""
    def one(item):
        i, audio = item
        started = time.monotonic()
        r = client.save(audio=audio, transcript=f"t{i}", session_id=f"{session_prefix}-{i}")
        return audio, r, time.monotonic() - started

    with ThreadPoolExecutor(len(audios)) as pool:
        return list(pool.map(one, enumerate(audios)))


def breaker_opened(stack):
    return any(r.get("msg") == "S3 circuit breaker opened" for r in stack.log_records())


@pytest.mark.parametrize("mode", ["hang", "slow", "reset", "slowdown"])
def test_a_failing_s3_degrades_within_budgets_and_loses_no_acknowledged_save(base, moto, proxy, stacks, mode):
    # One worker: one breaker, so "the breaker opens" is one process's state. Threads
    # to spare beyond the 8 saves at once: /healthz must not wait for a free one (a
    # pool exhausted by slow clients is another matter, bounded at the edge).
    stack = stacks(Stack(f"faults-{mode}", base, {"STORAGE": "S3", "AWS_ENDPOINT_URL_S3": proxy.endpoint, **FAST,
                                                  "THREADS": "12"}, moto=moto, workers=1))
    client = stack.client()
    before = client.save(audio=wav(0.2), session_id="before")
    assert before.status_code == 201 and before.json()["storage"] == "s3", before.text
    acknowledged = {"before": wav(0.2)}

    proxy.set_mode(mode)
    with HealthWatch(stack) as health:
        first = timed_saves(client, [wav(0.1 + 0.01 * i) for i in range(8)], "first")
        for audio, r, took in first:
            assert r.status_code in (201, 503), r.text
            assert took < SAVE_LIMIT, f"{mode}: a save took {took:.1f} s"
            if r.status_code == 201:
                acknowledged[r.json()["session_id"]] = audio
                assert r.json()["storage"] == "local", r.text
        assert wait_until(lambda: breaker_opened(stack), timeout=10), "the breaker never opened"

        second = timed_saves(client, [wav(0.2 + 0.01 * i) for i in range(8)], "second")
        for audio, r, took in second:
            assert r.status_code == 201, r.text
            assert r.json()["storage"] == "local"
            assert took < 2.5, f"{mode}: with the breaker open a save took {took:.1f} s"
            acknowledged[r.json()["session_id"]] = audio

        # A read that needs S3: refused at once, with when to come back.
        started = time.monotonic()
        r = client.list()
        assert r.status_code == 503, r.text
        assert time.monotonic() - started < 1.5
        assert 1 <= int(r.headers["Retry-After"]) <= COOL_DOWN
        # The host stays in rotation: the fallback takes the saves.
        ready = plain_session().get(stack.url("/readyz"), timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["warnings"] and "s3 unreachable" in ready.json()["warnings"][0]
        assert proxy.endpoint.split("//")[1] not in ready.text and moto.bucket not in ready.text
    assert health.count >= 3 and health.slow == [], f"/healthz slow or failing: {health.slow}"

    proxy.set_mode("pass")
    # After the cool-down one probe closes the breaker.
    assert wait_until(lambda: client.list().status_code == 200, timeout=COOL_DOWN + 15, interval=0.5)
    listed = {info["session_id"]: info for info in client.list(query="?limit=100").json()}
    for session, audio in acknowledged.items():
        assert session in listed, f"{mode}: acknowledged save {session} not listed"
        r = client.get(listed[session]["audio_url"])
        assert r.status_code == 200 and r.content == audio, f"{mode}: {session}"
    for info in listed.values():
        assert client.get(info["audio_url"]).status_code == 200, f"listed without its audio: {info['session_id']}"


def test_sigterm_stops_the_stack_within_the_grace_period_while_s3_hangs(base, moto, proxy, stacks):
    stack = stacks(Stack("faults-sigterm", base, {"STORAGE": "S3", "AWS_ENDPOINT_URL_S3": proxy.endpoint, **FAST,
                                                  "S3_FALLBACK_TO_LOCAL": "false"}, moto=moto))
    client = stack.client()
    proxy.set_mode("hang")
    pool = ThreadPoolExecutor(4)
    futures = [pool.submit(client.save, audio=wav(0.1), session_id=f"term-{i}") for i in range(4)]
    assert wait_until(lambda: proxy.connections >= 1, timeout=10), "no save reached S3"
    started = time.monotonic()
    assert stack.stop(timeout=25) == 0
    took = time.monotonic() - started
    assert took < SAVE_BUDGET + 10, f"stopping took {took:.1f} s"
    for f in futures:
        try:
            status = f.result(timeout=30).status_code
        except Exception:  # noqa: BLE001 - the connection may go with the stack
            continue
        assert status in (503, 502), status
    pool.shutdown()


def test_kill_9_of_a_worker_during_24_saves_loses_no_acknowledged_save_and_leaves_nothing(base, moto, stacks):
    # Leftovers count after 2 s, the sweep runs every 2 s; a recording's multipart
    # upload is stale after max(orphan age, save budget + 1 s per MiB of the largest
    # upload) + 10 s = 3 + 7 + 10 = 20 s.
    stack = stacks(Stack("faults-kill", base, {"STORAGE": "S3", "ORPHAN_AGE_SECONDS": "2", "SWEEP_INTERVAL_SECONDS": "2",
                                               "S3_SAVE_BUDGET_SECONDS": "3", "MAX_UPLOAD_BYTES": str(7 * 1024 * 1024),
                                               "S3_MULTIPART_THRESHOLD": str(5 * 1024 * 1024),
                                               "S3_PART_SIZE": str(5 * 1024 * 1024)}, moto=moto))
    client = stack.client()
    user = client.sub
    s3 = stack.s3()
    # Incomplete multipart uploads: one of a recording (as a killed save leaves it),
    # one elsewhere (as resumable uploads keep theirs open on purpose).
    stale = s3.create_multipart_upload(Bucket=moto.bucket, Key=f"user_recordings/{user}/stale/audio.wav")["UploadId"]
    kept = s3.create_multipart_upload(Bucket=moto.bucket, Key=f"uploads/{user}/resumable")["UploadId"]
    created = time.monotonic()

    audios = [wav(2.0 + 0.25 * i) for i in range(24)]
    audios[0] = wav(400.0)  # 6.4 MB: a multipart upload among them
    victim = stack.worker_pids()[0]

    def one(i):
        try:
            return i, client.save(audio=audios[i], session_id=f"kill-{i}")
        except Exception as e:  # noqa: BLE001 - a connection cut by the kill
            return i, e

    with ThreadPoolExecutor(24) as pool:
        futures = [pool.submit(one, i) for i in range(24)]
        # Kill once objects are being written, so some saves die half-way.
        wait_until(lambda: stack.s3_keys(f"user_recordings/{user}/kill-"), timeout=30, interval=0.01)
        os.kill(victim, signal.SIGKILL)
        results = [f.result(timeout=120) for f in futures]

    acknowledged = {i: r for i, r in results if not isinstance(r, Exception) and r.status_code == 201}
    assert acknowledged, "no save succeeded"
    for i, r in results:
        if not isinstance(r, Exception):
            assert r.status_code in (201, 502, 503), (i, r.status_code, r.text)
    assert wait_until(lambda: len(stack.worker_pids()) == 2, timeout=20), "the killed worker was not replaced"

    for i, r in acknowledged.items():
        got = client.get(r.json()["audio_url"])
        assert got.status_code == 200 and got.content == audios[i], f"kill-{i}"
    listed = client.list(query="?limit=100").json()
    assert {f"kill-{i}" for i in acknowledged} <= {info["session_id"] for info in listed}
    for info in listed:
        got = client.get(info["audio_url"])
        assert got.status_code == 200, f"listed without its audio: {info['session_id']}"
        key = f"user_recordings/{user}/{info['session_id']}/session_metadata.json"
        stored = (s3.get_object(Bucket=moto.bucket, Key=key)["Body"].read() if info["storage"] == "s3"
                  else stack.local_path(key).read_bytes())
        assert hashlib.sha256(got.content).hexdigest() == json.loads(stored)["audio_sha256"], info["session_id"]

    def leftovers():
        keys = set(stack.s3_keys(f"user_recordings/{user}/")) | set(stack.local_keys(f"user_recordings/{user}/"))
        groups = {k.rsplit("/", 1)[0] for k in keys}
        uncommitted = sorted(g for g in groups if f"{g}/session_metadata.json" not in keys)
        uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=moto.bucket).get("Uploads", [])
                   if u["Key"].startswith("user_recordings/")]
        temporary = [str(p) for p in stack.storage_dir.rglob(".~tmp.*")]
        return uncommitted + uploads + temporary

    assert wait_until(lambda: leftovers() == [], timeout=60, interval=0.5), leftovers()
    assert time.monotonic() - created > 19, "the recording's upload was aborted only once stale"
    others = s3.list_multipart_uploads(Bucket=moto.bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in others] == [(f"uploads/{user}/resumable", kept)], \
        "uploads outside user_recordings/ are kept far longer"
    s3.abort_multipart_upload(Bucket=moto.bucket, Key=f"uploads/{user}/resumable", UploadId=kept)
    assert stale


def test_leftovers_of_a_save_that_died_are_replaced_by_the_next_save_not_409_forever(base, moto, stacks):
    stack = stacks(Stack("faults-orphan", base, {"STORAGE": "S3", "ORPHAN_AGE_SECONDS": "1", "SWEEP_INTERVAL_SECONDS": "0"},
                         moto=moto))
    client = stack.client()
    user = client.sub
    # In the bucket: an audio object without metadata, as a kill -9 leaves it.
    stack.s3().put_object(Bucket=moto.bucket, Key=f"user_recordings/{user}/orphan/audio.wav", Body=b"half a save")
    assert client.get(client.recording_path("orphan")).status_code == 404
    audio = wav(0.3)
    r = wait_until(lambda: (lambda r: r if r.status_code == 201 else None)(client.save(audio=audio, session_id="orphan")),
                   timeout=15, interval=0.3)
    assert r is not None, "the leftovers were never replaced"
    assert client.get(r.json()["audio_url"]).content == audio
    assert stack.s3_keys(f"user_recordings/{user}/orphan/") == sorted(
        f"user_recordings/{user}/orphan/{n}" for n in ("audio.wav", "session_metadata.json", "transcript.txt"))

    # On the local disk (a fallback save that died), older than the orphan age: replaced at once.
    leftover = stack.local_path(f"user_recordings/{user}/orphan-local/audio.wav")
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a save")
    old = time.time() - 600
    os.utime(leftover, (old, old))
    r = client.save(audio=audio, session_id="orphan-local")
    assert r.status_code == 201, r.text
    assert not leftover.exists()
    assert client.get(r.json()["audio_url"]).content == audio

    # A committed recording is never replaced, however old.
    again = client.save(audio=wav(0.4), session_id="orphan")
    assert again.status_code == 409, again.text
