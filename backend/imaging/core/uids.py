"""Deterministic UIDs under the 2.25 root.

PS3.5 B.2 allows UIDs of the form "2.25." + the decimal value of a UUID. We make UUIDs from a hash
instead of randomness (RFC 9562 version 8, "custom"), so that the same input always gives the same UID:
re-importing a file, or de-identifying two files that reference each other, yields matching UIDs.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_LAX_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def uid_from_digest(digest: bytes) -> str:
    """'2.25.<int>' from the first 16 bytes of a digest, with the UUIDv8 version and variant bits set."""
    if len(digest) < 16:
        raise ValueError("need at least 16 bytes of digest")
    value = int.from_bytes(digest[:16], "big")
    value &= ~(0xF << 76)  # version nibble
    value |= 0x8 << 76
    value &= ~(0x3 << 62)  # variant bits
    value |= 0x2 << 62
    return f"2.25.{value}"


def derived_uid(*parts: str) -> str:
    """A UID that is a pure function of `parts` (no secret): for filling in UIDs a file lacks."""
    h = hashlib.sha256(b"readingroom-derived-uid-v1")
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        h.update(len(encoded).to_bytes(8, "big"))  # length-prefixed so ("ab","c") != ("a","bc")
        h.update(encoded)
    return uid_from_digest(h.digest())


def keyed_uid(secret: bytes, uid: str) -> str:
    """The project-scoped replacement of `uid`: HMAC-SHA256 so it cannot be reversed without the secret."""
    mac = hmac.new(secret, b"readingroom-uid-v1\x00" + uid.strip().encode("ascii", "replace"), hashlib.sha256)
    return uid_from_digest(mac.digest())


def is_valid_uid(uid: str, *, strict: bool = False) -> bool:
    """PS3.5 9.1 syntax. `strict=False` tolerates leading zeros in components, which many scanners emit."""
    if not uid or len(uid) > 64:
        return False
    return bool((_UID_RE if strict else _LAX_UID_RE).match(uid))
