"""README's curl walkthrough, run as written against a live stack, so it never rots.

The block after the `walkthrough` marker is run by bash (errexit, pipefail; every curl
has -f) with only the address changed to the stack's and RUN_DIR pointing at the stack's
dev issuer, so `recstore token` there signs the token the stack accepts. What each step
did is then checked from outside."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from contract_support import BIN, Stack, plain_session, wav

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- walkthrough: run by Tests/integration/test_readme.py -->"


def walkthrough():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in text
    after = text.split(MARKER, 1)[1]
    match = re.match(r"\s*```sh\n(.*?)\n```", after, re.S)
    assert match, "the walkthrough marker must precede a ```sh block"
    return match.group(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack("readme", tmp_path_factory.mktemp("readme"))
    s.start()
    yield s
    s.stop()


def test_readme_curl_walkthrough_runs_against_a_live_stack(stack, tmp_path):
    script = walkthrough()
    assert "http://127.0.0.1:8080" in script and ".build/release/recstore token" in script
    script = script.replace("http://127.0.0.1:8080", stack.base_url)
    script = script.replace(".build/release/recstore", str(BIN))
    audio = wav(1.5)
    (tmp_path / "standup.wav").write_bytes(audio)
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "RUN_DIR": str(stack.run_dir), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    # The save answered the RecordingInfo, the listing and the single read showed it.
    decoder = json.JSONDecoder()
    documents, i = [], 0
    while i < len(out):
        if out[i].isspace():
            i += 1
            continue
        try:
            value, i = decoder.raw_decode(out, i)
            documents.append(value)
        except json.JSONDecodeError:
            # Plain text (the transcript, printed without a newline): up to the next JSON value.
            end = re.compile(r"[\n{\[]").search(out, i)
            end = end.start() if end else len(out)
            documents.append(out[i:end].strip())
            i = end
    saved = documents[0]
    assert saved["session_id"] == "standup-1" and saved["user_id"] == "auth0|alice" and saved["name"] == "Standup"
    assert saved["tags"] == ["work"] and saved["duration"] == 1.5
    assert documents[1] == [saved]  # the listing
    assert documents[2] == saved  # one RecordingInfo
    assert "we shipped it" in documents
    assert (tmp_path / "head.wav").read_bytes() == audio[:1024]
    settings = next(d for d in documents if isinstance(d, dict) and "custom_vocabulary" in d)
    assert settings["custom_vocabulary"] == ["recstore"]
    info = next(d for d in documents if isinstance(d, dict) and "storage_mode" in d)
    assert info["storage_mode"] == "LOCAL"
    deleted = next(d for d in documents if isinstance(d, dict) and "deleted_objects" in d)
    assert deleted["session_id"] == "standup-1" and deleted["deleted_objects"] >= 3
    assert documents[-1]["status"] == "ready"

    # And from outside: the settings are stored, the recording is gone.
    token = stack.token("auth0|alice")
    headers = {"Authorization": f"Bearer {token}"}
    stored = plain_session().get(stack.base_url + "/api/v1/user_settings/auth0%7Calice", headers=headers, timeout=30)
    assert stored.json()["custom_vocabulary"] == ["recstore"]
    gone = plain_session().get(stack.base_url + "/api/v1/recordings/auth0%7Calice/standup-1", headers=headers,
                               timeout=30)
    assert gone.status_code == 404


def test_readme_javascript_example_uses_the_documented_routes():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    js = re.search(r"```js\n(.*?)\n```", text, re.S)
    assert js, "README has a JavaScript fetch example"
    code = js.group(1)
    for needle in ("new FormData()", "/save_recording_details", "/user_recordings/", "/user_settings",
                   '"If-Match"', "412"):
        assert needle in code, needle
