"""Full-text search over the real SQLite file: what a query matches, how each hit is labelled and marked,
input that must never raise, the index kept right by triggers through every change, and `zorac-tui search`.

No stand-ins: every test opens a real database file in a temporary directory.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zorac_tui import cli
from zorac_tui.store import SearchHit, Store, default_db_path
from zorac_tui.store.search import completions, match_expression, parse, spans, words


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An open Store on a new file, closed after the test."""
    s = Store(tmp_path / "data" / "conversations.sqlite3")
    yield s
    s.close()


def found(store: Store, query: str, limit: int = 50) -> list[tuple[str, int | None]]:
    """(where, message id) of each hit, in the order search returns them."""
    return [(h.where, h.message_id) for h in store.search(query, limit)]


def ids(store: Store, query: str) -> set[int | None]:
    """Message ids (None for a title) that `query` finds."""
    return {h.message_id for h in store.search(query, 500)}


def marked(hit: SearchHit) -> list[str]:
    """The matched pieces of a hit's snippet."""
    return [text for text, matched in hit.snippet if matched]


# ------------------------------------------------------------------------------ what matches


def test_every_word_must_match_and_the_last_one_also_as_a_prefix(store: Store) -> None:
    conv = store.create_conversation("Kernels")
    both = store.add_message(conv, "user", "Does AWQ run on Marlin kernels?")
    awq = store.add_message(conv, "assistant", "AWQ keeps salient weights in higher precision.")
    marlin = store.add_message(conv, "user", "Marlin is a mixed-precision kernel.")
    assert ids(store, "awq marlin") == {both}
    assert ids(store, "marlin awq") == {both}  # order does not matter
    assert ids(store, "AWQ") == {both, awq}  # case folded
    assert ids(store, "marl") == {both, marlin}  # the last word as a prefix: typing as you search
    assert ids(store, "kern") == {None, both, marlin}  # the title "Kernels" too
    assert ids(store, "marl awq") == set()  # only the last word is a prefix
    assert ids(store, "marl ") == set()  # a space after it: the word is finished
    assert ids(store, "precision") == {awq, marlin}  # "mixed-precision": words split at the hyphen
    assert ids(store, "mixed-precision") == {marlin}  # the same words side by side
    assert ids(store, "nothing-like-this") == set()


def test_accents_case_and_other_scripts(store: Store) -> None:
    conv = store.create_conversation("Ünïcode")
    cafe = store.add_message(conv, "user", "Un café à Genève, s'il vous plaît")
    russian = store.add_message(conv, "assistant", "Привет, мир! Квантование весов")
    greek = store.add_message(conv, "user", "Ελληνικά γράμματα")
    cjk = store.add_message(conv, "assistant", "量子化 は 重み を 小さく する")
    emoji = store.add_message(conv, "user", "ship it 🚀 today")
    assert ids(store, "cafe geneve") == {cafe}
    assert ids(store, "CAFÉ") == {cafe}
    assert ids(store, "квант") == {russian}
    assert ids(store, "ПРИВЕТ мир") == {russian}
    assert ids(store, "ελληνικά γράμ") == {greek}
    assert ids(store, "ελληνικα") == set()  # accents are folded in Latin script only (SQLite's unicode61)
    assert ids(store, "量子化") == {cjk}
    assert ids(store, "unicode") == {None}
    assert ids(store, "🚀") == set()  # a symbol is not a word: nothing to look for, nothing raised
    assert ids(store, "ship 🚀") == {emoji}  # the symbol is ignored, the word still counts


@pytest.mark.parametrize("query", [
    'foo"', '"', '""', '"foo', "'", "AND", "OR", "NOT", "NEAR", "NEAR(a b)", "a AND", "AND a", "a OR b",
    "a NOT b", "*", "**", "foo*", "*foo", "-x", "--", "^start", "+x", "col:x", "content:x", "thinking:",
    "{content thinking}: x", "(", ")", "(a OR b", "\\", "%", "_", "%_", ";", "'; DROP TABLE messages; --",
    "", " ", "\t\n", "\x00", "a\x00b", "🚀", "👍🏽", "量子化", "مرحبا", "e\u0301", "\u200b", "\ufdd0x\ufdd1",
    "x" * 10_000, "word " * 300,
])
def test_no_input_raises(store: Store, query: str) -> None:
    conv = store.create_conversation("a and b or not near x")
    store.add_message(conv, "user", "foo AND bar OR x NOT near (a b) col x -x * content thinking start")
    hits = store.search(query)
    assert isinstance(hits, list)
    assert all(isinstance(h, SearchHit) for h in hits)
    assert store.integrity_ok()


