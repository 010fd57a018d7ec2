"""Allow `python -m zorac_tui`."""

from zorac_tui.cli import main

raise SystemExit(main())
