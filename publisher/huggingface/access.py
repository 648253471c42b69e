"""May this token write to this repo? The preflight of the Hub target, asked before any upload.

`whoami` tells the token's role and its user's organisations: a read-only token, a fine-grained
token without `repo.write` on the owner, or a user who is not the owner nor a writing member of
its organisation is refused with exit 3 before a byte is sent, not after a long upload; the
Hub's own write check (`auth_check`) decides the rest.
"""

from __future__ import annotations

from typing import Any

from publisher import console
from publisher.errors import TargetUnavailable
from publisher.huggingface.session import (
    HubSession,
    http_status,
    is_repo_not_found,
    remote_errors,
)

WRITE_ROLES = frozenset({"admin", "write"})


class HubAccess:
    """The preflight checks, asked through the session of the target."""

    def __init__(self, session: HubSession) -> None:
        self.session = session
        self.repo_id = session.repo_id
        self.owner = session.repo_id.split("/")[0]
        self._me: dict[str, Any] | None = None

    def preflight(self) -> None:
        """Exit 3 unless the token works and may write to the repo's owner (whoami, cached)."""
        api = self.session.client(require_token=True)
        me = self._whoami(api)
        self._check_token_role(me)
        self._check_owner(me)
        try:
            self.session.retrying("auth check", lambda: api.auth_check(self.repo_id, write=True))
        except remote_errors() as exc:
            if http_status(exc) == 404 or is_repo_not_found(exc):
                return  # the repo does not exist yet: create_repo makes it (owner checked above)
            if http_status(exc) == 403 and not self._exists(api):
                return  # some hubs refuse a write check on a repo that is not there yet
            raise TargetUnavailable(
                self.session.explain(exc, f"write check on {self.repo_id}")
            ) from None

    def _exists(self, api: Any) -> bool:
        try:
            return bool(self.session.retrying("repo_exists", lambda: api.repo_exists(self.repo_id)))
        except remote_errors():
            return True  # unknown: keep the write check's refusal

    def _whoami(self, api: Any) -> dict[str, Any]:
        if self._me is None:
            try:
                self._me = self.session.retrying("whoami", lambda: api.whoami(cache=True))
            except remote_errors() as exc:
                raise TargetUnavailable(self.session.explain(exc, "whoami")) from None
        return self._me

    def _check_token_role(self, me: dict[str, Any]) -> None:
        access = (me.get("auth") or {}).get("accessToken") or {}
        role = access.get("role")
        if role == "read":
            raise TargetUnavailable(
                f"huggingface: the token of {me.get('name')!r} is read-only; "
                f"{self.repo_id} needs a token with write access"
            )
        if role == "fineGrained" and not self._fine_grained_writes(access.get("fineGrained") or {}):
            raise TargetUnavailable(
                f"huggingface: the fine-grained token of {me.get('name')!r} has no repo.write "
                f"permission on {self.owner!r} or {self.repo_id!r}"
            )

    def _fine_grained_writes(self, grants: dict[str, Any]) -> bool:
        for scope in grants.get("scoped") or []:
            entity = scope.get("entity") or {}
            name = str(entity.get("name", ""))
            if name.lower() in (self.owner.lower(), self.repo_id.lower()) and "repo.write" in (
                scope.get("permissions") or []
            ):
                return True
        return False

    def _check_owner(self, me: dict[str, Any]) -> None:
        user = str(me.get("name", ""))
        if user.lower() == self.owner.lower():
            return
        for org in me.get("orgs") or []:
            if str(org.get("name", "")).lower() != self.owner.lower():
                continue
            role = org.get("roleInOrg")
            if role in WRITE_ROLES:
                return
            if role == "contributor":
                console.warn(
                    f"huggingface: {user!r} is a contributor of {self.owner!r}: it may write only "
                    f"to repos it created; the write check on {self.repo_id} decides"
                )
                return
            raise TargetUnavailable(
                f"huggingface: {user!r} has the role {role!r} in {self.owner!r}; publishing to "
                f"{self.repo_id} needs write or admin"
            )
        raise TargetUnavailable(
            f"huggingface: the token belongs to {user!r}, which is neither {self.owner!r} nor a "
            f"member of the organization {self.owner!r} (repo {self.repo_id})"
        )
