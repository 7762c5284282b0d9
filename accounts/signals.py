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

Without Redis the channel layer does not cross processes, so a change committed by a
command or a shell would reach no server. There, each committed change is also written to
the :class:`accounts.models.AccessChange` feed, which every server process's hub polls
(:func:`changes_after`): see docs/SECURITY.md, "Who can mint what, and how revocation
reaches sockets".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.conf import settings
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
    if feed_enabled():
        _write_feed(user_ids, usernames, jtis)
    results = []
    if jtis:
        results += tokens_revoked.send_robust(sender=None, jtis=jtis)
    if user_ids or usernames:
        results += access_changed.send_robust(sender=None, user_ids=user_ids, usernames=usernames)
    for receiver, result in results:
        if isinstance(result, Exception):
            log.error("accounts: %r failed to act on a change", receiver, exc_info=result)


# -- the change feed (no Redis: the channel layer stays inside one process) ---------------

FEED_KEEP_SECONDS = 300  # rows older than this are pruned by the pollers

# Ids of the feed rows this process wrote: its own hub already acted on them (through the
# channel layer), so its poller skips them. Written from sync threads, read on the loop.
_own_ids: set[int] = set()
_own_lock = threading.Lock()


def feed_enabled() -> bool:
    """Whether changes go through the feed: only when the channel layer is per process."""
    return not settings.REDIS_URL


def _write_feed(user_ids: list[int], usernames: list[str], jtis: list[str]) -> None:
    from accounts.models import AccessChange

    try:
        row = AccessChange.objects.create(user_ids=user_ids, usernames=usernames, jtis=jtis)
    except Exception:  # noqa: BLE001 - the change is committed; other processes learn late
        log.exception("accounts: writing the access change feed failed")
        return
    with _own_lock:
        if len(_own_ids) > 10_000:  # nobody polls here: re-applying is harmless (idempotent)
            _own_ids.clear()
        _own_ids.add(row.id)


def latest_change() -> int:
    """The id of the newest feed row (0 for none): where a new poller starts."""
    from accounts.models import AccessChange

    return AccessChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


def changes_after(last_id: int, limit: int = 500) -> tuple[int, list[int], list[str], list[str]]:
    """The feed rows after ``last_id`` that other processes wrote, merged: (the newest id
    read, user_ids, usernames, jtis)."""
    from accounts.models import AccessChange

    rows = list(
        AccessChange.objects.filter(id__gt=last_id)
        .order_by("id")
        .values_list("id", "user_ids", "usernames", "jtis")[:limit]
    )
    user_ids: set[int] = set()
    usernames: set[str] = set()
    jtis: set[str] = set()
    with _own_lock:
        for row_id, ids, names, tokens in rows:
            if row_id in _own_ids:
                _own_ids.discard(row_id)
                continue
            user_ids.update(ids)
            usernames.update(names)
            jtis.update(tokens)
    newest = rows[-1][0] if rows else last_id
    return newest, sorted(user_ids), sorted(usernames), sorted(jtis)


def prune_feed() -> int:
    """Delete feed rows older than FEED_KEEP_SECONDS; how many."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import AccessChange

    cutoff = timezone.now() - timedelta(seconds=FEED_KEEP_SECONDS)
    deleted, _ = AccessChange.objects.filter(created_at__lt=cutoff).delete()
    return deleted
