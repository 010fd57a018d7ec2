"""Benchmark: full-text search over a large history (10,000 conversations, 500,000 messages by default).

    python benchmarks/search.py                  # build in a temp dir, measure, delete
    python benchmarks/search.py --quick          # 1,000 conversations / 50,000 messages
    python benchmarks/search.py --keep DIR       # keep the database in DIR (and reuse it next time)
    python benchmarks/search.py --migration      # also: a v3 file of the same size migrated to v4

What is measured (nothing is asserted; figures are printed):

* build: every message inserted through the schema's triggers (so the index grows the way it does in
  use), 1,000 conversations per transaction; the time, then the file size and how much of it is the
  search index.
* open: `Store(path)` on the built file, median of 3 (quick_check runs at open only on files up to 64 MB,
  or after a run met damage), and one `PRAGMA quick_check` of the whole file for comparison.
* search: `Store.search(query, limit=50)` (the whole path: FTS5 match, snippets, joins, spans) for
  common, middling, rare and absent words, two and three words, and beginnings of 1 to 7 letters as
  typed while searching; each query 15 times after one warm-up: p50 / p95 / max per query and over all.
* checkpoint: `Store.checkpoint_reply` of one streaming reply at 10, 50 and 200 kB of text (median of 5),
  what the once-a-second save of a long reply costs with the index kept up to date.
* with --migration: the same content written as a v3 file (no index), then the first `Store(path)`
  of this version, which migrates it and builds the index for every row.

Text is realistic in length and in how often words occur: user turns of 1–3 sentences, replies of
4–20 (some with 3–15 sentences of thinking), words drawn by a Zipf law from ~300 common English and
technical words followed by 30,000 made-up ones, so a word's rank sets how rare it is.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zorac_tui.store import MIGRATIONS, V1_SCHEMA, Store, opening  # noqa: E402

COMMON = """the of and to a in is it that for you with on this as are be was can at by not or have from
an but if your will use which more one all there when so what they about their would has how we out up
do also only then its them these than into some model token tokens memory cache gpu server reply prompt
context window batch layer layers weights quantization quantized quantize kernel kernels vllm awq gptq
marlin throughput latency decode prefill attention head heads tensor tensors float half precision bits
bit int4 int8 fp16 bf16 cuda driver nvidia card vram ram cpu thread threads request requests stream
streaming queue scheduler block blocks page pages kv first time second seconds ms fast slow faster slower
speed rate per each every value values number numbers size sizes length long short large small big
little more less most least much many few number example examples like just make makes made run runs
running ran start starts started stop stops stopped set sets setting settings file files path config
python code function functions class method methods call calls return returns error errors fail fails
failed work works worked need needs needed want wants wanted know knows think thinks thought because
while after before during until since then now here where why how who whom whose should could might must
shall may over under above below between through across against along around within without
user users assistant answer answers question questions summary summaries conversation conversations
""".split()
MADE_UP = 30_000
RARE_RANK = 25_000  # a word this far down the Zipf law appears a handful of times in 500,000 messages


def vocabulary(rng: random.Random) -> list[str]:
    """The common words, then made-up ones (pronounceable, unique), in rank order."""
    seen = set(COMMON)
    words = list(COMMON)
    consonants, vowels = "bcdfghjklmnprstvz", "aeiou"
    while len(words) < len(COMMON) + MADE_UP:
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def sentences(rng: random.Random, words: list[str], count: int) -> list[str]:
    """A pool of sentences of 6–22 words drawn by a Zipf law (s = 1.07) over `words`."""
    weights = [1 / (rank + 1) ** 1.07 for rank in range(len(words))]
    cum = list(_accumulate(weights))
    pool = []
    for _ in range(count):
        chosen = rng.choices(words, cum_weights=cum, k=rng.randint(6, 22))
        pool.append(chosen[0].capitalize() + " " + " ".join(chosen[1:]) + rng.choice(".....?!:"))
    return pool


def _accumulate(values: list[float]) -> list[float]:
    """Running totals."""
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


def conversation_rows(rng: random.Random, pool: list[str], conv_id: int, per: int,
                      start: float) -> tuple[tuple, list[tuple]]:
    """One conversation row and its `per` message rows (alternating user / assistant)."""
    messages = []
    for position in range(per):
        user = position % 2 == 0
        text = " ".join(rng.choices(pool, k=rng.randint(1, 3) if user else rng.randint(4, 20)))
        thinking = "" if user or rng.random() > 0.2 else " ".join(rng.choices(pool, k=rng.randint(3, 15)))
        messages.append((conv_id, position, "user" if user else "assistant", text, thinking,
                         start + position * 30.0))
    title = messages[0][3][:60]
    return (conv_id, title, start, start + per * 30.0), messages


def fill(conn: sqlite3.Connection, conversations: int, per: int, seed: int = 1) -> None:
    """Write the whole history, 1,000 conversations per transaction."""
    rng = random.Random(seed)
    pool = sentences(rng, vocabulary(rng), 40_000)
    start = time.time() - conversations * 3600.0
    for first in range(1, conversations + 1, 1000):
        convs, messages = [], []
        for conv_id in range(first, min(first + 1000, conversations + 1)):
            conv, rows = conversation_rows(rng, pool, conv_id, per, start + conv_id * 3600.0)
            convs.append(conv)
            messages += rows
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO conversations(id, title, created, updated, settings) VALUES (?,?,?,?,'{}')",
                         convs)
        if "thinking" in {r[1] for r in conn.execute("PRAGMA table_info(messages)")}:
            conn.executemany("INSERT INTO messages(conversation_id, position, role, content, thinking, created) "
                             "VALUES (?,?,?,?,?,?)", messages)
        else:  # a v3 file: no thinking column yet (its text goes into the reply)
            conn.executemany("INSERT INTO messages(conversation_id, position, role, content, created) "
                             "VALUES (?,?,?,?,?)", [(c, p, r, t + (" " + k if k else ""), w)
                                                    for c, p, r, t, k, w in messages])
        conn.execute("COMMIT")


def size_mb(path: Path) -> float:
    """The database and its -wal, in MB."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if "corrupt" not in p.name) / 1e6


