"""SseDecoder: the captured streams split at every byte, CR/CRLF line ends, the SSE fields servers send."""

from __future__ import annotations

import pytest
from replay import fixture_bytes

from zorac_tui.server.sse import SseDecoder

CAPTURED = [("vllm", "chat_stream_usage.sse"), ("vllm", "chat_stream_reasoning.sse"),
            ("llamacpp", "chat_stream_plain.sse")]


def decode(parts: list[bytes]) -> list[str]:
    """Every event's data, feeding the parts in order."""
    decoder = SseDecoder()
    return [data for part in parts for data in decoder.feed(part)]


@pytest.mark.parametrize(("flavor", "name"), CAPTURED)
def test_captured_streams_split_at_every_byte(flavor, name):
    body = fixture_bytes(flavor, name)
    whole = decode([body])
    assert whole[-1] == "[DONE]" and all(d.startswith("{") for d in whole[:-1])
    assert len(whole) == body.count(b"\n\n")
    step = max(1, len(body) // 400)  # a few hundred cut points per file
    for cut in range(0, len(body), step):
        assert decode([body[:cut], body[cut:]]) == whole, cut
    assert decode([bytes([b]) for b in body[:3000]]) == decode([body[:3000]])


def test_line_ends_fields_and_comments():
    body = (b": keep-alive comment\r\nevent: message\r\nid: 7\r\ndata: {\"a\":\r\ndata:1}\r\n\r\n"
            b"retry: 100\rdata: two\r\rdata: [DONE]\n\n")
    expected = ['{"a":\n1}', "two", "[DONE]"]
    assert decode([body]) == expected
    for cut in range(len(body) + 1):  # a CRLF split between two chunks is one line end
        assert decode([body[:cut], body[cut:]]) == expected, cut


def test_an_event_without_its_blank_line_is_not_delivered():
    assert decode([b'data: {"x": 1}\n\ndata: {"cut": tr']) == ['{"x": 1}']
    assert decode([b'data: {"y": 2}\n']) == []


def test_bad_utf8_raises():
    with pytest.raises(UnicodeDecodeError):
        decode([b"data: \xff\xfe\n\n"])
