"""Child process for the crash tests: stream a reply into the store, checkpointing, until killed.

Usage: python store_crash_child.py DB [INTERVAL]

It creates a conversation, adds a user message and a "streaming" assistant reply, then every
INTERVAL seconds (default 0.2) saves the reply's growing text with Store.checkpoint_reply and
prints the checkpointed length on its own line — only after the commit returned — so the parent
knows what must have reached the file when it sends SIGKILL.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zorac_tui.store import Store  # noqa: E402

WORD = "token "


def main(db: str, interval: float) -> None:
    """Stream forever; the parent kills us."""
    store = Store(db)
    conv = store.create_conversation("Crashed while streaming", "sim-model", "http://127.0.0.1:1/v1",
                                      {"temperature": 0.2})
    store.add_message(conv, "user", "Tell me a long story, please.")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    print(f"reply {reply}", flush=True)
    text = ""
    while True:
        text += WORD * 25
        store.checkpoint_reply(reply, text)
        print(len(text), flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)