def index_mb(conn: sqlite3.Connection) -> float | None:
    """How much of the file the search index takes (None where SQLite has no dbstat)."""
    try:
        return conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE '%_fts%'").fetchone()[0] / 1e6
    except sqlite3.Error:
        return None


def queries(words: list[str]) -> list[tuple[str, str]]:
    """(what it is, query) pairs: frequencies from the Zipf ranks, prefixes as typed."""
    mid, rare = words[len(COMMON) + 700], words[len(COMMON) + RARE_RANK]
    return [
        ("most common word", "the"), ("common word", "memory"), ("middling word", mid),
        ("rare word", rare), ("absent word", "xylophonequartz"), ("two common words", "memory cache"),
        ("common + rare", f"the {rare}"), ("three words", "gpu memory cache"),
        ("long common word", "quantization"), ("prefix, 1 letter", "q"), ("prefix, 2 letters", "qu"),
        ("prefix, 3 letters", "qua"), ("prefix, 4 letters", "quan"), ("prefix, 5 letters", "quant"),
        ("prefix, 7 letters", "quantiz"), ("two words, prefix", "gpu mem"), ("finished word", "memory "),
        ("punctuation", 'kv-cache "decode'),
    ]


def measure(store: Store, pairs: list[tuple[str, str]], repeats: int) -> list[tuple[str, str, int, list[float]]]:
    """(label, query, hits, times in ms) per query; one warm-up call each."""
    out = []
    for label, query in pairs:
        hits = len(store.search(query))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            store.search(query)
            times.append((time.perf_counter() - t) * 1000)
        out.append((label, query, hits, times))
    return out


