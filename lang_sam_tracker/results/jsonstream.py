"""Read JSON one value at a time from a byte range of a file, holding only a small window in memory.

Records of long videos are one line of hundreds of MB; this reads their frames (or any other
member) without loading the line. The window is decoded as Latin-1 so that character positions
are byte positions; a value with non-ASCII bytes is decoded again, properly, as UTF-8.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

_CHUNK = 1 << 20
_WS = " \t\r\n"
_decoder = json.JSONDecoder()
# After a whole value comes whitespace, ',', ':', ']' or '}'; one of these means a number was cut
# by the window's end ("0." decodes as 0).
_NUMBER_GOES_ON = frozenset("0123456789.eE+-")


class JsonCursor:
    """A position in a file (`fd`, read with pread, so several cursors may share it) from which JSON
    values, array items and object members are read in order."""

    def __init__(self, fd: int, offset: int = 0, end: int | None = None, chunk: int = _CHUNK) -> None:
        self.fd = fd
        self.end = os.fstat(fd).st_size if end is None else end
        self.chunk = chunk
        self._buf = ""
        self._buf_start = offset  # file offset of _buf[0]
        self._pos = 0
        self._want = chunk

    @property
    def offset(self) -> int:
        """File offset of the next unread byte."""
        return self._buf_start + self._pos

    def _fill(self) -> bool:
        """Read more (dropping what was consumed); False at the end of the range."""
        read_at = self._buf_start + len(self._buf)
        if read_at >= self.end:
            return False
        self._buf_start += self._pos
        self._buf = self._buf[self._pos :]
        self._pos = 0
        data = os.pread(self.fd, min(self._want, self.end - read_at), read_at)
        if not data:
            self.end = read_at
            return False
        self._buf += data.decode("latin-1")
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end), not consumed."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _WS:
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        got = self.peek()
        if got != char:
            raise ValueError(f"expected {char!r} at byte {self.offset}, found {got or 'the end'!r}")
        self._pos += 1

    def _whole(self, end: int) -> bool:
        """Whether a value decoded up to `end` of the window surely ends there."""
        return end < len(self._buf) and self._buf[end] not in _NUMBER_GOES_ON

    def value(self) -> Any:
        """Parse the next JSON value."""
        self.peek()
        while True:
            try:
                obj, end = _decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                obj, end = None, -1
            # A value that ends at the window's end may be cut (a number): read on to be sure.
            if end != -1 and (self._whole(end) or self._buf_start + len(self._buf) >= self.end):
                break
            self._want = max(self._want, 2 * (len(self._buf) - self._pos) + self.chunk)
            if not self._fill():
                if end != -1:
                    break
                raise ValueError(f"invalid or truncated JSON at byte {self.offset}")
        span = self._buf[self._pos : end]
        self._pos = end
        self._want = self.chunk
        if not span.isascii():
            obj = json.loads(span.encode("latin-1").decode("utf-8"))
        return obj

    def items(self) -> Iterator[Any]:
        """The items of the array that starts here, parsed one at a time."""
        for _ in self.positions():
            yield self.value()

    def positions(self) -> Iterator[None]:
        """Step through the array that starts here: before each yield the cursor is at an item,
        which the caller must consume (value(), items(), members() or skip())."""
        self.expect("[")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield None
            sep = self.peek()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                raise ValueError(f"expected ',' or ']' at byte {self.offset - 1}, found {sep or 'the end'!r}")

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here; after each yield the caller consumes the value."""
        self.expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise ValueError(f"expected an object key at byte {self.offset}")
            self.expect(":")
            yield key
            sep = self.peek()
            self._pos += 1
            if sep == "}":
                return
            if sep != ",":
                raise ValueError(f"expected ',' or '}}' at byte {self.offset - 1}, found {sep or 'the end'!r}")

    def skip(self) -> None:
        """Step over the next value without holding more than one of its items at a time: each item
        that lies whole in the window is stepped over by the C decoder, a larger one item by item."""
        first = self.peek()
        if first == "[":
            for _ in self.positions():
                self._skip_item()
        elif first == "{":
            for _ in self.members():
                self._skip_item()
        else:
            self.value()

    def _skip_item(self) -> None:
        self.peek()
        try:
            _, end = _decoder.raw_decode(self._buf, self._pos)
        except json.JSONDecodeError:
            end = -1
        if end != -1 and self._whole(end):
            self._pos = end
        else:  # cut by the window's end (or invalid: skip() says where)
            self.skip()
