"""Publishing Ollama tags by pushing straight to an OCI registry: no daemon, no copy of the GGUF.

Why this path exists beside the daemon target: Ollama's create copies every GGUF into its blob
store (a 25-tag ladder is ~250 GB of extra disk), may rewrite the file, and — for gemma4 —
always sets its built-in renderer, which makes it ignore the release's TEMPLATE
(server/create.go). A direct push uploads the GGUF unchanged and a config blob that says exactly
what the manifest says, so the published tag is the release, byte for byte.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publisher import console
from publisher.errors import CheckFailed, PublisherError, TargetUnavailable, UsageError
from publisher.gguf.header import read_header
from publisher.manifest import Release
from publisher.ollama.auth import AnonymousThenKeyAuth, OllamaKeyAuth
from publisher.ollama.image import (
    ImageInputs,
    OllamaImage,
    build_image,
    ollama_file_type,
    ollama_model_type,
)
from publisher.ollama.registry import (
    RegistryClient,
    alias_state,
    check_pushed,
    is_ollama_host,
    push_warning,
    repository_of,
)
from publisher.ollama.upload import UploadSessions
from publisher.progress import byte_progress
from publisher.statefile import cache_dir
from publisher.targets.base import (
    ApplyResult,
    Operation,
    Record,
    ReleasePayload,
    RemoteTag,
    TagPayload,
    TagStatus,
    TargetOptions,
    ledger_row,
)
from publisher.urls import check_registry_url


@dataclass
class _Tagged:
    """One tag to push: its payload and the image built from it (None when the GGUF is absent)."""

    payload: TagPayload
    image: OllamaImage | None
    problem: str | None = None


class OllamaRegistryTarget:
    """The `ollama` destination reached through its registry instead of a local daemon."""

    name = "ollama"

    def __init__(self, release: Release, registry: str, *, force: bool = False) -> None:
        if release.ollama is None:
            raise UsageError(f"{release.source}: no [ollama] table to publish")
        self.release = release
        self.ollama = release.ollama
        self.force = force
        self.registry = registry if "://" in registry else f"https://{registry}"
        self.repository = repository_of(self.ollama.model)
        self.destination = f"ollama {urlsplit(self.registry).netloc}/{self.repository}"
        # ollama.com always wants the signed request; elsewhere anonymous first, then the key
        auth = OllamaKeyAuth() if is_ollama_host(self.registry) else AnonymousThenKeyAuth()
        # Upload sessions persist beside the digest cache, so a killed run resumes its blobs.
        sessions = UploadSessions(cache_dir() / "registry-uploads.json")
        self.client = RegistryClient(
            self.registry,
            self.repository,
            auth=auth,
            insecure=self.registry.startswith("http://"),
            sessions=sessions,
        )

    @classmethod
    def from_options(cls, release: Release, options: TargetOptions) -> OllamaRegistryTarget:
        """Built by the release pipeline when `--ollama-registry` or `[ollama] registry` is set."""
        registry = options.ollama_registry or (release.ollama.registry if release.ollama else None)
        if not registry:
            raise UsageError("direct push needs --ollama-registry URL or [ollama] registry")
        try:
            check_registry_url(registry)
        except ValueError as exc:
            raise UsageError(f"--ollama-registry: {exc}") from None
        return cls(release, registry, force=options.force)

    # ---- preflight -----------------------------------------------------------------------------

    def preflight(self) -> None:
        """The registry answers and, for ollama.com, the signing key exists."""
        warning = push_warning(self.registry)
        if warning:
            console.warn(warning)
        try:
            self.client.manifest_digest(self.ollama.latest or "latest")
        except PublisherError:
            raise
        except Exception as exc:  # a connection error: name the registry, not the stack
            raise TargetUnavailable(
                f"ollama registry {self.registry} is unreachable: {exc}"
            ) from None

    # ---- plan ----------------------------------------------------------------------------------

    def _tagged(self, payload: ReleasePayload) -> list[_Tagged]:
        """The release's Ollama tags with their images built (cheap: no GGUF byte is read)."""
        tagged = []
        for tp in payload.tags:
            if "ollama" not in tp.tag.targets:
                continue
            tagged.append(_build(self.release, tp))
        return tagged

    def plan_tags(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """Blobs the registry lacks and each selected tag's manifest; offline: assume nothing."""
        ops: list[Operation] = []
        planned: dict[str, str] = {}  # blob digest -> the tag that uploads it
        for item in self._tagged(payload):
            ops.extend(self._plan_tag(item.payload.tag.tag, item, online, planned))
        return ops

    def plan_seal(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """`latest`: the registry's own manifest of its source tag, once that tag is there
        (read from the registry, so any machine's seal writes the same bytes)."""
        source = self.ollama.latest
        if not source or "ollama" not in self.release.tag(source).targets:
            return []
        ref = f"{self.ollama.model}:latest"
        if not online:
            why = f"point latest at {source} once it is published (remote not checked)"
            return [self._seal_op("move-latest", ref, why, source)]
        wanted = self.client.manifest_digest(source)
        if wanted is None:
            why = f"point latest at {source} once it is in the registry (it is not yet)"
            return [self._seal_op("move-latest", ref, why, source)]
        current = self.client.manifest_digest("latest")
        if self._latest_is(source, wanted):
            why = f"latest already is {source} ({wanted[:19]})"
            if current != wanted:
                why += f"; same content, re-serialised by the registry ({str(current)[:19]})"
            return [self._seal_op("skip-tag", ref, why, source, wanted)]
        why = f"point latest at {source} ({wanted[:19]})"
        if current:
            why += f", was {current[:19]}"
        return [self._seal_op("move-latest", ref, why, source, wanted)]

    def _seal_op(
        self, action: Any, ref: str, reason: str, source: str, digest: str | None = None
    ) -> Operation:
        details = {"source": source, "manifest_digest": digest}
        return Operation(self.name, action, ref, reason, "latest", details=details, kind="seal")

    def describe(self, plan: list[Operation]) -> dict[str, Any]:
        """The model and every planned operation, for `--json`."""
        return {"model": self.ollama.model, "operations": [op.to_json() for op in plan]}

    def _plan_tag(
        self, tag: str, item: _Tagged, online: bool, planned: dict[str, str]
    ) -> list[Operation]:
        ref = f"{self.ollama.model}:{tag}"
        if item.image is None:
            why = item.problem or "GGUF not measured"  # planned so it is seen; apply refuses it
            return [self._op("create-tag", tag, ref, why, details={"blocked": True})]
        image = item.image
        current = self.client.manifest_digest(tag) if online else None
        if online and current == image.manifest_digest and not self.force:
            why = "already published: same manifest digest"
            return [self._op("skip-tag", tag, ref, why, details={"manifest_digest": current})]
        if online and current and not self.force and self._same_content(tag, image):
            why = f"already published: same content, re-serialised by the registry ({current[:19]})"
            return [self._op("skip-tag", tag, ref, why, details={"manifest_digest": current})]
        ops: list[Operation] = []
        for layer in [image.config, *image.layers]:  # HEAD first: a blob is sent once
            if layer.digest in planned:
                why = f"uploaded with {planned[layer.digest]}"
                ops.append(self._op("skip-blob", tag, layer.digest, why))
            elif online and self.client.has_blob(layer.digest):
                ops.append(self._op("skip-blob", tag, layer.digest, "already in the registry"))
            else:
                planned[layer.digest] = tag
                reason = "missing in the registry" if online else "remote not checked"
                ops.append(self._op("upload-blob", tag, layer.digest, reason, size=layer.size))
        reason = "new tag" if current is None else f"replaces {current[:19]}"
        if not online:
            reason = "put manifest (remote not checked)"
        details = {"manifest_digest": image.manifest_digest}
        ops.append(self._op("create-tag", tag, ref, reason, details=details))
        return ops

    def _op(self, action: Any, tag: str, subject: str, reason: str, **kw: Any) -> Operation:
        return Operation(
            target=self.name, action=action, subject=subject, reason=reason, tag=tag, **kw
        )

    # ---- apply ---------------------------------------------------------------------------------

    def apply_tags(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Push tag by tag (blobs HEAD first, manifest, read back).

        A tag the plan found already published is recorded too, with the digest the registry
        holds, so the ledger never keeps an older push's digest (e.g. after a kill between the
        manifest PUT and its read-back). Bytes count as they go over the wire, failed tags too.
        """
        result = ApplyResult() if result is None else result  # filled as it goes
        items = {item.payload.tag.tag: item for item in self._tagged(payload)}
        for op in plan:
            if op.action == "skip-tag" and op.tag in items:
                item = items[op.tag]
                if item.image is not None:
                    served = op.details.get("manifest_digest") or item.image.manifest_digest
                    record(f"push:{op.tag}", self._facts(op.tag, item, 0, "already there", served))
        planned = {op.tag for op in plan if op.action == "create-tag"}
        for tag in [t for t in items if t in planned]:
            sent_before = self.client.bytes_sent
            try:
                self._push_tag(tag, items[tag], record)
            except PublisherError as exc:
                result.failures[tag] = str(exc)
            except Exception as exc:  # one clear line per tag; the run goes on
                result.failures[tag] = f"{type(exc).__name__}: {exc}"
            finally:
                result.bytes_uploaded += self.client.bytes_sent - sent_before
        return result

    def apply_seal(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Move `latest` to the registry's manifest of its source, read now (the plan is older
        than this run's pushes, and another machine may have published the source since)."""
        result = ApplyResult() if result is None else result
        source = self.ollama.latest
        if not plan or not source:
            return result
        if source in result.failures:
            result.failures["latest"] = f"not moved: its source {source} failed"
            return result
        try:
            digest = self._move_latest(source)
        except PublisherError as exc:
            result.failures["latest"] = str(exc)
            return result
        except Exception as exc:  # one clear line; the run goes on
            result.failures["latest"] = f"{type(exc).__name__}: {exc}"
            return result
        if digest is None:
            console.info(f"ollama: latest not moved: {source} is not in the registry yet")
        else:
            record("push:latest", self._latest_facts(source, digest, "in place"))
        return result

    def _move_latest(self, source: str) -> str | None:
        """PUT the source's manifest bytes as `latest` unless it already is; its digest (None:
        the source is not published, latest stays where it is)."""
        digest = self.client.manifest_digest(source)  # as the registry names it (it may
        if digest is None:  # store manifests re-serialised: compare its digests, not ours)
            return None
        if not self._latest_is(source, digest):
            served = self.client.manifest_bytes(source)
            if served is None:
                return None
            self.client.put_manifest("latest", *served)
            if not self._latest_is(source, digest):
                now = self.client.manifest_digest("latest")
                raise CheckFailed(f"latest reads back as {now}, its source {source} is {digest}")
        return digest

    def _latest_is(self, source: str, digest: str) -> bool:
        """`latest` serves the source's manifest: same digest, or the same content where the
        registry stores manifests re-serialised (compared parsed, as `check_pushed` does)."""
        now = self.client.manifest_digest("latest")
        if now is None or now == digest:
            return now == digest
        latest, origin = self.client.get_manifest("latest"), self.client.get_manifest(source)
        return latest is not None and origin is not None and latest[0] == origin[0]

    def _latest_facts(self, source: str, digest: str, outcome: str) -> dict[str, Any]:
        return {
            "ref": f"{self.ollama.model}:latest",
            "registry": self.registry,
            "manifest_digest": digest,
            "source": source,
            "bytes_uploaded": 0,
            "outcome": outcome,
        }

    def remote_tags(self) -> list[RemoteTag]:
        """Per manifest tag sent to Ollama: does the registry hold a manifest for it?"""
        rows = []
        for tag in self.release.tags:
            if "ollama" not in tag.targets:
                continue
            digest = self.client.manifest_digest(tag.tag)
            if digest is None:
                rows.append(RemoteTag(tag.tag, False, "no manifest in the registry"))
            else:
                rows.append(RemoteTag(tag.tag, True, digest, (digest,)))
        return rows

    def _push_tag(self, tag: str, item: _Tagged, record: Record) -> None:
        if item.image is None:
            raise CheckFailed(item.problem or "GGUF not measured")
        image = item.image
        sent = 0
        for layer in [image.config, *image.layers]:
            with byte_progress(f"{tag} {layer.digest[7:19]}", layer.size) as advance:
                seen = [0]

                def progress(done: int, _total: int, seen: list[int] = seen) -> None:
                    advance(max(0, done - seen[0]))
                    seen[0] = max(seen[0], done)

                sent += self.client.upload_blob(layer.source, layer.digest, layer.size, progress)
        self.client.put_manifest(tag, image.manifest_bytes)
        remote = check_pushed(self.client, tag, image)  # same digest, or same content re-serialised
        record(f"push:{tag}", self._facts(tag, item, sent, "pushed", remote))

    def _facts(
        self, tag: str, item: _Tagged, sent: int, outcome: str, served: str
    ) -> dict[str, Any]:
        """What the ledger keeps for a tag the registry holds with our content; `served` is the
        manifest digest the registry answers with (ours, or its re-serialisation of it)."""
        assert item.image is not None
        image = item.image
        return {
            "ref": f"{self.ollama.model}:{tag}",
            "registry": self.registry,
            "manifest_digest": served,
            "layers": {layer.media_type: layer.digest for layer in image.layers},
            "config_digest": image.config.digest,
            "bytes_uploaded": sent,
            "outcome": outcome,
        }

    # ---- status --------------------------------------------------------------------------------

    def status(self, payload: ReleasePayload) -> list[TagStatus]:
        """Each tag's manifest digest in the registry against the one we would push."""
        statuses = []
        items = self._tagged(payload)
        for item in items:
            tag = item.payload.tag.tag
            statuses.append(self._status(tag, item))
        latest = self.ollama.latest
        source = next((i for i in items if i.payload.tag.tag == latest), None)
        if source is not None:
            statuses.append(self._status("latest", source))
        known = {s.tag.lower() for s in statuses}
        for tag in self.client.list_tags() or []:  # None: the registry lists no tags
            if tag.lower() not in known:
                statuses.append(
                    TagStatus(self.name, tag, "extra", "in the registry, not in the manifest")
                )
        return statuses

    def _status(self, tag: str, item: _Tagged) -> TagStatus:
        remote = self.client.manifest_digest(tag)
        if remote is None:
            return TagStatus(self.name, tag, "missing", "no manifest in the registry")
        if tag != item.payload.tag.tag and item.image is None and not item.payload.files:
            # `latest` of a source whose GGUF is elsewhere: the source's manifest, or drifted
            state, detail = alias_state(self.client, tag, item.payload.tag.tag)
            return TagStatus(self.name, tag, state, detail)  # type: ignore[arg-type]
        if item.image is None and not item.payload.files:  # another machine's tag: published
            return TagStatus(
                self.name, tag, "up-to-date", f"{remote} (GGUF not here: not compared)"
            )
        if item.image is None:
            return TagStatus(self.name, tag, "unknown", item.problem or "GGUF not measured")
        if remote == item.image.manifest_digest:
            return TagStatus(self.name, tag, "up-to-date", remote)
        if self._same_content(tag, item.image):
            return TagStatus(self.name, tag, "up-to-date", f"{remote} (same content re-serialised)")
        return TagStatus(
            self.name,
            tag,
            "drifted",
            f"registry {remote[:19]}, release {item.image.manifest_digest[:19]}",
        )

    def ledger_status(self, steps: dict[str, dict[str, Any]]) -> list[TagStatus]:
        """Each `push:TAG` the ledger holds for this registry against the tag's digest there."""
        rows = []
        for key, entry in sorted(steps.items()):
            step, _, tag = key.partition(":")
            if step != "push" or entry.get("registry") != self.registry:
                continue  # another step, or a push to another registry
            rows.append(
                ledger_row(
                    self.name, tag, entry.get("manifest_digest"), self.client.manifest_digest(tag)
                )
            )
        return rows

    def _same_content(self, tag: str, image: OllamaImage) -> bool:
        """True when the registry's manifest of `tag` has another digest but our content."""
        try:
            check_pushed(self.client, tag, image)
        except CheckFailed:
            return False
        return True


@functools.lru_cache(maxsize=256)
def _config_labels(path: Path, size: int, sha256: str) -> tuple[str, str]:
    """`model_type` and `file_type` as `ollama create` derives them from one GGUF's content
    (server/create.go). Plan, apply and status each build every tag's image, so the header
    (tokenizer arrays and all) is parsed once per file, not per call."""
    header = read_header(path)
    model_type = ollama_model_type([t.n_elements for t in header.tensors])
    return model_type, ollama_file_type(header.get("general.file_type"))


def _build(release: Release, tp: TagPayload) -> _Tagged:
    """The Ollama image of one tag, or why it cannot be built yet."""
    if not tp.files:
        return _Tagged(tp, None, "GGUF missing: nothing to push until it is present")
    if len(tp.files) > 1:
        return _Tagged(
            tp,
            None,
            "split GGUF: Ollama merges shards on create, so a direct push of shards cannot "
            "match; merge it (llama-gguf-split --merge) or publish through the daemon",
        )
    gguf = tp.files[0]
    if gguf.sha256 is None:
        return _Tagged(tp, None, "GGUF not hashed (--no-digest)")
    model_type, file_type = _config_labels(gguf.path, gguf.size, gguf.sha256)
    inputs = ImageInputs(
        gguf_path=gguf.path,
        gguf_sha256=gguf.sha256,
        gguf_size=gguf.size,
        model_family=release.model.architecture,
        model_type=model_type,
        file_type=file_type,
        template=tp.template,
        params=tp.parameters,
        license=tp.license,
        system=tp.system,
        renderer=tp.renderer,
        parser=tp.parser,
        requires=release.ollama.requires if release.ollama else None,
    )
    return _Tagged(tp, build_image(inputs))