def checkpoints(store: Store, pool: list[str]) -> list[tuple[int, float]]:
    """(characters, median ms) of checkpointing a streaming reply of growing length: each checkpoint
    replaces the reply's words in the index (the trigger), the conversation is deleted afterwards."""
    conv = store.create_conversation("checkpoint probe")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    rng, out, text = random.Random(2), [], ""
    for size in (10_000, 50_000, 200_000):
        while len(text) < size:
            text += " " + rng.choice(pool)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            store.checkpoint_reply(reply, text)
            times.append(time.perf_counter() - t)
        out.append((len(text), statistics.median(times) * 1000))
    store.delete(conv)
    return out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build(path: Path, conversations: int, per: int) -> float:
    """A current-schema database filled through its triggers; returns the seconds it took."""
    store = Store(path)
    t = time.perf_counter()
    fill(store.conn, conversations, per)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elapsed = time.perf_counter() - t
    store.close()
    return elapsed


def migration(directory: Path, conversations: int, per: int) -> tuple[float, float]:
    """A v3 file of the same content, then its first open by this version; (write s, migrate s)."""
    path = directory / "v3.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(V1_SCHEMA + MIGRATIONS[2] + MIGRATIONS[3] + "PRAGMA user_version = 3;")
    t = time.perf_counter()
    fill(conn, conversations, per)
    written = time.perf_counter() - t
    conn.close()
    t = time.perf_counter()
    Store(path).close()
    migrated = time.perf_counter() - t
    path.unlink()
    return written, migrated


def main() -> None:
    """Build (or reuse), measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 conversations / 50,000 messages")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the database in this directory")
    parser.add_argument("--migration", action="store_true", help="also time migrating a v3 file of that size")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    conversations, per = (1_000, 50) if args.quick else (10_000, 50)
    directory = args.keep or Path(tempfile.mkdtemp(prefix="zorac-search-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"search-{conversations}x{per}.sqlite3"
    print(f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"SQLite {sqlite3.sqlite_version} · {conversations:,} conversations × {per} messages")
    try:
        if path.exists():
            print(f"reusing {path}")
        else:
            seconds = build(path, conversations, per)
            print(f"build: {seconds:.1f} s ({conversations * per / seconds:,.0f} messages/s, index kept by triggers)")
        with sqlite3.connect(path) as conn:
            index = index_mb(conn)
            chars = conn.execute("SELECT SUM(LENGTH(content) + LENGTH(thinking)) FROM messages").fetchone()[0]
        print(f"file: {size_mb(path):,.0f} MB ({chars / 1e6:,.0f} M characters of text"
              + (f"; search index {index:,.0f} MB)" if index is not None else ")"))
        opens = []
        for _ in range(3):
            t = time.perf_counter()
            store = Store(path)
            opens.append(time.perf_counter() - t)
            store.close()
        checked = path.stat().st_size <= opening.FULL_CHECK_UP_TO
        with sqlite3.connect(path) as conn:
            t = time.perf_counter()
            conn.execute("PRAGMA quick_check").fetchall()
            whole = time.perf_counter() - t
        print(f"open: median {statistics.median(opens) * 1000:,.0f} ms ("
              + ("quick_check included" if checked else "quick_check skipped: over 64 MB and not marked damaged")
              + f"); quick_check of the whole file: {whole * 1000:,.0f} ms")
        rng = random.Random(1)
        store = Store(path)
        words = vocabulary(rng)
        results = measure(store, queries(words), args.repeats)
        saves = checkpoints(store, sentences(random.Random(3), words, 2_000))
        store.close()
        print(f"\n{'query':<20} {'text':<24} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for label, query, hits, times in results:
            print(f"{label:<20} {query:<24.24} {hits:>5} {pct(times, 0.5):>8.1f} {pct(times, 0.95):>8.1f} "
                  f"{max(times):>8.1f}")
        every = [t for *_, times in results for t in times]
        print(f"{'all queries':<45} {'':>5} {pct(every, 0.5):>8.1f} {pct(every, 0.95):>8.1f} {max(every):>8.1f}")
        print("\ncheckpoint of a streaming reply (its words replaced in the index): "
              + ", ".join(f"{chars / 1000:,.0f} kB {ms:.1f} ms" for chars, ms in saves))
        if args.migration:
            written, migrated = migration(directory, conversations, per)
            print(f"\nmigration: v3 file written in {written:.1f} s; first open of this version (index built for "
                  f"every row) {migrated:.1f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
