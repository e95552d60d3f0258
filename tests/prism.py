"""Prism mock of GitHub's REST API, for contract tests (a pytest plugin).

Every request the app sends in a contract test goes to a Prism mock server
(npm ``@stoplight/prism-cli`` 5.14.2, the last release that runs on Node 18/20) that
serves GitHub's published OpenAPI description (npm ``@octokit/openapi``,
``generated/api.github.com.json``) and validates each request against it. Start-up
takes about 7-8 s and 300 MB, once per session; it needs no network.

Fixtures:

- ``prism_server`` (session): the running :class:`PrismServer` (``url``, ``log_path``,
  ``startup_seconds``, ``mark()``, ``log_errors()``).
- ``prism_url`` (session): its base URL, ``http://127.0.0.1:PORT`` (no trailing slash).
- ``prism_contract`` (session): the :class:`SpecContract` read from the description.
- ``prism_checked`` (function): a :class:`PrismRecorder` that fails the test (an error
  at teardown) if any request of the test broke the description. Build the client with
  ``GitHub(token, **prism_checked.github_kwargs())``, or pass
  ``transport=prism_checked.transport()`` / ``async_transport=...`` to any httpx or
  githubkit client. It also reads Prism's log between two markers, so requests from
  clients built without the transport are checked too (but see "Media types").

Tests that use ``prism_url`` get the ``contract`` marker (``-m "not contract"``).

How Prism reports a request that breaks the description (read in Prism's source and
measured):

- The operation documents a 422 (or else a 400) response, as most GitHub write
  endpoints do: Prism answers with that documented response (GitHub's example body)
  and a ``sl-violations`` header holding a JSON list of
  ``{"location": ["request", "body", ...], "severity": "Error", "code", "message"}``.
- It documents neither (e.g. ``POST /repos/{o}/{r}/check-runs``, only 201): Prism
  answers 422 ``application/problem+json``, ``type``
  ``https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY``, the same items in
  ``validation`` (location without the ``request`` prefix) and no header.
- An unknown path or method: 404 ``NO_PATH_MATCHED_ERROR`` / 405
  ``NO_METHOD_MATCHED_ERROR`` problem+json. GraphQL (``/graphql``) is not in the REST
  description, so it always lands here.
- Warnings go in ``sl-violations`` on an otherwise normal answer (not failures here).
- Every error is also logged (``✖ error``) in Prism's log.

What this module adapts, and why (validation stays GitHub's):

- :func:`normalise_spec`: schemas with ``nullable`` but no ``type`` (135 of them) make
  Prism's AJV fail to compile the schema, and Prism then silently validates nothing:
  ``POST /repos/{o}/{r}/issues`` (and ``PATCH .../issues/{n}``) accepted ``{}``. They
  become ``anyOf: [schema, {type: null}]``. Response examples whose ``value`` refers to
  a whole Example Object (19) made Prism answer ``{"value": {...}}`` for
  ``GET /repos/{o}/{r}/issues/{n}``; they now refer to its value.
- Media types (:func:`adapt_accept`): githubkit sends ``Accept:
  application/vnd.github+json`` (or ``...raw+json``); the description lists
  ``application/json``, so Prism answers 406 to every valid request. The transport
  sends ``application/json`` instead (``*/*`` is no good either: Prism then picks the
  first listed type, ``application/vnd.github.object`` for contents, and fails 500).
- Multi-segment path parameters (``x-multi-segment``: contents ``{path}``, ``{ref}``,
  ``{branch}``...): GitHub takes ``/contents/docs/a.md``, Prism's router only
  ``/contents/docs%2Fa.md``; the transport encodes those slashes.
- API versions: the description is the ``2022-11-28`` contract with later versions'
  changes as ``x-github-breaking-changes`` patches. githubkit 0.16.1 sends
  ``X-GitHub-Api-Version: 2026-03-10`` and Prism ignores the header. The recorder
  checks that the header, when present, names a version the description knows (GitHub
  answers 410 to others) and that the body sends no property its version removed
  (``assignee`` on issue create/update in ``2026-03-10``).

Prism's responses are GitHub's examples (same ids whatever was sent: issue 1347, check
run 4): good enough to drive a scenario, not to assert state. ``Prefer: code=404``
(or ``example=NAME``) on a request picks another documented response.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.tool_availability import unavailable

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
PRISM_BIN = NODE_MODULES / ".bin" / "prism"
OPENAPI_DIR = NODE_MODULES / "@octokit" / "openapi" / "generated"
SPEC_SOURCE = OPENAPI_DIR / "api.github.com.json"

BASE_API_VERSION = "2022-11-28"
STARTUP_TIMEOUT = float(os.environ.get("PRISM_STARTUP_TIMEOUT", "180"))
PRISM_ERROR_PREFIX = "https://stoplight.io/prism/errors#"
TOO_MANY_PREFIX = "Too many violations! "

__all__ = [
    "PrismRecorder",
    "PrismServer",
    "SpecContract",
    "Violation",
    "adapt_accept",
    "assert_prism_valid",
    "default_contract",
    "normalise_spec",
    "prism_checked_transport",
    "prism_violations",
    "start_prism",
]


# --------------------------------------------------------------------------- spec


def _walk_schema_nodes(node: Any, fn: Callable[[dict], None]) -> None:
    """Call fn on every dict below node, skipping example data and extensions."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            fn(cur)
            for key, value in cur.items():
                if key in ("example", "examples") or key.startswith("x-"):
                    continue
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(cur, list):
            stack.extend(v for v in cur if isinstance(v, dict | list))


