"""Django admin for the web admin's two-factor devices (django-otp's TOTP devices).

Only superusers see or edit devices there (removing a lost device of another user is the
one use); model permissions given to other staff do not open them, and the key of an
existing device is never shown (settings.OTP_ADMIN_HIDE_SENSITIVE_DATA).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice


class SuperuserTOTPDeviceAdmin(TOTPDeviceAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, SuperuserTOTPDeviceAdmin)
