"""A real S3 API server (moto) on a free loopback port, with signature checks on.

Used two ways:
- from pytest: ``with MotoS3() as s3: ...`` (or the ``moto_s3`` fixture in conftest);
- from the Swift tests: ``python3 moto_server.py [--bucket NAME] [--stock]`` prints one JSON line
  (endpoint, region, bucket, access_key_id, secret_access_key, verifies_decoded_url) once
  the server checks signatures, then serves until its standard input closes.

moto checks nothing by default. The recipe: with dummy keys create an IAM user, give
it an allow-all policy and an access key, create the bucket, then switch checks on
with ``POST /moto-api/reset-auth`` (body ``0``). From then on a wrong secret gets
403 SignatureDoesNotMatch and an unknown key 403 InvalidAccessKeyId.

moto_server up to 5.2.3 rebuilds the canonical request from werkzeug's *decoded*
URL, so it rejects correctly signed requests whose key or query holds characters such
as ``| + @ % ü`` (boto3 itself fails there); 5.2.4 and later verify the URL as it was
sent, as AWS does. The server started here verifies against the URL exactly as it was
sent (``RAW_URI``) whatever the version; everything else is stock moto.

``MotoS3(stock=True)`` (``--stock``) starts plain ``moto_server`` instead, checks on
but unpatched: what people run outside our tests. recstore must work there too (the
S3 client falls back to signing what old stock moto verifies: Sources/S3/SigningForm.swift).
It finds out which URL the installed moto verifies (``verifies_decoded_url``), so that
``client()`` signs what it accepts. ``signature_checks=False`` leaves moto as it starts,
checking nothing.

moto cannot check presigned (query-signed) requests at all once checks are on (it
answers 500). The server started here checks them as S3 does: SigV4 over the request
line as sent, `UNSIGNED-PAYLOAD`, and `X-Amz-Date` + `X-Amz-Expires` not passed.
"""

import json
import os
import socket
import signal
import subprocess
import sys
import time
import urllib.request

