"""Durable room events: what a reconnecting client missed is read back from here, not from Redis."""

from __future__ import annotations

from django.db import models


class RoomCounter(models.Model):
    room = models.CharField(max_length=64, primary_key=True)
    seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.room}@{self.seq}"


class RoomEvent(models.Model):
    room = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    payload = models.JSONField()
    # Who may receive it: everyone in the room (both null), one user, or whoever may see an annotation.
    audience_user_id = models.BigIntegerField(null=True, blank=True)
    audience_annotation_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "seq"], name="room_seq_once")]

    def __str__(self) -> str:
        return f"{self.room}#{self.seq}"
