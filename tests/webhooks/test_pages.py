"""Registering webhooks and redelivering, in the web admin and in Django admin (admin grant)."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from game.models import AuditEntry
from tests.helpers import make_user
from tests.webhooks.support import SECRET, endpoint
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

DISCORD = "https://discord.com/api/webhooks/123/very-secret-token"


def browser(user) -> HttpClient:  # noqa: ANN001
    client = HttpClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf(client: HttpClient, url: str) -> str:
    return str(client.get(url).context["csrf_token"])


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_webhooks_page_needs_admin():
    mod = make_user("mod", ["players.view", "players.ban"], is_staff=True)
    response = browser(mod).get(reverse("webui:webhooks"))
    assert response.status_code == 403 and b"<code>admin</code>" in response.content
    assert b"Webhooks" not in browser(mod).get(reverse("webui:dashboard")).content
    other = endpoint("https://example.com/hook", ["*"])
    for name in ("webui:webhook-delete", "webui:webhook-toggle"):
        client = browser(mod)
        token = csrf(client, reverse("webui:tokens"))
        assert client.post(reverse(name, args=[other.pk]), {"csrfmiddlewaretoken": token}).status_code == 403
    assert Endpoint.objects.filter(pk=other.pk, active=True).exists()


def test_an_admin_adds_a_discord_webhook_and_sees_only_its_host():
    boss = make_user("boss", ["admin"], is_staff=True)
    client = browser(boss)
    page = client.get(reverse("webui:webhooks"))
    offered = page.context["form"]["secret"].value()
    assert offered.startswith("whsec_") and offered.encode() in page.content  # shown once, to copy
    response = client.post(reverse("webui:webhooks"), {
        "csrfmiddlewaretoken": str(page.context["csrf_token"]), "name": "Bans channel", "url": DISCORD,
        "events_text": "playerBanned, audit.player.kick", "format": "discord", "active": "on", "secret": offered,
    }, follow=True)
    assert response.status_code == 200, response.content
    hook = Endpoint.objects.get()
    assert hook.events == ["playerBanned", "audit.player.kick"] and hook.format == "discord" and hook.secret == offered
    assert b"discord.com" in response.content and b"very-secret-token" not in response.content
    assert offered.encode() not in response.content
    entry = AuditEntry.objects.get(action="webhook.create")
    assert entry.actor_name == "boss" and offered not in str(entry.data) and "very-secret-token" not in str(entry.data)


def test_bad_input_is_refused_with_reasons():
    boss = make_user("boss", ["admin"], is_staff=True)
    client = browser(boss)
    token = csrf(client, reverse("webui:webhooks"))
    response = client.post(reverse("webui:webhooks"), {
        "csrfmiddlewaretoken": token, "name": "x", "url": "ftp://example.com/", "events_text": "bad name!",
        "format": "standard", "secret": "short",
    })
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"url", "events_text", "secret"}
    assert Endpoint.objects.count() == 0


def test_redeliver_from_the_web_admin_and_from_django_admin():
    boss = make_user("boss", ["admin"], is_staff=True)
    hook = endpoint("https://example.com/hook", ["announcement"])
    row = Delivery.objects.create(endpoint=hook, event_type="announcement", payload={"message": "hi"},
                                  status=Delivery.FAILED, attempts=9, retry_until="2000-01-01T00:00:00Z")
    client = browser(boss)
    page = client.get(reverse("webui:webhooks") + "?status=failed")
    assert row.message_id.encode() in page.content
    client.post(reverse("webui:webhook-redeliver", args=[row.pk]), {"csrfmiddlewaretoken": str(page.context["csrf_token"])})
    row.refresh_from_db()
    assert row.status == Delivery.PENDING and row.retry_until.year > 2000
    # Django admin's delivery log and its action.
    Delivery.objects.filter(pk=row.pk).update(status=Delivery.FAILED)
    admin = HttpClient()
    admin.force_login(boss)
    assert admin.get(reverse("admin:webhooks_delivery_changelist")).status_code == 200
    assert admin.get(reverse("admin:webhooks_delivery_change", args=[row.pk])).status_code == 200
    admin.post(reverse("admin:webhooks_delivery_changelist"), {"action": "redeliver", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == Delivery.PENDING
    assert AuditEntry.objects.filter(action="webhook.redeliver", actor_name="boss").count() == 2


def test_django_admin_adds_an_endpoint_with_an_encrypted_secret():
    boss = make_user("boss", ["admin"], is_staff=True)
    admin = HttpClient()
    admin.force_login(boss)
    response = admin.post(reverse("admin:webhooks_endpoint_add"), {
        "name": "CI", "url": "https://ci.example.com/hook", "events_text": "audit.*", "format": "standard",
        "active": "on", "secret": SECRET,
    })
    assert response.status_code == 302, response.content
    hook = Endpoint.objects.get()
    assert hook.secret == SECRET and SECRET not in hook.secret_encrypted and hook.events == ["audit.*"]
    change = admin.get(reverse("admin:webhooks_endpoint_change", args=[hook.pk]))
    assert SECRET.encode() not in change.content  # write-only once saved
    response = admin.post(reverse("admin:webhooks_endpoint_change", args=[hook.pk]), {
        "name": "CI", "url": "https://ci.example.com/hook", "events_text": "audit.* playerBanned",
        "format": "standard", "active": "on", "secret": "",
    })
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.secret == SECRET and hook.events == ["audit.*", "playerBanned"]
    viewer = make_user("viewer", ["players.view"], is_staff=True)
    other = HttpClient()
    other.force_login(viewer)
    assert other.get(reverse("admin:webhooks_endpoint_changelist")).status_code == 403
