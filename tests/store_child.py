"""A second process for the store tests: stream a checkpointed reply (to be killed) or write messages concurrently."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zorac_tui.store import Store  # noqa: E402


def reply_text(n: int) -> str:
    """The reply's text after `n` checkpoints (the parent rebuilds it to compare)."""
    return "".join(f"chunk {i}. " for i in range(n))


def stream(db: str, interval: float) -> None:
    """Create a conversation and a streaming reply, checkpoint growing text forever, announcing each commit."""
    store = Store(db)
    conv = store.create_conversation("crash test", "model", "http://127.0.0.1:8000/v1", {})
    store.add_message(conv, "user", "Tell me a long story.")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    print(f"reply {reply}", flush=True)
    n = 0
    while True:
        n += 1
        store.checkpoint_reply(reply, reply_text(n))
        print(f"checkpoint {n}", flush=True)  # printed only after the commit returned
        time.sleep(interval)


def write(db: str, conversation_id: int, count: int) -> None:
    """Append `count` user messages to a conversation as fast as possible."""
    store = Store(db)
    print("ready", flush=True)
    for i in range(count):
        store.add_message(conversation_id, "user", f"child {i}")
    store.close()


if __name__ == "__main__":
    if sys.argv[1] == "stream":
        stream(sys.argv[2], float(sys.argv[3]))
    else:
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
