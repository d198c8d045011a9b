"""A small local stand-in of the KFP v2beta1 REST API that records every request.

No Kubeflow cluster is reachable from the test machines; this answers the
calls ``kfp.Client`` makes for ``headrace submit`` and ``headrace schedule``
(healthz, experiments, pipelines and versions by upload, runs, recurring
runs) and keeps the state they need, so the tests can assert the bodies sent.
"""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    """JSON as parsed; for an upload, ``{"uploadfile": text}``."""


@dataclass
class FakeKfp:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def sent(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        self.requests.append(Request(method, path, query, body))
        route = path[len(API) :]
        if route == "/healthz":
            return 200, {"multi_user": False}
        if route == "/experiments":
            if method == "POST":
                experiment = {**body, "experiment_id": f"exp-{len(self.experiments) + 1}"}
                self.experiments[experiment["experiment_id"]] = experiment
                return 200, experiment
            return 200, {"experiments": _filtered(self.experiments.values(), query)}
        if route == "/pipelines":
            return 200, {"pipelines": _filtered(self.pipelines.values(), query)}
        if route == "/pipelines/upload":
            pipeline = {"pipeline_id": f"pipeline-{len(self.pipelines) + 1}", "display_name": query.get("name")}
            self.pipelines[pipeline["pipeline_id"]] = pipeline
            return 200, pipeline
        if route == "/pipelines/upload_version":
            version = {
                "pipeline_id": query["pipelineid"],
                "pipeline_version_id": f"version-{len(self.versions) + 1}",
                "display_name": query.get("name"),
                "spec": body["uploadfile"],
            }
            self.versions[version["pipeline_version_id"]] = version
            return 200, {k: v for k, v in version.items() if k != "spec"}
        if route == "/runs" and method == "POST":
            run = {**body, "run_id": f"run-{len(self.runs) + 1}"}
            self.runs[run["run_id"]] = run
            return 200, run
        if route == "/recurringruns":
            if method == "POST":
                run = {**body, "recurring_run_id": f"recurring-{len(self.requests)}"}
                self.recurring_runs[run["recurring_run_id"]] = run
                return 200, run
            runs = [
                r
                for r in self.recurring_runs.values()
                if r["experiment_id"] == query.get("experiment_id", r["experiment_id"])
            ]
            return 200, {"recurringRuns": _filtered(runs, query)}  # the one list the API names in camelCase
        if route.startswith("/recurringruns/") and method == "DELETE":
            self.recurring_runs.pop(route.rsplit("/", 1)[1], None)
            return 200, {}
        return 404, {"error": f"the stand-in does not know {method} {path}"}


def _filtered(items: Any, query: dict[str, str]) -> list[dict[str, Any]]:
    found = list(items)
    if "filter" in query:
        for predicate in json.loads(query["filter"]).get("predicates", []):
            if predicate.get("key") in ("display_name", "name"):
                found = [i for i in found if i.get("display_name") == predicate.get("stringValue")]
    return found


def _handler(state: FakeKfp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _serve(self, method: str) -> None:
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            kind = self.headers.get("Content-Type", "")
            body: Any = None
            if kind.startswith("multipart/form-data"):
                message = email.message_from_bytes(f"Content-Type: {kind}\r\n\r\n".encode() + raw)
                body = {
                    part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
                    for part in message.get_payload()
                }
            elif raw:
                body = json.loads(raw)
            status, answer = state.handle(method, parsed.path, query, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler


@contextmanager
def fake_kfp() -> Iterator[FakeKfp]:
    state = FakeKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
