"""zorac-tui as the terminal benchmark runs it: a stand-in GPU for the sidebar, and a seeded conversation.

    ZORAC_HOME=DIR python benchmarks/terminal_app.py seed --messages 300
    ZORAC_HOME=DIR python benchmarks/terminal_app.py run --base-url URL --model M --continue

Both use the zorac_tui found on PYTHONPATH (the checkout being measured), so an old checkout can be
measured with this script from a new one.

`run` is `zorac-tui` itself (zorac_tui.cli.main, every flag as usual) with one change: ZoracApp is built
with `nvml_module=` the stand-in pynvml of tests/fakes/fake_pynvml.py (one RTX 4090), so the sidebar's
GPU sampler runs its real NVML code path at its default interval and the GPU and memory panels redraw
each sample, as on a machine with a GPU. (Without it, on a machine without a GPU, the panel shows
"driver library not found" and sampling costs next to nothing.)

`seed` writes one conversation of N messages into the database under $ZORAC_HOME: the realistic turns
of benchmarks/history.py (user questions; assistant replies of a few hundred to ~1,500 characters of
Markdown, some with a code block), the last one ending "(reply #N-1)". It prints the zorac_tui it used.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FAKE_PYNVML = HERE.parent / "tests" / "fakes" / "fake_pynvml.py"


def fake_nvml() -> Any:
    """The stand-in pynvml module (one RTX 4090), loaded from this checkout's tests/fakes."""
    spec = importlib.util.spec_from_file_location("bench_fake_pynvml", FAKE_PYNVML)
    if spec is None or spec.loader is None:
        raise SystemExit(f"terminal_app: cannot load {FAKE_PYNVML}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.FakePynvml()


def install_fake_gpu() -> None:
    """Make every ZoracApp built from now on sample the stand-in GPU (unless given another)."""
    from zorac_tui.ui import app as app_module

    cls = app_module.ZoracApp
    if "nvml_module" not in inspect.signature(cls.__init__).parameters:
        raise SystemExit("terminal_app: ZoracApp no longer takes nvml_module= — update install_fake_gpu() "
                         "in benchmarks/terminal_app.py")
    if getattr(cls.__init__, "bench_fake_gpu", False):
        return
    nvml = fake_nvml()
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("nvml_module", nvml)
        original(self, *args, **kwargs)

    __init__.bench_fake_gpu = True  # type: ignore[attr-defined]
    cls.__init__ = __init__  # wrapped in place: a subclass would move the app's CSS_PATH


def seed(messages: int) -> str:
    """One conversation of `messages` realistic messages in $ZORAC_HOME's database; the zorac_tui used."""
    if not os.environ.get("ZORAC_HOME"):
        raise SystemExit("terminal_app: set ZORAC_HOME to the fresh home to seed")
    import zorac_tui
    from zorac_tui.store import Store, default_db_path

    sys.path.insert(0, str(HERE))
    import history  # after zorac_tui: history.py puts its own checkout first on sys.path

    with Store(default_db_path()) as store:
        conversation = store.create_conversation(f"{messages:,} messages", None, None, {"temperature": 0.2})
        for i in range(messages):
            role, content = history.text_for(i)
            stats = {}
            if role == "assistant":
                stats = {"completion_tokens": len(content) // 4, "decode_tok_s": 62.0, "ttft_s": 0.31,
                         "prompt_tokens": 1000 + 40 * i}
            store.add_message(conversation, role, content, **stats)
    return str(Path(zorac_tui.__file__).resolve().parent)


def main(argv: list[str] | None = None) -> int:
    """`seed` or `run`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        install_fake_gpu()
        from zorac_tui import cli

        return cli.main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("seed", "run"))
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args(argv)
    print(seed(args.messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
