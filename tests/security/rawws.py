"""A bare-bones WebSocket client on a plain socket, for clients that misbehave on purpose
(one that stops reading, with small OS buffers), which a real client library won't do."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import struct


class RawSocket:
    """A WebSocket connection whose reading is up to the test."""

    def __init__(self, port: int, *, rcvbuf: int | None = None, origin: str | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the TCP window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        if origin:
            request += f"Origin: {origin}\r\n"
        self.sock.sendall((request + "\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (the server never fragments ours)."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return first & 0x0F, self._take(length)

    def recv_json(self) -> dict:
        opcode, payload = self.recv_frame()
        assert opcode == 1, (opcode, payload)
        return json.loads(payload)

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, message: dict) -> None:
        self.send_text(json.dumps(message))

    def drain_until_closed(self, timeout: float) -> str:
        """Read everything until the connection ends: "eof", "reset" or "close <code>"."""
        self.sock.settimeout(timeout)
        try:
            while True:
                opcode, payload = self.recv_frame()
                if opcode == 8:
                    return f"close {struct.unpack('!H', payload[:2])[0]}"
        except ConnectionResetError:
            return "reset"
        except (ConnectionError, ssl.SSLError):
            return "eof"

    def close(self) -> None:
        self.sock.close()
