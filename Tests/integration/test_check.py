"""`recstore check` against a real S3 API server (moto, signature checks on) and a
real dev issuer JWKS: each check gets one line, and a failure names the problem."""

import os
import socket
import time

import pytest

from recstore_cli import base_env, cli_fixtures, dev_issuer_env, empty_bucket, run, s3_env


moto, recstore, env = cli_fixtures("recstore-check")


def check(recstore, env, cwd):
    p = run(recstore, ["check"], env, cwd)
    lines = dict(line.split(": ", 1) for line in p.stdout.splitlines() if not line.startswith("recstore check:"))
    return p, lines


def test_everything_works(recstore, env, tmp_path, moto):
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert list(lines) == ["configuration", "local storage", "credentials", "bucket", "probe object", "lifecycle", "jwks"]
    assert all(v.startswith("ok (") for k, v in lines.items() if k != "lifecycle"), p.stdout
    # A bucket without the rule works, with a warning that does not fail the check.
    assert lines["lifecycle"].startswith("WARNING: ") and "AbortIncompleteMultipartUpload" in lines["lifecycle"], p.stdout
    assert "access key ID " + moto.access_key_id in lines["credentials"]
    assert "1 signing key" in lines["jwks"]
    assert p.stdout.splitlines()[-1] == "recstore check: everything works"
    # The probes cleaned up after themselves.
    assert "Contents" not in moto.client().list_objects_v2(Bucket=moto.bucket)
    assert os.listdir(tmp_path / "uploads") == []


def test_a_lifecycle_rule_that_aborts_incomplete_uploads_is_recognised(recstore, env, tmp_path, moto):
    s3 = moto.client()
    s3.put_bucket_lifecycle_configuration(Bucket=moto.bucket, LifecycleConfiguration={"Rules": [{
        "ID": "abort-incomplete-multipart-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})
    try:
        p, lines = check(recstore, env, tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
        assert lines["lifecycle"].startswith("ok (") and "AbortIncompleteMultipartUpload" in lines["lifecycle"], p.stdout
    finally:
        s3.delete_bucket_lifecycle(Bucket=moto.bucket)


def test_wrong_secret_key_is_named(recstore, env, tmp_path):
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["credentials"].startswith("ok (from the environment variables")
    assert lines["bucket"].startswith("FAILED: the secret access key is wrong"), lines["bucket"]
    assert "SignatureDoesNotMatch" in lines["bucket"]
    assert lines["probe object"].startswith("skipped")
    assert lines["jwks"].startswith("ok")
    assert p.stdout.splitlines()[-1] == "recstore check: 1 check failed"


def test_unknown_access_key_is_named(recstore, env, tmp_path):
    env["AWS_ACCESS_KEY_ID"] = "AKIANOSUCHKEY0000000"
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["bucket"].startswith("FAILED: the access key ID AKIANOSUCHKEY0000000 is not known to S3"), lines["bucket"]


def test_missing_bucket_is_named(recstore, env, tmp_path):
    env["AWS_S3_BUCKET_NAME"] = "no-such-bucket"
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["bucket"].startswith("FAILED: the bucket no-such-bucket does not exist"), lines["bucket"]


def test_unreachable_endpoint_fails_fast(recstore, env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the check runs: nothing listens
    env["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["bucket"].startswith(f"FAILED: cannot reach S3 at http://127.0.0.1:{port}"), lines["bucket"]
    assert time.monotonic() - started < 15


def test_credentials_from_a_shared_profile(recstore, env, tmp_path, moto):
    aws = tmp_path / "home" / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[ci]\naws_access_key_id = {moto.access_key_id}\naws_secret_access_key = {moto.secret_access_key}\n")
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env["AWS_PROFILE"] = "ci"
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 0, p.stdout
    assert lines["credentials"].startswith(f"ok (from the profile 'ci' of {aws}/credentials"), lines["credentials"]


def test_no_credentials_anywhere(recstore, env, tmp_path):
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["credentials"].startswith("FAILED: no AWS credentials: AWS_ACCESS_KEY_ID is not set"), lines["credentials"]
    assert lines["bucket"] == "skipped (no credentials)"


def test_instance_role_that_does_not_answer(recstore, env, tmp_path):
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_EC2_METADATA_DISABLED"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"http://127.0.0.1:{port}"
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["credentials"].startswith(
        f"FAILED: no AWS credentials from the EC2 instance role (IMDSv2 at http://127.0.0.1:{port})"), lines["credentials"]


def test_configuration_error_stops_early(recstore, env, tmp_path):
    del env["AWS_S3_BUCKET_NAME"]
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert list(lines) == ["configuration"]
    assert lines["configuration"] == "FAILED: AWS_S3_BUCKET_NAME: is required when STORAGE=S3"


def test_unreadable_jwks_and_unusable_local_directory(recstore, env, tmp_path):
    env["AUTH0_JWKS_FILE"] = str(tmp_path / "missing-jwks.json")
    (tmp_path / "a-file").write_text("")
    env["LOCAL_STORAGE_DIR"] = str(tmp_path / "a-file" / "uploads")
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 1
    assert lines["jwks"] == f"FAILED: cannot read JWKS file {tmp_path}/missing-jwks.json"
    assert lines["local storage"].startswith("FAILED: "), lines["local storage"]
    assert lines["bucket"].startswith("ok")
    assert p.stdout.splitlines()[-1] == "recstore check: 2 checks failed"


def test_local_mode_without_bucket(recstore, env, tmp_path):
    for name in ["STORAGE", "AWS_S3_BUCKET_NAME", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]:
        del env[name]
    p, lines = check(recstore, env, tmp_path)
    assert p.returncode == 0, p.stdout
    assert lines["configuration"].startswith("ok (STORAGE=LOCAL")
    assert lines["bucket"].startswith("skipped (no bucket configured")
