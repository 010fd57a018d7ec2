"""The app's persistence flow: every message goes to SQLite on one dedicated thread; the list pane reads it."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status

if TYPE_CHECKING:
    from zorac_tui.store.instances import InstanceLock
    from zorac_tui.ui.app import ZoracApp

CHECKPOINT_INTERVAL = 1.0  # seconds between saves of a streaming reply (kill -9 loses at most this)
# While another instance runs on the same database, a 'streaming' row whose conversation was touched
# this recently is its live reply (it checkpoints every CHECKPOINT_INTERVAL): left alone, looked at later.
STALE_AFTER = 10 * CHECKPOINT_INTERVAL
FOREIGN_POLL = 2.0  # seconds between looks at replies other instances stream (and at ones they left behind)
LIST_LIMIT = 20_000


def message_from_row(row: Any) -> Message:
    """A stored row as a conversation Message."""
    stats = None
    if row.completion_tokens is not None or row.ttft_s is not None:
        stats = ReplyStats(completion_tokens=row.completion_tokens, prompt_tokens=row.prompt_tokens,
                           decode_tok_s=row.decode_tok_s, ttft_s=row.ttft_s)
    status = Status(row.status) if row.status in Status._value2member_map_ else Status.COMPLETE
    return Message(role=row.role, content=row.content, status=status, error=row.error, stats=stats, db_id=row.id)


class PersistFlow:
    """Mixin for ZoracApp: the Store lives on its own thread; failures are one line and lose nothing."""

    store: Any = None
    store_error: str | None = None
    _store_thread: ThreadPoolExecutor | None = None
    _instance_lock: InstanceLock | None = None
    _data_version: int | None = None  # the store's data_version at the last look (store thread only)
    _foreign_pending = False  # another window changed the shown conversation while a reply streamed here
    _last_checkpoint: dict[int, float]

    # ------------------------------------------------------------- plumbing
    def open_store(self: ZoracApp, path: Any = None) -> None:
        """Open the database on the store thread (creating it if needed)."""
        from zorac_tui import store as store_mod  # imported here: not on the start-up path
        from zorac_tui.store.instances import InstanceLock

        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zorac-store")
        self._last_checkpoint = {}

        # Everything that reaches back into the app runs inside the submitted task, on the store
        # thread. A done-callback would not do: when the future is already finished (a failure on
        # the very first mkdir is that fast) add_done_callback runs it at once on the app's thread,
        # where call_from_thread raises, and the notice or the start-up step is lost.
        def _open() -> None:
            try:
                db = store_mod.Store(path or store_mod.default_db_path())
                self._instance_lock = lock = InstanceLock(db.path)
                # alone: every 'streaming' row is from a run that stopped (a dead process holds no lock);
                # else only those quiet for a while (another instance checkpoints its reply every second)
                alone = lock.acquire()
                interrupted = db.mark_interrupted(idle_for=0.0 if alone else STALE_AFTER)
            except Exception as exc:  # StoreError or anything sqlite raises on a broken disk
                self._tell_app(self.store_failed, exc)
                return
            self.store = db
            self._tell_app(self.say_interrupted, interrupted)
            self._tell_app(self.refresh_conversation_list)
            self._tell_app(self.on_store_ready)
            self._tell_app(self.set_interval, FOREIGN_POLL, self.watch_foreign_replies)

        self._store_thread.submit(_open)

    def say_interrupted(self: ZoracApp, count: int) -> None:
        """Tell the user that replies of a run that stopped were kept as 'interrupted'."""
        if count:
            replies = "1 reply was" if count == 1 else f"{count} replies were"
            self.notify(f"{replies} interrupted: the zorac-tui streaming it stopped mid-reply. Its text up to "
                        "the last second is kept.")

    def watch_foreign_replies(self: ZoracApp) -> None:
        """Mark replies whose instance died (no checkpoint for STALE_AFTER s), and bring any reply another
        instance streams that this one shows up to date: its text so far, then its final state."""
        from zorac_tui.ui.messages import StreamingReply

        if self.ui_gone() or self.store is None:
            return
        own = {id(view.message) for view in self.pane.query(StreamingReply)}
        conversation = self.pane.conversation
        messages = list(conversation.messages)  # their db_ids are read on the store thread, once written
        shown = [m for m in messages if m.status is Status.STREAMING and m.db_id is not None and id(m) not in own]
        pending = self._foreign_pending

        def _look(store: Any) -> None:
            version = store.data_version()
            changed, self._data_version = version != self._data_version, version
            interrupted = store.mark_interrupted(idle_for=STALE_AFTER)  # a read only, unless rows stream
            if not changed and not interrupted and not pending:
                return  # no other instance committed anything since the last look
            rows = store.get_messages([m.db_id for m in shown]) if shown else {}
            # another window added, archived or deleted messages of the conversation shown here, or deleted it
            changed_here = gone = False
            if conversation.db_id is not None and store.live_message_ids(conversation.db_id) != {
                    m.db_id for m in messages if m.db_id is not None}:
                changed_here = True
                gone = not store.conversation_exists(conversation.db_id)
            self._tell_app(self.show_foreign_replies, interrupted, shown, rows,
                           conversation if changed_here else None, gone)

        self.in_store(_look)

    def show_foreign_replies(self: ZoracApp, interrupted: int, shown: list[Message], rows: dict[int, Any],
                             changed: Conversation | None = None, gone: bool = False) -> None:
        """Redraw the shown replies of other instances whose stored text or state changed, the list, and
        the conversation on screen when another window changed or deleted it (once no reply streams here)."""
        from zorac_tui.ui.conversation_list import ConversationList

        self.say_interrupted(interrupted)
        if self.query_one(ConversationList).display:  # another window's conversations appear as they change
            self.refresh_conversation_list()
        self._foreign_pending = False
        if changed is not None and changed is self.pane.conversation and changed.db_id is not None:
            if self.streaming:
                self._foreign_pending = True  # look again after this reply
            elif gone:
                self.save_again(changed)
            else:
                self.run_worker(self.open_conversation(changed.db_id), group="open", exclusive=True)
                return
        updated = False
        for message in shown:
            row = rows.get(message.db_id)
            if row is None or (row.content == message.content and row.status == message.status.value):
                continue
            stored = message_from_row(row)
            message.content, message.status, message.stats = stored.content, stored.status, stored.stats
            message.error = stored.error
            updated = True
            view = self.pane.view_for(message)
            if view is not None and hasattr(view, "refresh_message"):
                view.refresh_message()
        if updated and not self.streaming:
            self.recount()  # the gauge counts the other window's reply as it grows

    def save_again(self: ZoracApp, conversation: Conversation) -> None:
        """The conversation on screen was deleted in another window: keep it, saved anew (nothing is lost)."""
        conversation.db_id = None
        for message in conversation.messages:
            message.db_id = None
        for message in conversation.messages:
            self.persist_message(message, conversation)
        self.notify("This conversation was deleted in another zorac-tui window; it is saved again from this one "
                    "(a summary's archived originals are not).", severity="warning", timeout=10)

    def _tell_app(self: ZoracApp, fn: Any, *args: Any) -> None:
        """From the store thread: run fn(*args) on the app's loop and wait; nothing if the app has gone."""
        try:
            self.call_from_thread(fn, *args)
        except RuntimeError:  # the app stopped meanwhile
            pass

    def store_failed(self: ZoracApp, exc: BaseException) -> None:
        """Say once that saving failed; the conversation stays in memory."""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.store_error != message:
            self.store_error = message
            # not markup: the message holds a path, and "[" in a path would be eaten or raise
            self.notify(f"Not saved: {message} — your messages stay on screen and in memory.",
                        severity="error", timeout=10, markup=False)

    def in_store(self: ZoracApp, fn: Any, *args: Any, **kwargs: Any) -> Future | None:
        """Run fn(store, …) on the store thread; errors are reported, never raised."""
        if self.store is None or self._store_thread is None:
            return None

        def _call() -> Any:
            try:
                return fn(self.store, *args, **kwargs)
            except Exception as exc:
                self._tell_app(self.store_failed, exc)
                raise

        return self._store_thread.submit(_call)

    async def from_store(self: ZoracApp, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Await fn(store, …) on the store thread; None (and a notice) on failure."""
        fut = self.in_store(fn, *args, **kwargs)
        if fut is None:
            return None
        try:
            return await asyncio.wrap_future(fut)
        except Exception:
            return None

    def close_store(self: ZoracApp) -> None:
        """Finish pending writes and close."""
        if self._store_thread is not None:
            if self.store is not None:
                self._store_thread.submit(self.store.close)
            self._store_thread.shutdown(wait=True)
            self._store_thread = None
        if self._instance_lock is not None:
            self._instance_lock.release()

    # ------------------------------------------------------------- messages
    def ensure_conversation_row(self: ZoracApp, conversation: Conversation) -> Future | None:
        """Create the conversation's row the first time it gets a message."""
        if conversation.db_id is not None:
            return None
        settings = {"temperature": self.settings.temperature, "max_tokens": self.settings.max_tokens,
                    "system_prompt": self.settings.system_prompt}

        def _create(store: Any) -> int:
            if conversation.db_id is None:
                conversation.db_id = store.create_conversation(conversation.title, self.model,
                                                               self.settings.base_url, settings)
            return conversation.db_id

        return self.in_store(_create)

    def persist_message(self: ZoracApp, message: Message, conversation: Conversation) -> None:
        """Insert a new message (a user message is committed before it is sent) or store its final state."""
        self.ensure_conversation_row(conversation)
        stats = message.stats or ReplyStats()

        def _write(store: Any) -> None:
            if message.db_id is None:
                message.db_id = store.add_message(conversation.db_id, message.role, message.content,
                                                  status=message.status.value)
            if message.status is not Status.STREAMING:
                store.finish_message(message.db_id, message.content, message.status.value,
                                     prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                                     ttft_s=stats.ttft_s, decode_tok_s=stats.decode_tok_s,
                                     error=message.error or message.note)

        self.in_store(_write)
        if message.status is not Status.STREAMING:
            self.refresh_conversation_list()

    def checkpoint_message(self: ZoracApp, message: Message) -> None:
        """Save a streaming reply's text about once a second."""
        now = time.monotonic()
        if now - self._last_checkpoint.get(message.uid, 0.0) < CHECKPOINT_INTERVAL:
            return
        self._last_checkpoint[message.uid] = now
        content = message.content
        self.in_store(lambda store: message.db_id is not None and store.checkpoint_reply(message.db_id, content))

    def forget_message(self: ZoracApp, message: Message) -> None:
        """A failed reply replaced by a retry: drop its row, as it is gone from the conversation too."""
        if message.db_id is not None:
            message_id = message.db_id
            self.in_store(lambda store: store.delete_message(message_id))

    def persist_summary(self: ZoracApp, summary: Message) -> None:
        """Store the summary, then link the messages it replaced to it."""
        conversation = self.pane.conversation
        archived = [m for m in summary.archived if m.db_id is not None]

        def _write(store: Any) -> None:
            summary.db_id = store.add_message(conversation.db_id, "summary", summary.content, status="complete")
            store.archive_messages([m.db_id for m in archived], summary.db_id)

        self.in_store(_write)

    # ------------------------------------------------------------- conversations
    def refresh_conversation_list(self: ZoracApp) -> None:
        """Reload the list pane from the store (newest first)."""
        from zorac_tui.ui.conversation_list import ConversationList

        async def _reload() -> None:
            rows = await self.from_store(lambda store: store.list_conversations(limit=LIST_LIMIT))
            if rows is not None and not self.shutting_down:
                self.query_one(ConversationList).set_rows(rows, self.pane.conversation.db_id)

        if self.store is not None and not self.shutting_down:
            # the function, not a coroutine: a refresh cancelled by the next one before it started
            # then leaves no never-awaited coroutine behind (a RuntimeWarning on every quick succession)
            self.run_worker(_reload, group="conv-list", exclusive=True)

    async def open_conversation(self: ZoracApp, conversation_id: int) -> None:
        """Load a stored conversation: its live messages, with summaries holding their archives."""
        def _load(store: Any) -> tuple[Any, list[Any], dict[int, list[Any]]]:
            row = store.get_conversation(conversation_id)
            live = store.load_messages(conversation_id)
            archives = {m.id: store.archived_for(m.id) for m in live if m.role == "summary"}
            return row, live, archives

        loaded = await self.from_store(_load)
        if loaded is None:
            return
        row, live, archives = loaded
        conversation = Conversation(title=row.title, db_id=row.id)
        for r in live:
            message = message_from_row(r)
            if r.role == "summary":
                message.archived = [message_from_row(a) for a in archives.get(r.id, [])]
            conversation.messages.append(message)
        await self.show_conversation(conversation)
