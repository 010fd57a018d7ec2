"""What schema v4 keeps per message and conversation, on real SQLite files: a reply's thinking and its
figures, who answered, versions of a regenerated reply (one shown), forks, the preset in the settings,
and two Stores (two windows) changing the same conversation at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from zorac_tui.store import MessageRow, Store, StoreError

SECRET = "sk-zorac-test-9f8e7d6c5b4a"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database path whose directory does not exist yet."""
    return tmp_path / "data" / "conversations.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    """An open Store, closed after the test."""
    s = Store(db)
    yield s
    s.close()


def chat(store: Store, n: int, title: str = "chat") -> tuple[int, list[int]]:
    """A conversation of `n` alternating user/assistant messages 'i'; (its id, message ids)."""
    conv = store.create_conversation(title, "model-x", "http://127.0.0.1:8000/v1", {"temperature": 0.5})
    return conv, [store.add_message(conv, "user" if i % 2 == 0 else "assistant", str(i)) for i in range(n)]


def shown(store: Store, conv: int) -> list[str]:
    """The texts a conversation shows, in order."""
    return [m.content for m in store.load_messages(conv)]


# ------------------------------------------------------------------------------ thinking and who answered


def test_thinking_is_checkpointed_with_the_reply_and_finished_with_its_figures(store: Store) -> None:
    conv = store.create_conversation("think")
    store.add_message(conv, "user", "Why is the sky blue?")
    reply = store.add_message(conv, "assistant", "", status="streaming", server="gpu-box",
                              model="Qwen/QwQ-32B-AWQ")
    row = store.get_message(reply)
    assert (row.thinking, row.server, row.model, row.thinking_tokens, row.ttfa_s, row.thinking_s) == (
        "", "gpu-box", "Qwen/QwQ-32B-AWQ", None, None, None)
    store.checkpoint_reply(reply, "", thinking="Rayleigh scattering")
    assert (store.get_message(reply).content, store.get_message(reply).thinking) == ("", "Rayleigh scattering")
    store.checkpoint_reply(reply, "Short wavelengths", thinking="Rayleigh scattering, 1/λ⁴")
    store.finish_message(reply, "Short wavelengths scatter most.", "complete", prompt_tokens=30,
                         completion_tokens=900, ttft_s=0.21, decode_tok_s=55.0, thinking_tokens=842,
                         ttfa_s=12.5, thinking_s=12.3)
    done = store.get_message(reply)
    assert (done.content, done.thinking, done.status) == (
        "Short wavelengths scatter most.", "Rayleigh scattering, 1/λ⁴", "complete")  # thinking kept
    assert (done.completion_tokens, done.thinking_tokens, done.ttfa_s, done.thinking_s, done.ttft_s) == (
        900, 842, 12.5, 12.3, 0.21)
    assert (done.server, done.model) == ("gpu-box", "Qwen/QwQ-32B-AWQ")  # kept: finish named no server
    store.finish_message(reply, "Short wavelengths scatter most.", "complete", thinking="final thoughts",
                         server="other-box", model="m2")
    again = store.get_message(reply)
    assert (again.thinking, again.server, again.model) == ("final thoughts", "other-box", "m2")
    assert again.thinking_tokens is None  # the figures are what this call gave
    plain = store.add_message(conv, "user", "thanks", thinking_tokens=0, ttfa_s=None)
    assert store.get_message(plain).thinking_tokens == 0
    with pytest.raises(TypeError):
        store.add_message(conv, "user", "x", thinking_seconds=1)


# ------------------------------------------------------------------------------ versions


def test_a_new_version_takes_the_place_of_the_reply_and_is_the_one_shown(store: Store) -> None:
    conv, m = chat(store, 4)
    before = store.get_conversation(conv).message_count
    v2 = store.add_message(conv, "assistant", "1 again", version_of=m[1], server="s", model="x")
    assert shown(store, conv) == ["0", "1 again", "2", "3"]
    assert store.get_message(v2).position == store.get_message(m[1]).position
    assert (store.get_message(v2).version_of, store.get_message(v2).shown) == (m[1], True)
    assert (store.get_message(m[1]).version_of, store.get_message(m[1]).shown) == (None, False)
    assert store.get_conversation(conv).message_count == before == store.count_messages(conv)
    assert store.live_message_ids(conv) == {m[0], v2, m[2], m[3]}
    assert [v.id for v in store.versions_of(m[1])] == [m[1], v2] == [v.id for v in store.versions_of(v2)]
    assert [v.id for v in store.versions_of(m[3])] == [m[3]]  # one version: just itself
    # a version of a later version still belongs to the first
    v3 = store.add_message(conv, "assistant", "1 thrice", version_of=v2)
    assert store.get_message(v3).version_of == m[1]
    assert [v.content for v in store.versions_of(v2)] == ["1", "1 again", "1 thrice"]
    assert [v.shown for v in store.versions_of(m[1])] == [False, False, True]
    assert shown(store, conv) == ["0", "1 thrice", "2", "3"]
    groups = store.versions_in(conv)
    assert list(groups) == [m[1]] and [v.id for v in groups[m[1]]] == [m[1], v2, v3]
    assert store.load_messages(conv, include_hidden=True)[1:4] == store.versions_of(m[1])
    assert len({r.position for r in store.load_messages(conv)}) == 4  # positions stay unique
    with pytest.raises(StoreError):
        store.versions_of(987654)


def test_show_version_flips_which_one_the_conversation_shows(store: Store) -> None:
    conv, m = chat(store, 2)
    v2 = store.add_message(conv, "assistant", "1b", version_of=m[1])
    store.show_version(m[1])
    assert shown(store, conv) == ["0", "1"]
    assert store.live_message_ids(conv) == {m[0], m[1]}
    assert [v.shown for v in store.versions_of(v2)] == [True, False]
    store.show_version(v2)
    store.show_version(v2)  # showing the shown one changes nothing
    assert shown(store, conv) == ["0", "1b"]
    assert store.count_messages(conv) == 2
    with pytest.raises(StoreError, match="no message"):
        store.show_version(987654)


def test_deleting_a_version_keeps_the_others_linked_and_one_shown(store: Store) -> None:
    conv, m = chat(store, 3)
    v2 = store.add_message(conv, "assistant", "1b", version_of=m[1])
    v3 = store.add_message(conv, "assistant", "1c", version_of=m[1])
    store.delete_message(v3)  # the shown one (a failed regeneration, retried): the newest left is shown
    assert shown(store, conv) == ["0", "1b", "2"]
    store.show_version(m[1])
    store.delete_message(m[1])  # the first one, shown: the next becomes first and is shown
    assert [(v.id, v.version_of, v.shown) for v in store.versions_of(v2)] == [(v2, None, True)]
    assert shown(store, conv) == ["0", "1b", "2"]
    assert store.versions_in(conv) == {}
    w2 = store.add_message(conv, "assistant", "2b", version_of=m[2])
    w3 = store.add_message(conv, "assistant", "2c", version_of=m[2])
    store.delete_message(m[2])  # the first one, hidden: the others are relinked, the shown one stays
    assert [(v.id, v.version_of, v.shown) for v in store.versions_of(w3)] == [(w2, None, False), (w3, w2, True)]
    assert shown(store, conv) == ["0", "1b", "2c"]
    store.delete_message(987654)  # gone already: nothing to do
    assert store.integrity_ok()


def test_a_version_must_be_of_a_live_message_of_the_same_conversation(store: Store) -> None:
    conv, m = chat(store, 4)
    other, o = chat(store, 2, "other")
    summary = store.add_message(conv, "summary", "s")
    store.archive_messages([m[0], m[1]], summary)
    for bad, reason in ((o[1], "belongs to conversation"), (m[1], "archived"), (987654, "no message")):
        with pytest.raises(StoreError, match=reason):
            store.add_message(conv, "assistant", "x", version_of=bad)
    assert shown(store, conv) == ["s", "2", "3"] and shown(store, other) == ["0", "1"]  # nothing written
    assert [v.shown for v in store.load_messages(conv, include_archived=True)] == [True] * 5


def test_archiving_a_reply_archives_every_version(store: Store) -> None:
    conv, m = chat(store, 4)
    v2 = store.add_message(conv, "assistant", "1b", version_of=m[1])
    summary = store.add_message(conv, "summary", "the first exchange")
    store.archive_messages([m[0], v2], summary)
    assert shown(store, conv) == ["the first exchange", "2", "3"]
    assert [r.content for r in store.archived_for(summary)] == ["0", "1b"]  # as the conversation had them
    assert {v.archived_by for v in store.versions_of(m[1])} == {summary}
    assert store.get_message(summary).summary_of_count == 2
    assert store.count_messages(conv) == 3
    store.show_version(m[1])  # flipping inside the archive leaves the live view alone
    assert shown(store, conv) == ["the first exchange", "2", "3"]
    assert [r.content for r in store.archived_for(summary)] == ["0", "1"]


# ------------------------------------------------------------------------------ forks


def forkable(store: Store) -> tuple[int, dict[str, int]]:
    """A conversation with a summary (of two messages), a regenerated reply and a later exchange."""
    conv = store.create_conversation("Original", "model-x", "http://127.0.0.1:8000/v1",
                                      {"temperature": 0.2, "preset": "terse", "system_prompt": "Be terse."})
    q1 = store.add_message(conv, "user", "q1")
    a1 = store.add_message(conv, "assistant", "a1", thinking="t1", thinking_tokens=3, server="box", model="m")
    summary = store.add_message(conv, "summary", "about q1")
    store.archive_messages([q1, a1], summary)
    q2 = store.add_message(conv, "user", "q2")
    a2 = store.add_message(conv, "assistant", "a2")
    a2b = store.add_message(conv, "assistant", "a2b", version_of=a2, completion_tokens=9)
    q3 = store.add_message(conv, "user", "q3")
    a3 = store.add_message(conv, "assistant", "a3")
    return conv, {"q1": q1, "a1": a1, "summary": summary, "q2": q2, "a2": a2, "a2b": a2b, "q3": q3, "a3": a3}


def everything(store: Store, conv: int) -> list[MessageRow]:
    """Every row of a conversation, archived and hidden ones too."""
    return store.load_messages(conv, include_archived=True, include_hidden=True)


def test_fork_copies_the_shown_messages_before_the_edited_one(store: Store) -> None:
    conv, m = forkable(store)
    original = (store.get_conversation(conv), everything(store, conv))
    fork = store.fork_conversation(conv, m["q3"], "Original (edited)")
    assert store.get_conversation(conv) == original[0] and everything(store, conv) == original[1]  # untouched
    row = store.get_conversation(fork)
    assert (row.title, row.forked_from, row.forked_at, row.model, row.server) == (
        "Original (edited)", conv, m["q3"], "model-x", "http://127.0.0.1:8000/v1")
    assert (row.preset, row.system_prompt, row.settings["temperature"]) == ("terse", "Be terse.", 0.2)
    assert shown(store, fork) == ["about q1", "q2", "a2b"]  # the shown version only
    assert store.versions_in(fork) == {}
    copied = sorted(everything(store, fork), key=lambda r: r.id)
    assert [r.content for r in copied] == ["q1", "a1", "about q1", "q2", "a2b"]  # in the order first written
    assert [r.position for r in copied] == [r.position for r in sorted(
        (r for r in original[1] if r.id in (m["q1"], m["a1"], m["summary"], m["q2"], m["a2b"])), key=lambda r: r.id)]
    new_summary = next(r for r in copied if r.role == "summary")
    assert [r.content for r in store.archived_for(new_summary.id)] == ["q1", "a1"]  # linked to the copy
    assert new_summary.summary_of_count == 2
    a1 = next(r for r in copied if r.content == "a1")
    assert (a1.thinking, a1.thinking_tokens, a1.server, a1.model) == ("t1", 3, "box", "m")
    assert next(r for r in copied if r.content == "a2b").completion_tokens == 9
    assert not {r.id for r in copied} & {r.id for r in original[1]}
    # the fork goes on by itself: the edited message and a reply follow the copies
    store.add_message(fork, "user", "q3, edited")
    assert shown(store, fork) == ["about q1", "q2", "a2b", "q3, edited"]
    assert shown(store, conv) == ["about q1", "q2", "a2b", "q3", "a3"]


def test_fork_at_the_first_message_or_of_everything(store: Store) -> None:
    conv, m = forkable(store)
    empty = store.fork_conversation(conv, m["summary"], "from the start")
    assert shown(store, empty) == [] and store.get_conversation(empty).message_count == 0
    whole = store.fork_conversation(conv, None, "all of it")
    assert shown(store, whole) == shown(store, conv)
    assert store.get_conversation(whole).forked_at is None


def test_fork_refuses_what_does_not_fit_and_survives_its_source(store: Store) -> None:
    conv, _ = forkable(store)
    _, o = chat(store, 2, "other")
    count = len(store.list_conversations())
    with pytest.raises(StoreError, match="not in conversation"):
        store.fork_conversation(conv, o[0], "x")
    with pytest.raises(StoreError, match="no conversation"):
        store.fork_conversation(987654, None, "x")
    assert len(store.list_conversations()) == count  # nothing half-made
    reply = store.add_message(conv, "assistant", "half", status="streaming")
    fork = store.fork_conversation(conv, None, "while streaming")
    assert store.load_messages(fork)[-1].status == "interrupted"  # nothing will ever finish the copy
    assert store.get_message(reply).status == "streaming"
    store.delete(conv)
    row = store.get_conversation(fork)
    assert row.forked_from is None and row.message_count == 6
    assert store.integrity_ok()


# ------------------------------------------------------------------------------ preset and settings


def test_conversation_settings_merge_and_never_keep_a_secret(store: Store, db: Path) -> None:
    conv = store.create_conversation("p", settings={"temperature": 0.3, "system_prompt": "Be helpful."})
    assert store.get_conversation(conv).preset is None
    stored = store.set_conversation_settings(conv, preset="pirate", system_prompt="Talk like a pirate.",
                                             api_key=SECRET, OPENAI_API_KEY=SECRET)
    assert stored == {"temperature": 0.3, "system_prompt": "Talk like a pirate.", "preset": "pirate"}
    row = store.get_conversation(conv)
    assert (row.preset, row.system_prompt, row.settings) == ("pirate", "Talk like a pirate.", stored)
    store.set_conversation_settings(conv, preset=None, system_prompt=None)  # back to the configured prompt
    row = store.get_conversation(conv)
    assert (row.preset, row.system_prompt, row.settings) == (None, None, {"temperature": 0.3})
    with pytest.raises(StoreError, match="no conversation"):
        store.set_conversation_settings(987654, preset="x")
    store.close()
    assert all(SECRET.encode() not in p.read_bytes() for p in db.parent.iterdir() if p.is_file())


# ------------------------------------------------------------------------------ two windows


def test_two_stores_see_each_others_versions_and_forks(db: Path) -> None:
    with Store(db) as first, Store(db) as second:
        conv, m = chat(first, 2)
        seen = second.data_version()
        v2 = second.add_message(conv, "assistant", "1b", version_of=m[1])
        assert first.live_message_ids(conv) == {m[0], v2}  # what the other window polls
        first.show_version(m[1])
        assert second.data_version() != seen
        assert [r.content for r in second.load_messages(conv)] == ["0", "1"]
        fork = second.fork_conversation(conv, m[1], "fork")
        assert first.get_conversation(fork).forked_from == conv
        assert [r.content for r in first.load_messages(fork)] == ["0"]


def test_two_stores_regenerating_the_same_reply_at_once_leave_one_shown(db: Path) -> None:
    first, second = Store(db), Store(db)
    conv, m = chat(first, 2)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def regenerate(store: Store, tag: str) -> None:
        try:
            start.wait()
            for i in range(40):
                new = store.add_message(conv, "assistant", f"{tag} {i}", version_of=m[1])
                if i % 3 == 0:
                    store.show_version(m[1])
                elif i % 5 == 0:
                    store.delete_message(new)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=regenerate, args=(s, tag)) for s, tag in ((first, "one"), (second, "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    group = second.versions_of(m[1])
    assert sum(v.shown for v in group) == 1
    assert group[0].id == m[1] and all(v.version_of == m[1] for v in group[1:])
    assert len({v.position for v in group}) == 1
    assert len(group) == 1 + 2 * 40 - 2 * len([i for i in range(40) if i % 3 and i % 5 == 0])
    assert second.count_messages(conv) == 2 and len(second.load_messages(conv)) == 2
    assert first.integrity_ok()
    first.close()
    second.close()
