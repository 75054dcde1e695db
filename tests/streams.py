"""Reading JetStream streams from tests: per-message headers (counts: bench.common.stream_messages)."""

from __future__ import annotations

import nats


async def stream_header(url: str, stream: str, header: str) -> list[str]:
    """One header of every message in the stream, in order (e.g. ce-subject: the case ids)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        info = await js.stream_info(stream)
        return [(await js.get_msg(stream, seq)).headers[header]
                for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1)]
    finally:
        await nc.close()
