"""`recstore sync` against a real S3 API server (moto, signature checks on): local
recordings and settings end up in the bucket byte for byte, and only then leave the
local directory; a conflict, an unfinished save or an unreachable bucket leaves them."""

import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from recstore_cli import base_env, cli_fixtures, dev_issuer_env, empty_bucket, run, s3_env


moto, recstore, env = cli_fixtures("recstore-sync")


def wav(seconds_tag, size=2048):
    body = (seconds_tag.encode() * size)[:size]
    return b"RIFF" + (36 + len(body)).to_bytes(4, "little") + b"WAVE" + body


def save_session(root, user, session, audio=None, metadata=True):
    """A recording as the service leaves it on disk; returns {key: bytes}."""
    prefix = f"user_recordings/{user}/{session}/"
    audio = audio if audio is not None else wav(session)
    transcript = f"transcript of {session}\n".encode()
    objects = {prefix + "audio.wav": audio, prefix + "transcript.txt": transcript}
    if metadata:
        objects[prefix + "session_metadata.json"] = json.dumps({
            "session_id": session, "user_id": user, "name": session, "created_at": "2026-11-21T23:33:39Z",
            "duration": 1.5, "tags": [], "notes": "", "audio_key": prefix + "audio.wav",
            "audio_content_type": "audio/wav", "audio_bytes": len(audio),
            "audio_sha256": hashlib.sha256(audio).hexdigest(), "transcript_key": prefix + "transcript.txt",
            "transcript_bytes": len(transcript), "storage": "local"}).encode()
    for key, data in objects.items():
        path = os.path.join(root, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return objects


def save_settings(root, user, settings):
    key = f"user_settings/{user}/settings.json"
    path = os.path.join(root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = json.dumps(settings).encode()
    with open(path, "wb") as f:
        f.write(data)
    return {key: data}


def bucket_objects(moto):
    client = moto.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=moto.bucket):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = client.get_object(Bucket=moto.bucket, Key=obj["Key"])["Body"].read()
    return found


def local_files(root):
    found = []
    for directory, _, files in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, f), root) for f in files]
    return sorted(found)


