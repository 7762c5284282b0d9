"""The HTTP side: security headers, CSRF on every form, a CSP that the admin's pages pass."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator
from django.contrib import admin
from django.core.asgi import get_asgi_application
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from project.csp import DEFAULT_POLICY
from project.proxy import ProxyHeadersMiddleware, forwarded_client
from tests.helpers import make_user

ROOT = Path(__file__).resolve().parents[2]


class PageAudit(HTMLParser):
    """What a page holds that a strict CSP would block, and its POST forms."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.inline_styles: list[str] = []
        self.handlers: list[str] = []
        self.post_forms: list[dict] = []
        self._script_src = None
        self._script_has_body = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if "style" in attributes:
            self.inline_styles.append(f"<{tag} style={attributes['style']!r}>")
        if tag == "style":
            self.inline_styles.append("<style>")
        if tag == "script":
            self._script_src = attributes.get("src")
            self._script_has_body = False
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self.post_forms.append({"action": attributes.get("action"), "token": False})
        if tag == "input" and attributes.get("name") == "csrfmiddlewaretoken" and self.post_forms:
            self.post_forms[-1]["token"] = True

    def handle_data(self, data: str) -> None:
        if self._script_src is None and self.lasttag == "script" and data.strip():
            self._script_has_body = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            if self._script_src is None and self._script_has_body:
                self.inline_scripts += 1
            self._script_src = None


def admin_pages(user) -> list[str]:
    """Every admin page a superuser can open without data: index, lists, add forms, own pages."""
    request = RequestFactory().get("/")
    request.user = user
    pages = [reverse("admin:index"), reverse("admin:password_change")]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        if model_admin.has_add_permission(request):  # e.g. the token registry has no add form
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    pages.append(reverse("admin:auth_user_change", args=[user.pk]))
    pages.append(reverse("admin:auth_user_password_change", args=[user.pk]))
    return pages


@pytest.fixture
def signed_in(db):
    user = make_user("root", superuser=True)
    client = Client()
    client.force_login(user)
    return client, user


def test_security_headers_on_every_page(client, db):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Content-Security-Policy"] == DEFAULT_POLICY
    assert "'unsafe-inline'" not in DEFAULT_POLICY and "'unsafe-eval'" not in DEFAULT_POLICY


@override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=True)
def test_the_policy_can_be_tried_report_only_first(client, db):
    response = client.get(reverse("admin:login"))
    assert response["Content-Security-Policy-Report-Only"] == DEFAULT_POLICY
    assert "Content-Security-Policy" not in response


def test_admin_pages_need_nothing_the_policy_forbids_and_every_form_has_csrf(signed_in):
    client, user = signed_in
    pages = [reverse("admin:login")] + admin_pages(user)
    for url in pages:
        page_client = Client() if url == reverse("admin:login") else client
        response = page_client.get(url)
        assert response.status_code == 200, url
        audit = PageAudit()
        audit.feed(response.content.decode())
        assert audit.inline_scripts == 0, url
        assert audit.handlers == [], url
        assert audit.inline_styles == [], (url, audit.inline_styles)
        assert all(form["token"] for form in audit.post_forms), (url, audit.post_forms)
    assert len(pages) >= 8


def test_posts_without_a_csrf_token_are_refused(db):
    make_user("root", superuser=True)
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("admin:login"), {"username": "root", "password": "pw-root"})
    assert response.status_code == 403
    page = strict.get(reverse("admin:login"))
    token = page.cookies["csrftoken"].value
    response = strict.post(
        reverse("admin:login"),
        {"username": "root", "password": "pw-root", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


def test_the_deploy_check_leaves_only_the_documented_choices(tmp_path):
    """Production settings pass `check --deploy` but for three documented choices: HSTS on
    subdomains and preload are the operator's call, the HTTPS redirect is the proxy's."""
    env = {
        **os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "admin.example.com",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60), "WS_JWT_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    found = set(re.findall(r"\((security\.[WE]\d+)\)", result.stdout + result.stderr))
    assert found == {"security.W005", "security.W008", "security.W021"}, result.stderr


def test_no_view_of_the_platform_opts_out_of_csrf():
    sources = [
        p for p in ROOT.rglob("*.py")
        if not any(part in {".venv", "tests", "node_modules"} for part in p.parts)
    ]
    offenders = [str(p.relative_to(ROOT)) for p in sources if "csrf_exempt" in p.read_text()]
    assert offenders == []


async def http_get(app, path: str, headers: list, client: tuple[str, int]) -> tuple[int, dict]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"localhost"), *headers], "client": client,
        "server": ("127.0.0.1", 3001),
    }
    comm = ApplicationCommunicator(app, scope)
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(5)
    await comm.wait(5)
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}


@pytest.mark.django_db(transaction=True)
@override_settings(SECURE_SSL_REDIRECT=True, WS_TRUST_PROXY_HEADERS=True)
async def test_https_from_a_trusted_proxy_is_recognised():
    # Django builds its middleware once: a fresh application sees the overridden settings.
    app = ProxyHeadersMiddleware(get_asgi_application())
    https = [(b"x-forwarded-proto", b"https")]
    status, headers = await http_get(app, "/admin/login/", https, ("127.0.0.1", 5000))
    assert status == 200
    # The same header from a peer that is not a trusted proxy counts for nothing.
    status, headers = await http_get(app, "/admin/login/", https, ("203.0.113.9", 5000))
    assert status == 301 and headers["location"] == "https://localhost/admin/login/"
    # Nor from a trusted proxy when proxy headers are not trusted at all.
    with override_settings(WS_TRUST_PROXY_HEADERS=False):
        status, _ = await http_get(app, "/admin/login/", https, ("127.0.0.1", 5000))
    assert status == 301


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, 127.0.0.1", "203.0.113.9"),  # a second proxy of ours
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own claim is not believed
        ("127.0.0.1", "127.0.0.1"),  # only proxies: the farthest
        ("not-an-ip", None),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_is_the_last_address_no_trusted_proxy_added(header, client):
    assert forwarded_client(header, ("127.0.0.1", "::1")) == client