def _fix_nullable_without_type(node: dict) -> bool:
    # OpenAPI 3.0 allows {"oneOf": [...], "nullable": true}; Prism turns nullable+type
    # into a JSON Schema type list but leaves this form alone, AJV refuses to compile
    # it ('"nullable" cannot be used without "type"') and Prism then validates nothing.
    if node.get("nullable") is not True or "type" in node or "$ref" in node:
        return False
    rest = {k: v for k, v in node.items() if k != "nullable"}
    keep = {k: rest.pop(k) for k in ("description", "title", "deprecated") if k in rest}
    node.clear()
    node.update(keep)
    node["anyOf"] = [rest, {"type": "null"}]
    return True


def _fix_example_value_ref(node: dict, examples: dict) -> bool:
    # {"summary": ..., "value": {"$ref": "#/components/examples/issue"}} points `value`
    # at an Example Object, so Prism serves {"value": {...}, "x-github-...": ...}.
    value = node.get("value")
    if not (isinstance(value, dict) and list(value) == ["$ref"]):
        return False
    ref = value["$ref"]
    if not (isinstance(ref, str) and ref.startswith("#/components/examples/")):
        return False
    name = ref.removeprefix("#/components/examples/")
    if "/" in name or not isinstance(examples.get(name), dict) or "value" not in examples[name]:
        return False
    node["value"] = {"$ref": f"{ref}/value"}
    return True


def normalise_spec(spec: dict) -> dict[str, int]:
    """Make GitHub's description digestible by Prism, in place; returns change counts.

    Only two mechanical rewrites, neither changing what is valid:
    ``{X, nullable: true}`` without ``type`` becomes ``{anyOf: [X, {type: null}]}``,
    and an example ``value`` that refers to a whole Example Object refers to its value.
    """
    counts = {"nullable_without_type": 0, "example_value_refs": 0}

    def nullable(node: dict) -> None:
        counts["nullable_without_type"] += _fix_nullable_without_type(node)

    _walk_schema_nodes(spec.get("paths", {}), nullable)
    for section in ("schemas", "parameters", "requestBodies", "responses", "headers"):
        _walk_schema_nodes(spec.get("components", {}).get(section, {}), nullable)

    examples = spec.get("components", {}).get("examples", {})
    stack: list[Any] = [spec.get("paths", {}), spec.get("components", {}).get("responses", {})]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            counts["example_value_refs"] += _fix_example_value_ref(cur, examples)
            stack.extend(v for v in cur.values() if isinstance(v, dict | list))
        elif isinstance(cur, list):
            stack.extend(v for v in cur if isinstance(v, dict | list))
    return counts