def test_moves_recordings_and_settings(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    expected = {}
    expected.update(save_session(root, "auth0|abc", "20261121T233339Z-1a2b3c4d"))
    expected.update(save_session(root, "auth0|abc", "standup.2", audio=wav("x", 300_000)))
    expected.update(save_session(root, "google-oauth2|1034", "s1"))
    expected.update(save_settings(root, "auth0|abc", {"macro_phrases": ["hi"], "custom_vocabulary": [], "transcription_profiles": []}))
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert bucket_objects(moto) == expected
    assert local_files(root) == []
    assert "moved user_recordings/auth0|abc/standup.2/ (3 objects, 3 copied)" in p.stdout
    assert "moved user_settings/auth0|abc/ (1 objects, 1 copied)" in p.stdout
    assert p.stdout.splitlines()[-1] == "recstore sync: 4 moved, 0 already in the bucket, 0 skipped, 0 failed"
    head = moto.client().head_object(Bucket=moto.bucket, Key="user_recordings/auth0|abc/s1/audio.wav".replace("auth0|abc", "google-oauth2|1034"))
    assert head["ContentType"] == "audio/wav"

    # Nothing left: a second run has nothing to do.
    again = run(recstore, ["sync"], env, tmp_path)
    assert again.returncode == 0
    assert again.stdout.splitlines()[-1] == "recstore sync: 0 moved, 0 already in the bucket, 0 skipped, 0 failed"


def test_picks_up_where_an_interrupted_run_stopped(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    partial = save_session(root, "u1", "half-copied")
    complete = save_session(root, "u1", "fully-copied")
    client = moto.client()
    # An earlier run copied the audio of one recording, and all of the other but
    # was stopped before it removed the local copy.
    client.put_object(Bucket=moto.bucket, Key="user_recordings/u1/half-copied/audio.wav",
                      Body=partial["user_recordings/u1/half-copied/audio.wav"])
    for key, data in complete.items():
        client.put_object(Bucket=moto.bucket, Key=key, Body=data)
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "moved user_recordings/u1/half-copied/ (3 objects, 2 copied)" in p.stdout
    assert "removed user_recordings/u1/fully-copied/: already complete in the bucket, local copy deleted" in p.stdout
    assert bucket_objects(moto) == {**partial, **complete}
    assert local_files(root) == []


def test_finishes_a_removal_that_a_killed_run_left_half_done(recstore, env, tmp_path, moto):
    # The state a run killed between deleting the local metadata and the rest leaves:
    # the bucket holds the recording complete, the disk its audio and transcript only.
    root = env["LOCAL_STORAGE_DIR"]
    objects = save_session(root, "u3", "moved")
    client = moto.client()
    for key, data in objects.items():
        client.put_object(Bucket=moto.bucket, Key=key, Body=data)
    os.remove(os.path.join(root, "user_recordings/u3/moved/session_metadata.json"))
    # A local recording without metadata whose bytes differ from the bucket's is an
    # unfinished save, not a leftover: it stays.
    unfinished = save_session(root, "u3", "other", metadata=False)
    client.put_object(Bucket=moto.bucket, Key="user_recordings/u3/other/session_metadata.json", Body=b"{}")
    client.put_object(Bucket=moto.bucket, Key="user_recordings/u3/other/audio.wav", Body=b"RIFF-different")

    p = run(recstore, ["sync"], env, tmp_path)
    assert "removed user_recordings/u3/moved/: already complete in the bucket, local copy deleted" in p.stdout, p.stdout
    assert "skipped user_recordings/u3/other/: no session_metadata.json (an unfinished save); left in place" in p.stdout
    assert local_files(root) == sorted(unfinished)
    assert {k: v for k, v in bucket_objects(moto).items() if "/moved/" in k} == objects


def test_killed_mid_run_then_run_again(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    expected = {}
    for i in range(12):
        expected.update(save_session(root, "u2", f"s{i:02d}", audio=wav(str(i), 200_000)))
    process = subprocess.Popen([recstore, "sync"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Whatever the kill interrupted: every recording is complete in one place or the other.
    in_bucket = bucket_objects(moto)
    for i in range(12):
        prefix = f"user_recordings/u2/s{i:02d}/"
        local_complete = os.path.exists(os.path.join(root, prefix, "session_metadata.json"))
        bucket_complete = prefix + "session_metadata.json" in in_bucket
        assert local_complete or bucket_complete, prefix
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert bucket_objects(moto) == expected
    assert local_files(root) == []


def test_conflict_is_left_in_place(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    mine = save_session(root, "u3", "clash")
    other = save_session(root, "u3", "fine")
    moto.client().put_object(Bucket=moto.bucket, Key="user_recordings/u3/clash/audio.wav", Body=b"RIFF....WAVEdifferent")
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 1
    assert "FAILED user_recordings/u3/clash/: the bucket already holds a different audio.wav" in p.stdout
    assert "left in place" in p.stdout
    assert sorted(local_files(root)) == sorted(mine)
    assert bucket_objects(moto) == {**other, "user_recordings/u3/clash/audio.wav": b"RIFF....WAVEdifferent"}
    assert p.stdout.splitlines()[-1] == "recstore sync: 1 moved, 0 already in the bucket, 0 skipped, 1 failed"


def test_unfinished_save_is_skipped(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    unfinished = save_session(root, "u4", "no-metadata", metadata=False)
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 0, p.stdout
    assert "skipped user_recordings/u4/no-metadata/: no session_metadata.json (an unfinished save); left in place" in p.stdout
    assert local_files(root) == sorted(unfinished)
    assert bucket_objects(moto) == {}


def test_dry_run_changes_nothing(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    objects = save_session(root, "u5", "s")
    p = run(recstore, ["sync", "--dry-run"], env, tmp_path)
    assert p.returncode == 0, p.stdout
    assert "would move user_recordings/u5/s/ (3 objects, 3 to copy)" in p.stdout
    assert local_files(root) == sorted(objects)
    assert bucket_objects(moto) == {}


def test_wrong_secret_stops_and_keeps_everything(recstore, env, tmp_path, moto):
    root = env["LOCAL_STORAGE_DIR"]
    objects = save_session(root, "u6", "a")
    objects.update(save_session(root, "u6", "b"))
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 1
    assert p.stderr.startswith("recstore sync: the bucket does not answer: the secret access key is wrong"), p.stderr
    assert "SignatureDoesNotMatch" in p.stderr
    assert p.stderr.endswith("; nothing was moved\n")
    assert local_files(root) == sorted(objects)
    assert bucket_objects(moto) == {}


def test_configuration_errors(recstore, env, tmp_path):
    del env["AWS_S3_BUCKET_NAME"]
    env["STORAGE"] = "LOCAL"
    p = run(recstore, ["sync"], env, tmp_path)
    assert p.returncode == 2
    assert p.stderr == "recstore sync: no bucket configured (set AWS_S3_BUCKET_NAME)\n"
    p = run(recstore, ["sync", "--everything"], env, tmp_path)
    assert p.returncode == 64  # a usage error (EX_USAGE), like every subcommand's
    assert "Unknown option '--everything'" in p.stderr
