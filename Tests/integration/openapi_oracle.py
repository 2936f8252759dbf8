"""docs/openapi.yaml as a test oracle: `check(response)` asserts that a response the
tests received is one the document describes -- its route and method are documented,
its status is listed for them, the headers the document marks required are there, and
a JSON body validates against the status's schema.

The contract tests call it on every response their shared request helper sees
(contract_support.check_response), so a change of the service that the document does
not follow fails there. Requests to paths the document does not know (unknown routes
are 404 by contract) and methods it does not list on a known path (405) are left to
the tests that make them.
"""
import functools
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "docs" / "openapi.yaml"
BASE_URI = "urn:recstore:openapi"


@functools.lru_cache(maxsize=1)
def document():
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _registry():
    return Registry().with_resource(BASE_URI, Resource.from_contents(document(), default_specification=DRAFT202012))


@functools.lru_cache(maxsize=1)
def _templates():
    """(compiled path regex, template) for every documented path, literal segments first."""
    out = []
    for template in document()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        out.append((re.compile(pattern), template, template.count("{")))
    out.sort(key=lambda t: t[2])  # a template with fewer parameters wins (none overlap today)
    return [(p, t) for p, t, _ in out]


def resolve(node):
    """Follows a local $ref (one level at a time, as often as needed)."""
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        node = document()
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operation_for(method, url):
    """(template, operation) the document gives for this request, or (template, None), or (None, None)."""
    path = urlsplit(url).path
    for pattern, template in _templates():
        if pattern.match(path):
            item = document()["paths"][template]
            op = item.get(method.lower())
            if op is None and method.upper() == "HEAD":
                op = item.get("get")  # every GET route answers HEAD as well
            return template, op
    return None, None


def _absolute_refs(node):
    """The schema with its local `#/...` references pointing into the document."""
    if isinstance(node, dict):
        return {k: (BASE_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else _absolute_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute_refs(v) for v in node]
    return node


def validate(schema_node, value, where):
    schema = _absolute_refs(schema_node)
    validator = Draft202012Validator(schema, registry=_registry())
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    assert not errors, f"{where}: body does not match the document: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])


def check(response):
    """Asserts that `response` (a requests.Response) is one the document allows."""
    request = response.request
    method = request.method.upper()
    template, op = operation_for(method, request.url)
    if op is None:
        return
    status = str(response.status_code)
    where = f"{method} {template} → {status}"
    responses = op["responses"]
    assert status in responses or "default" in responses, \
        f"{where}: status not documented (documented: {', '.join(responses)})"
    spec = resolve(responses.get(status) or responses["default"])
    for name, header in (spec.get("headers") or {}).items():
        header = resolve(header)
        if header.get("required"):
            assert name in response.headers, f"{where}: required header {name} missing"
        expected = header.get("schema", {}).get("const")
        if expected is not None and name in response.headers:
            assert response.headers[name] == str(expected), f"{where}: {name}: {response.headers[name]!r}, not {expected!r}"
    content = spec.get("content")
    if method == "HEAD" or not content:
        return
    media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    documented = {m.split(";")[0].strip().lower(): v for m, v in content.items()}
    matched = documented.get(media) or next(
        (v for m, v in documented.items() if m.endswith("/*") and media.startswith(m[:-1])), None)
    assert matched is not None, f"{where}: Content-Type {media!r} not documented ({', '.join(documented)})"
    if media == "application/json" and "schema" in matched and response.content:
        validate(matched["schema"], json.loads(response.content), where)


def documented_routes():
    """{(METHOD, template)} of every documented operation."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {(m.upper(), t) for t, item in document()["paths"].items() for m in item if m in methods}

