"""Full-text search over titles and every stored message (SQLite FTS5), newest first, with marked snippets.

What the user typed is never FTS5 syntax: it is cut into words the way the index cuts text (runs of
letters, digits and their accents; everything else separates), each word quoted, so `foo"`, `AND`,
`*`, `-x` or `NEAR(` are plain words or nothing. Every word must match, anywhere in the message
(`kv-cache` finds "kv" and "cache", not only side by side); the last one also matches as a prefix
while it is being typed (not once a space follows it). Case is folded, and accents in Latin script
("cafe" finds "Café"); a word is found by its beginning, not from its middle (a CJK phrase written
without spaces is one word); symbols such as emoji are not words.

Snippets come back as (text, matched) spans, never as markup: FTS5 marks matches with noncharacter
markers made unique per query, which are split off here, so nothing a user wrote can pose as a mark.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import unicodedata

from zorac_tui.store.rows import SearchHit

SNIPPET_TOKENS = 16  # words of context around a match (FTS5 allows up to 64)
ELLIPSIS = "…"
WHITESPACE = re.compile(r"\s+")


def words(text: str, split_marks: bool = False) -> list[str]:
    """The words of `text` as the index sees them: runs of letters, digits, private-use characters and
    combining marks (split at the marks too with `split_marks`)."""
    found, current = [], []
    for ch in text:
        kind = unicodedata.category(ch)
        if kind[0] in "LN" or kind == "Co" or (kind[0] == "M" and not split_marks and current):
            current.append(ch)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def match_expression(text: str, split_marks: bool = False) -> str | None:
    """The FTS5 MATCH expression for what the user typed; None when it holds no word to look for."""
    phrases = [f'"{w}"' for w in words(text, split_marks)]  # a word holds no quote: quotes separate words
    if not phrases:
        return None
    if not text[-1:].isspace():  # still typing the last word: match it as a prefix
        phrases[-1] += "*"
    return " ".join(phrases)


def markers() -> tuple[str, str]:
    """A pair of match markers no stored text holds: Unicode noncharacters around a random tag."""
    tag = secrets.token_hex(6)
    return f"\ufdd0{tag}\ufdd1", f"\ufdd1{tag}\ufdd0"


def spans(snippet: str, start: str, end: str) -> tuple[tuple[str, bool], ...]:
    """Split a snippet marked with `start`/`end` into (text, matched) spans, whitespace folded."""
    out: list[tuple[str, bool]] = []
    for i, outside in enumerate(snippet.split(start)):
        if i == 0:
            pieces = [(outside, False)]
        else:
            match, _, rest = outside.partition(end)
            pieces = [(match, True), (rest, False)]
        for text, matched in pieces:
            text = WHITESPACE.sub(" ", text)
            if not text:
                continue
            if out and out[-1][1] == matched:
                out[-1] = (out[-1][0] + text, matched)
            else:
                out.append((text, matched))
    if out:  # a passage cut out of a longer text: no blank edges
        out[0] = (out[0][0].lstrip(), out[0][1])
        out[-1] = (out[-1][0].rstrip(), out[-1][1])
    return tuple((text, matched) for text, matched in out if text)


TITLE_HITS = """
SELECT c.id, c.title, c.updated, snippet(titles_fts, 0, :start, :end, :ellipsis, :tokens)
FROM titles_fts JOIN conversations c ON c.id = titles_fts.rowid
WHERE titles_fts MATCH :query ORDER BY c.updated DESC, c.id DESC LIMIT :limit
"""

# Newest first: FTS5 walks its index in descending rowid (message id) order and stops at the limit,
# so a common word costs no more than a rare one (ranking by relevance would score every match).
MESSAGE_HITS = """
SELECT h.rowid, h.in_content, h.in_thinking, m.conversation_id, m.role, m.created, m.archived_by, m.shown,
       c.title, c.updated
FROM (SELECT rowid, snippet(messages_fts, 0, :start, :end, :ellipsis, :tokens) AS in_content,
             snippet(messages_fts, 1, :start, :end, :ellipsis, :tokens) AS in_thinking
      FROM messages_fts WHERE messages_fts MATCH :query ORDER BY rowid DESC LIMIT :limit) h
JOIN messages m ON m.id = h.rowid JOIN conversations c ON c.id = m.conversation_id
ORDER BY h.rowid DESC
"""


def search(conn: sqlite3.Connection, text: str, limit: int = 50) -> list[SearchHit]:
    """Titles and messages matching every word of `text`, newest first, at most `limit` hits."""
    if limit <= 0:
        return []
    try:
        return _search(conn, match_expression(text), limit)
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc):
            raise
    # The index cut a word where this Python did not (a combining mark it drops, a letter newer than its
    # Unicode tables): that word reached FTS5 as several, which it refuses. Cut at the marks too, or give up.
    try:
        return _search(conn, match_expression(text, split_marks=True), limit)
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc):
            raise
        return []


def _search(conn: sqlite3.Connection, query: str | None, limit: int) -> list[SearchHit]:
    """Run a MATCH expression against titles and messages; hits newest first."""
    if query is None:
        return []
    start, end = markers()
    args = {"start": start, "end": end, "ellipsis": ELLIPSIS, "tokens": SNIPPET_TOKENS, "query": query,
            "limit": limit}
    hits = [SearchHit(conversation_id=cid, message_id=None, title=title, updated=updated, role=None,
                      where="title", snippet=spans(snip, start, end), created=updated)
            for cid, title, updated, snip in conn.execute(TITLE_HITS, args)]
    for row in conn.execute(MESSAGE_HITS, args):
        message_id, in_content, in_thinking, cid, role, created, archived_by, shown, title, updated = row
        matched_content = start in in_content
        hits.append(SearchHit(conversation_id=cid, message_id=message_id, title=title, updated=updated,
                              role=role, where=_where(matched_content, archived_by, shown),
                              snippet=spans(in_content if matched_content else in_thinking, start, end),
                              created=created))
    hits.sort(key=lambda h: (h.created, h.message_id or 0), reverse=True)
    return hits[:limit]


def _where(matched_content: bool, archived_by: int | None, shown: int) -> str:
    """Where a message hit is: a summary's archive, another version, a live reply's thinking, or its text."""
    if archived_by is not None:
        return "archived"
    if not shown:
        return "other version"
    return "message" if matched_content else "thinking"