def test_a_long_beginning_finds_what_fts5s_own_prefix_search_finds(store: Store) -> None:
    """Beginnings longer than the index's prefix entries are looked up as the words they begin (OR), unless
    there are too many or the beginning is not plain ASCII: either way the same hits as FTS5's own `*`."""
    conv = store.create_conversation("Quantization notes")
    texts = ["quantization of weights", "Quantized kernels", "quantize it", "a quantum leap", "quant",
             "QUANTIZATION again", "nothing here", "Quäntchen", "quänt"] + [f"zebra{i} stripes" for i in range(70)]
    for text in texts:
        store.add_message(conv, "user", text, thinking="think quantitatively" if text == "nothing here" else "")

    def native(prefix: str) -> set[int | None]:
        rows = store.conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (f'"{prefix}"*',))
        titles = store.conn.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH ?", (f'"{prefix}"*',))
        return {r[0] for r in rows} | ({None} if titles.fetchall() else set())

    query = parse("quant")
    assert completions(store.conn, "messages_fts", query) == [  # "Quäntchen" folded as the index folds it
        "quant", "quantchen", "quantitatively", "quantization", "quantize", "quantized", "quantum"]
    assert completions(store.conn, "titles_fts", query) == ["quantization"]
    assert completions(store.conn, "messages_fts", parse("zebra")) is None  # 70 words: FTS5's own search
    assert completions(store.conn, "messages_fts", parse("quän")) is None  # not ASCII: FTS5's own search
    assert completions(store.conn, "messages_fts", parse("quan")) is None  # short: the prefix entries serve
    assert completions(store.conn, "messages_fts", parse("quant ")) is None  # a finished word
    assert completions(store.conn, "messages_fts", parse("quantx")) == []
    for prefix in ("quant", "Quantiz", "QUANTIZATION", "quantum", "quantx", "zebra", "zebra1", "quän", "quänt"):
        assert ids(store, prefix) == native(prefix.lower()), prefix
    assert len(ids(store, "quant")) == 10  # 8 texts (accents folded), the thinking, the title
    assert found(store, "quantit") == [("thinking", store.load_messages(conv)[6].id)]


def test_operators_and_punctuation_are_plain_words(store: Store) -> None:
    conv = store.create_conversation("Operators")
    plain = store.add_message(conv, "user", "salt and pepper, or not")
    other = store.add_message(conv, "user", "salt pepper")
    assert ids(store, "and") == {plain}  # not the AND operator
    assert ids(store, "salt OR nothing") == set()  # OR is a word that must match too
    assert ids(store, "salt NOT") == {plain}
    assert ids(store, 'pepper"') == {plain, other}
    assert ids(store, "-pepper") == {plain, other}  # not "without pepper"
    assert ids(store, "salt*") == {plain, other}
    assert ids(store, '"salt') == {plain, other}
    assert ids(store, "*") == set() and ids(store, "") == set() and ids(store, '""') == set()


def test_match_expression_quotes_every_word() -> None:
    assert match_expression("awq marlin") == '"awq" AND "marlin"*'
    assert match_expression('foo" AND') == '"foo" AND "AND"*'
    assert match_expression('kv-cache "x*y" NEAR(a,b)') == '"kv" AND "cache" AND "x" AND "y" AND "NEAR" AND "a" AND "b"*'
    assert match_expression("done ") == '"done"'
    assert match_expression("* - \"") is None
    assert match_expression("") is None
    assert words("nai\u0308ve ক্ষমা ½ ǅ_x") == ["nai\u0308ve", "ক্ষমা", "½", "ǅ", "x"]
    assert words("ক্ষমা", split_marks=True) == ["ক", "ষম"]


