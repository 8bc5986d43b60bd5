from __future__ import annotations

import json

from agentstream.log.events import Envelope
from agentstream.log.sse import comment_frame, envelope_frames, event_frame, retry_frame
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


def envelope(seq: int, data: str) -> Envelope:
    return Envelope(seq, "r", 0.0, "CUSTOM", data)


def test_event_frames_are_joined_into_chunks_of_bounded_size_in_order() -> None:
    envelopes = [envelope(seq, "x" * size) for seq, size in enumerate([10, 10, 10, 500, 10, 10], start=1)]
    chunks = list(envelope_frames(envelopes, max_bytes=100))
    assert b"".join(chunks) == "".join(event_frame(e.seq, e.data) for e in envelopes).encode()
    assert [len(chunk) > 100 for chunk in chunks] == [False, True, False]
    assert all(chunk.endswith(b"\n\n") for chunk in chunks)
    assert list(envelope_frames([])) == []


def test_a_frame_is_encoded_once_and_shared_by_every_stream_that_sends_it() -> None:
    # The shared tail hands every reader of a thread the same envelopes.
    live = envelope(3, '{"delta": "héllo"}')
    first, second = list(envelope_frames([live])), list(envelope_frames([live]))
    assert first == [b'id: 3\ndata: {"delta": "h\xc3\xa9llo"}\n\n']
    assert first[0] is second[0] is live.sse_frame
    # The cache is not part of the event: an envelope read back from the store equals it.
    assert live == envelope(3, '{"delta": "héllo"}')
