"""The database schema: the v1 DDL as first shipped and the ordered migrations that lead to the current one."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 4

# The search index (FTS5) of titles and messages: words with case and Latin accents folded, and only which
# rows hold a word, not where (detail=none): a third of the size, cheap to keep up to date at every
# checkpoint, and a search never needs positions (words must all match, not stand side by side). The
# prefixes of 1-4 letters have entries of their own, so a word being typed is found as fast as a whole one.
FTS_OPTIONS = "tokenize='unicode61 remove_diacritics 2', detail=none, prefix='1 2 3 4'"

# Kept verbatim: a database created by the first release starts here, and tests build one from it.
V1_SCHEMA = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    model TEXT, server TEXT, settings TEXT NOT NULL DEFAULT '{}');
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'complete', created REAL NOT NULL,
    prompt_tokens INTEGER, completion_tokens INTEGER, ttft_s REAL, decode_tok_s REAL, error TEXT);
CREATE INDEX messages_by_conversation ON messages(conversation_id, position);
CREATE INDEX conversations_by_updated ON conversations(updated);
"""

MIGRATIONS: dict[int, str] = {
    # v2: a summary archives the messages it replaces instead of anything being deleted.
    2: """
ALTER TABLE messages ADD COLUMN archived_by INTEGER REFERENCES messages(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN summary_of_count INTEGER;
CREATE INDEX messages_archived_by ON messages(archived_by);
""",
    # v3: live-message counts for 10,000 listed conversations and the start-up "still streaming?"
    # sweep read small partial indexes instead of every message row.
    3: """
CREATE INDEX messages_live_by_conversation ON messages(conversation_id) WHERE archived_by IS NULL;
CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
""",
    # v4: a reply's thinking and its figures, who answered, versions of a regenerated reply (one shown),
    # forks, and full-text search over titles and every message. Triggers keep the index in step with
    # the text (added, checkpointed, finished, renamed, deleted, also by cascade); archiving a message or
    # showing another version changes no text, and a hit's label (archived, other version) is read from
    # its row at search time, so those need no trigger.
    4: f"""
ALTER TABLE messages ADD COLUMN thinking TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN thinking_tokens INTEGER;
ALTER TABLE messages ADD COLUMN ttfa_s REAL;
ALTER TABLE messages ADD COLUMN thinking_s REAL;
ALTER TABLE messages ADD COLUMN server TEXT;
ALTER TABLE messages ADD COLUMN model TEXT;
ALTER TABLE messages ADD COLUMN version_of INTEGER REFERENCES messages(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN shown INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversations ADD COLUMN forked_from INTEGER REFERENCES conversations(id) ON DELETE SET NULL;
ALTER TABLE conversations ADD COLUMN forked_at INTEGER;
CREATE INDEX messages_versions ON messages(version_of) WHERE version_of IS NOT NULL;
DROP INDEX messages_live_by_conversation;
CREATE INDEX messages_live_by_conversation ON messages(conversation_id) WHERE archived_by IS NULL AND shown = 1;
CREATE VIRTUAL TABLE messages_fts USING fts5(content, thinking, content='messages', content_rowid='id',
    {FTS_OPTIONS});
CREATE VIRTUAL TABLE titles_fts USING fts5(title, content='conversations', content_rowid='id', {FTS_OPTIONS});
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content, thinking) VALUES (new.id, new.content, new.thinking);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
        VALUES ('delete', old.id, old.content, old.thinking);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, thinking ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
        VALUES ('delete', old.id, old.content, old.thinking);
    INSERT INTO messages_fts(rowid, content, thinking) VALUES (new.id, new.content, new.thinking);
END;
CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
    INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
    INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
END;
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
INSERT INTO titles_fts(titles_fts) VALUES ('rebuild');
""",
}


class NewerSchemaError(Exception):
    """The database was written by a newer zorac-tui than this one."""


def statements(script: str) -> list[str]:
    """Split a DDL script into whole statements (a trigger's body holds semicolons of its own)."""
    done: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                done.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        done.append(pending.strip())
    return done


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a new, empty file)."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION in one transaction; returns the version found before."""
    found = user_version(conn)
    if found > SCHEMA_VERSION:
        raise NewerSchemaError(f"schema version {found} is newer than this zorac-tui understands ({SCHEMA_VERSION})")
    if found == SCHEMA_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the write lock.
        version = user_version(conn)
        steps = ([V1_SCHEMA] if version == 0 else []) + [MIGRATIONS[v] for v in range(max(version, 1) + 1,
                                                                                      SCHEMA_VERSION + 1)]
        for script in steps:
            for sql in statements(script):
                conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
