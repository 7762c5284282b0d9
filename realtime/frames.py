"""WebSocket frames built once per broadcast (RFC 6455, section 5.2).

A server's frames are not masked, and the platform negotiates no extension
(permessage-deflate is off on both servers), so one text frame is the same bytes for every
socket: the hub builds it once and the server's flow extension writes it to each
transport, instead of every socket framing the same text again.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text)


def text_frame(text: str) -> bytes:
    """One complete, unmasked text frame carrying ``text``."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", _FIN_TEXT, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, n)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, n)
    return header + payload
