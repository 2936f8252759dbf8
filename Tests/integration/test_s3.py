"""The S3 test server itself: what the S3 store's tests (and the stack's S3-mode
tests) rely on. Signatures are checked, for header- and query-signed requests and
for awkward keys; conditional writes are honoured as S3 honours them."""

import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from moto_server import MotoS3


@pytest.fixture(scope="module")
def moto_s3():
    with MotoS3() as server:
        yield server


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_wrong_secret_and_unknown_key_are_refused(moto_s3):
    with pytest.raises(ClientError) as e:
        moto_s3.client(secret="wrong").put_object(Bucket=moto_s3.bucket, Key="k", Body=b"x")
    assert error_code(e) == "SignatureDoesNotMatch"
    stranger = boto3.client("s3", endpoint_url=moto_s3.endpoint, region_name=moto_s3.region,
                            aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x",
                            config=Config(s3={"addressing_style": "path"}))
    with pytest.raises(ClientError) as e:
        stranger.list_objects_v2(Bucket=moto_s3.bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("key", ["user_recordings/auth0|5f7c8ec7/s/audio.wav", "user_recordings/a b+c@d/s/x",
                                 "user_recordings/100%/s/x", "user_recordings/ünï€/s/x", "user_recordings/~x/s/x"])
def test_awkward_keys_pass_the_signature_check(moto_s3, key):
    s3 = moto_s3.client()
    s3.put_object(Bucket=moto_s3.bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=moto_s3.bucket, Key=key)["Body"].read() == key.encode()
    listed = s3.list_objects_v2(Bucket=moto_s3.bucket, Prefix=key.rsplit("/", 1)[0] + "/")
    assert [o["Key"] for o in listed["Contents"]] == [key]


def test_presigned_urls_are_checked(moto_s3):
    s3 = moto_s3.client()
    s3.put_object(Bucket=moto_s3.bucket, Key="user_recordings/auth0|p/s/audio.wav", Body=b"0123456789")
    signer = boto3.client("s3", endpoint_url=moto_s3.endpoint, region_name=moto_s3.region,
                          aws_access_key_id=moto_s3.access_key_id, aws_secret_access_key=moto_s3.secret_access_key,
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    url = signer.generate_presigned_url("get_object", ExpiresIn=60,
                                        Params={"Bucket": moto_s3.bucket, "Key": "user_recordings/auth0|p/s/audio.wav"})
    request = urllib.request.Request(url, headers={"Range": "bytes=2-4"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206
        assert response.read() == b"234"
    for tampered in (url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"), url[:-4] + "0000"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(tampered)
        assert e.value.code == 403


def test_conditional_writes_are_honoured(moto_s3):
    s3 = moto_s3.client()
    key = "user_settings/auth0|c/settings.json"
    etag = s3.put_object(Bucket=moto_s3.bucket, Key=key, Body=b"{}", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=moto_s3.bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert error_code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=moto_s3.bucket, Key=key, Body=b"{}", IfMatch='"0000"')
    assert error_code(e) == "PreconditionFailed"
    s3.put_object(Bucket=moto_s3.bucket, Key=key, Body=b"{\"a\":1}", IfMatch=etag)


def test_readiness_check_is_cheap_and_authenticated(moto_s3):
    moto_s3.client().head_bucket(Bucket=moto_s3.bucket)
    with pytest.raises(ClientError):
        moto_s3.client(secret="wrong").head_bucket(Bucket=moto_s3.bucket)
