"""`publish smoke --create`: a scratch copy of a tag, made from the local GGUF through the
daemon target and deleted afterwards.

Kept apart from the runner: it verifies and hashes the GGUF and refuses a copy `ollama create`
would change (its forced renderer/parser), which is publishing logic, not conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from publisher.errors import CheckFailed, UsageError
from publisher.manifest import Release, Tag
from publisher.render.modelfile import template_text

# ---------------------------------------------------------------------------------------------
# --create: a scratch copy of the tag, made from the local GGUF through the Ollama target


def scratch_name(release: Release, tag: Tag) -> str:
    """The model `--create` makes: never the published name, so deleting it loses nothing."""
    assert release.ollama is not None
    return f"{release.ollama.model}-smoke:{tag.tag}"


@contextmanager
def created_tag(release: Release, tag: Tag, host: str) -> Iterator[str]:
    """Create the tag from its local GGUF on the daemon at `host`, yield its name, delete it."""
    from publisher.gguf.checks import verify_release
    from publisher.ollama.daemon import OllamaTarget
    from publisher.targets.base import LocalFile

    assert release.ollama is not None
    target = OllamaTarget(release, host=host, skip_remote_verify=True)
    try:
        # Before hashing gigabytes: a copy `ollama create` would change is no test of the release.
        _check_create_honoured(target, release, _tag_payload(release, tag, []))
        report = verify_release(release, [tag.tag], unique_across_release=False)[0]
        if report.missing:
            raise UsageError(f"--create: {tag.tag}: no GGUF at {tag.path}")
        if not report.ok:
            reasons = "; ".join(str(failure) for failure in report.failures)
            raise CheckFailed(f"--create: {tag.tag}: the GGUF fails verification: {reasons}")
        files = [
            LocalFile(path, path.stat().st_size, report.sha256.get(path.name))
            for path in report.files
        ]
        payload = _tag_payload(release, tag, files)
        ref = scratch_name(release, tag)
        _target_create(target, payload, ref)
        try:
            yield ref
        finally:
            target.api.client.delete(ref)
    finally:
        target.close()


def _tag_payload(release: Release, tag: Tag, files: list[Any]) -> Any:
    """What the Ollama target receives for `tag` (files empty: the check before hashing)."""
    from publisher.targets.base import TagPayload

    config = release.ollama
    assert config is not None
    return TagPayload(
        tag=tag,
        files=files,
        parameters=release.parameters_for(tag),
        modelfile="",
        template=template_text(release),
        renderer=config.renderer,
        parser=config.parser,
        license=config.license,
        system=config.system,
    )


def _check_create_honoured(target: Any, release: Release, payload: Any) -> None:
    """Refuse --create when `ollama create` would not keep the release's chat setup.

    On architectures like gemma4 Ollama's create fills in its own renderer/parser when the
    manifest leaves one empty (server/create.go), and a renderer makes Ollama ignore the
    TEMPLATE: the scratch copy would fail `show` with renderer-drift on every run, and its chats
    would test Ollama's renderer, not the release's template.
    """
    from publisher.targets.base import ReleasePayload

    try:
        target.check_daemon_can_honour(ReleasePayload(release=release, tags=[payload]))
    except UsageError:
        config = release.ollama
        assert config is not None
        arch = release.model.architecture
        tag = payload.tag.tag
        template = ", a template" if config.template else ""
        raise UsageError(
            f"--create {tag}: {release.source}: [ollama] declares renderer={config.renderer!r}, "
            f"parser={config.parser!r}{template}; `ollama create` puts its own {arch!r} "
            f"renderer/parser on {arch} GGUFs, so the scratch copy would not be the release (the "
            "show check would fail with renderer-drift and the chats would test Ollama's renderer, "
            "not the release's template). Instead publish the tag by direct registry push "
            f"(`publish release {release.source} --tag {tag}` with [ollama] registry set), "
            f"`ollama pull {config.model}:{tag}`, then run `publish smoke {release.source} --tag "
            f"{tag}` without --create. --create suits releases that declare renderer and parser."
        ) from None


def _target_create(target: Any, payload: Any, ref: str) -> None:
    """The target's create path (upload what the daemon lacks, then /api/create)."""
    target.create_local(payload, ref)
