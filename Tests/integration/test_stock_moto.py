"""recstore against a *stock* moto_server with signature checks on (not our patched one).

Stock moto up to 5.2.3 verifies signatures over its decoded URL, not the request as
sent, so every correctly signed request for a key holding `|` (all Auth0 user ids) or a
listing prefix holding `/` is refused there in AWS's form; boto3 itself fails. recstore
then signs the way stock moto verifies (custom endpoints only). Later versions verify
the request as sent, as AWS does: recstore's first form passes there. Checked here end
to end, with whichever moto is installed: the whole stack in S3 mode through nginx (and
once against moto without any checks, as it starts), and `recstore check`.
test_contract.py runs all of API.md against stock moto too.
"""

import struct
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from moto_server import MotoS3
from recstore_cli import base_env, dev_issuer_env, run, s3_env

USER = "auth0|alice"


@pytest.fixture(scope="module")
def stock_moto():
    with MotoS3(bucket="recstore-stock", stock=True) as server:
        yield server


@pytest.fixture(scope="module")
def unchecked_stock_moto():
    """moto_server as it starts: no signature checks at all."""
    with MotoS3(bucket="recstore-unchecked", stock=True, signature_checks=False) as server:
        yield server


def bucket_keys(moto):
    """Every key in the bucket."""
    listed = moto.client().list_objects_v2(Bucket=moto.bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def wav(samples=8000):
    data = bytes(i % 256 for i in range(samples * 2))
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(data)) + data)


def test_stock_moto_verifies_one_form_and_refuses_a_wrong_secret(stock_moto):
    """The premise: moto_server up to 5.2.3 refuses boto3's correct signature for a `|`
    key (it verifies its decoded URL), later versions verify the URL as sent, as AWS does.
    Either way exactly one form passes, and a wrong secret passes in neither."""
    from botocore.exceptions import ClientError

    def answer(client):
        try:
            client.put_object(Bucket=stock_moto.bucket, Key=f"user_recordings/{USER}/premise/x", Body=b"x")
            return "accepted"
        except ClientError as e:
            return e.response["Error"]["Code"]

    forms = {form: answer(stock_moto.client(form=form)) for form in ("aws", "decoded")}
    accepted = "decoded" if stock_moto.verifies_decoded_url else "aws"
    assert forms == {form: "accepted" if form == accepted else "SignatureDoesNotMatch" for form in forms}
    for form in forms:
        assert answer(stock_moto.client(secret="not-the-secret", form=form)) == "SignatureDoesNotMatch"
    stock_moto.client().delete_object(Bucket=stock_moto.bucket, Key=f"user_recordings/{USER}/premise/x")


@pytest.mark.parametrize("server", ["stock_moto", "unchecked_stock_moto"])
def test_stack_in_s3_mode_through_nginx(make_stack, auth_env, release_binary, request, server, tmp_path):
    stock_moto = request.getfixturevalue(server)
    env = s3_env(stock_moto, str(tmp_path / "uploads"))
    env["S3_FALLBACK_TO_LOCAL"] = "false"  # a refused save must fail here, not land on disk
    stack = make_stack(env=env)
    assert stack.get("/readyz").status_code == 200
    token = subprocess.run([str(release_binary), "token", "--dir", str(Path(auth_env["AUTH0_JWKS_FILE"]).parent), "--sub", USER],
                           check=True, capture_output=True, text=True).stdout.strip()
    auth = {"Authorization": "Bearer " + token}
    user = quote(USER, safe="")
    audio = wav()

    saved = stack.post("/api/v1/save_recording_details", headers=auth,
                       files={"audio": ("a.wav", audio, "audio/wav")},
                       data={"transcript": "hello | world", "session_id": "20261121T233339Z-1a2b3c4d",
                             "metadata": '{"name": "Standup", "tags": ["work"]}'})
    assert saved.status_code == 201, saved.text
    info = saved.json()
    assert info["storage"] == "s3" and info["user_id"] == USER and info["duration"] == 1.0
    session = info["session_id"]
    prefix = f"user_recordings/{USER}/{session}/"
    assert bucket_keys(stock_moto) == [prefix + "audio.wav", prefix + "session_metadata.json", prefix + "transcript.txt"]
    assert not (tmp_path / "uploads" / "user_recordings").exists()

    listed = stack.get(f"/api/v1/user_recordings/{user}", headers=auth)
    assert listed.status_code == 200 and [r["session_id"] for r in listed.json()] == [session]
    one = stack.get(f"/api/v1/recordings/{user}/{session}", headers=auth)
    assert one.status_code == 200 and one.json()["name"] == "Standup"
    got = stack.get(f"/api/v1/recordings/{user}/{session}/audio", headers=auth, allow_redirects=False)
    assert got.status_code == 200 and got.content == audio and got.headers["Content-Type"] == "audio/wav"
    ranged = stack.get(f"/api/v1/recordings/{user}/{session}/audio", headers={**auth, "Range": "bytes=44-53"})
    assert ranged.status_code == 206 and ranged.content == audio[44:54]
    transcript = stack.get(f"/api/v1/recordings/{user}/{session}/transcript", headers=auth)
    assert transcript.status_code == 200 and transcript.text == "hello | world"

    settings = {"macro_phrases": ["a|b"], "custom_vocabulary": ["x@y+z"], "transcription_profiles": []}
    posted = stack.post("/api/v1/user_settings", headers=auth, json={"user_id": USER, "settings": settings})
    assert posted.status_code == 200, posted.text
    fetched = stack.get(f"/api/v1/user_settings/{user}", headers=auth)
    assert fetched.status_code == 200 and fetched.json() == settings
    assert fetched.headers["ETag"] == posted.headers["ETag"]
    stale = stack.post("/api/v1/user_settings", headers={**auth, "If-Match": '"0000"'}, json={"settings": settings})
    assert stale.status_code == 412
    assert f"user_settings/{USER}/settings.json" in bucket_keys(stock_moto)

    deleted = stack.request("DELETE", f"/api/v1/recordings/{user}/{session}", headers=auth)
    assert deleted.status_code == 200 and deleted.json() == {"session_id": session, "deleted_objects": 3}
    assert stack.get(f"/api/v1/recordings/{user}/{session}", headers=auth).status_code == 404
    assert stack.get(f"/api/v1/user_recordings/{user}", headers=auth).json() == []
    assert bucket_keys(stock_moto) == [f"user_settings/{USER}/settings.json"]
    assert not any(r.get("level") == "error" for r in stack.log_records()), stack.log_text()
    # Only a moto that refuses AWS's form made the workers learn the other one.
    learned = any("decoded URL" in r.get("msg", "") for r in stack.log_records())
    assert learned == stock_moto.verifies_decoded_url


@pytest.fixture
def check_env(tmp_path, stock_moto, release_binary):
    home = tmp_path / "home"
    home.mkdir()
    e = base_env(str(home))
    e.update(dev_issuer_env(str(release_binary), str(tmp_path / "issuer")))
    e.update(s3_env(stock_moto, str(tmp_path / "uploads")))
    return e


def test_check_works_and_still_names_a_wrong_secret(release_binary, check_env, tmp_path):
    p = run(str(release_binary), ["check"], check_env, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "recstore check: everything works"
    check_env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    p = run(str(release_binary), ["check"], check_env, tmp_path)
    assert p.returncode == 1
    bucket = next(line for line in p.stdout.splitlines() if line.startswith("bucket: "))
    assert bucket.startswith("bucket: FAILED: the secret access key is wrong") and "SignatureDoesNotMatch" in bucket, p.stdout
