"""The dev issuer as a user meets it: `recstore dev-issuer` and `recstore token`.

Tokens are checked here with an independent implementation (pyca/cryptography),
against the JWKS file the service would read.
"""
import base64
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parents[2]


def recstore_binary() -> str:
    given = os.environ.get("RECSTORE_BIN")
    if given:
        return given
    for config in ("release", "debug"):
        candidate = ROOT / ".build" / config / "recstore"
        if candidate.exists():
            return str(candidate)
    subprocess.run(["swift", "build", "--product", "recstore"], cwd=ROOT, check=True)
    return str(ROOT / ".build" / "debug" / "recstore")


BIN = recstore_binary()


def run(*args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH0_") and k != "RUN_DIR"}
    full_env.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def settings(output: str) -> dict:
    return dict(line.split("=", 1) for line in output.splitlines())


def verify(token: str, jwks_path: str) -> tuple[dict, dict]:
    """Checks the RS256 signature with the JWKS key named by kid; returns (header, claims)."""
    head, body, signature = token.split(".")
    header = json.loads(b64url_decode(head))
    keys = {k["kid"]: k for k in json.loads(Path(jwks_path).read_text())["keys"]}
    jwk = keys[header["kid"]]
    public = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(jwk["e"]), "big"),
                                  int.from_bytes(b64url_decode(jwk["n"]), "big")).public_key()
    public.verify(b64url_decode(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return header, json.loads(b64url_decode(body))


@pytest.fixture
def issuer_dir(tmp_path):
    return tmp_path / "run" / "dev-issuer"


def test_dev_issuer_prints_the_services_settings(issuer_dir):
    result = run("dev-issuer", "--dir", str(issuer_dir))
    assert result.returncode == 0, result.stderr
    env = settings(result.stdout)
    assert list(env) == ["AUTH0_ISSUER", "AUTH0_AUDIENCE", "AUTH0_JWKS_FILE"]
    assert env["AUTH0_ISSUER"] == "https://recstore.dev.invalid/"
    assert env["AUTH0_AUDIENCE"] == "recstore-dev"
    assert env["AUTH0_JWKS_FILE"] == str(issuer_dir / "jwks.json")

    assert stat.S_IMODE((issuer_dir / "private.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(issuer_dir.stat().st_mode) == 0o700
    (key,) = json.loads((issuer_dir / "jwks.json").read_text())["keys"]
    assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert len(b64url_decode(key["n"])) == 256  # RSA 2048


def test_dev_issuer_is_idempotent(issuer_dir):
    first = run("dev-issuer", "--dir", str(issuer_dir))
    pem = (issuer_dir / "private.pem").read_bytes()
    jwks = (issuer_dir / "jwks.json").read_bytes()
    second = run("dev-issuer", "--dir", str(issuer_dir))
    assert second.returncode == 0 and second.stdout == first.stdout
    assert (issuer_dir / "private.pem").read_bytes() == pem
    assert (issuer_dir / "jwks.json").read_bytes() == jwks


def test_token_is_rs256_signed_by_the_published_key(issuer_dir):
    env = settings(run("dev-issuer", "--dir", str(issuer_dir)).stdout)
    before = int(time.time())
    result = run("token", "--sub", "auth0|5f7c8ec7c33c6c004bbafe82", "--ttl", "120", "--dir", str(issuer_dir))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    header, claims = verify(token, env["AUTH0_JWKS_FILE"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert claims["sub"] == "auth0|5f7c8ec7c33c6c004bbafe82"
    assert claims["iss"] == env["AUTH0_ISSUER"]
    assert claims["aud"] == env["AUTH0_AUDIENCE"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 120


def test_token_finds_the_issuer_under_run_dir(tmp_path):
    run_dir = tmp_path / "stack"
    assert run("dev-issuer", env={"RUN_DIR": str(run_dir)}).returncode == 0
    result = run("token", "--sub", "google-oauth2|1034", env={"RUN_DIR": str(run_dir)})
    assert result.returncode == 0, result.stderr
    _, claims = verify(result.stdout.strip(), str(run_dir / "dev-issuer" / "jwks.json"))
    assert claims["sub"] == "google-oauth2|1034"
    assert claims["exp"] - claims["iat"] == 3600

    # Without RUN_DIR: ./.run/dev-issuer relative to the working directory.
    assert run("dev-issuer", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".run" / "dev-issuer" / "private.pem").exists()
    assert run("token", "--sub", "alice", cwd=tmp_path).returncode == 0


def test_token_without_a_dev_issuer_says_how_to_make_one(tmp_path):
    result = run("token", "--sub", "alice", "--dir", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no dev issuer" in result.stderr and "dev-issuer" in result.stderr


@pytest.mark.parametrize("args", [
    [], ["--sub"], ["--sub", ""], ["--sub", "a", "--ttl", "0"], ["--sub", "a", "--ttl", "soon"],
    ["--sub", "a", "--scope", "all"],
])
def test_token_usage_errors(issuer_dir, args):
    run("dev-issuer", "--dir", str(issuer_dir))
    result = run("token", *args, "--dir", str(issuer_dir))
    assert result.returncode == 64, (args, result.stdout, result.stderr)  # EX_USAGE, as swift-argument-parser
    assert result.stdout == ""
    assert "Usage: recstore token" in result.stderr
