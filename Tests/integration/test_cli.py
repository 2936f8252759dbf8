"""The command line as a person meets it: help for every subcommand, a version, and
usage errors refused with exit status 64 (EX_USAGE) before anything runs."""
import re
import subprocess

import pytest

from recstore_cli import base_env, binary

SUBCOMMANDS = ["serve", "token", "dev-issuer", "check", "sync", "prune", "worker"]
SHOWN = [s for s in SUBCOMMANDS if s != "worker"]  # worker is internal: its help exists, the overview hides it


@pytest.fixture(scope="module")
def recstore():
    return binary()


def run(recstore, tmp_path, *args):
    return subprocess.run([recstore, *args], env=base_env(str(tmp_path)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_top_level_help_lists_every_public_subcommand(recstore, tmp_path):
    for flag in ("--help", "-h", "help"):
        result = run(recstore, tmp_path, flag)
        assert result.returncode == 0, (flag, result.stderr)
        assert "USAGE: recstore <subcommand>" in result.stdout
        listed = re.findall(r"^  ([a-z-]+)  ", result.stdout.split("SUBCOMMANDS:")[1], re.M)
        assert listed == SHOWN, (flag, listed)


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help_both_ways(recstore, tmp_path, sub):
    direct = run(recstore, tmp_path, sub, "--help")
    via_help = run(recstore, tmp_path, "help", sub)
    assert direct.returncode == 0 and via_help.returncode == 0, (direct.stderr, via_help.stderr)
    assert f"USAGE: recstore {sub}" in direct.stdout
    assert direct.stdout == via_help.stdout
    assert "OVERVIEW:" in direct.stdout


def test_subcommand_help_names_its_options(recstore, tmp_path):
    serve = run(recstore, tmp_path, "serve", "--help").stdout
    for option in ("--socket", "--listen", "--workers", "--threads", "--max-requests", "--grace-seconds", "--pid-file"):
        assert option in serve
    assert "--dry-run" in run(recstore, tmp_path, "sync", "--help").stdout
    token = run(recstore, tmp_path, "token", "--help").stdout
    assert "--sub" in token and "--ttl" in token and "--dir" in token
    worker = run(recstore, tmp_path, "worker", "--help").stdout
    assert "--supervisor-pid" in worker and "--threads" in worker and "--max-requests" in worker


def test_version(recstore, tmp_path):
    result = run(recstore, tmp_path, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"recstore \d+\.\d+\.\d+\S* \(commit \S+\)\n", result.stdout), result.stdout


@pytest.mark.parametrize("args", [
    ["serve", "--bogus"], ["serve", "--workers", "0"], ["serve", "--workers", "two"],
    ["serve", "--socket", "a", "--listen", ":9000"], ["serve", "--grace-seconds", "-1"],
    ["check", "--verbose"], ["sync", "--force"], ["dev-issuer", "--dir"], ["dev-issuer", "--dir", ""],
    ["token", "--sub", "a", "--bogus"], ["worker", "--threads", "0"], ["worker", "extra"],
    ["prune"], ["prune", "--older-than", "0"], ["check", "--days", "3"],
    ["frobnicate"], ["--bogus"],
])
def test_usage_errors_exit_64_and_do_nothing(recstore, tmp_path, args):
    result = run(recstore, tmp_path, *args)
    assert result.returncode == 64, (args, result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and "Usage: recstore" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == [], "a refused command left files behind"
