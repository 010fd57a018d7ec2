"""Server-sent events from raw response bytes: the data of each event, as the chat client reads a stream.

The client parses the stream itself instead of letting the openai SDK build a pydantic object per
chunk, which cost about half of its CPU per chunk (benchmarks/client_cost.py). Only what
OpenAI-compatible servers send is kept: `data:` fields (several lines of one event are joined with
"\\n"); `event:`, `id:`, `retry:` and comment lines are ignored. Lines end in LF, CRLF or CR. An event
counts only once its blank line arrives, so an event cut off at the end of the body is dropped (as the
SDK's decoder does). Each data field is decoded as strict UTF-8: bad bytes raise UnicodeDecodeError.
"""

from __future__ import annotations


class SseDecoder:
    """Feeds response bytes in, returns the data of every event they complete."""

    def __init__(self) -> None:
        """Start at the beginning of a body."""
        self._parts: list[bytes] = []
        self._data: list[str] = []
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[str]:
        """The data of each event completed by `chunk`, in order."""
        if self._skip_lf and chunk[:1] == b"\n":  # the LF of a CRLF split across chunks
            chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._skip_lf = False
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
            return []
        if self._parts:
            self._parts.append(chunk)
            chunk, self._parts = b"".join(self._parts), []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            self._parts.append(tail)
        events: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append("\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                data.append(value.decode("utf-8"))
        return events
