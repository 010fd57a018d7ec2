"""Child process for the fault matrix: the real app in a real terminal (a pty), crashing on purpose.

Usage: python tty_crash_child.py BASE_URL API_KEY

It logs like `zorac-tui` does (setup_logging with the key as a secret), runs the app with the real
terminal driver on its stdin/stdout, waits until it is connected, then makes a callback raise an
exception holding the key. It exits with the app's return code; the parent reads everything the
terminal received and checks the terminal was restored.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/: the driver and the fake GPU

from appdriver import client, make_app

from zorac_tui.logs import setup_logging


def main() -> int:
    """Run the app until the injected exception stops it."""
    base_url, key = sys.argv[1], sys.argv[2]
    setup_logging([key])
    app = make_app(base_url, api_key=key, persist=False)

    async def crash_once_connected(pilot) -> None:
        while client(app) is None:
            await pilot.pause(0.05)

        def boom() -> None:
            raise RuntimeError(f"injected failure holding {key}")

        app.call_later(boom)

    app.run(auto_pilot=crash_once_connected)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
