"""Helpers shared by the CORS tests: the contract's header lists and a dev token."""

import subprocess
from pathlib import Path

EXPOSED = {"etag", "location", "x-request-id", "content-range", "retry-after", "www-authenticate",
           "tus-resumable", "tus-version", "tus-extension", "tus-max-size",
           "upload-offset", "upload-length", "upload-expires", "upload-metadata"}
REQUEST_HEADERS = {"authorization", "content-type", "if-match", "range",
                   "tus-resumable", "upload-length", "upload-offset", "upload-metadata", "upload-defer-length",
                   "upload-concat", "x-http-method-override", "x-requested-with"}


def token(binary, auth_env, sub):
    """A token from the stack's dev issuer (the key next to its JWKS file)."""
    directory = Path(auth_env["AUTH0_JWKS_FILE"]).parent
    return subprocess.run([str(binary), "token", "--dir", str(directory), "--sub", sub],
                          check=True, capture_output=True, text=True).stdout.strip()


def header_list(value):
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


def cors_headers(headers):
    """Every Access-Control-* header of a response (names lowercased)."""
    return {name.lower(): value for name, value in headers.items() if name.lower().startswith("access-control-")}


def assert_cors_response(response, origin):
    """What API.md promises on every response to an allowed origin."""
    where = f"{response.request.method} {response.url} -> {response.status_code}"
    assert response.headers.get("Access-Control-Allow-Origin") == origin, where
    assert "origin" in header_list(response.headers.get("Vary")), where
    assert header_list(response.headers.get("Access-Control-Expose-Headers")) >= EXPOSED, where
    assert "Access-Control-Allow-Credentials" not in response.headers, where


def assert_no_cors(response):
    where = f"{response.request.method} {response.url} -> {response.status_code}"
    assert cors_headers(response.headers) == {}, where
