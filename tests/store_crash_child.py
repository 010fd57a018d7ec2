"""Child process for the crash tests: stream a reply into the store, checkpointing, until killed.

Usage: python store_crash_child.py DB [INTERVAL] [lock] [STEPS | stdin]

It creates a conversation, adds a user message and a "streaming" assistant reply, then every
INTERVAL seconds (default 0.2) saves the reply's growing text with Store.checkpoint_reply and
prints the checkpointed length on its own line — only after the commit returned — so the parent
knows what must have reached the file when it sends SIGKILL.

With `lock` it also holds the InstanceLock a running app holds, so it is, to the database, another
zorac-tui instance streaming a reply; with STEPS it then finishes the reply after that many
checkpoints (status complete) and waits to be killed; with `stdin` it finishes once a line arrives on
its standard input (so a test decides when, whatever the machine's speed).
"""

from __future__ import annotations

import select
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zorac_tui.store import Store
from zorac_tui.store.instances import InstanceLock

WORD = "token "


def main(db: str, interval: float, lock: bool = False, steps: int | str | None = None) -> None:
    """Stream until killed (or finish after `steps` checkpoints, or on a line of input when `steps` is "stdin")."""
    store = Store(db)
    if lock:
        InstanceLock(store.path).acquire()
    conv = store.create_conversation("Crashed while streaming", "sim-model", "http://127.0.0.1:1/v1",
                                      {"temperature": 0.2})
    store.add_message(conv, "user", "Tell me a long story, please.")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    print(f"reply {reply}", flush=True)
    text = ""
    step = 0
    while steps in (None, "stdin") or step < steps:
        text += WORD * 25
        store.checkpoint_reply(reply, text)
        print(len(text), flush=True)
        step += 1
        if steps == "stdin":
            if select.select([sys.stdin], [], [], interval)[0]:
                break
        else:
            time.sleep(interval)
    store.finish_message(reply, text + "The end.", "complete", completion_tokens=step * 25)
    print("finished", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], float(args[1]) if len(args) > 1 else 0.2, len(args) > 2 and args[2] == "lock",
         (args[3] if args[3] == "stdin" else int(args[3])) if len(args) > 3 else None)