def test_a_word_the_index_cuts_differently_is_still_found(store: Store) -> None:
    """SQLite's tokenizer drops the Bengali virama and cuts the word there; Python's letters keep it whole,
    so the word reaches FTS5 as two, which it refuses: the search cuts at the mark and tries again."""
    conv = store.create_conversation("Bengali")
    mid = store.add_message(conv, "user", "ক্ষমা করবেন")
    with pytest.raises(sqlite3.OperationalError, match="fts5"):  # the first try, as FTS5 answers it
        store.conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (match_expression("ক্ষমা"),))
    assert ids(store, "ক্ষমা") == {mid}
    assert ids(store, "naïve") == set()


# ------------------------------------------------------------------------------ labels and snippets


def labelled_conversation(store: Store) -> dict[str, int]:
    """One conversation with each kind of place a word can be: live text, thinking, archived, another version."""
    conv = store.create_conversation("Planning the zebra migration")
    old_q = store.add_message(conv, "user", "What about the walrus?")
    old_a = store.add_message(conv, "assistant", "The walrus stays.", thinking="think of a narwhal first")
    summary = store.add_message(conv, "summary", "They talked about a marine mammal.")
    store.archive_messages([old_q, old_a], summary)
    first = store.add_message(conv, "assistant", "A capybara answer.", thinking="pondering the ocelot")
    second = store.add_message(conv, "assistant", "A tapir answer.", version_of=first)
    return {"conv": conv, "old_q": old_q, "old_a": old_a, "summary": summary, "first": first, "second": second}


def test_each_hit_says_where_it_matched(store: Store) -> None:
    m = labelled_conversation(store)
    assert found(store, "zebra") == [("title", None)]
    assert found(store, "walrus") == [("archived", m["old_a"]), ("archived", m["old_q"])]
    assert found(store, "narwhal") == [("archived", m["old_a"])]  # archived wins over thinking
    assert found(store, "capybara") == [("other version", m["first"])]
    assert found(store, "ocelot") == [("other version", m["first"])]
    assert found(store, "tapir") == [("message", m["second"])]
    assert found(store, "mammal") == [("message", m["summary"])]
    store.show_version(m["first"])
    assert found(store, "capybara") == [("message", m["first"])]
    assert found(store, "ocelot") == [("thinking", m["first"])]
    assert found(store, "tapir") == [("other version", m["second"])]
    hit = store.search("ocelot")[0]
    assert (hit.conversation_id, hit.title, hit.role) == (m["conv"], "Planning the zebra migration", "assistant")
    row = store.get_message(m["first"])
    assert hit.created == row.created and hit.updated == store.get_conversation(m["conv"]).updated


def test_snippets_are_spans_with_the_match_marked_and_text_kept_literal(store: Store) -> None:
    conv = store.create_conversation("[bold]not markup[/bold]")
    text = "Use [red]markup[/red] and *stars* with\n\nnewlines\tand tabs around the keyword here."
    mid = store.add_message(conv, "user", text)
    hit = store.search("keyword")[0]
    assert hit.message_id == mid
    assert marked(hit) == ["keyword"]
    assert hit.snippet_text == "Use [red]markup[/red] and *stars* with newlines and tabs around the keyword here."
    assert "\n" not in hit.snippet_text and "\t" not in hit.snippet_text
    title = store.search("bold")[0]
    assert title.where == "title" and title.snippet == (("[", False), ("bold", True), ("]not markup[/", False),
                                                         ("bold", True), ("]", False))
    prefix = store.search("markup")  # both hits: brackets come back as text, not as styling
    assert {h.where for h in prefix} == {"title", "message"}
    assert all("markup" in marked(h) for h in prefix)


def test_text_holding_noncharacters_cannot_pose_as_a_mark(store: Store) -> None:
    conv = store.create_conversation("odd")
    store.add_message(conv, "user", "before \ufdd0fake\ufdd1 mark and the target word after")
    hit = store.search("target")[0]
    assert marked(hit) == ["target"]
    assert "\ufdd0fake\ufdd1" in hit.snippet_text


