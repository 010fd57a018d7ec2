"""SQLite persistence for conversations: the Store, its rows and errors, search, export, and the upstream import.

Pure of Textual: the app calls it from one dedicated worker thread.
"""

from __future__ import annotations

from zorac_tui.store.db import Store, StoreError
from zorac_tui.store.export import EXPORT_FORMAT, export_json, export_markdown
from zorac_tui.store.rows import ConversationRow, MessageRow, SearchHit
from zorac_tui.store.rules import DB_NAME, ROLES, STATUSES, check_writable, default_db_path, title_from_first_message
from zorac_tui.store.schema import MIGRATIONS, SCHEMA_VERSION, V1_SCHEMA
from zorac_tui.store.upstream_import import find_upstream_session, import_upstream_session

__all__ = [
    "DB_NAME", "EXPORT_FORMAT", "MIGRATIONS", "ROLES", "SCHEMA_VERSION", "STATUSES", "V1_SCHEMA",
    "ConversationRow", "MessageRow", "SearchHit", "Store", "StoreError", "check_writable", "default_db_path",
    "export_json", "export_markdown", "find_upstream_session", "import_upstream_session",
    "title_from_first_message",
]
