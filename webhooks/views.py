"""The web admin's webhooks page (``admin`` grant): endpoints, and the delivery log with
"redeliver". Server-rendered forms (session + CSRF); every change goes through
webhooks/services.py, audited, as Django admin's do."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import ADMIN
from game.audit import Actor
from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, Endpoint

PAGE = "webhooks"


def _actor(request: HttpRequest) -> Actor:
    return Actor(request.user.pk, request.user.get_username())


def admin_only(view):  # noqa: ANN001, ANN201
    """Signed in and holding ``admin`` (the socket's grants), else the 403 page."""

    @wraps(view)
    @never_cache
    @login_required
    def check(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
        from webui.views import _page_context, user_grants

        if ADMIN not in user_grants(request):
            context = _page_context(request, PAGE) | {"missing": ADMIN, "script": "js/webui/app.js"}
            return render(request, "webui/forbidden.html", context, status=403)
        return view(request, *args, **kwargs)

    return check


@admin_only
def webhooks(request: HttpRequest) -> HttpResponse:
    """GET: endpoints, the form to add one, recent deliveries; POST: add an endpoint."""
    from webui.views import _page_context

    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = services.save_endpoint(_actor(request), form.save(commit=False), form.cleaned_data["secret"])
        messages.success(request, f"Webhook \u201c{endpoint.name}\u201d added.")
        return redirect("webui:webhooks")
    status = request.GET.get("status", "")
    log = Delivery.objects.select_related("endpoint").order_by("-id")
    if status in dict(Delivery.STATUSES):
        log = log.filter(status=status)
    endpoints = list(Endpoint.objects.all())
    for e in endpoints:
        e.host = urlsplit(e.url).hostname or ""  # only the host: a Discord URL's path is its credential
    context = _page_context(request, PAGE)
    context.update(form=form, endpoints=endpoints, deliveries=log[:100], status=status,
                   statuses=Delivery.STATUSES)
    return render(request, "webui/webhooks.html", context, status=400 if form.errors else 200)


@admin_only
@require_POST
def toggle(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    endpoint.active = not endpoint.active
    services.save_endpoint(_actor(request), endpoint)
    messages.success(request, f"Webhook \u201c{endpoint.name}\u201d {'on' if endpoint.active else 'paused'}.")
    return redirect("webui:webhooks")


@admin_only
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    services.delete_endpoint(_actor(request), endpoint)
    messages.success(request, f"Webhook \u201c{endpoint.name}\u201d deleted.")
    return redirect("webui:webhooks")


@admin_only
@require_POST
def redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=pk)
    services.redeliver(_actor(request), [delivery.pk])
    messages.success(request, f"Delivery {delivery.message_id} will be sent again.")
    return redirect("webui:webhooks")
