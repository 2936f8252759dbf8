"""nginx/production.conf made runnable in a scratch prefix, for `nginx -t` and for the
clean-install test (Tests/deploy), without changing what the file says otherwise.

Only what names this machine is rewritten: the listen ports, the upstream hosts, the
certificate, and the absolute paths (logs, ACME webroot, storage, the files included
from /etc/nginx/) into PREFIX. Every rewrite must match, so a change to production.conf that a rewrite no
longer fits fails the tests instead of silently testing a different file.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONF = ROOT / "nginx" / "production.conf"
FASTCGI_PARAMS = ROOT / "nginx" / "recstore_fastcgi_params"


def _sub(pattern, replacement, text, flags=0, minimum=1):
    new, count = re.subn(pattern, replacement, text, flags=flags)
    assert count >= minimum, f"production.conf no longer has {pattern!r}"
    return new


def rewrite(text, prefix, http_port, https_port, upstream, cert, key, storage_dir):
    """production.conf's text with this machine's ports and paths."""
    text = _sub(r"^\s*listen \[::\]:(80|443)[^;]*;\n", "", text, flags=re.M, minimum=2)
    text = _sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", text)
    text = _sub(r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl", text)
    # The upstream keeps its parameters; its hosts become the one responder here.
    servers = re.findall(r"^\s*server \d+\.\d+\.\d+\.\d+:\d+ ([^;]*);\n", text, flags=re.M)
    assert servers, "production.conf has no upstream server lines"
    text = _sub(r"(^\s*server \d+\.\d+\.\d+\.\d+:\d+ [^;]*;\n)+",
                f"    server {upstream} {servers[0]};\n", text, flags=re.M)
    text = _sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text)
    text = _sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text)
    text = _sub(r"/var/log/nginx/", f"{prefix}/logs/", text)
    text = _sub(r"root /var/www/acme;", f"root {prefix}/acme;", text)
    text = _sub(r"alias /var/lib/recstore/uploads/;", f"alias {storage_dir}/;", text)
    # Every file it includes from /etc/nginx/ (the params, the CORS map and headers)
    # is a copy next to it in the prefix.
    text = _sub(r"^(\s*)include /etc/nginx/(recstore_[A-Za-z0-9_.]+);",
                lambda m: f"{m.group(1)}include {prefix}/{m.group(2)};", text, flags=re.M, minimum=2)
    return text


def included_files(text):
    """Names of the files the configuration includes from /etc/nginx/."""
    return sorted(set(re.findall(r"^\s*include /etc/nginx/(recstore_[A-Za-z0-9_.]+);", text, flags=re.M)))


def main_conf(prefix, site_conf, user=None):
    """An nginx.conf for PREFIX (pid, logs, temp paths there) including the site."""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/tmp/{kind};"
                     for kind in ("client_body", "fastcgi", "proxy", "uwsgi", "scgi"))
    user_line = f"user {user};\n" if user else ""
    return (f"{user_line}worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/logs/error.log warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n    default_type application/octet-stream;\n{temp}\n"
            f"    access_log {prefix}/logs/default.access.log;\n    include {site_conf};\n}}\n")


def make_certificate(directory):
    directory = Path(directory)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=recordings.example.com"],
                   check=True, capture_output=True)
    return cert, key


def prepare(prefix, http_port, https_port, upstream, storage_dir=None, source=PRODUCTION_CONF,
            path_in_root=lambda p: p, user=None):
    """Writes PREFIX/nginx.conf (+ the site, the files it includes, which must sit next
    to `source`, a certificate, directories); returns
    the path of nginx.conf as nginx will see it. `path_in_root` maps a host path under
    a chroot to the path nginx sees inside it."""
    prefix = Path(prefix)
    for sub in ("logs", "acme/.well-known/acme-challenge", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    storage_dir = storage_dir or path_in_root(str(prefix / "uploads"))
    cert, key = make_certificate(prefix)
    text = Path(source).read_text()
    for name in included_files(text):
        (prefix / name).write_text((Path(source).parent / name).read_text())
    inner = path_in_root(str(prefix))
    site = rewrite(text, inner, http_port, https_port, upstream,
                   f"{inner}/cert.pem", f"{inner}/key.pem", storage_dir)
    (prefix / "site.conf").write_text(site)
    (prefix / "nginx.conf").write_text(main_conf(inner, f"{inner}/site.conf", user=user))
    return f"{inner}/nginx.conf"
