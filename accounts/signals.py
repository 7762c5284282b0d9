"""What accounts announces when someone's rights change, once the change is committed.

Two signals, sent after the transaction that made the change commits (never for a change
that is rolled back), and after the cached principals and token states are forgotten:

- ``access_changed(user_ids, usernames)``: grants, groups, superuser or active status of
  these users changed (or the users were created, renamed or deleted).
- ``tokens_revoked(jtis)``: these issued tokens were revoked.

And one sent inside the transaction: ``tokens_revoking(jtis, users, by, reason)``, once
per :func:`accounts.tokens.revoke_tokens` call (who revoked which tokens, and why), for
the audit trail (``game`` records it; ``accounts`` must not import ``game``).

``accounts`` knows nothing of sockets; ``realtime`` connects to these signals in its
``AppConfig.ready()`` and acts on the open sockets of every server process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

access_changed = Signal()  # kwargs: user_ids: list[int], usernames: list[str]
tokens_revoked = Signal()  # kwargs: jtis: list[str]
# Sent inside the revoking transaction, once per revoke_tokens() call (game audits it):
# kwargs: jtis: list[str], users: list[str] (their subjects), by: user or None, reason: str
tokens_revoking = Signal()

# Changes queued by the current thread's transaction. Many model signals fire for one
# change (user_permissions.set() is a remove and an add; a group edit touches every
# member): they are gathered so that one announcement leaves per commit.
_local = threading.local()


def _pending() -> dict:
    pending = getattr(_local, "pending", None)
    if pending is None:
        pending = _local.pending = {"user_ids": set(), "usernames": set(), "jtis": set()}
    return pending


def announce_access_changed(user_ids: Iterable[int], usernames: Iterable[str]) -> None:
    """Queue ``access_changed`` for these users, sent when the transaction commits."""
    pending = _pending()
    pending["user_ids"].update(user_ids)
    pending["usernames"].update(u for u in usernames if u)
    # One callback per call: a callback registered in a savepoint that is rolled back is
    # dropped, so registering only the first could lose a later committed change. The
    # first callback to run sends everything; the rest find nothing left to send.
    transaction.on_commit(_flush, robust=True)


def announce_tokens_revoked(jtis: Iterable[str]) -> None:
    """Queue ``tokens_revoked`` for these token ids, sent when the transaction commits."""
    _pending()["jtis"].update(jtis)
    transaction.on_commit(_flush, robust=True)


def _flush() -> None:
    pending = getattr(_local, "pending", None)
    _local.pending = None
    if not pending:
        return
    from accounts import services  # services imports models; keep this module import-light

    user_ids, usernames, jtis = (
        sorted(pending["user_ids"]),
        sorted(pending["usernames"]),
        sorted(pending["jtis"]),
    )
    # Forget first: even if nobody listens (or a listener fails), no process may keep
    # answering from the cache what the database no longer says.
    services.forget(usernames=usernames, jtis=jtis)
    results = []
    if jtis:
        results += tokens_revoked.send_robust(sender=None, jtis=jtis)
    if user_ids or usernames:
        results += access_changed.send_robust(sender=None, user_ids=user_ids, usernames=usernames)
    for receiver, result in results:
        if isinstance(result, Exception):
            log.error("accounts: %r failed to act on a change", receiver, exc_info=result)
