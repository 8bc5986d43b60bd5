from __future__ import annotations

import json

from agentstream.log.sse import comment_frame, event_frame, event_frames, retry_frame
from agentstream_client.sse import SSEDecoder

STREAM = (
    retry_frame(1500)
    + event_frame(1, json.dumps({"type": "RUN_STARTED", "text": "line one\nline two"}))
    + comment_frame("ping")
    + event_frame(2, json.dumps({"delta": "héllo ✓"}))
    + "data: a\ndata: b\n\n"
)


def decode_in_pieces(raw: bytes, cuts: list[int]) -> tuple[list, SSEDecoder]:
    decoder = SSEDecoder()
    events = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        events += decoder.decode(raw[start:end])
    return events, decoder


def test_frames_are_lf_only_single_line_json_without_event_field() -> None:
    frame = event_frame(7, json.dumps({"t": "a\nb"}))
    assert frame == 'id: 7\ndata: {"t": "a\\nb"}\n\n'
    assert "\r" not in STREAM and "event:" not in STREAM


def test_decoder_gives_the_same_events_whatever_the_byte_boundaries() -> None:
    raw = STREAM.encode()
    whole, decoder = decode_in_pieces(raw, [])
    assert [(e.id, e.data) for e in whole] == [
        ("1", json.dumps({"type": "RUN_STARTED", "text": "line one\nline two"})),
        ("2", json.dumps({"delta": "héllo ✓"})),
        ("2", "a\nb"),
    ]
    assert decoder.retry == 1500
    for cut in range(1, len(raw)):
        pieces, _ = decode_in_pieces(raw, [cut])
        assert pieces == whole, cut


def test_decoder_handles_crlf_split_between_chunks_and_drops_an_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.decode("id: 1\r") == []
    assert [e.data for e in decoder.decode("\ndata: x\r\n\r\n")] == ["x"]
    assert decoder.decode("id: 2\ndata: partial\n") == []
    assert decoder.flush() == []
    assert decoder.last_event_id == "2"


def test_event_frames_are_joined_into_chunks_of_bounded_size_in_order() -> None:
    events = [(seq, "x" * size) for seq, size in enumerate([10, 10, 10, 500, 10, 10], start=1)]
    chunks = list(event_frames(events, max_chars=100))
    assert "".join(chunks) == "".join(event_frame(seq, data) for seq, data in events)
    assert [len(chunk) > 100 for chunk in chunks] == [False, True, False]
    assert all(chunk.endswith("\n\n") for chunk in chunks)
    assert list(event_frames([])) == []
