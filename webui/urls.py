"""The web admin, mounted at the site root."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.urls import path

from webhooks import views as webhooks
from webui import views

app_name = "webui"

urlpatterns = [
    path("", views.page("dashboard"), name="dashboard"),
    path("players/", views.page("players"), name="players"),
    path("bans/", views.page("bans"), name="bans"),
    path("jobs/", views.page("jobs"), name="jobs"),
    path("announce/", views.page("announce"), name="announce"),
    path("audit/", views.page("audit"), name="audit"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="revoke-token"),
    path("webhooks/", webhooks.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/toggle/", webhooks.toggle, name="webhook-toggle"),
    path("webhooks/<int:pk>/delete/", webhooks.delete, name="webhook-delete"),
    path("webhooks/deliveries/<int:pk>/redeliver/", webhooks.redeliver, name="webhook-redeliver"),
    path("session-token/", views.session_token, name="session-token"),
    # Django's own views: django-axes throttles the login (it hooks authenticate()). The
    # web admin is for staff: Django admin's form refuses other accounts with its message
    # ("...for a staff account"), the same whether the password or the account was wrong.
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="webui/login.html", redirect_authenticated_user=True,
            authentication_form=AdminAuthenticationForm,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChange.as_view(), name="password-change"),
    path("two-factor/", views.two_factor, name="two-factor"),
    path("two-factor/verify/", views.two_factor_verify, name="two-factor-verify"),
    path("two-factor/remove/", views.two_factor_remove, name="two-factor-remove"),
]
