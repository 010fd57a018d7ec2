"""Persistence: every message goes to SQLite on one dedicated thread; failures are one line and lose nothing.

It also watches what other zorac-tui windows on the same database do (a read every FOREIGN_POLL s):
replies they stream that this window shows, replies whose window died, and changes to the shown
conversation.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message as TextualMessage
from textual.widget import Widget

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status

if TYPE_CHECKING:
    from zorac_tui.store.instances import InstanceLock

CHECKPOINT_INTERVAL = 1.0  # seconds between saves of a streaming reply (kill -9 loses at most this)
# While another instance runs on the same database, a 'streaming' row whose conversation was touched
# this recently is its live reply (it checkpoints every CHECKPOINT_INTERVAL): left alone, looked at later.
STALE_AFTER = 10 * CHECKPOINT_INTERVAL
FOREIGN_POLL = 2.0  # seconds between looks at replies other instances stream (and at ones they left behind)
LIST_LIMIT = 20_000
SEARCH_LIMIT = 60


def message_from_row(row: Any) -> Message:
    """A stored row as a conversation Message (its thinking, figures and who answered included)."""
    stats = None
    if row.completion_tokens is not None or row.ttft_s is not None:
        stats = ReplyStats(completion_tokens=row.completion_tokens, prompt_tokens=row.prompt_tokens,
                           decode_tok_s=row.decode_tok_s, ttft_s=row.ttft_s, thinking_tokens=row.thinking_tokens,
                           ttfa_s=row.ttfa_s, thinking_s=row.thinking_s)
    status = Status(row.status) if row.status in Status._value2member_map_ else Status.COMPLETE
    error, note = (row.error, None) if status is Status.ERROR else (None, row.error)
    return Message(role=row.role, content=row.content, status=status, error=error, note=note, stats=stats,
                   db_id=row.id, thinking=row.thinking or "", server=row.server, model=row.model)


class Persistence(Widget):
    """Owns the Store, its thread and the instance lock; tells the screen what it loaded or failed to save."""

    DEFAULT_CSS = "Persistence { display: none; }"

    class Ready(TextualMessage):
        """The database is open."""

    class Failed(TextualMessage):
        """Saving or loading failed; `line` says why (said once per distinct failure)."""

        def __init__(self, line: str) -> None:
            """One line naming the file."""
            super().__init__()
            self.line = line

    class Recovered(TextualMessage):
        """The database was damaged: it was moved aside and a new one started (`line` says where it is)."""

        def __init__(self, line: str) -> None:
            """One line naming where the old file went."""
            super().__init__()
            self.line = line

    class Interrupted(TextualMessage):
        """`count` replies were found streaming with no window left to finish them."""

        def __init__(self, count: int) -> None:
            """How many were marked interrupted."""
            super().__init__()
            self.count = count

    class Listed(TextualMessage):
        """The saved conversations, newest first."""

        def __init__(self, rows: list[Any]) -> None:
            """Store rows."""
            super().__init__()
            self.rows = rows

    class Loaded(TextualMessage):
        """A stored conversation was read in."""

        def __init__(self, conversation: Conversation) -> None:
            """The conversation, with summaries holding their archives."""
            super().__init__()
            self.conversation = conversation

    class ForeignChanges(TextualMessage):
        """Another window changed what this one shows: replies it streams, or the shown conversation."""

        def __init__(self, updated: list[Message], changed: Conversation | None, gone: bool) -> None:
            """`updated`: shown messages whose text or state was refreshed from the store; `changed`: the
            shown conversation when the other window added, archived or deleted its messages (`gone`: deleted)."""
            super().__init__()
            self.updated, self.changed, self.gone = updated, changed, gone

    def __init__(self, settings: Settings) -> None:
        """Nothing open until `open()`; `settings` are recorded with each new conversation."""
        super().__init__()
        self.settings = settings
        self.store: Any = None
        self.error: str | None = None  # the last failure, said once
        self.shown = Conversation()  # what the screen shows (the watcher compares it with the store)
        self._thread: ThreadPoolExecutor | None = None
        self._lock: InstanceLock | None = None
        self._data_version: int | None = None  # the store's data_version at the last look (store thread only)
        self._pending_look = False  # another window changed the shown conversation while a reply streamed here
        self._last_checkpoint: dict[int, float] = {}
        self._streaming_here: set[int] = set()  # uids of messages this window streams

    # ---------------------------------------------------------------- plumbing
    def open(self, path: Path | None = None) -> None:
        """Open the database on the store thread (creating it if needed)."""
        from zorac_tui import store as store_mod  # imported here: not on the start-up path
        from zorac_tui.store.instances import InstanceLock

        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zorac-store")

        def _open() -> None:
            try:
                db = store_mod.Store(path or store_mod.default_db_path())
                self._lock = lock = InstanceLock(db.path)
                # alone: every 'streaming' row is from a run that stopped (a dead process holds no lock);
                # else only those quiet for a while (another instance checkpoints its reply every second)
                alone = lock.acquire()
                interrupted = db.mark_interrupted(idle_for=0.0 if alone else STALE_AFTER)
            except Exception as exc:  # StoreError or anything sqlite raises on a broken disk
                self._failed(exc)
                return
            self.store = db
            if db.recovery_note:
                self.post_message(self.Recovered(db.recovery_note))
            self._on_loop(self._opened, interrupted)

        self._thread.submit(_open)

    def _opened(self, interrupted: int) -> None:
        """On the app's loop once the store is open: announce it and start watching other windows."""
        if interrupted:
            self.post_message(self.Interrupted(interrupted))
        self.refresh_list()
        self.post_message(self.Ready())
        self.set_interval(FOREIGN_POLL, self.watch_others)

    def _on_loop(self, fn: Any, *args: Any) -> None:
        """From the store thread: run fn(*args) on the app's loop and wait; nothing if the app has gone."""
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app stopped meanwhile
            pass

    def _failed(self, exc: BaseException) -> None:
        """Say once (per distinct failure) that saving failed; the conversation stays in memory."""
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.error != line:
            self.error = line
            self.post_message(self.Failed(line))  # thread-safe

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Future | None:
        """Run fn(store, …) on the store thread; errors are reported, never raised. Calls made while the
        database still opens (a long migration) wait in the thread's queue behind the opening."""
        if self._thread is None:
            return None

        def _call() -> Any:
            if self.store is None:  # opening failed (said once already): nothing to save into
                return None
            try:
                return fn(self.store, *args, **kwargs)
            except Exception as exc:
                self._failed(exc)
                raise

        return self._thread.submit(_call)

    async def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Await fn(store, …) on the store thread; None (and a Failed message) on failure."""
        fut = self.run(fn, *args, **kwargs)
        if fut is None:
            return None
        try:
            return await asyncio.wrap_future(fut)
        except Exception:
            return None

    def close(self) -> None:
        """Finish pending writes and close (called after the app stopped)."""
        if self._thread is not None:
            if self.store is not None:
                self._thread.submit(self.store.close)
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._lock is not None:
            self._lock.release()

    # ---------------------------------------------------------------- messages
    def _ensure_conversation_row(self, conversation: Conversation, model: str | None) -> None:
        """Create the conversation's row the first time it gets a message."""
        if conversation.db_id is not None:
            return
        system = conversation.system_prompt if conversation.system_prompt is not None else \
            self.settings.system_prompt
        settings = {"temperature": self.settings.temperature, "max_tokens": self.settings.max_tokens,
                    "system_prompt": system, "preset": conversation.preset}

        def _create(store: Any) -> None:
            if conversation.db_id is None:
                conversation.db_id = store.create_conversation(conversation.title, model or self.settings.model,
                                                               self.settings.base_url, settings)

        self.run(_create)

    def save(self, message: Message, conversation: Conversation, *, model: str | None = None) -> None:
        """Insert a new message (a user message is committed before it is sent) or store its final state;
        `model` is recorded with the conversation when this is its first message."""
        self._ensure_conversation_row(conversation, model or message.model)
        if message.status is Status.STREAMING:
            self._streaming_here.add(message.uid)
        else:
            self._streaming_here.discard(message.uid)
        stats = message.stats or ReplyStats()

        first = message.versions[0] if message.versions and message.versions[0] is not message else None

        def _write(store: Any) -> None:
            if message.db_id is None:
                message.db_id = store.add_message(
                    conversation.db_id, message.role, message.content, status=message.status.value,
                    thinking=message.thinking, server=message.server, model=message.model,
                    version_of=first.db_id if first is not None else None)
            if message.status is not Status.STREAMING:
                store.finish_message(message.db_id, message.content, message.status.value,
                                     prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                                     ttft_s=stats.ttft_s, decode_tok_s=stats.decode_tok_s,
                                     error=message.error or message.note, thinking=message.thinking,
                                     thinking_tokens=stats.thinking_tokens, ttfa_s=stats.ttfa_s,
                                     thinking_s=stats.thinking_s)

        self.run(_write)
        if message.status is not Status.STREAMING:
            self.refresh_list()

    def checkpoint(self, message: Message) -> None:
        """Save a streaming reply's text about once a second."""
        now = time.monotonic()
        if now - self._last_checkpoint.get(message.uid, 0.0) < CHECKPOINT_INTERVAL:
            return
        self._last_checkpoint[message.uid] = now
        content, thinking = message.content, message.thinking
        self.run(lambda store: message.db_id is not None and store.checkpoint_reply(message.db_id, content, thinking))

    def forget(self, message: Message) -> None:
        """A failed reply replaced by a retry: drop its row, as it is gone from the conversation too."""
        if message.db_id is not None:
            message_id = message.db_id
            self.run(lambda store: store.delete_message(message_id))

    def save_summary(self, summary: Message, conversation: Conversation) -> None:
        """Store the summary, then link the messages it replaced to it."""
        archived = [m for m in summary.archived if m.db_id is not None]

        def _write(store: Any) -> None:
            summary.db_id = store.add_message(conversation.db_id, "summary", summary.content, status="complete")
            store.archive_messages([m.db_id for m in archived], summary.db_id)

        self.run(_write)

    def save_again(self, conversation: Conversation, model: str | None) -> None:
        """`conversation` was deleted in another window: keep it, saved anew (nothing is lost)."""
        conversation.db_id = None
        for message in conversation.messages:
            message.db_id = None
        for message in conversation.messages:
            self.save(message, conversation, model=model)

    def look_again(self) -> None:
        """Look at the shown conversation again at the next poll even if nothing new was committed."""
        self._pending_look = True

    # ----------------------------------------------------------- conversations
    def refresh_list(self) -> None:
        """Read the saved conversations (newest first) and post them as Listed."""

        async def _reload() -> None:
            rows = await self.read(lambda store: store.list_conversations(limit=LIST_LIMIT))
            if rows is not None:
                self.post_message(self.Listed(rows))

        if self.store is not None and self.is_attached:
            # the function, not a coroutine: a refresh cancelled by the next one before it started
            # then leaves no never-awaited coroutine behind (a RuntimeWarning on every quick succession)
            self.run_worker(_reload, group="conv-list", exclusive=True)

    async def load(self, conversation_id: int) -> Conversation | None:
        """A stored conversation with its live messages, summaries holding their archives (None: failed)."""
        def _load(store: Any) -> tuple[Any, list[Any], dict[int, list[Any]], dict[int, list[Any]]]:
            row = store.get_conversation(conversation_id)
            live = store.load_messages(conversation_id)
            archives = {m.id: store.archived_for(m.id) for m in live if m.role == "summary"}
            return row, live, archives, store.versions_in(conversation_id)

        loaded = await self.read(_load)
        if loaded is None:
            return None
        row, live, archives, versions = loaded
        conversation = Conversation(title=row.title, db_id=row.id, preset=row.settings.get("preset"),
                                    system_prompt=row.settings.get("system_prompt") if row.settings.get("preset")
                                    else None, forked_from=row.forked_from)
        for r in live:
            message = message_from_row(r)
            if r.role == "summary":
                message.archived = [message_from_row(a) for a in archives.get(r.id, [])]
            group = versions.get(r.first_version)
            if group:  # every version, the shown one being this very message
                message.versions = [message if v.id == r.id else message_from_row(v) for v in group]
                for version in message.versions:
                    version.versions = message.versions
            conversation.messages.append(message)
        return conversation

    def show_version(self, message: Message) -> None:
        """`message` (one version of a reply) is the one the conversation shows and sends from now on."""
        if message.db_id is not None:
            message_id = message.db_id
            self.run(lambda store: store.show_version(message_id))

    async def fork(self, conversation: Conversation, before: Message, title: str) -> int | None:
        """A new stored conversation with copies of `conversation`'s messages before `before` (None: failed)."""
        if conversation.db_id is None or before.db_id is None:
            return None
        source, at = conversation.db_id, before.db_id
        return await self.read(lambda store: store.fork_conversation(source, at, title))

    def remember_preset(self, conversation: Conversation) -> None:
        """Store the conversation's system-prompt preset with it (once it has a row)."""
        if conversation.db_id is not None:
            conversation_id, preset, prompt = conversation.db_id, conversation.preset, conversation.system_prompt
            self.run(lambda store: store.set_conversation_settings(conversation_id, preset=preset,
                                                                   system_prompt=prompt))

    async def search(self, query: str) -> list[Any] | None:
        """Conversations and messages matching `query` (newest first), None when the store cannot say."""
        return await self.read(lambda store: store.search(query, limit=SEARCH_LIMIT))

    def open_conversation(self, conversation_id: int) -> None:
        """Load a stored conversation and post it as Loaded."""
        async def _open() -> None:
            conversation = await self.load(conversation_id)
            if conversation is not None:
                self.post_message(self.Loaded(conversation))

        self.run_worker(_open, group="open", exclusive=True)

    # ---------------------------------------------------------- other windows
    def watch_others(self) -> None:
        """Mark replies whose instance died (no checkpoint for STALE_AFTER s), and bring what another
        instance changed in the shown conversation up to date (its streaming replies, added messages)."""
        if self.store is None:
            return
        conversation = self.shown
        messages = list(conversation.messages)  # their db_ids are read on the store thread, once written
        shown = [m for m in messages if m.status is Status.STREAMING and m.db_id is not None
                 and m.uid not in self._streaming_here]
        pending = self._pending_look

        def _look(store: Any) -> None:
            version = store.data_version()
            changed, self._data_version = version != self._data_version, version
            interrupted = store.mark_interrupted(idle_for=STALE_AFTER)  # a read only, unless rows stream
            if not changed and not interrupted and not pending:
                return  # no other instance committed anything since the last look
            rows = store.get_messages([m.db_id for m in shown]) if shown else {}
            changed_here = gone = False
            if conversation.db_id is not None and store.live_message_ids(conversation.db_id) != {
                    m.db_id for m in messages if m.db_id is not None}:
                changed_here = True
                gone = not store.conversation_exists(conversation.db_id)
            self._on_loop(self._apply_others, interrupted, shown, rows, conversation if changed_here else None, gone)

        self.run(_look)

    def _apply_others(self, interrupted: int, shown: list[Message], rows: dict[int, Any],
                      changed: Conversation | None, gone: bool) -> None:
        """On the loop: refresh the shown foreign replies from their rows and announce what changed."""
        if interrupted:
            self.post_message(self.Interrupted(interrupted))
        self._pending_look = False
        if changed is not None and (changed is not self.shown or changed.db_id is None):
            changed = None  # the screen moved on meanwhile
        updated = []
        for message in shown:
            row = rows.get(message.db_id)
            if row is None or (row.content == message.content and row.status == message.status.value):
                continue
            stored = message_from_row(row)
            message.content, message.status, message.stats = stored.content, stored.status, stored.stats
            message.error = stored.error
            updated.append(message)
        self.post_message(self.ForeignChanges(updated, changed, gone))
