"""Webhooks in-process: the outbox written with the change, signed deliveries to a real
local receiver that fails, hangs and recovers, backoff, giving up, redelivery, the SSRF
guard (redirects too), the Discord format, the secret at rest."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from game import audit
from game.models import AuditEntry
from tests.game.support import ask
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import OWNER, SECRET, adeliveries, aendpoint, deliveries, drain, endpoint
from webhooks import crypto, formats, guard, outbox, services
from webhooks.models import Delivery, Endpoint
from webhooks.sender import Sender

pytestmark = pytest.mark.django_db(transaction=True)


def test_signature_is_the_standard_webhooks_one():
    # The Standard Webhooks specification's own test vector.
    signature = crypto.sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert crypto.verify(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}',
                         "v1,bm9wZQ== " + signature)
    assert not crypto.verify(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, b'{"test": 2432232314}', signature)


def test_the_secret_is_encrypted_at_rest(settings):
    hook = endpoint("https://example.com/hook", ["*"])
    stored = Endpoint.objects.values_list("secret_encrypted", flat=True).get(pk=hook.pk)
    assert SECRET not in stored and SECRET[6:] not in stored
    assert Endpoint.objects.get(pk=hook.pk).secret == SECRET
    settings.WS_WEBHOOK_KEY = "another key entirely"
    with pytest.raises(crypto.SecretUnreadable):
        Endpoint.objects.get(pk=hook.pk).secret
    # ... and the audit trail of its creation holds no secret either.
    assert SECRET not in json.dumps(list(AuditEntry.objects.values("data", "target", "detail")))


def test_bad_secrets_are_refused():
    for bad in ("short", "whsec_not*base64*at*all!", "whsec_" + "QUJD"):
        with pytest.raises(ValueError):
            crypto.check_secret(bad)


def test_outbox_rows_are_written_in_the_actions_transaction():
    endpoint("https://example.com/hook", ["audit.player.*"])
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(OWNER, "player.kick", "player 1", {"reason": "x"}, AuditEntry.OK)
        assert Delivery.objects.count() == 1  # written with the entry...
        raise RuntimeError("the change fails")
    assert Delivery.objects.count() == 0  # ... and rolled back with it
    audit.record(OWNER, "player.kick", "player 1", {"reason": "x"}, AuditEntry.OK)
    [row] = deliveries()
    assert row.event_type == "audit.player.kick" and row.payload["data"] == {"reason": "x"}


def test_audit_payloads_leave_out_player_ips():
    endpoint("https://example.com/hook", ["audit.player.*"])
    audit.record(OWNER, "player.ban", "player 1", {"identifiers": ["license:abc", "ip:10.0.0.7"],
                                                   "player": {"ip": "10.0.0.7", "license": "license:abc"}},
                 AuditEntry.OK)
    [row] = [d for d in deliveries() if d.event_type == "audit.player.ban"]
    assert row.payload["data"] == {"identifiers": ["license:abc"], "player": {"license": "license:abc"}}


def test_subscriptions():
    assert outbox.wants(["*"], "playerBanned") and not outbox.wants(["*"], "audit.player.ban")
    assert outbox.wants(["audit.*"], "audit.player.ban") and not outbox.wants(["audit.*"], "playerBanned")
    assert outbox.wants(["audit.player.*"], "audit.player.kick")
    assert not outbox.wants(["playerKicked"], "playerBanned") and not outbox.wants([], "playerBanned")


async def test_a_kick_is_delivered_signed_as_broadcast_and_audit_action(admin, game, receiver, loopback_allowed):
    hook = await aendpoint(receiver.url, ["playerKicked", "audit.player.kick"])
    reply = await ask(admin, "kickPlayer", {"source": 1, "reason": "afk"}, request_id="k")
    assert reply["event"] == "success", reply
    sender = Sender()
    await drain(sender, lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 2)
    got = {r.json["type"]: r for r in receiver.wait_for(2)}
    assert set(got) == {"playerKicked", "audit.player.kick"}
    assert got["playerKicked"].json["data"] == {"source": 1, "reason": "afk", "server": "main"}
    entry = got["audit.player.kick"].json["data"]
    assert entry["actor"] == "boss" and entry["outcome"] == "ok" and entry["data"]["reason"] == "afk"
    rows = {d.event_type: d for d in await adeliveries()}
    for kind, request in got.items():
        h = request.headers
        assert h["webhook-id"] == rows[kind].message_id
        assert abs(int(h["webhook-timestamp"]) - time.time()) < 60
        assert crypto.verify(SECRET, h["webhook-id"], int(h["webhook-timestamp"]), request.body, h["webhook-signature"])
        row = rows[kind]
        assert row.attempts == 1 and row.last_status_code == 204 and row.last_latency_ms is not None
        assert [a.status_code for a in row.attempt_log.all()] == [204]
    assert hook.pk == rows["playerKicked"].endpoint_id


async def test_a_receiver_that_fails_hangs_and_recovers(settings, receiver, loopback_allowed):
    settings.WS_WEBHOOK_TIMEOUT = 0.5
    await aendpoint(receiver.url, ["announcement"])
    from realtime import api

    await api.abroadcast("announcement", {"message": "restart at 6"})
    [row] = await adeliveries()
    sender = Sender()
    receiver.set("fail")
    assert await sender.run_once() == 1
    [row] = await adeliveries()
    assert row.status == Delivery.PENDING and row.last_status_code == 503 and row.next_attempt_at > row.created_at
    receiver.set("hang")
    await drain(sender, lambda: Delivery.objects.get().attempts == 2)
    [row] = await adeliveries()
    assert row.status == Delivery.PENDING and row.last_status_code is None and "no answer within 0.5s" in row.last_error
    receiver.set("ok")
    await drain(sender, lambda: Delivery.objects.get().status == Delivery.DELIVERED)
    [row] = await adeliveries()
    assert [(a.ok, a.status_code) for a in row.attempt_log.all()] == [(False, 503), (False, None), (True, 204)]
    ids = {r.headers["webhook-id"] for r in receiver.wait_for(3)}
    assert ids == {row.message_id}  # one idempotency id for every attempt
    assert await sender.run_once() == 0  # delivered: never sent again


async def test_a_rate_limited_answer_waits_as_long_as_the_receiver_asks(receiver, loopback_allowed, settings):
    settings.WS_WEBHOOK_RETRY_MAX = 3600
    await aendpoint(receiver.url, ["announcement"])
    from realtime import api

    receiver.set("limited")
    await api.abroadcast("announcement", {"message": "hello"})
    assert await Sender().run_once() == 1
    [row] = await adeliveries()
    assert row.last_status_code == 429 and row.status == Delivery.PENDING
    [attempt] = row.attempt_log.all()
    assert 119 <= (row.next_attempt_at - attempt.at).total_seconds() <= 121


def test_backoff_grows_with_jitter_and_caps(settings):
    settings.WS_WEBHOOK_RETRY_BASE, settings.WS_WEBHOOK_RETRY_MAX = 5, 3600
    for attempts, full in [(1, 5), (2, 10), (5, 80), (30, 3600)]:
        delays = {outbox.backoff(attempts) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays) and len(delays) > 1


async def test_gives_up_after_the_retry_window_and_redeliver_sends_again(settings, receiver, loopback_allowed):
    settings.WS_WEBHOOK_RETRY_FOR = 0
    await aendpoint(receiver.url, ["audit.player.*"])
    await database_sync_to_async(audit.record)(OWNER, "player.ban", "Nova", {"reason": "cheat"}, AuditEntry.OK)
    receiver.set("fail")
    sender = Sender()
    assert await sender.run_once() == 1
    [row] = await adeliveries()
    assert row.status == Delivery.FAILED and row.attempts == 1
    assert await sender.run_once() == 0
    settings.WS_WEBHOOK_RETRY_FOR = 86400
    receiver.set("ok")
    assert await database_sync_to_async(services.redeliver)(OWNER, [row.pk]) == 1
    await drain(sender, lambda: Delivery.objects.get(pk=row.pk).status == Delivery.DELIVERED)
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.message_id
    redone = await database_sync_to_async(AuditEntry.objects.get)(action="webhook.redeliver")
    assert redone.data == {"deliveryIds": [row.pk]}


async def test_internal_addresses_are_refused(receiver):
    await aendpoint(receiver.url, ["announcement"])
    await aendpoint(f"http://localhost:{receiver.port}/hook", ["announcement"])
    from realtime import api

    await api.abroadcast("announcement", {"message": "hello"})
    assert await Sender().run_once() == 2
    for row in await adeliveries():
        assert row.status == Delivery.PENDING and "internal address" in row.last_error, row.last_error
    assert receiver.requests == []


def test_what_counts_as_internal():
    for address in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"):
        assert guard.is_internal(address), address
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert not guard.is_internal(address), address
    with pytest.raises(guard.AddressRefused):
        guard.check("10.0.0.5", guard.allowed_networks(["192.168.0.0/16"]))
    guard.check("10.0.0.5", guard.allowed_networks(["10.0.0.0/8"]))


async def test_a_redirect_to_an_internal_address_is_refused(settings):
    # Only 127.0.0.2 is allowed: the endpoint there redirects to 127.0.0.1, which is not.
    settings.WS_WEBHOOK_ALLOW_PRIVATE = ["127.0.0.2"]
    inside = Receiver(host="127.0.0.1")
    front = Receiver(host="127.0.0.2", mode="redirect", location=inside.url)
    try:
        await aendpoint(front.url, ["announcement"])
        from realtime import api

        await api.abroadcast("announcement", {"message": "hello"})
        assert await Sender().run_once() == 1
        [row] = await adeliveries()
        assert len(front.wait_for(1)) == 1
        assert "internal address" in row.last_error and inside.requests == []
    finally:
        inside.close()
        front.close()


async def test_redirects_are_followed_only_where_they_keep_the_post(receiver, loopback_allowed):
    front = Receiver(mode="redirect", location=receiver.url)
    try:
        await aendpoint(front.url, ["announcement"])
        from realtime import api

        await api.abroadcast("announcement", {"message": "hello"})
        assert await Sender().run_once() == 1
        [row] = await adeliveries()
        assert row.status == Delivery.DELIVERED and receiver.wait_for(1)[0].json["data"] == {"message": "hello"}
        front.set("redirect302")
        await database_sync_to_async(services.redeliver)(OWNER, [row.pk])
        assert await Sender().run_once() == 1
        [row] = await adeliveries()
        assert row.status == Delivery.PENDING and "redirected to a GET" in row.last_error
    finally:
        front.close()


async def test_the_socket_is_not_slowed_by_a_hanging_receiver(admin, receiver, loopback_allowed, settings):
    settings.WS_WEBHOOK_TIMEOUT = 3
    receiver.set("hang")
    await aendpoint(receiver.url, ["announcement"])
    from realtime import api

    await api.abroadcast("announcement", {"message": "hello"})
    sender = asyncio.create_task(Sender().run_once())
    await asyncio.to_thread(receiver.wait_for, 1)  # the request is in flight, unanswered
    started = time.monotonic()
    pong = await ask(admin, "ping", request_id="p")
    assert pong["event"] == "pong" and time.monotonic() - started < 0.5
    assert not sender.done()  # still waiting on the receiver meanwhile
    receiver.release()
    assert await sender == 1


def test_discord_format():
    ban = formats.discord("playerBanned", {"banId": 3, "source": 7, "name": "Nova42", "reason": "aimbot @everyone",
                                           "expiresAt": None}, "2026-01-01T00:00:00+00:00")
    assert ban["content"] == "🔨 **Nova42** was banned permanently: aimbot @everyone"
    assert ban["allowed_mentions"] == {"parse": []}  # no pings from a reason
    [embed] = ban["embeds"]
    assert embed["title"] == "Player banned" and {"name": "reason", "value": "aimbot @everyone", "inline": True} in embed["fields"]
    kick = formats.discord("audit.player.kick", {"actor": "boss", "target": "player 1 Nova42", "outcome": "ok",
                                                 "data": {"reason": "afk"}}, "t")
    assert kick["content"] == "👢 **boss** kicked player 1 Nova42: afk"
    failed = formats.discord("audit.player.ban", {"actor": "boss", "target": "player 1", "outcome": "failed",
                                                  "detail": "offline", "data": {}}, "t")
    assert failed["content"] == "🔨 **boss** tried to ban player 1 (failed: offline)"
    warn = formats.discord("audit.player.warn", {"actor": "mod", "target": "player 2", "data": {"reason": "rdm"}}, "t")
    assert warn["content"] == "⚠️ **mod** warned player 2: rdm"
    report = formats.discord("audit.report.create", {"actor": "Nova", "target": "player 9", "data": {}}, "t")
    assert report["content"].startswith("🚩 Report")
    long = formats.discord("playerBanned", {"name": "x" * 5000, "reason": "r" * 5000}, "t")
    assert len(long["content"]) <= 2000 and all(len(f["value"]) <= 1024 for f in long["embeds"][0]["fields"])


async def test_discord_endpoints_get_discord_json(receiver, loopback_allowed):
    await aendpoint(receiver.url, ["playerUnbanned"], fmt=Endpoint.DISCORD)
    from realtime import api

    await api.abroadcast("playerUnbanned", {"banId": 4, "name": "Nova42"})
    assert await Sender().run_once() == 1
    [request] = receiver.wait_for(1)
    assert request.json["content"] == "✅ **Nova42** was unbanned" and request.json["embeds"][0]["title"] == "Player unbanned"


def test_no_subscriber_no_database_work_per_broadcast(django_assert_num_queries):
    from asgiref.sync import async_to_sync

    endpoint("https://example.com/hook", ["playerBanned"])
    async_to_sync(outbox.on_broadcast)("playerJoined", {"source": 1})  # fills the cache
    with django_assert_num_queries(0):
        async_to_sync(outbox.on_broadcast)("playerJoined", {"source": 2})
    with django_assert_num_queries(3):  # the endpoint list cached: begin, one insert, commit
        async_to_sync(outbox.on_broadcast)("playerBanned", {"banId": 1})
    assert [d.event_type for d in deliveries()] == ["playerBanned"]


async def test_no_log_line_holds_the_url_or_the_secret(receiver, loopback_allowed, settings, caplog):
    settings.WS_WEBHOOK_RETRY_FOR = 0
    url = receiver.url.replace("/hook", "/api/webhooks/123/very-secret-token")
    await aendpoint(url, ["announcement"], fmt=Endpoint.DISCORD)
    from realtime import api

    receiver.set("fail")
    await api.abroadcast("announcement", {"message": "hello"})
    assert await Sender().run_once() == 1
    [row] = await adeliveries()
    assert row.status == Delivery.FAILED
    assert "gave up" in caplog.text
    assert "very-secret-token" not in caplog.text and SECRET not in caplog.text


async def test_a_paused_endpoints_deliveries_wait_for_it(receiver, loopback_allowed):
    hook = await aendpoint(receiver.url, ["announcement"])
    from realtime import api

    await api.abroadcast("announcement", {"message": "hello"})
    hook.active = False
    await database_sync_to_async(services.save_endpoint)(OWNER, hook)
    assert await Sender().run_once() == 0
    hook.active = True
    await database_sync_to_async(services.save_endpoint)(OWNER, hook)
    assert await Sender().run_once() == 1 and len(receiver.wait_for(1)) == 1


def test_the_webhooks_send_command_delivers_what_is_due(receiver, loopback_allowed):
    from django.core.management import call_command
    from io import StringIO

    hook = endpoint(receiver.url, ["announcement"])
    outbox.enqueue([hook.pk] * 3, "announcement", {"message": "hi"})
    out = StringIO()
    call_command("webhooks_send", "--until-idle", stdout=out)
    assert out.getvalue().strip() == "3 deliveries sent"
    assert len(receiver.wait_for(3)) == 3 and {d.status for d in deliveries()} == {Delivery.DELIVERED}


async def test_a_failing_broadcast_hook_neither_stops_the_broadcast_nor_other_hooks(admin, caplog):
    from realtime import api

    seen = []

    async def broken(event, data):  # noqa: ANN001
        raise RuntimeError("boom")

    async def follower(event, data):  # noqa: ANN001
        seen.append(event)

    api.on_broadcast(broken)
    api.on_broadcast(follower)
    api.on_broadcast(follower)  # idempotent
    try:
        await api.abroadcast("announcement", {"message": "still here", "type": "info"})
        frame = await admin.expect("announcement")
        assert frame["data"]["message"] == "still here"
        assert seen == ["announcement"] and "broadcast hook" in caplog.text
    finally:
        api._broadcast_hooks.remove(broken)
        api._broadcast_hooks.remove(follower)


async def test_a_hanging_receiver_holds_one_slot_not_the_other_endpoints(receiver, loopback_allowed, settings):
    settings.WS_WEBHOOK_TIMEOUT, settings.WS_WEBHOOK_POLL = 4, 0.05
    slow = Receiver(mode="hang")
    try:
        await aendpoint(slow.url, ["announcement"])
        await aendpoint(receiver.url, ["playerUnbanned"])
        from realtime import api

        running = asyncio.create_task(Sender().run())
        await api.abroadcast("announcement", {"message": "to the slow one"})
        await asyncio.to_thread(slow.wait_for, 1)  # in flight, unanswered
        await api.abroadcast("playerUnbanned", {"banId": 1, "name": "Nova"})
        started = time.monotonic()
        [got] = await asyncio.to_thread(receiver.wait_for, 1)
        assert got.json["type"] == "playerUnbanned" and time.monotonic() - started < 2
        slow.release()
        await drain_task(running, lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 1)
    finally:
        slow.close()


async def drain_task(task, done, timeout: float = 10) -> None:  # noqa: ANN001
    """Wait for ``done()`` (checked off the loop) while ``task`` runs; then stop it."""
    check = database_sync_to_async(done)
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
