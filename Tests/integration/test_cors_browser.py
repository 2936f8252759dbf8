"""A real browser on another origin (API.md "Browsers on other origins"): headless
Chromium opens a page this test serves from its own loopback port and makes the
frontend's calls with `fetch` -- a recording built in JavaScript saved from a Blob in
FormData, the listing, the settings' ETag and If-Match, a Range read of the audio, a
401's detail and WWW-Authenticate. The same page from a port not in
CORS_ALLOW_ORIGINS is blocked by the browser."""

import functools
import json
import os
import subprocess
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from conftest import free_port, wait_until
from cors_support import token

PAGE_DIR = Path(__file__).resolve().parent / "cors_page"
USER = "auth0|browser-alice"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def page_server():
    """Serves cors_page/ on 127.0.0.1 at a free port; a factory, each call one more origin."""
    servers = []

    def start():
        server = ThreadingHTTPServer(("127.0.0.1", free_port()),
                                     functools.partial(QuietHandler, directory=str(PAGE_DIR)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "Debian's chromium and chromium-driver are needed (scripts/install-deps)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_script_timeout(120)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def run_in_page(driver, page_origin, function, *args):
    driver.get(page_origin + "/index.html")
    wait_until(lambda: driver.title == "ready", timeout=30)
    script = (f"const done = arguments[arguments.length - 1];"
              f"{function}(...Array.from(arguments).slice(0, -1)).then(done, e => done({{failed: String(e)}}));")
    return driver.execute_async_script(script, *args)


def test_frontend_on_another_origin_works_end_to_end(make_stack, page_server, browser, release_binary, auth_env):
    page = page_server()
    stack = make_stack(env={"CORS_ALLOW_ORIGINS": page})
    api = stack.url("/api/v1")
    out = run_in_page(browser, page, "frontendFlow", api, token(release_binary, auth_env, USER), USER, "from-a-page")
    assert "failed" not in out, out

    assert out["save"]["status"] == 201, out["save"]
    assert out["save"]["body"]["session_id"] == "from-a-page"
    assert out["save"]["body"]["audio_bytes"] == 44 + 8000 * 2
    assert out["save"]["requestId"]
    assert out["list"]["status"] == 200 and out["list"]["sessions"] == ["from-a-page"]
    assert out["list"]["requestId"] and out["list"]["requestId"] != out["save"]["requestId"]

    assert out["settings"]["status"] == 200
    assert out["settings"]["etag"], "the page could not read the ETag"
    assert out["saveSettings"]["status"] == 200, out["saveSettings"]
    assert out["saveSettings"]["body"]["custom_vocabulary"] == ["recstore", "CORS"]
    assert out["saveSettings"]["etag"] and out["saveSettings"]["etag"] != out["settings"]["etag"]
    assert out["staleSettings"]["status"] == 412, out["staleSettings"]
    assert out["staleSettings"]["body"]["detail"]

    assert out["audio"]["status"] == 206, out["audio"]
    assert out["audio"]["contentRange"] == f"bytes 0-43/{44 + 8000 * 2}"
    assert out["audio"]["length"] == 44 and out["audio"]["magic"] == "RIFFWAVE"

    assert out["unauthorized"]["status"] == 401
    assert out["unauthorized"]["detail"]
    assert out["unauthorized"]["wwwAuthenticate"].startswith("Bearer")
    assert out["unauthorized"]["requestId"]

    # What the page saved is what the API holds.
    bearer = {"Authorization": "Bearer " + token(release_binary, auth_env, USER)}
    stored = stack.get(f"/api/v1/recordings/{quote(USER, safe='')}/from-a-page/transcript", headers=bearer)
    assert stored.status_code == 200 and stored.text == "said in a browser"


def test_the_same_page_from_an_origin_not_listed_is_blocked(make_stack, page_server, browser, release_binary, auth_env):
    allowed, other = page_server(), page_server()
    stack = make_stack(env={"CORS_ALLOW_ORIGINS": allowed})
    api = stack.url("/api/v1")
    out = run_in_page(browser, other, "blockedFlow", api, token(release_binary, auth_env, USER), USER, "blocked")
    assert "failed" not in out, out
    for name in ("save", "list", "simpleGet"):
        assert out[name]["resolved"] is False, (name, out[name])
        assert out[name]["error"].startswith("TypeError"), out[name]
    # The preflight was refused, so the save never reached the API.
    bearer = {"Authorization": "Bearer " + token(release_binary, auth_env, USER)}
    listing = stack.get(f"/api/v1/user_recordings/{quote(USER, safe='')}", headers=bearer)
    assert listing.status_code == 200 and listing.json() == []
    # And the allowed origin, in the same browser, still gets through.
    out = run_in_page(browser, allowed, "blockedFlow", api, token(release_binary, auth_env, USER), USER, "allowed")
    assert out["list"] == {"resolved": True, "status": 200}, out
    assert out["save"] == {"resolved": True, "status": 201}, out


def test_presigned_audio_redirect_works_from_a_page_with_the_readme_bucket_rule(
        make_stack, page_server, browser, release_binary, auth_env, monkeypatch):
    """The 302 to a presigned S3 URL: fetch follows it to the bucket, which answers CORS
    with the rule README gives (and `recstore check` prints)."""
    from moto_server import MotoS3

    # moto's server otherwise allows every origin on every answer; S3 answers CORS only
    # by the bucket's rules.
    monkeypatch.setenv("MOTO_DISABLE_GLOBAL_CORS", "true")
    page = page_server()
    with MotoS3(bucket="recstore-cors") as moto:
        rule = json.loads(check_rule(release_binary, auth_env, moto, page))
        stack = make_stack(env={
            "CORS_ALLOW_ORIGINS": page, "STORAGE": "S3", "S3_AUDIO_DOWNLOAD": "redirect",
            "AWS_S3_BUCKET_NAME": moto.bucket, "AWS_REGION": moto.region, "AWS_ENDPOINT_URL_S3": moto.endpoint,
            "AWS_ACCESS_KEY_ID": moto.access_key_id, "AWS_SECRET_ACCESS_KEY": moto.secret_access_key})

        # Why the rule allows any origin: after the API's cross-origin 302 the browser
        # sends `Origin: null` to the bucket, so a rule naming the page's origin fails.
        narrow = json.loads(json.dumps(rule))
        narrow["CORSRules"][0]["AllowedOrigins"] = [page]
        moto.client().put_bucket_cors(Bucket=moto.bucket, CORSConfiguration=narrow)
        out = run_in_page(browser, page, "redirectedAudioFlow", stack.url("/api/v1"),
                          token(release_binary, auth_env, USER), USER, "narrow-rule")
        assert out == {"failed": "TypeError: Failed to fetch"}, out

        moto.client().put_bucket_cors(Bucket=moto.bucket, CORSConfiguration=rule)
        out = run_in_page(browser, page, "redirectedAudioFlow", stack.url("/api/v1"),
                          token(release_binary, auth_env, USER), USER, "redirected")
        assert "failed" not in out, out
        assert out["save"] == 201
        audio = out["audio"]
        assert audio["redirected"] is True and audio["url"].startswith(moto.endpoint), audio
        assert audio["status"] == 206, audio
        assert audio["contentRange"] == f"bytes 0-43/{44 + 4000 * 2}"
        assert audio["length"] == 44 and audio["magic"] == "RIFF"


def check_rule(release_binary, auth_env, moto, page):
    """The bucket CORS rule `recstore check` prints for this configuration."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "AWS_EC2_METADATA_DISABLED": "true", **auth_env, "CORS_ALLOW_ORIGINS": page, "STORAGE": "S3",
           "AWS_S3_BUCKET_NAME": moto.bucket, "AWS_REGION": moto.region, "AWS_ENDPOINT_URL_S3": moto.endpoint,
           "AWS_ACCESS_KEY_ID": moto.access_key_id, "AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
           "S3_AUDIO_DOWNLOAD": "redirect", "LOCAL_STORAGE_DIR": str(Path(auth_env["AUTH0_JWKS_FILE"]).parent / "check-store")}
    p = subprocess.run([str(release_binary), "check"], env=env, capture_output=True, text=True, timeout=120,
                       cwd=Path(auth_env["AUTH0_JWKS_FILE"]).parent)
    lines = dict(line.split(": ", 1) for line in p.stdout.splitlines() if not line.startswith("recstore check:"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert lines["browser origins"] == f"ok (CORS_ALLOW_ORIGINS allows {page})"
    advice = lines["bucket CORS"]
    assert advice.startswith(f"needed (audio downloads redirect to presigned URLs in {moto.bucket}"), advice
    return advice[advice.index("--cors-configuration '") + len("--cors-configuration '"):advice.rindex("'")]