def write_prism_spec(dest: Path, source: Path = SPEC_SOURCE) -> Path:
    """Write the normalised copy of ``source`` that Prism serves; returns its path."""
    spec = json.loads(source.read_text(encoding="utf-8"))
    normalise_spec(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(spec), encoding="utf-8")
    return dest


_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}/?$")


def _removed_body_properties(patch: Any) -> set[str]:
    """Top-level request-body properties that one breaking-change patch removes."""
    removed: set[str] = set()
    if isinstance(patch, dict):  # JSON merge patch: null removes
        for media in (patch.get("requestBody") or {}).get("content", {}).values():
            props = ((media or {}).get("schema") or {}).get("properties") or {}
            removed.update(name for name, value in props.items() if value is None)
    elif isinstance(patch, list):  # JSON Patch
        for op in patch:
            path = str(op.get("path", ""))
            m = re.fullmatch(r"/requestBody/content/[^/]+/schema/properties/([^/]+)", path)
            if op.get("op") == "remove" and m:
                removed.add(m.group(1).replace("~1", "/").replace("~0", "~"))
    return removed


def _multi_segment_regex(template: str, names: set[str]) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    out = []
    for part in parts:
        if part.startswith("{"):
            name = part[1:-1]
            out.append(f"(?P<{name}>.+?)" if name in names else "[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


@dataclass
class SpecContract:
    """What the recorder adds to Prism: API versions, version removals, and the
    multi-segment path parameters (``x-multi-segment``) that Prism cannot route."""

    known_versions: frozenset[str]
    # (method, regex, template, {version: removed top-level body properties})
    removals: list[tuple[str, re.Pattern[str], str, dict[str, set[str]]]] = field(default_factory=list)
    # (regex with a group per multi-segment path parameter, number of literal chars)
    multi_segment: list[tuple[re.Pattern[str], int]] = field(default_factory=list)

    @classmethod
    def from_spec(cls, spec: dict) -> SpecContract:
        versions = {BASE_API_VERSION}
        removals = []
        multi: dict[str, set[str]] = {}
        shared_params = spec.get("components", {}).get("parameters", {})

        def collect(node: Any) -> None:
            stack = [node]
            while stack:
                cur = stack.pop()
                if isinstance(cur, dict):
                    for change in cur.get("x-github-breaking-changes") or []:
                        if isinstance(change, dict) and change.get("version"):
                            versions.add(str(change["version"]))
                    stack.extend(v for v in cur.values() if isinstance(v, dict | list))
                elif isinstance(cur, list):
                    stack.extend(v for v in cur if isinstance(v, dict | list))

        collect(spec)
        for template, item in spec.get("paths", {}).items():
            for method in _HTTP_METHODS:
                op = item.get(method)
                if not isinstance(op, dict):
                    continue
                for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                    ref = param.get("$ref", "")
                    if ref.startswith("#/components/parameters/"):
                        param = shared_params.get(ref.rsplit("/", 1)[1], {})
                    if param.get("in") == "path" and param.get("x-multi-segment"):
                        multi.setdefault(template, set()).add(param["name"])
                by_version: dict[str, set[str]] = {}
                for change in op.get("x-github-breaking-changes") or []:
                    gone = _removed_body_properties(change.get("patch"))
                    if gone:
                        by_version.setdefault(str(change.get("version")), set()).update(gone)
                if by_version:
                    removals.append((method.upper(), _template_regex(template), template, by_version))
        multi_segment = [
            (_multi_segment_regex(t, names), len(re.sub(r"\{[^}/]+\}", "", t))) for t, names in multi.items()
        ]
        multi_segment.sort(key=lambda item: -item[1])  # most literal text first
        return cls(frozenset(versions), removals, multi_segment)

    @classmethod
    def from_file(cls, path: Path = SPEC_SOURCE) -> SpecContract:
        return cls.from_spec(json.loads(path.read_text(encoding="utf-8")))

    def route_for_prism(self, raw_path: str) -> str:
        """Percent-encode the slashes of multi-segment path parameters.

        GitHub takes ``/repos/o/r/contents/docs/a.md``; Prism's router matches a path
        parameter to one segment only and answers 404 unless it is ``docs%2Fa.md``.
        """
        for regex, _ in self.multi_segment:
            m = regex.match(raw_path)
            if not m:
                continue
            out, last = [], 0
            for name, value in m.groupdict().items():
                if value is None or "/" not in value:
                    continue
                start, end = m.span(name)
                out.append(raw_path[last:start])
                out.append(value.replace("/", "%2F"))
                last = end
            return "".join(out) + raw_path[last:] if out else raw_path
        return raw_path

    def check(self, request: httpx.Request, path: str) -> list[Violation]:
        found: list[Violation] = []
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in self.known_versions:
            found.append(
                Violation(
                    ("request", "header", "x-github-api-version"),
                    "Error",
                    "api_version",
                    f"X-GitHub-Api-Version {version!r} is not a version of the description "
                    f"(known: {', '.join(sorted(self.known_versions))}); GitHub answers 410",
                )
            )
        if not version or version == BASE_API_VERSION:
            return found
        body = _json_body(request)
        if not isinstance(body, dict):
            return found
        for method, regex, template, by_version in self.removals:
            if method != request.method or not regex.match(path):
                continue
            for removed_in, names in by_version.items():
                if removed_in <= version:
                    for name in sorted(names & body.keys()):
                        found.append(
                            Violation(
                                ("request", "body", name),
                                "Error",
                                "removed_in_version",
                                f"{request.method} {template}: body property {name!r} was "
                                f"removed in API version {removed_in}, and the request "
                                f"sends X-GitHub-Api-Version {version}",
                            )
                        )
        return found


def _json_body(request: httpx.Request) -> Any:
    if not request.content:
        return None
    try:
        return json.loads(request.content)
    except ValueError:
        return None


# ------------------------------------------------------------------- violations


@dataclass(frozen=True)
class Violation:
    location: tuple[str, ...]
    severity: str
    code: str
    message: str

    @property
    def is_request_error(self) -> bool:
        return self.severity == "Error" and (not self.location or self.location[0] == "request")

    def __str__(self) -> str:
        return f"[{self.severity}] {'.'.join(self.location)}: {self.message} ({self.code})"


def prism_violations(response: httpx.Response) -> list[Violation]:
    """Everything Prism says is wrong with the request (and response) of an exchange."""
    found: list[Violation] = []
    header = response.headers.get("sl-violations")
    if header:
        if header.startswith(TOO_MANY_PREFIX):
            found.append(Violation(("request",), "Error", "too_many", header[:2000]))
        else:
            try:
                items = json.loads(header)
            except ValueError:
                items = [
                    {
                        "location": ["request"],
                        "severity": "Error",
                        "code": "unparsed",
                        "message": header,
                    }
                ]
            found.extend(_violation(item, prefix=None) for item in items)
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("application/problem+json"):
        try:
            problem = json.loads(response.read())
        except ValueError:
            problem = None
        if isinstance(problem, dict) and str(problem.get("type", "")).startswith(PRISM_ERROR_PREFIX):
            kind = problem["type"].removeprefix(PRISM_ERROR_PREFIX)
            items = problem.get("validation") or []
            if items:
                found.extend(_violation(item, prefix="request") for item in items)
            else:
                detail = f"{problem.get('title', '')}: {problem.get('detail', '')}".strip(": ")
                if response.request.url.path.rstrip("/").endswith("/graphql"):
                    detail += " (GraphQL is not part of the REST OpenAPI description)"
                if kind == "NOT_ACCEPTABLE":
                    detail += (
                        f" (Accept: {response.request.headers.get('Accept')!r}; send requests"
                        " through PrismRecorder.transport(), which maps GitHub's media types)"
                    )
                found.append(Violation(("request",), "Error", kind, detail))
    return found


def _violation(item: dict, prefix: str | None) -> Violation:
    location = tuple(str(p) for p in item.get("location") or [])
    if prefix and (not location or location[0] not in ("request", "response")):
        location = (prefix, *location)
    return Violation(
        location,
        str(item.get("severity", "Error")),
        str(item.get("code", "")),
        str(item.get("message", "")),
    )


def assert_prism_valid(response: httpx.Response) -> None:
    """Fail if Prism flagged the request behind this response."""
    errors = [v for v in prism_violations(response) if v.is_request_error]
    if errors:
        req = response.request
        lines = "\n  ".join(str(v) for v in errors)
        raise AssertionError(f"Prism rejected {req.method} {req.url}:\n  {lines}")


@dataclass
class Exchange:
    method: str
    url: str
    path: str
    status: int
    api_version: str | None
    request_json: Any
    violations: list[Violation]

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.is_request_error]


