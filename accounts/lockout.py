"""Failed-login lockouts (django-axes): on the username+address pair, and per address.

Never on the username alone: then anyone could lock the real admin out by typing wrong
passwords for that name from anywhere. A pair is locked after ``AXES_FAILURE_LIMIT``
failures; an address after ``AXES_ADDRESS_FAILURE_LIMIT`` failures over any usernames
(higher: one office may share an address; a guesser spreads over names).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Sum

from axes.handlers.database import AxesDatabaseHandler

# settings.AXES_LOCKOUT_PARAMETERS, in this order.
LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]


class PairAndAddressHandler(AxesDatabaseHandler):
    """Axes' database handler with a separate limit for the per-address count."""

    def get_failures(self, request, credentials: dict | None = None) -> int:  # noqa: ANN001
        pair, address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if address >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            # Axes compares what this returns with AXES_FAILURE_LIMIT: at least that many.
            return max(pair, settings.AXES_FAILURE_LIMIT)
        return pair