REGION = "us-east-1"
ALLOW_ALL = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
})


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoS3:
    def __init__(self, bucket="recstore-test", stock=False, signature_checks=True):
        self.bucket = bucket
        self.stock = stock
        self.signature_checks = signature_checks
        # Whether the server verifies signatures over its decoded view of the URL
        # (stock moto_server up to 5.2.3) rather than the URL as sent.
        self.verifies_decoded_url = False
        self.region = REGION
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.access_key_id = None
        self.secret_access_key = None

    def _launch(self, command, env):
        """Starts the server process and waits until it accepts connections."""
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.1)

    def start(self):
        env = dict(os.environ)
        # Dummy keys only for the setup calls made before checks are on.
        env.update(AWS_ACCESS_KEY_ID="setup", AWS_SECRET_ACCESS_KEY="setup", AWS_DEFAULT_REGION=REGION)
        if self.stock:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        else:
            command = [sys.executable, os.path.abspath(__file__), "--serve", str(self.port)]
        self._launch(command, env)
        try:
            self._enable_auth()
        except BaseException:
            self.stop()
            raise
        return self

    def _enable_auth(self):
        import boto3  # installed with moto[server]
        setup = dict(endpoint_url=self.endpoint, region_name=REGION,
                     aws_access_key_id="setup", aws_secret_access_key="setup")
        if not self.signature_checks:  # moto as it starts: any keys do
            self.access_key_id, self.secret_access_key = "any-key", "any-secret"
            boto3.client("s3", **setup).create_bucket(Bucket=self.bucket)
            return
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="recstore")
        arn = iam.create_policy(PolicyName="allow-all", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
        iam.attach_user_policy(UserName="recstore", PolicyArn=arn)
        key = iam.create_access_key(UserName="recstore")["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        boto3.client("s3", **setup).create_bucket(Bucket=self.bucket)
        # A form content type would hide the body from moto (it reads the raw data).
        request = urllib.request.Request(self.endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).read()
        if self.stock:
            self.verifies_decoded_url = self._verifies_decoded_url()

    def _verifies_decoded_url(self):
        """Asks the server for a key that AWS's form and the decoded form sign
        differently: exactly one of them must pass."""
        from botocore.exceptions import ClientError
        answers = []
        for form in ("aws", "decoded"):
            try:
                self.client(form=form).head_object(Bucket=self.bucket, Key="probe/auth0|x+y@z")
                answers.append("found")
            except ClientError as e:
                answers.append(e.response["Error"]["Code"])  # 404: accepted; 403: refused
        if answers == ["404", "403"]:
            return False
        if answers == ["403", "404"]:
            return True
        raise RuntimeError(f"moto_server answered AWS's and the decoded signing form with {answers}")

    def client(self, secret=None, form=None):
        """A boto3 S3 client with the server's credentials (or another secret), signing
        in the form the server verifies, so that tests can look into the bucket under any
        key; or in `form`: "aws" (boto3's own) or "decoded" (`sign_as_stock_moto`)."""
        import boto3
        from botocore.config import Config
        client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        if form == "decoded" or (form is None and self.verifies_decoded_url):
            sign_as_stock_moto(client)
        return client

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def describe(self):
        return {
            "endpoint": self.endpoint, "region": self.region, "bucket": self.bucket,
            "access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key,
            "verifies_decoded_url": self.verifies_decoded_url, "pid": self.process.pid,
        }


def stock_moto_url(url):
    """The URL stock moto up to 5.2.3 verifies a signature over, for a request sent to `url`:
    werkzeug's `request.url` (the path percent-decoded, then re-quoted and partly decoded
    again; the query partly decoded), built the way werkzeug's server builds it."""
    from urllib.parse import unquote, urlsplit
    from werkzeug.wrappers import Request
    parts = urlsplit(url)
    environ = {
        "REQUEST_METHOD": "GET", "wsgi.url_scheme": parts.scheme, "HTTP_HOST": parts.netloc,
        "SERVER_NAME": parts.hostname, "SERVER_PORT": str(parts.port), "SCRIPT_NAME": "",
        # WSGI strings are latin-1 views of the bytes.
        "PATH_INFO": unquote(parts.path).encode().decode("latin-1"),
        "QUERY_STRING": parts.query.encode().decode("latin-1"),
    }
    return Request(environ).url


def sign_as_stock_moto(client):
    """Makes a boto3 client sign the URL as stock moto up to 5.2.3 sees it
    (`stock_moto_url`) while still sending the URL as it is."""
    signer = client._request_signer
    sign = signer.sign

    def sign_decoded(operation_name, request, *args, **kwargs):
        sent = request.url
        request.url = stock_moto_url(sent)
        try:
            return sign(operation_name, request, *args, **kwargs)
        finally:
            request.url = sent

    signer.sign = sign_decoded


def verify_signatures_against_raw_uri():
    """Makes moto check the signature of the request line as sent (see above)."""
    from urllib.parse import urlsplit
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.responses import BaseResponse

    setup_class = BaseResponse.setup_class
    authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def setup_class_keeping_raw_uri(self, request, full_url, *args, **kwargs):
        result = setup_class(self, request, full_url, *args, **kwargs)
        raw = getattr(request, "environ", {}).get("RAW_URI")
        if raw:
            parts = urlsplit(full_url or request.url)  # moto 5.2.4 and later pass no full_url
            self._raw_request_uri = f"{parts.scheme}://{parts.netloc}{raw}"
        return result

    def authorize_raw(self, *args, **kwargs):
        raw = getattr(self, "_raw_request_uri", None)
        if raw is None:
            return authorize(self, *args, **kwargs)
        if "X-Amz-Signature=" in urlsplit(raw).query and "Authorization" not in self.headers:
            return check_presigned(self.method, raw, self.headers)
        decoded, self.uri = self.uri, raw
        try:
            return authorize(self, *args, **kwargs)
        finally:
            self.uri = decoded

    BaseResponse.setup_class = setup_class_keeping_raw_uri
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize_raw


def check_presigned(method, raw_uri, headers):
    """Verifies a SigV4 presigned request against the IAM keys moto holds."""
    import datetime
    import hashlib
    import hmac
    from urllib.parse import unquote, urlsplit
    from moto.iam.models import iam_backends
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.iam.access_control import SignatureDoesNotMatchError

    parts = urlsplit(raw_uri)
    pairs = [p.partition("=") for p in parts.query.split("&") if p]
    params = {k: v for k, _, v in pairs}
    signature = params.get("X-Amz-Signature", "")
    key_id, day, region, service, _ = unquote(params.get("X-Amz-Credential", "")).split("/")
    secret = None
    for account in iam_backends.values():
        for backend in account.values():
            for user in backend.users.values():
                for key in user.access_keys:
                    if key.access_key_id == key_id and key.status == "Active":
                        secret = key.secret_access_key
    if secret is None:
        raise S3AccessDeniedError()
    stamp = params.get("X-Amz-Date", "")
    issued = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    if now > issued + datetime.timedelta(seconds=int(params.get("X-Amz-Expires", "0"))):
        raise S3AccessDeniedError()
    signed = unquote(params.get("X-Amz-SignedHeaders", "")).split(";")
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{h}:{' '.join(lower.get(h, '').split())}\n" for h in signed)
    query = "&".join(f"{k}={v}" for k, v in sorted((k, v) for k, _, v in pairs if k != "X-Amz-Signature"))
    canonical = "\n".join([method, parts.path, query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), signature):
        raise SignatureDoesNotMatchError()


def serve(port, stock=False):
    """moto_server on `port`; unless `stock`, checking signatures as AWS does (see above)."""
    if not stock:
        verify_signatures_against_raw_uri()
    from moto.server import main as moto_main
    moto_main(["-H", "127.0.0.1", "-p", str(port)])


def main(argv):
    if len(argv) > 2 and argv[1] == "--serve":
        serve(int(argv[2]))
        return
    bucket = "recstore-test"
    if "--bucket" in argv[1:-1]:
        bucket = argv[argv.index("--bucket") + 1]
    # SIGTERM unwinds the `with` below like end of input does, so the server process
    # it started is stopped too (Python's default would leave it running).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with MotoS3(bucket, stock="--stock" in argv) as server:
        print(json.dumps(server.describe()), flush=True)
        # Serve until the parent closes our standard input (or goes away).
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv)
