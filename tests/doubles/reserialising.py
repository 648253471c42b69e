"""A front for a real registry that serves every manifest re-serialised — as a registry may
(design-notes 17): the same content with another digest, or (tampered) with one layer changed.
An httpx transport: `RegistryClient(url, repo, transport=Reserialising())`."""

from __future__ import annotations

import hashlib
import json

import httpx


class Reserialising(httpx.BaseTransport):
    """The real registry behind a front that serves every manifest re-serialised (indented,
    keys in another order), optionally with one layer digest changed."""

    def __init__(self, tamper: bool = False) -> None:
        self.inner, self.tamper = httpx.HTTPTransport(), tamper

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        if "/manifests/" not in request.url.path or request.method not in ("GET", "HEAD"):
            return resp
        resp.read()
        if resp.status_code != 200:
            return resp
        original = request.method == "HEAD" and self.inner.handle_request(
            httpx.Request("GET", request.url, headers=request.headers)
        )
        body = original.read() if original else resp.content
        manifest = json.loads(body)
        if self.tamper:
            manifest["layers"][-1]["digest"] = "sha256:" + "0" * 64
        data = json.dumps(dict(reversed(manifest.items())), indent=2).encode()
        headers = {"Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()}
        return httpx.Response(200, headers=headers, content=b"" if original else data)
