"""Running the recstore executable from pytest: where it is, and an environment that
holds nothing from the machine (no ~/.aws, no instance metadata, no stray AWS_*)."""

import os
import subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary():
    """RECSTORE_BIN, else the debug build (built if missing)."""
    path = os.environ.get("RECSTORE_BIN")
    if path:
        return path
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.strip()
    path = os.path.join(bin_dir, "recstore")
    if not os.path.exists(path):
        subprocess.run(["swift", "build", "--product", "recstore"], cwd=REPO, check=True)
    return path


def dev_issuer_env(recstore, directory):
    """AUTH0_* variables of a local dev issuer (a real RSA key and JWKS file)."""
    out = subprocess.run([recstore, "dev-issuer", "--dir", directory], check=True,
                         capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("'\\''", "'")
        env[name] = value
    return env


def base_env(home):
    """PATH, a HOME of its own, and the instance role ruled out so nothing waits on it."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "AWS_EC2_METADATA_DISABLED": "true"}


def s3_env(moto, local_dir):
    return {"STORAGE": "S3", "AWS_S3_BUCKET_NAME": moto.bucket, "AWS_REGION": moto.region,
            "AWS_ENDPOINT_URL_S3": moto.endpoint, "AWS_ACCESS_KEY_ID": moto.access_key_id,
            "AWS_SECRET_ACCESS_KEY": moto.secret_access_key, "LOCAL_STORAGE_DIR": local_dir}


def run(recstore, args, env, cwd, timeout=120):
    return subprocess.run([recstore, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def empty_bucket(moto):
    client = moto.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=moto.bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=moto.bucket, Key=obj["Key"])


def cli_env(tmp_path, moto, recstore):
    """The environment `check` and `sync` run with: a clean home, a dev issuer, the
    moto bucket (emptied first) and a local directory under `tmp_path`."""
    empty_bucket(moto)
    home = tmp_path / "home"
    home.mkdir()
    e = base_env(str(home))
    e.update(dev_issuer_env(recstore, str(tmp_path / "issuer")))
    e.update(s3_env(moto, str(tmp_path / "uploads")))
    return e


def cli_fixtures(bucket):
    """The fixtures a CLI test module against S3 needs: `moto` (moto_server.py's server,
    signatures checked as AWS does, and stock moto_server's: each test runs on both),
    `recstore` (the release binary) and `env` (a per-test environment for the CLI).
    A module takes them with `moto, recstore, env = cli_fixtures("its-bucket")`."""
    import pytest
    from moto_server import MotoS3

    @pytest.fixture(scope="module", params=["patched", "stock"])
    def moto(request):
        with MotoS3(bucket=bucket, stock=request.param == "stock") as server:
            yield server

    @pytest.fixture(scope="module")
    def recstore():
        return binary()

    @pytest.fixture
    def env(tmp_path, moto, recstore):
        return cli_env(tmp_path, moto, recstore)

    return moto, recstore, env