def test_a_long_text_gives_a_short_snippet_around_the_match(store: Store) -> None:
    conv = store.create_conversation("long")
    words = [f"filler{i}" for i in range(3000)]
    words[1500] = "needle"
    store.add_message(conv, "assistant", " ".join(words))
    hit = store.search("needle")[0]
    assert marked(hit) == ["needle"]
    assert hit.snippet_text.startswith("…") and hit.snippet_text.endswith("…")
    assert len(hit.snippet_text.split()) <= 20


def test_spans_split_and_fold_whitespace() -> None:
    assert spans("a <b> c", "<", ">") == (("a ", False), ("b", True), (" c", False))
    assert spans("  <x>\n\n<y>  ", "<", ">") == (("x", True), (" ", False), ("y", True))
    assert spans("no match", "<", ">") == (("no match", False),)
    assert spans("", "<", ">") == ()


def test_newest_first_and_the_limit(store: Store) -> None:
    made = []
    for i in range(30):
        conv = store.create_conversation(f"chat {i}")
        made.append(store.add_message(conv, "user", f"common word number {i}"))
    hits = store.search("common", limit=10)
    assert [h.message_id for h in hits] == made[::-1][:10]
    assert len(store.search("common", limit=100)) == 30
    assert store.search("common", limit=0) == []
    times = [h.created for h in store.search("chat", limit=100)]
    assert times == sorted(times, reverse=True)


# ------------------------------------------------------------------------------ the index follows every change


def test_triggers_keep_the_index_right(store: Store) -> None:
    conv = store.create_conversation("Ferret facts")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    store.checkpoint_reply(reply, "The ferret", thinking="recall mustelids")
    assert ids(store, "ferret") == {None, reply} and ids(store, "mustelids") == {reply}
    store.checkpoint_reply(reply, "The ferret sleeps", thinking="recall weasels")
    assert ids(store, "mustelids") == set() and ids(store, "weasels") == {reply}
    store.finish_message(reply, "Ferrets sleep 14 hours.", "complete")  # thinking kept
    assert ids(store, "sleeps") == set() and ids(store, "hours") == {reply} and ids(store, "weasels") == {reply}
    store.finish_message(reply, "Ferrets sleep 14 hours.", "complete", thinking="")
    assert ids(store, "weasels") == set()

    store.rename(conv, "Polecat notes")
    assert found(store, "ferret ") == [] and found(store, "polecat") == [("title", None)]
    assert ids(store, "ferrets") == {reply}

    summary = store.add_message(conv, "summary", "Sleep habits.")
    store.archive_messages([reply], summary)
    assert found(store, "hours") == [("archived", reply)]
    store.delete_message(summary)  # the original comes back into view
    assert found(store, "hours") == [("message", reply)]

    again = store.add_message(conv, "assistant", "Ferrets nap a lot.", version_of=reply)
    assert found(store, "ferrets") == [("message", again), ("other version", reply)]
    store.show_version(reply)
    assert found(store, "ferrets") == [("other version", again), ("message", reply)]
    store.delete_message(reply)
    assert found(store, "ferrets") == [("message", again)]
    assert ids(store, "hours") == set()

    other = store.create_conversation("Otters")
    kept = store.add_message(other, "user", "otters hold hands")
    store.delete(conv)
    assert ids(store, "ferrets") == set() and ids(store, "polecat") == set()
    assert ids(store, "otters") == {None, kept}
    fts_integrity(store)


def fts_integrity(store: Store) -> None:
    """FTS5's own check of both indexes (raises if an index is inconsistent)."""
    store.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    store.conn.execute("INSERT INTO titles_fts(titles_fts) VALUES ('integrity-check')")


WORDS = [f"w{i}" for i in range(12)]


