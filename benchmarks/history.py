"""Benchmark: opening long stored conversations and listing many, in the real app (headless).

    python benchmarks/history.py            # all cases, a table at the end
    python benchmarks/history.py --quick    # fewer repeats

What is measured (nothing is asserted; figures are printed):

* open N messages (N = 100, 1,000, 5,000): the real ZoracApp under `run_test` (headless, 120x40)
  against the built-in simulator (--demo mode, simulated GPU), the database a real SQLite file.
  The clock starts at the `open_conversation(id)` call and stops when the pane shows the last
  message laid out at the bottom *and* the app is idle (Pilot's wait: every widget's queue
  drained and the process no longer busy). Also: the `open_conversation` call alone (SQLite load
  + Message objects + mounting the tail), the time until the context gauge shows the reopened
  conversation's count (the /tokenize round trip to the simulator), and memory: VmRSS before the
  open, after it, and the peak (ru_maxrss). Each size runs in its own fresh process so RSS
  figures do not mix; the conversation is opened `repeats` times (a new empty conversation in
  between), the first open reported separately from the median of the rest.
* list 10,000 conversations (6 messages each): `Store.list_conversations()` on the file (median
  of repeats), and in the app `ConversationList.set_rows(rows)` for those 10,000 rows (the call,
  and the call until the app is idle again), plus typing one filter character (refilter).

Messages are realistic in size: user turns of one or two sentences, assistant turns of a few
hundred to ~1,500 characters of Markdown, some with a code block.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_probe  # noqa: E402  (the app's state, for this tree and an older one)

SIZES = (100, 1_000, 5_000)
LIST_COUNT = 10_000
SIZE = (120, 40)

USER_TURNS = [
    "How much KV cache do I get with --gpu-memory-utilization 0.92 on a 24 GB card?",
    "Why does the first token take longer than the rest?",
    "Can you show me how to stream a reply with the OpenAI client?",
    "What changes if I lower max_model_len to 8192?",
    "Summarize the trade-offs of AWQ versus GPTQ in two sentences.",
]
ASSISTANT_TURNS = [
    "With **0.92** vLLM claims about 22 GB. After ~14 GB of AWQ weights and ~1.5 GB of activations "
    "and CUDA graphs, roughly **6.5 GB** remain for the KV cache, which at 160 KiB per token is about "
    "40,000 tokens shared by all running requests.\n\n- Lower the utilization if other processes "
    "need the GPU.\n- Raise it if you want more concurrent long contexts.\n\n"
    "The log line `# GPU blocks:` tells you the exact figure after start-up.",
    "The first token waits for the whole prompt to be processed (*prefill*), which is compute-bound; "
    "later tokens are produced one at a time (*decode*), which is memory-bandwidth-bound. A long prompt "
    "therefore raises TTFT while the decode rate stays the same.",
    "Sure:\n\n```python\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=\"http://localhost:8000/v1\", "
    "api_key=\"EMPTY\")\nstream = client.chat.completions.create(\n    model=\"mistral\",\n    "
    "messages=[{\"role\": \"user\", \"content\": \"Hello\"}],\n    stream=True,\n)\nfor chunk in stream:\n"
    "    print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)\n```\n\n"
    "Each chunk carries a small delta; `stream_options={\"include_usage\": True}` adds token counts at "
    "the end.",
    "A shorter `max_model_len` lets the scheduler reserve less per request, so more requests fit at once, "
    "but prompts longer than 8,192 tokens are refused with a 400. For a single-user chat client the "
    "practical effect is mostly the ceiling on conversation length before summarizing.",
    "AWQ keeps the weights that matter most for activations in higher precision and usually loses less "
    "quality at 4 bits; GPTQ is older, widely available and slightly faster with some kernels. With "
    "vLLM's Marlin kernels both decode at similar speed on Ampere and newer GPUs.",
]


def text_for(i: int) -> tuple[str, str]:
    """Role and content of message i of a long conversation."""
    if i % 2 == 0:
        return "user", f"{USER_TURNS[(i // 2) % len(USER_TURNS)]} (#{i})"
    return "assistant", f"{ASSISTANT_TURNS[(i // 2) % len(ASSISTANT_TURNS)]}\n\n(reply #{i})"


def vm_rss_mib() -> float:
    """Resident set size now, from /proc/self/status (MiB)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    """Peak resident set size of this process (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ seeding


def seed_conversations(db: Path) -> dict[int, int]:
    """One conversation per size in SIZES; returns size -> conversation id."""
    from zorac_tui.store import Store

    ids = {}
    with Store(db) as store:
        for n in SIZES:
            conv = store.create_conversation(f"{n:,} messages", "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ",
                                             "http://127.0.0.1:8000/v1", {"temperature": 0.2})
            for i in range(n):
                role, content = text_for(i)
                if role == "assistant":
                    store.add_message(conv, role, content, completion_tokens=len(content) // 4, decode_tok_s=62.0,
                                      ttft_s=0.31, prompt_tokens=1000 + i)
                else:
                    store.add_message(conv, role, content)
            ids[n] = conv
    return ids


def seed_many(db: Path, count: int) -> None:
    """`count` conversations of 6 messages each."""
    from zorac_tui.store import Store

    with Store(db) as store:
        for c in range(count):
            conv = store.create_conversation(f"{USER_TURNS[c % len(USER_TURNS)][:40]} — chat {c}")
            for i in range(6):
                role, content = text_for(i)
                store.add_message(conv, role, content)


# ------------------------------------------------------------------------------ in-app cases (child process)


def make_app(db: Path, base_url: str):
    """The real app in --demo mode on the simulator, saving to `db`."""
    from zorac_tui.config import Settings
    from zorac_tui.ui.app import ZoracApp

    settings = replace(Settings(), base_url=base_url, demo=True, api_key=None)
    return ZoracApp(settings, demo=True, store_path=db)


async def open_conversation(app, conversation_id: int) -> None:
    """Open a stored conversation as the list does (in this tree or an older one)."""
    if not app_probe.is_new(app):
        await app.open_conversation(conversation_id)
        return
    loaded = await app.main.persistence.load(conversation_id)
    if loaded is not None:
        await app.main.show_conversation(loaded)


async def ready(pilot) -> None:
    """Store open, server connected, first gauge count done, then idle."""
    app = pilot.app
    deadline = time.monotonic() + 30
    while not (app_probe.store(app) is not None and app_probe.connected(app) and app_probe.budget(app) is not None):
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not get ready within 30 s")
        await asyncio.sleep(0.02)
    if app_probe.is_new(app):
        await app.main.persistence.read(lambda store: None)
    else:
        await app.from_store(lambda store: None)
    await pilot.pause()


async def open_case(db: Path, conv_id: int, n: int, repeats: int) -> dict:
    """Open an n-message conversation `repeats` times; timings and RSS."""
    from zorac_tui.demo.simulator import SimConfig, SimulatorThread
    from zorac_tui.ui.gauge import ContextGauge

    last_text = text_for(n - 1)[1]
    sim = SimulatorThread(SimConfig(rate=2000.0, ttft=0.01))
    base_url = sim.start()
    try:
        app = make_app(db, base_url)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            rss_before = vm_rss_mib()
            runs = []
            def counting() -> bool:
                return any(w.is_running for w in app.workers if w.group == "budget")

            for _ in range(repeats):
                gauge = app.query_one(ContextGauge)
                while counting() or app_probe.budget(app) is None or app_probe.budget(app).history:  # empty counted
                    await asyncio.sleep(0.005)
                t0 = time.perf_counter()
                await open_conversation(app, conv_id)
                t_call = time.perf_counter()

                def shown() -> bool:
                    pane = app_probe.pane(app)
                    shown_messages = app_probe.messages(app)
                    return (bool(shown_messages) and shown_messages[-1].content == last_text
                            and app_probe.drawn_messages(app) > 0 and pane.scroll_y == pane.max_scroll_y
                            and pane.max_scroll_y > 0)

                while not shown():
                    await asyncio.sleep(0.002)
                t_shown = time.perf_counter()
                while counting() or not app_probe.budget(app).history:  # the gauge shows the reopened history
                    await asyncio.sleep(0.002)
                t_gauge = time.perf_counter()
                await pilot.pause()
                t_idle = time.perf_counter()
                mounted = app_probe.drawn_messages(app)
                runs.append({"call_s": t_call - t0, "shown_s": t_shown - t0, "idle_s": t_idle - t0,
                             "gauge_s": t_gauge - t0, "mounted": mounted, "gauge_text": gauge.render_text().plain})
                rss_after = vm_rss_mib()
                await (app.main if app_probe.is_new(app) else app).action_new_conversation()
                await pilot.pause()
            return {"case": "open", "messages": n, "rss_before_mib": rss_before, "rss_after_mib": rss_after,
                    "peak_rss_mib": peak_rss_mib(), "runs": runs}
    finally:
        sim.stop()


async def list_case(db: Path, repeats: int) -> dict:
    """List LIST_COUNT conversations: the store query, set_rows in the app, one filter keystroke."""
    from textual.widgets import Input

    from zorac_tui.demo.simulator import SimConfig, SimulatorThread
    from zorac_tui.store import Store
    from zorac_tui.ui.conversation_list import ConversationList
    try:
        from zorac_tui.ui.persistence import LIST_LIMIT
    except ImportError:  # a tree from before the MainScreen (see app_probe)
        from zorac_tui.ui.persist_flow import LIST_LIMIT

    with Store(db) as store:
        query_s = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = store.list_conversations(limit=LIST_LIMIT)
            query_s.append(time.perf_counter() - t0)
    sim = SimulatorThread(SimConfig(rate=2000.0, ttft=0.01))
    base_url = sim.start()
    try:
        app = make_app(db, base_url)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await pilot.press("ctrl+o")
            await pilot.pause()
            listing = app.query_one(ConversationList)
            deadline = time.monotonic() + 60
            while len(listing.rows) != len(rows):  # the app's own refresh (store thread + set_rows)
                if time.monotonic() > deadline:
                    raise RuntimeError("the list did not fill within 60 s")
                await asyncio.sleep(0.01)
            await pilot.pause()
            rss_before = vm_rss_mib()
            set_rows_s, set_rows_idle_s, cold_s, filter_s, refilter_s = [], [], [], [], []
            for _ in range(repeats):
                listing._built.clear()  # cold: every option built anew (the first fill, a new day)
                t0 = time.perf_counter()
                listing.set_rows(rows)
                cold_s.append(time.perf_counter() - t0)
                await pilot.pause()
                t0 = time.perf_counter()  # warm: a refresh after a reply, rows unchanged but one
                listing.set_rows(rows)
                t1 = time.perf_counter()
                await pilot.pause()
                set_rows_idle_s.append(time.perf_counter() - t0)
                set_rows_s.append(t1 - t0)
            field = listing.query_one("#conv-filter", Input)
            field.focus()
            for ch in ("c", "x"):  # "c" matches nearly all ("chat"), "cx" none
                t0 = time.perf_counter()
                await pilot.press(ch)
                await pilot.pause()
                filter_s.append(time.perf_counter() - t0)
            for value in ("c", "chat 9", "zzz") * repeats:  # the filter's own work, without Pilot's idle wait
                field.value = value
                await pilot.pause()
                t0 = time.perf_counter()
                listing.refilter()
                refilter_s.append(time.perf_counter() - t0)
            return {"case": "list", "conversations": len(rows), "query_s": query_s, "set_rows_s": set_rows_s,
                    "set_rows_idle_s": set_rows_idle_s, "set_rows_cold_s": cold_s, "filter_keystroke_s": filter_s,
                    "refilter_s": refilter_s,
                    "rss_before_mib": rss_before, "rss_after_mib": vm_rss_mib(), "peak_rss_mib": peak_rss_mib()}
    finally:
        sim.stop()


def child_main(args: argparse.Namespace) -> None:
    """Run one case in this (fresh) process and print its JSON."""
    if args.case == "open":
        result = asyncio.run(open_case(Path(args.db), args.conv, args.messages, args.repeats))
    else:
        result = asyncio.run(list_case(Path(args.db), args.repeats))
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------ driver


def run_child(env: dict, *extra: str) -> dict:
    """Run this script as a child for one case; its parsed RESULT line."""
    proc = subprocess.run([sys.executable, __file__, *extra], env=env, capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"case {extra} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")


def ms(seconds: float) -> str:
    """Seconds as milliseconds, one decimal."""
    return f"{seconds * 1000:.1f} ms"


def med(values: list[float]) -> float:
    """Median."""
    return statistics.median(values)


def report(open_results: list[dict], list_result: dict, seed_s: dict) -> str:
    """The figures as a Markdown section."""
    import textual

    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Textual {textual.__version__}, SQLite {sqlite_version()}; headless "
        f"`run_test` at {SIZE[0]}x{SIZE[1]}, --demo (simulator + simulated GPU).",
        "",
        "Opening a stored conversation (clock starts at `open_conversation(id)`; first open, then median of "
        "the next opens):",
        "",
        "| messages | load + mount call | last message shown | gauge recounted | shown, counted, app idle "
        "| mounted | RSS before → after open | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in open_results:
        runs = r["runs"]
        first, rest = runs[0], runs[1:] or runs[:1]

        def cell(key: str, first: dict = first, rest: list = rest) -> str:
            return f"{ms(first[key])} / {ms(med([x[key] for x in rest]))}"

        lines.append(f"| {r['messages']:,} | {cell('call_s')} | {cell('shown_s')} | {cell('gauge_s')} | "
                     f"{cell('idle_s')} | {first['mounted']} | {r['rss_before_mib']:.0f} → "
                     f"{r['rss_after_mib']:.0f} MiB | {r['peak_rss_mib']:.0f} MiB |")
    lr = list_result
    lines += [
        "",
        f"Listing {lr['conversations']:,} conversations (6 messages each; median of {len(lr['query_s'])}):",
        "",
        f"- `Store.list_conversations()` (one query with live message counts): {ms(med(lr['query_s']))}",
        f"- `ConversationList.set_rows(rows)` in the app, list shown: {ms(med(lr['set_rows_cold_s']))} cold "
        f"(every option built), {ms(med(lr['set_rows_s']))} warm (a refresh after a reply), "
        f"{ms(med(lr['set_rows_idle_s']))} warm until the app is idle again",
        f"- `refilter()` over {lr['conversations']:,} rows (the filter's own work): {ms(med(lr['refilter_s']))} "
        f"median, {ms(max(lr['refilter_s']))} max",
        f"- one filter keystroke through Pilot, until idle (includes Pilot's idle detection): "
        f"{ms(lr['filter_keystroke_s'][0])} (\"c\", nearly all match), {ms(lr['filter_keystroke_s'][1])} "
        "(\"cx\", none match)",
        f"- RSS with the list filled: {lr['rss_after_mib']:.0f} MiB (peak {lr['peak_rss_mib']:.0f} MiB)",
        "",
        "Seeding through the Store API (one committed transaction per call): "
        + ", ".join(f"{k}: {v:.2f} s" for k, v in seed_s.items()),
    ]
    return "\n".join(lines)


def sqlite_version() -> str:
    """The SQLite library version."""
    import sqlite3

    return sqlite3.sqlite_version


def main() -> None:
    """Seed, run each case in a fresh process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--case", choices=("open", "list"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--conv", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        child_main(args)
        return
    repeats = 3 if args.quick else 6
    with tempfile.TemporaryDirectory(prefix="zorac-bench-history-") as tmp:
        env = {**os.environ, "ZORAC_HOME": str(Path(tmp) / "home"), "ZORAC_OFFLINE": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("ZORAC_") or k in ("ZORAC_HOME", "ZORAC_OFFLINE")}
        os.environ["ZORAC_HOME"] = env["ZORAC_HOME"]
        long_db = Path(tmp) / "long.sqlite3"
        many_db = Path(tmp) / "many.sqlite3"
        seed_s = {}
        t0 = time.perf_counter()
        ids = seed_conversations(long_db)
        seed_s[f"{sum(SIZES):,} messages"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        seed_many(many_db, LIST_COUNT)
        seed_s[f"{LIST_COUNT:,} conversations × 6 messages"] = time.perf_counter() - t0
        print(f"seeded: {', '.join(f'{k} in {v:.2f} s' for k, v in seed_s.items())}", flush=True)
        open_results = []
        for n in SIZES:
            r = run_child(env, "--case", "open", "--db", str(long_db), "--conv", str(ids[n]), "--messages", str(n),
                          "--repeats", str(repeats))
            open_results.append(r)
            print(f"open {n:,}: first shown {ms(r['runs'][0]['shown_s'])}, idle {ms(r['runs'][0]['idle_s'])}; "
                  f"RSS {r['rss_before_mib']:.0f} → {r['rss_after_mib']:.0f} MiB", flush=True)
        list_result = run_child(env, "--case", "list", "--db", str(many_db), "--repeats", str(repeats))
        print(f"list {LIST_COUNT:,}: query {ms(med(list_result['query_s']))}, set_rows "
              f"{ms(med(list_result['set_rows_s']))}", flush=True)
    print()
    print(report(open_results, list_result, seed_s))


if __name__ == "__main__":
    main()
