"""A small Secret Manager stand-in speaking the v1 REST API (what the client's REST transport calls).

Enough for the token vault and configuration secrets: create, add version, access (a version
or ``latest``), list versions (``filter=state:ENABLED``), destroy a version, delete a secret.
Errors use Google's JSON error shape with gRPC status names, which the client maps to
``NotFound``, ``AlreadyExists`` and ``FailedPrecondition``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Request, Response

from local.serving import BackgroundServer

_SECRET = re.compile(r"^/v1/(projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255})")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _error(code: int, status: str, message: str) -> Response:
    return Response(json.dumps({"error": {"code": code, "status": status, "message": message}}), status=code,
                    mimetype="application/json")


class SecretManagerStandIn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.secrets: dict[str, dict[str, Any]] = {}  # name → {"labels", "versions": [{"data", "state"}]}
        self.accesses = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self.lock:
            response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        m = re.fullmatch(r"/v1/(projects/[^/]+)/secrets", path)
        if m and method == "POST":
            secret_id = request.args.get("secretId", "")
            if not _SECRET_ID.match(secret_id):
                return _error(400, "INVALID_ARGUMENT", "invalid secret id")
            name = f"{m.group(1)}/secrets/{secret_id}"
            if name in self.secrets:
                return _error(409, "ALREADY_EXISTS", "Secret already exists")
            body = request.get_json(silent=True) or {}
            self.secrets[name] = {"labels": body.get("labels", {}), "versions": []}
            return self._json({"name": name, "labels": body.get("labels", {})})
        m = _SECRET.match(path)
        if not m:
            return _error(404, "NOT_FOUND", "unknown route")
        name, rest = m.group(1), path[m.end():]
        secret = self.secrets.get(name)
        if secret is None:
            return _error(404, "NOT_FOUND", f"Secret [{name}] not found")
        if rest == "" and method == "DELETE":
            del self.secrets[name]
            return self._json({})
        if rest == ":addVersion" and method == "POST":
            data = (request.get_json(silent=True) or {}).get("payload", {}).get("data", "")
            secret["versions"].append({"data": data, "state": "ENABLED",
                                       "created": datetime.now(timezone.utc).isoformat()})
            return self._json(self._version(name, len(secret["versions"])))
        if rest == "/versions" and method == "GET":
            wanted = request.args.get("filter", "")
            items = [self._version(name, i + 1) for i, v in enumerate(secret["versions"])
                     if not wanted or wanted == f"state:{v['state']}"]
            return self._json({"versions": items, "totalSize": len(items)})
        vm = re.fullmatch(r"/versions/(latest|\d+)(:access|:destroy)?", rest)
        if vm:
            number = len(secret["versions"]) if vm.group(1) == "latest" else int(vm.group(1))
            if not 1 <= number <= len(secret["versions"]):
                return _error(404, "NOT_FOUND", "Secret version not found")
            version = secret["versions"][number - 1]
            if vm.group(2) == ":destroy" and method == "POST":
                version.update(state="DESTROYED", data="")
                return self._json(self._version(name, number))
            if vm.group(2) == ":access" and method == "GET":
                if version["state"] != "ENABLED":
                    return _error(400, "FAILED_PRECONDITION", f"Secret version is in {version['state']} state")
                self.accesses += 1
                return self._json({"name": f"{name}/versions/{number}", "payload": {"data": version["data"]}})
        return _error(404, "NOT_FOUND", "unknown route")

    def _version(self, name: str, number: int) -> dict[str, Any]:
        v = self.secrets[name]["versions"][number - 1]
        return {"name": f"{name}/versions/{number}", "state": v["state"], "createTime": v["created"]}

    @staticmethod
    def _json(payload: dict[str, Any]) -> Response:
        return Response(json.dumps(payload), mimetype="application/json")

    def put(self, project: str, secret_id: str, value: str) -> None:
        """Seed a secret with one version (configuration secrets)."""
        with self.lock:
            name = f"projects/{project}/secrets/{secret_id}"
            self.secrets.setdefault(name, {"labels": {}, "versions": []})["versions"].append(
                {"data": base64.b64encode(value.encode()).decode(), "state": "ENABLED",
                 "created": datetime.now(timezone.utc).isoformat()})


class SecretManagerServer(BackgroundServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(SecretManagerStandIn(), "secretmanager", host, port)
        self.url = self.url.rstrip("/")  # the client wants a host, not a path