class PrismRecorder:
    """Records every exchange with Prism and the violations found in it."""

    def __init__(
        self,
        contract: SpecContract | None = None,
        *,
        base_url: str | None = None,
        raise_on_violation: bool = False,
    ) -> None:
        self.contract = contract
        self.base_url = base_url
        self.raise_on_violation = raise_on_violation
        self.exchanges: list[Exchange] = []
        self.extra: list[str] = []  # problems found outside the exchanges (Prism's log)

    def record(self, request: httpx.Request, response: httpx.Response) -> Exchange:
        path = request.url.path
        if self.base_url:
            prefix = httpx.URL(self.base_url).path.rstrip("/")
            if prefix and path.startswith(prefix):
                path = path[len(prefix) :] or "/"
        violations = prism_violations(response)
        if self.contract is not None:
            violations += self.contract.check(request, path)
        exchange = Exchange(
            request.method,
            str(request.url),
            path,
            response.status_code,
            request.headers.get("X-GitHub-Api-Version"),
            _json_body(request),
            violations,
        )
        self.exchanges.append(exchange)
        if self.raise_on_violation and exchange.errors:
            raise AssertionError(self._describe([exchange]))
        return exchange

    @property
    def errors(self) -> list[tuple[Exchange, Violation]]:
        return [(e, v) for e in self.exchanges for v in e.errors]

    def _describe(self, exchanges: list[Exchange]) -> str:
        lines = []
        for e in exchanges:
            if e.errors:
                lines.append(f"{e.method} {e.path} -> {e.status}")
                lines.extend(f"    {v}" for v in e.errors)
        lines.extend(self.extra)
        return "Requests that break GitHub's OpenAPI description:\n" + "\n".join(lines)

    def assert_no_violations(self) -> None:
        if self.errors or self.extra:
            raise AssertionError(self._describe(self.exchanges))

    # ---- ways to plug it into a client

    def transport(self, inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
        return _CheckedTransport(self, inner or httpx.HTTPTransport())

    def async_transport(self, inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport:
        return _AsyncCheckedTransport(self, inner or httpx.AsyncHTTPTransport())

    def event_hooks(self) -> dict[str, list[Callable[[httpx.Response], None]]]:
        """For a sync ``httpx.Client(event_hooks=...)`` that cannot take a transport."""

        def on_response(response: httpx.Response) -> None:
            response.read()
            self.record(response.request, response)

        return {"response": [on_response]}

    def github_kwargs(self, base_url: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``githubkit.GitHub`` pointed at Prism through this recorder.

        ``GitHub(token, **recorder.github_kwargs())``: no HTTP cache (it would turn
        requests into 304 replays) and no automatic retries (they sleep).
        """
        url = base_url or self.base_url
        if not url:
            raise ValueError("no base_url: pass one, or use the prism_checked fixture")
        return {
            "base_url": url.rstrip("/") + "/",
            "transport": self.transport(),
            "async_transport": self.async_transport(),
            "http_cache": False,
            "auto_retry": False,
        }


_VND_GITHUB = re.compile(r"^application/vnd\.github(\.[\w.-]+)?(\+json)?$")


def adapt_accept(accept: str | None) -> str:
    """GitHub's media types, as Prism can negotiate them.

    githubkit sends ``Accept: application/vnd.github+json`` (or ``...raw+json``), which
    GitHub answers with JSON while the description lists ``application/json``: Prism
    answers 406. ``*/*`` is no better: Prism then picks the first listed type, e.g.
    ``application/vnd.github.object`` for contents, and fails with a 500. Media types
    the description does list (``application/vnd.github.diff``...) are kept.
    """
    kept: list[str] = []
    for token in (accept or "").split(","):
        media = token.split(";")[0].strip().lower()
        if not media or media in ("*/*", "application/*", "application/json"):
            continue
        if _VND_GITHUB.match(media) and (media.endswith("+json") or media == "application/vnd.github"):
            continue
        kept.append(token.strip())
    return ", ".join(["application/json", *kept]) if kept else "application/json"


def _for_prism(request: httpx.Request, contract: SpecContract | None) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    headers["Accept"] = adapt_accept(request.headers.get("Accept"))
    url = request.url
    if contract is not None:
        raw = url.raw_path.decode("ascii")
        path, sep, query = raw.partition("?")
        routed = contract.route_for_prism(path)
        if routed != path:
            url = url.copy_with(raw_path=(routed + sep + query).encode("ascii"))
    return httpx.Request(
        request.method, url, headers=headers, content=request.content,
        extensions=request.extensions,
    )  # fmt: skip


class _CheckedTransport(httpx.BaseTransport):
    def __init__(self, recorder: PrismRecorder, inner: httpx.BaseTransport) -> None:
        self.recorder = recorder
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self.inner.handle_request(_for_prism(request, self.recorder.contract))
        content = response.read()
        response.close()
        return _recorded(self.recorder, request, response, content)

    def close(self) -> None:
        self.inner.close()


def _recorded(recorder: PrismRecorder, request: httpx.Request, response: httpx.Response, content: bytes):
    """Prism's answer re-attached to the original request (headers as sent), and recorded."""
    copy_ = httpx.Response(
        response.status_code,
        headers=response.headers,
        content=content,
        request=request,
        extensions=response.extensions,
    )
    recorder.record(request, copy_)
    return copy_


class _AsyncCheckedTransport(httpx.AsyncBaseTransport):
    def __init__(self, recorder: PrismRecorder, inner: httpx.AsyncBaseTransport) -> None:
        self.recorder = recorder
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = await self.inner.handle_async_request(_for_prism(request, self.recorder.contract))
        content = await response.aread()
        await response.aclose()
        return _recorded(self.recorder, request, response, content)

    async def aclose(self) -> None:
        await self.inner.aclose()


@functools.cache
def default_contract() -> SpecContract:
    """The :class:`SpecContract` of the installed description, read once per process."""
    return SpecContract.from_file(SPEC_SOURCE)


def prism_checked_transport(
    recorder: PrismRecorder | None = None, inner: httpx.BaseTransport | None = None
) -> httpx.BaseTransport:
    """An httpx transport to Prism that records each exchange in ``recorder``.

    The recorder is reachable as ``transport.recorder``; call its
    ``assert_no_violations()`` after the scenario (the ``prism_checked`` fixture does).
    """
    return (recorder or PrismRecorder(default_contract())).transport(inner)


# ------------------------------------------------------------------------ server

_LOG_ERROR = re.compile(r"✖\s+error\s+(.*)$")
MARK_PATH = "/__blameless_prism_mark/"


@dataclass
class PrismServer:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    spec_path: Path
    startup_seconds: float
    scanned: int = 0  # log offset up to which markers have been looked for

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def mark(self, timeout: float = 10.0) -> int:
        """Byte offset in Prism's log after everything it was sent so far.

        Prism writes its log asynchronously, so a plain file size can cut a request in
        two. This sends a marker request (an unknown path, answered 404) and waits for
        Prism's last line about it: every earlier request is fully logged by then.
        """
        token = f"{MARK_PATH}{uuid.uuid4().hex}"
        try:
            urllib.request.urlopen(f"{self.url}{token}", timeout=5).close()
        except urllib.error.HTTPError as exc:
            exc.close()
        needle = token.encode()
        deadline = time.monotonic() + timeout
        pattern = re.compile(re.escape(needle) + rb"[^\n]*error[^\n]*\n")
        while True:
            with self.log_path.open("rb") as fh:
                fh.seek(self.scanned)
                data = fh.read()
            m = pattern.search(data)
            if m:
                self.scanned += m.end()
                return self.scanned
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prism did not log the marker {token}")
            time.sleep(0.02)

    def log_errors(self, since: int = 0, until: int | None = None) -> list[str]:
        """Error lines Prism logged between two offsets (violations, rejections).

        Take the offsets with :meth:`mark`. Marker requests are left out.
        """
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            data = fh.read() if until is None else fh.read(max(0, until - since))
        text = data.decode("utf-8", "replace")
        return [
            m.group(1).strip()
            for line in text.splitlines()
            if MARK_PATH not in line and (m := _LOG_ERROR.search(line))
        ]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prism(
    spec_path: Path,
    log_dir: Path,
    *,
    port: int | None = None,
    timeout: float = STARTUP_TIMEOUT,
    attempts: int = 3,
) -> PrismServer:
    """Start ``prism mock`` on 127.0.0.1 and wait until it answers."""
    if not PRISM_BIN.exists():
        raise FileNotFoundError(f"{PRISM_BIN} is missing: run `npm ci` (or .ci/setup)")
    if shutil.which("node") is None:
        raise FileNotFoundError("node is not on PATH")
    last_error = ""
    for attempt in range(attempts):
        chosen = port or _free_port()
        log_path = log_dir / f"prism-{chosen}-{attempt}.log"
        started = time.monotonic()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(PRISM_BIN),
                    "mock",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(chosen),
                    str(spec_path),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = PrismServer(f"http://127.0.0.1:{chosen}", chosen, process, log_path, spec_path, 0.0)
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                last_error = f"prism exited with {process.returncode}:\n{server.log_tail()}"
                break
            try:
                with urllib.request.urlopen(server.url + "/", timeout=2) as resp:
                    resp.read()
                server.startup_seconds = time.monotonic() - started
                return server
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.2)
        else:
            server.stop()
            raise TimeoutError(f"Prism did not answer within {timeout:.0f}s:\n{server.log_tail()}")
        server.stop()
    raise RuntimeError(f"Prism failed to start after {attempts} attempts: {last_error}")


# ----------------------------------------------------------------------- fixtures


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "prism_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.contract)


@pytest.fixture(scope="session")
def prism_contract() -> SpecContract:
    if not SPEC_SOURCE.exists():
        unavailable(f"{SPEC_SOURCE.relative_to(ROOT)} is missing (npm ci)")
    return default_contract()


@pytest.fixture(scope="session")
def prism_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    if not SPEC_SOURCE.exists() or not PRISM_BIN.exists():
        unavailable("Prism or GitHub's OpenAPI description is not installed (npm ci)")
    if shutil.which("node") is None:
        unavailable("node is not on PATH")
    workdir = tmp_path_factory.mktemp("prism")
    spec = write_prism_spec(workdir / "api.github.com.prism.json")
    server = start_prism(spec, workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prism_url(prism_server: PrismServer) -> str:
    return prism_server.url


@pytest.fixture
def prism_checked(
    prism_server: PrismServer, prism_contract: SpecContract, prism_url: str
) -> Iterator[PrismRecorder]:
    recorder = PrismRecorder(prism_contract, base_url=prism_url)
    start = prism_server.mark()
    yield recorder
    end = prism_server.mark()
    recorder.extra.extend(f"Prism log: {line}" for line in prism_server.log_errors(start, end))
    recorder.assert_no_violations()
