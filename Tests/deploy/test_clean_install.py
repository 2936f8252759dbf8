"""The package on a clean Debian 12 (issue 14), `make test-deploy`.

A minimal bookworm root from debootstrap (scripts/debian-root: this machine's apt
sources, cached for the day) gets the .deb from `make deb` through apt, so its Depends:
are resolved for real. Inside that root, without the Swift toolchain: `recstore
--version` names the package version and commit, `recstore check` passes with a LOCAL
configuration, and `recstore serve` behind the root's own nginx running the packaged
example configuration (nginx/production.conf, ports and paths moved to this machine)
answers a token-authenticated save and its reads. The root shares the host's loopback
network; every process runs in its own mount namespace with /proc and /dev mounted.

Needs root, debootstrap and network access to the configured Debian mirror.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "integration"))
import production_nginx  # noqa: E402

DEB = Path(os.environ.get("RECSTORE_DEB", REPO / ".build-deb" / "recstore.deb"))
DOC = "/usr/share/doc/recstore"


def loudly_skip(reason):
    banner = "\n" + "!" * 78 + f"\n!! CLEAN-INSTALL TEST NOT RUN: {reason}\n" + "!" * 78 + "\n"
    sys.stderr.write(banner)
    pytest.skip(reason)


def in_root(root, argv, user=None, cwd="/", env=None, umask="0027"):
    """argv run inside `root`, in a new mount namespace with /proc and /dev, with the
    units' UMask=0027 unless told otherwise."""
    inner_env = ["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
    inner_env += [f"{k}={v}" for k, v in (env or {}).items()]
    userspec = [f"--userspec={user}"] if user else []
    script = ('set -e; mount --rbind /dev "$1/dev"; mount -t proc proc "$1/proc"; root=$1; cwd=$2; shift 2; '
              'exec chroot "$@"')
    command = ["unshare", "-m", "--", "sh", "-c", script, "sh", str(root), cwd, *userspec, str(root),
               "/bin/sh", "-c", f'umask {umask} && cd "$0" && exec "$@"', cwd, *inner_env, *argv]
    return command


def run_in_root(root, argv, timeout=600, check=True, **kwargs):
    r = subprocess.run(in_root(root, argv, **kwargs), capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{argv}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def environment_file(path):
    """KEY=value lines as systemd's EnvironmentFile= reads them (comments skipped)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def unit_command(root, unit, configuration):
    """The installed unit's ExecStart as argv, and the environment systemd would give it
    (EnvironmentFile= values; none when the binary reads the file itself)."""
    import shlex
    start, env_file = None, False
    for line in (root / "lib/systemd/system" / unit).read_text().splitlines():
        line = line.strip()
        if line.startswith("ExecStart="):
            start = shlex.split(line.split("=", 1)[1])
        elif line.startswith("EnvironmentFile="):
            env_file = True
    assert start, f"{unit} has no ExecStart"
    return start, (configuration if env_file else {})


def with_option(argv, name, value):
    """argv with `name value` replaced (value None: removed), or appended."""
    out, i, found = [], 0, False
    while i < len(argv):
        if argv[i] == name:
            found = True
            if value is not None:
                out += [name, value]
            i += 2
            continue
        out.append(argv[i])
        i += 1
    if not found and value is not None:
        out += [name, value]
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    if os.geteuid() != 0:
        loudly_skip("needs root (debootstrap, chroot, mount namespaces)")
    if not shutil.which("debootstrap"):
        loudly_skip("debootstrap is not installed (apt-get install debootstrap; scripts/install-deps does)")
    assert DEB.exists(), f"{DEB} is missing: run `make deb` first (make test-deploy does)"
    path = tmp_path_factory.mktemp("debian12") / "root"
    started = time.monotonic()
    r = subprocess.run([str(REPO / "scripts" / "debian-root"), str(path)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr
    sys.stderr.write(f"\nclean root ready in {time.monotonic() - started:.0f} s\n{r.stderr}")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(root):
    """The package installed with apt inside the root; returns (version, commit)."""
    assert not (root / "usr/bin/recstore").exists()
    assert not (root / "opt/swift").exists(), "the clean root must not have the Swift toolchain"
    shutil.copy(DEB, root / "tmp" / "recstore.deb")
    started = time.monotonic()
    run_in_root(root, ["apt-get", "update", "-qq"], umask="0022")
    r = run_in_root(root, ["apt-get", "install", "-y", "--no-install-recommends", "/tmp/recstore.deb"],
                    env={"DEBIAN_FRONTEND": "noninteractive"}, umask="0022")
    sys.stderr.write(f"\napt-get install took {time.monotonic() - started:.0f} s\n")
    version = subprocess.run(["dpkg-deb", "-f", str(DEB), "Version"], capture_output=True, text=True, check=True).stdout.strip()
    description = subprocess.run(["dpkg-deb", "-f", str(DEB), "Description"], capture_output=True, text=True,
                                 check=True).stdout
    commit = description.split("Built from commit ", 1)[1].split(".")[0].split()[0]
    return version, commit, r.stdout


def test_apt_resolves_the_packages_depends(root, installed):
    depends = subprocess.run(["dpkg-deb", "-f", str(DEB), "Depends"], capture_output=True, text=True,
                             check=True).stdout.strip()
    names = [d.split()[0] for d in depends.split(", ")]
    for library in ("libfcgi0ldbl", "libjwt0", "libcurl4", "libssl3"):
        assert library in names, depends
    # None of them came with the base system or nginx: apt brought them for recstore.
    for name in names:
        status = run_in_root(root, ["dpkg-query", "-W", "-f=${Status}", name]).stdout
        assert status == "install ok installed", (name, status)
    # Every library the binary needs is found inside the root, and none of the toolchain.
    ldd = run_in_root(root, ["ldd", "/usr/bin/recstore"]).stdout
    assert "not found" not in ldd and "swift" not in ldd.lower(), ldd


def test_depends_are_exactly_the_packages_of_the_needed_libraries(root, installed):
    """Independently of dpkg-shlibdeps: NEEDED sonames → files in the root → their packages."""
    dynamic = subprocess.run(["readelf", "-d", str(root / "usr/bin/recstore")], capture_output=True, text=True,
                             check=True).stdout
    assert "RUNPATH" not in dynamic and "RPATH" not in dynamic, dynamic
    sonames = [line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert not [s for s in sonames if "swift" in s.lower() or "Foundation" in s or "dispatch" in s], sonames
    owners = set()
    for soname in sonames:
        path = run_in_root(root, ["/bin/sh", "-c", f"ldconfig -p | awk '$1 == \"{soname}\" {{ print $NF; exit }}'"]).stdout.strip()
        assert path, soname
        real = run_in_root(root, ["readlink", "-f", path]).stdout.strip()
        owner = None
        for candidate in (path, real, "/usr" + path if not path.startswith("/usr") else path[4:],
                          "/usr" + real if not real.startswith("/usr") else real[4:]):
            r = run_in_root(root, ["dpkg", "-S", candidate], check=False)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        assert owner, soname
        owners.add(owner)
    depends = subprocess.run(["dpkg-deb", "-f", str(DEB), "Depends"], capture_output=True, text=True,
                             check=True).stdout.strip()
    named = {d.split()[0] for d in depends.split(", ")}
    assert named - {"passwd"} == owners, (named, owners)


def test_version_names_the_package_version_and_commit(root, installed):
    version, commit, _ = installed
    out = run_in_root(root, ["recstore", "--version"]).stdout.strip()
    assert out == f"recstore {version} (commit {commit})"
    assert commit != "unknown" and version != "0.0.0+dev"


def test_maintainer_scripts_made_user_and_directories_and_started_nothing(root, installed):
    passwd = run_in_root(root, ["getent", "passwd", "recstore"]).stdout
    assert passwd.split(":")[5] == "/var/lib/recstore" and passwd.strip().endswith("/usr/sbin/nologin")
    uid = int(passwd.split(":")[2])
    assert uid < 1000, "a system user"
    www_data = int(run_in_root(root, ["getent", "group", "www-data"]).stdout.split(":")[2])
    for directory in ("var/lib/recstore", "var/lib/recstore/uploads"):
        st = (root / directory).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, www_data, 0o750), directory
    env_file = (root / "etc/recstore/recstore.env").stat()
    assert env_file.st_uid == 0 and env_file.st_mode & 0o777 == 0o640
    # Readable as the units run recstore (User=recstore, Group=www-data: supplementary
    # groups are only those it is listed in), not by nginx's user.
    r = run_in_root(root, ["cat", "/etc/recstore/recstore.env"], user="recstore:www-data", check=False)
    assert r.returncode == 0, r.stderr
    r = run_in_root(root, ["cat", "/etc/recstore/recstore.env"], user="www-data:www-data", check=False)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    # Units installed, none enabled: no *.wants link anywhere, no unit started.
    for unit in ("recstore.service", "recstore-activated.socket", "recstore-sync.timer", "recstore-prune.timer"):
        assert (root / "lib/systemd/system" / unit).exists()
    wants = list((root / "etc/systemd/system").glob("*.wants/recstore*")) if (root / "etc/systemd/system").exists() else []
    assert wants == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(root) not in ps and "/usr/bin/recstore serve" not in ps
    for doc in ("README.md", "OPERATIONS.md", "API.md", "examples/nginx/production.conf",
                "examples/nginx/recstore_fastcgi_params", "examples/recstore.env.example"):
        assert (root / DOC.lstrip("/") / doc).exists(), doc


@pytest.fixture(scope="module")
def local_configuration(root, installed):
    """/etc/recstore/recstore.env for LOCAL storage and a dev issuer made inside the root."""
    out = run_in_root(root, ["recstore", "dev-issuer", "--dir", "/var/lib/recstore/dev-issuer"],
                      user="recstore:www-data", cwd="/var/lib/recstore").stdout
    lines = ["# test configuration: LOCAL storage, a dev issuer", "STORAGE=LOCAL",
             "LOCAL_STORAGE_DIR=/var/lib/recstore/uploads", "LOG_LEVEL=info"]
    for line in out.splitlines():
        name, _, value = line.partition("=")
        lines.append(f"{name}={value.strip(chr(39))}")
    (root / "etc/recstore/recstore.env").write_text("\n".join(lines) + "\n")
    return environment_file(root / "etc/recstore/recstore.env")


def test_check_passes_with_a_local_configuration(root, local_configuration):
    r = run_in_root(root, ["recstore", "check"], user="recstore:www-data", cwd="/var/lib/recstore",
                    env=local_configuration, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "everything works" in r.stdout


def test_serve_behind_the_roots_nginx_saves_and_reads(root, local_configuration):
    requests.packages.urllib3.disable_warnings()
    upstream, http_port, https_port = free_port(), free_port(), free_port()
    prefix = root / "srv" / "nginx-test"
    inner = lambda p: "/" + str(Path(p).relative_to(root))  # noqa: E731
    conf = production_nginx.prepare(prefix, http_port, https_port, f"127.0.0.1:{upstream}",
                                    storage_dir="/var/lib/recstore/uploads",
                                    source=root / DOC.lstrip("/") / "examples/nginx/production.conf",
                                    path_in_root=inner, user="www-data")
    t = run_in_root(root, ["nginx", "-t", "-p", inner(prefix), "-c", conf], check=False)
    assert t.returncode == 0, t.stderr

    logs = []
    processes = []
    try:
        responder_log = open(prefix / "responder.log", "w")
        logs.append(responder_log)
        argv, env = unit_command(root, "recstore.service", local_configuration)
        argv = with_option(argv, "--socket", None)
        argv = with_option(argv, "--listen", f"127.0.0.1:{upstream}")
        argv = with_option(argv, "--workers", "2")
        argv = with_option(argv, "--threads", "2")
        processes.append(subprocess.Popen(
            in_root(root, argv, user="recstore:www-data", cwd="/var/lib/recstore", env=env),
            stdout=responder_log, stderr=subprocess.STDOUT))
        nginx_log = open(prefix / "nginx.stderr", "w")
        logs.append(nginx_log)
        processes.append(subprocess.Popen(in_root(root, ["nginx", "-p", inner(prefix), "-c", conf]),
                                          stdout=nginx_log, stderr=subprocess.STDOUT))
        base = f"https://127.0.0.1:{https_port}"

        def ready():
            try:
                return requests.get(base + "/readyz", verify=False, timeout=5).status_code == 200
            except requests.RequestException:
                return False
        assert wait_until(ready, timeout=90), (prefix / "responder.log").read_text() + (prefix / "nginx.stderr").read_text()

        token = run_in_root(root, ["recstore", "token", "--sub", "auth0|alice", "--dir", "/var/lib/recstore/dev-issuer"],
                            user="recstore:www-data", cwd="/var/lib/recstore").stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(base + "/api/v1/user_recordings/auth0%7Calice", verify=False, timeout=10).status_code == 401

        audio = b"RIFF" + (36 + 4096).to_bytes(4, "little") + b"WAVEfmt " + bytes(range(256)) * 16
        r = requests.post(base + "/api/v1/save_recording_details", headers=headers, verify=False, timeout=60,
                          files={"audio": ("a.wav", audio, "audio/wav"), "transcript": (None, "installed from the package"),
                                 "metadata": (None, json.dumps({"name": "clean root"}))})
        assert r.status_code in (200, 201), r.text
        session = r.json()["session_id"]

        listing = requests.get(base + "/api/v1/user_recordings/auth0%7Calice", headers=headers, verify=False, timeout=10)
        assert listing.status_code == 200 and [e["session_id"] for e in listing.json()] == [session]
        got = requests.get(base + f"/api/v1/recordings/auth0%7Calice/{session}/audio", headers=headers,
                           verify=False, timeout=30)
        assert got.status_code == 200 and got.content == audio
        part = requests.get(base + f"/api/v1/recordings/auth0%7Calice/{session}/audio",
                            headers={**headers, "Range": "bytes=4-11"}, verify=False, timeout=30)
        assert part.status_code == 206 and part.content == audio[4:12]
        transcript = requests.get(base + f"/api/v1/recordings/auth0%7Calice/{session}/transcript", headers=headers,
                                  verify=False, timeout=10)
        assert transcript.status_code == 200 and "installed from the package" in transcript.text

        # Stored in the root's state directory, owned by the service user.
        stored = root / "var/lib/recstore/uploads/user_recordings/auth0|alice" / session
        assert (stored / "session_metadata.json").exists()
        uid = int(run_in_root(root, ["id", "-u", "recstore"]).stdout)
        assert (stored / "audio.wav").stat().st_uid == uid
        # Under the units' UMask=0027: group www-data (nginx) may read, others nothing.
        assert (stored / "audio.wav").stat().st_mode & 0o007 == 0, oct((stored / "audio.wav").stat().st_mode)
        # nginx's JSON access line carries the request id the client saw.
        access = prefix / "logs" / "recstore.access.log"
        assert wait_until(lambda: access.exists() and r.headers["X-Request-ID"] in access.read_text(), timeout=20)
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in reversed(processes):
            try:
                p.wait(timeout=45)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in logs:
            f.close()
    assert processes[0].returncode == 0, (prefix / "responder.log").read_text()


def test_purge_keeps_the_recordings(root, local_configuration):
    # Runs last: removes the package.
    run_in_root(root, ["apt-get", "purge", "-y", "recstore"], env={"DEBIAN_FRONTEND": "noninteractive"}, umask="0022")
    assert not (root / "usr/bin/recstore").exists()
    assert not (root / "etc/recstore").exists()
    assert (root / "var/lib/recstore/uploads/user_recordings").exists()
