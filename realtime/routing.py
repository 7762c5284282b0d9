"""The socket sits at the root path of the platform's port, as in the spec."""

from channels.routing import URLRouter
from django.urls import path

from realtime.consumer import RealtimeConsumer
from realtime.origin import OriginPolicy

websocket_urlpatterns = [path("", RealtimeConsumer.as_asgi())]

websocket_application = OriginPolicy(URLRouter(websocket_urlpatterns))
