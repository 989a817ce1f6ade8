from django.urls import path

from backend.realtime.consumers import PingConsumer
from backend.realtime.image_room import ImageRoomConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/images/<int:series_id>/", ImageRoomConsumer.as_asgi()),
]