def test_random_changes_leave_the_index_equal_to_the_rows(store: Store) -> None:
    """Many random adds, checkpoints, versions, flips, archives and deletes; then every word finds exactly
    the messages that hold it (text or thinking) and the conversations whose title holds it."""
    rng = random.Random(7)

    def text() -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(0, 5)))

    convs = [store.create_conversation(text() or "untitled") for _ in range(4)]
    for _ in range(400):
        conv = rng.choice(convs)
        live = store.load_messages(conv)
        action = rng.random()
        if action < 0.35 or not live:
            store.add_message(conv, rng.choice(["user", "assistant"]), text(), thinking=text())
        elif action < 0.5:
            store.checkpoint_reply(rng.choice(live).id, text(), thinking=text())
        elif action < 0.6:
            store.add_message(conv, "assistant", text(), version_of=rng.choice(live).id, thinking=text())
        elif action < 0.7:
            versions = store.versions_of(rng.choice(live).id)
            store.show_version(rng.choice(versions).id)
        elif action < 0.78:
            summary = store.add_message(conv, "summary", text())
            store.archive_messages([m.id for m in rng.sample(live, min(2, len(live)))], summary)
        elif action < 0.9:
            store.delete_message(rng.choice(live).id)
        elif action < 0.95:
            store.rename(conv, text() or "untitled")
        else:
            store.finish_message(rng.choice(live).id, text(), "complete", thinking=text())
    rows = store.conn.execute("SELECT id, content, thinking FROM messages").fetchall()
    titles = store.conn.execute("SELECT id, title FROM conversations").fetchall()
    for word in WORDS:
        expected = {r[0] for r in rows if word in (r[1] + " " + r[2]).split()}
        got = [h for h in store.search(word + " ", 10_000)]
        assert {h.message_id for h in got if h.message_id is not None} == expected, word
        assert {h.conversation_id for h in got if h.message_id is None} == {
            t[0] for t in titles if word in t[1].split()}, word
    fts_integrity(store)
    assert store.integrity_ok()


def test_two_stores_see_each_others_writes_in_search(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with Store(path) as first, Store(path) as second:
        conv = first.create_conversation("Shared")
        mid = first.add_message(conv, "user", "the quokka smiles")
        assert ids(second, "quokka") == {mid}
        second.checkpoint_reply(mid, "the wombat digs")
        assert ids(first, "quokka") == set() and ids(first, "wombat") == {mid}


# ------------------------------------------------------------------------------ the command line


def seed_cli(db: Path) -> tuple[int, int]:
    """Two conversations for the CLI tests; (first id, second id)."""
    with Store(db) as store:
        a = store.create_conversation("GPU memory")
        store.add_message(a, "user", "How much VRAM does the \x1b[31mKV cache\x1b[0m take?")
        b = store.create_conversation("Tea")
        store.add_message(b, "assistant", "Green tea, no VRAM involved.", thinking="steeping time")
    return a, b


def test_cli_search_prints_id_date_title_and_passage(capsys: Any) -> None:
    a, b = seed_cli(default_db_path())
    assert cli.main(["search", "vram"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert out[0].split()[0] == str(b) and out[0].endswith("Tea")
    assert re.match(r"\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+Tea$", out[0])
    assert out[1].strip() == "message, assistant: Green tea, no VRAM involved."
    assert out[2].split()[0] == str(a) and out[2].endswith("GPU memory")
    assert "\x1b" not in out[3] and "\ufffd[31mKV cache\ufffd[0m" in out[3]  # no escape reaches the terminal
    assert cli.main(["search", "steep"]) == 0
    assert capsys.readouterr().out.splitlines()[1].strip() == "thinking, assistant: steeping time"
    assert cli.main(["search", "gpu", "mem"]) == 0
    assert capsys.readouterr().out.splitlines()[1].strip() == "title: GPU memory"
    assert cli.main(["search", "-n", "1", "vram"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_cli_search_says_when_nothing_matches(capsys: Any) -> None:
    seed_cli(default_db_path())
    assert cli.main(["search", "platypus"]) == 0
    assert capsys.readouterr().out.strip() == "No saved conversation matches 'platypus'."
    assert cli.main(["search", "*", '"']) == 0
    assert capsys.readouterr().out.strip() == "Nothing to search for in '* \"': give at least one word."
