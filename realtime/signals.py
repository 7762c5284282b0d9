"""Signals the socket sends so that other apps can react without realtime knowing them.

``client_disconnected`` is sent (with ``asend_robust``, after the hub has forgotten the
socket, so presence no longer lists it) when a socket that authenticated at least once
goes away, for whatever reason. Keyword arguments: ``client_id``, ``username``,
``user_id``, ``permissions`` (frozenset of the effective permissions it last held).
Receivers should be coroutines that return fast for clients they do not care about: it
is sent for every authenticated socket that closes.

``clients_expired`` is sent (``asend_robust``) by a process that found another process
dead (its presence heartbeat expired, with Redis): keyword argument ``client_ids``, the
clients it held, which closed without anyone sending ``client_disconnected``. Several
processes may notice the same death; receivers must tolerate hearing it twice.
"""

from django.dispatch import Signal

client_disconnected = Signal()
clients_expired = Signal()
