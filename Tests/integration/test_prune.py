"""`recstore prune --older-than DAYS [--dry-run]` and `recstore check --suggest-lifecycle`:
retention that is enforced. Recordings whose metadata is older than DAYS go from the
local store and from the bucket (moto, signature checks on), each deletion verified and
reported; newer ones, settings and anything that is not a recording stay."""

import json
import os
import shutil
import subprocess
import time

import pytest

from moto_server import MotoS3
from recstore_cli import base_env, binary, cli_env, empty_bucket, run
from test_sync import bucket_objects, local_files, save_session, save_settings

DAY = 86_400


@pytest.fixture(scope="module")
def recstore():
    return binary()


def backdate(root, user, session, days):
    """The recording's files as if written `days` ago (the metadata's mtime is its age)."""
    then = time.time() - days * DAY
    directory = os.path.join(root, "user_recordings", user, session)
    for name in os.listdir(directory):
        os.utime(os.path.join(directory, name), (then, then))


def local_env(tmp_path, recstore):
    env = base_env(str(tmp_path / "home"))
    env.update({"STORAGE": "LOCAL", "LOCAL_STORAGE_DIR": str(tmp_path / "uploads")})
    return env


def test_local_prune_deletes_exactly_the_old_recordings(recstore, tmp_path):
    env = local_env(tmp_path, recstore)
    root = env["LOCAL_STORAGE_DIR"]
    save_session(root, "auth0|alice", "old", metadata=True)
    save_session(root, "auth0|alice", "recent", metadata=True)
    save_session(root, "auth0|bob", "older", metadata=True)
    save_settings(root, "auth0|alice", {"custom_vocabulary": ["x"]})
    backdate(root, "auth0|alice", "old", 40)
    backdate(root, "auth0|alice", "recent", 20)
    backdate(root, "auth0|bob", "older", 400)
    # Settings are not recordings, however old.
    settings = os.path.join(root, "user_settings", "auth0|alice", "settings.json")
    os.utime(settings, (time.time() - 400 * DAY,) * 2)
    before = local_files(root)

    dry = run(recstore, ["prune", "--older-than", "30", "--dry-run"], env, str(tmp_path))
    assert dry.returncode == 0, dry.stderr
    assert local_files(root) == before
    assert "would delete local user_recordings/auth0|alice/old/" in dry.stdout
    assert "would delete local user_recordings/auth0|bob/older/" in dry.stdout
    assert "recent" not in dry.stdout
    assert "2 recordings to delete" in dry.stdout

    done = run(recstore, ["prune", "--older-than", "30"], env, str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "deleted local user_recordings/auth0|alice/old/ (3 objects" in done.stdout
    assert "deleted local user_recordings/auth0|bob/older/ (3 objects" in done.stdout
    left = local_files(root)
    assert not [f for f in left if "/old/" in f or "/older/" in f], left
    assert sorted(f for f in before if "/old/" not in f and "/older/" not in f) == left
    assert os.path.exists(settings)

    # The threshold is the metadata's age: 20 days is kept at 30, deleted at 10.
    again = run(recstore, ["prune", "--older-than", "30"], env, str(tmp_path))
    assert again.returncode == 0 and "0 recordings deleted" in again.stdout
    ten = run(recstore, ["prune", "--older-than", "10"], env, str(tmp_path))
    assert ten.returncode == 0 and "deleted local user_recordings/auth0|alice/recent/" in ten.stdout
    assert local_files(root) == [os.path.join("user_settings", "auth0|alice", "settings.json")]


def test_prune_refuses_bad_arguments_and_changes_nothing(recstore, tmp_path):
    env = local_env(tmp_path, recstore)
    root = env["LOCAL_STORAGE_DIR"]
    save_session(root, "auth0|alice", "old")
    backdate(root, "auth0|alice", "old", 40)
    before = local_files(root)
    # As recstore-prune.service runs it when PRUNE_OLDER_THAN_DAYS is unset: an empty value.
    for args in ([], ["--older-than"], ["--older-than", ""], ["--older-than", "0"], ["--older-than", "-3"],
                 ["--older-than", "1.5"], ["--older-than", "30", "--force"], ["30"]):
        r = run(recstore, ["prune", *args], env, str(tmp_path))
        # Usage errors exit 64 (EX_USAGE) with the usage line, like every subcommand.
        assert r.returncode == 64, (args, r.stdout, r.stderr)
        assert "Usage: recstore prune" in r.stderr
    bad = dict(env, STORAGE="S3")  # S3 without a bucket: a configuration error
    r = run(recstore, ["prune", "--older-than", "30"], bad, str(tmp_path))
    assert r.returncode == 2 and "AWS_S3_BUCKET_NAME" in r.stderr
    assert local_files(root) == before


def faketime_library():
    out = subprocess.run(["dpkg", "-L", "libfaketime"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.endswith("/libfaketime.so.1"):
            return line
    pytest.fail("libfaketime is missing (Debian package faketime; scripts/install-deps installs it)")


@pytest.fixture(scope="module")
def moto_40_days_ago():
    """moto (signature checks on) whose clock runs 40 days behind: every object put
    there is 40 days old by its LastModified, as S3 would report it. recstore runs on
    the real clock (moto, like S3 at this distance, does not check the request date)."""
    shifted = {"LD_PRELOAD": faketime_library(), "FAKETIME": "-40d", "FAKETIME_DONT_RESET": "1"}
    saved = {k: os.environ.get(k) for k in shifted}
    os.environ.update(shifted)
    try:
        server = MotoS3(bucket="recstore-prune")
        server.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield server
    server.stop()


def test_s3_prune_deletes_old_recordings_in_the_bucket_and_locally(recstore, tmp_path, moto_40_days_ago):
    moto = moto_40_days_ago
    env = cli_env(tmp_path, moto, recstore)
    empty_bucket(moto)
    client = moto.client()
    for session in ("s1", "s2"):
        prefix = f"user_recordings/auth0|alice/{session}/"
        for name, body in (("audio.wav", b"RIFF....WAVE" + session.encode()), ("transcript.txt", b"t"),
                           ("session_metadata.json", json.dumps({"session_id": session}).encode())):
            client.put_object(Bucket=moto.bucket, Key=prefix + name, Body=body)
    client.put_object(Bucket=moto.bucket, Key="user_settings/auth0|alice/settings.json", Body=b"{}")
    ages = [o["LastModified"].timestamp() for o in client.list_objects_v2(Bucket=moto.bucket)["Contents"]]
    assert all(35 * DAY < time.time() - age < 45 * DAY for age in ages), ages
    # A local fallback from the same days (the bucket is not the only store).
    save_session(env["LOCAL_STORAGE_DIR"], "auth0|bob", "fallback")
    backdate(env["LOCAL_STORAGE_DIR"], "auth0|bob", "fallback", 40)

    kept = run(recstore, ["prune", "--older-than", "50"], env, str(tmp_path))
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 recordings deleted" in kept.stdout
    assert len(bucket_objects(moto)) == 7

    dry = run(recstore, ["prune", "--older-than", "30", "--dry-run"], env, str(tmp_path))
    assert dry.returncode == 0 and "would delete s3 user_recordings/auth0|alice/s1/" in dry.stdout, dry.stdout
    assert "would delete local user_recordings/auth0|bob/fallback/" in dry.stdout
    assert len(bucket_objects(moto)) == 7

    done = run(recstore, ["prune", "--older-than", "30"], env, str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    for session in ("s1", "s2"):
        assert f"deleted s3 user_recordings/auth0|alice/{session}/ (3 objects" in done.stdout
    assert "deleted local user_recordings/auth0|bob/fallback/" in done.stdout
    assert "3 recordings deleted, 0 failed" in done.stdout
    assert list(bucket_objects(moto)) == ["user_settings/auth0|alice/settings.json"]
    assert local_files(env["LOCAL_STORAGE_DIR"]) == []


def test_suggest_lifecycle_prints_rules_for_the_bucket(recstore, tmp_path):
    env = local_env(tmp_path, recstore)
    r = run(recstore, ["check", "--suggest-lifecycle", "--days", "45"], env, str(tmp_path))
    assert r.returncode == 0, r.stderr
    rules = {rule["ID"]: rule for rule in json.loads(r.stdout)["Rules"]}
    expire = [rule for rule in rules.values() if "Expiration" in rule]
    abort = [rule for rule in rules.values() if "AbortIncompleteMultipartUpload" in rule]
    assert len(expire) == 1 and expire[0]["Filter"]["Prefix"] == "user_recordings/"
    assert expire[0]["Expiration"]["Days"] == 45 and expire[0]["Status"] == "Enabled"
    assert len(abort) == 1 and abort[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert "put-bucket-lifecycle-configuration" in r.stderr
    # Without --days: PRUNE_OLDER_THAN_DAYS, else RETENTION_DAYS.
    r = run(recstore, ["check", "--suggest-lifecycle"], dict(env, PRUNE_OLDER_THAN_DAYS="90"), str(tmp_path))
    assert json.loads(r.stdout)["Rules"][0]["Expiration"]["Days"] == 90
    r = run(recstore, ["check", "--suggest-lifecycle"], dict(env, RETENTION_DAYS="21"), str(tmp_path))
    assert json.loads(r.stdout)["Rules"][0]["Expiration"]["Days"] == 21
    r = run(recstore, ["check", "--suggest-lifecycle", "--days", "0"], env, str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
