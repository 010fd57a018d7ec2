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
from dataclasses import dataclass

from zorac_tui.store.rows import SearchHit

SNIPPET_TOKENS = 16  # words of context around a match (FTS5 allows up to 64)
PREFIX_ENTRIES = 4  # the index has entries of their own for beginnings up to this long (schema: prefix=)
MAX_COMPLETIONS = 64
PHRASE_REFUSED = "phrase queries are not supported"  # FTS5's words for a quoted word it cuts in two
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


@dataclass(frozen=True)
class Query:
    """What to look for: words that must all match, the last one also as a beginning when `prefix`."""

    words: tuple[str, ...]
    prefix: bool


def parse(text: str, split_marks: bool = False) -> Query | None:
    """The words of what the user typed (None when there is none); a prefix while the last is being typed."""
    found = words(text, split_marks)
    return Query(tuple(found), not text[-1:].isspace()) if found else None


def expression(query: Query, completions: list[str] | None = None) -> str:
    """The FTS5 MATCH expression: each word quoted (a word holds no quote); the last one as a prefix, or as
    any of the indexed words it begins when those are given."""
    phrases = [f'"{w}"' for w in query.words]
    if query.prefix:
        phrases[-1] = "(" + " OR ".join(f'"{t}"' for t in completions) + ")" if completions else phrases[-1] + "*"
    return " AND ".join(phrases)


def match_expression(text: str, split_marks: bool = False) -> str | None:
    """The FTS5 MATCH expression for what the user typed; None when it holds no word to look for."""
    query = parse(text, split_marks)
    return expression(query) if query else None


def completions(conn: sqlite3.Connection, index: str, query: Query) -> list[str] | None:
    """The words of `index` the last word begins, when naming them beats FTS5's own prefix search, else None.

    FTS5 answers a beginning longer than its prefix entries by merging the full list of every row of every
    word it begins before it can return the newest (35 ms for "quant" in 500,000 messages); naming those
    words lets it walk their lists from the newest and stop at the limit (6 ms, the look-up included).
    Only plain ASCII beginnings (folded here exactly as the index folds them) and at most
    MAX_COMPLETIONS words.
    """
    last = query.words[-1]
    if not query.prefix or len(last) <= PREFIX_ENTRIES or not last.isascii():
        return None
    terms = f"{index}_terms"
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{terms} USING fts5vocab(main, {index}, row)")
    low = last.lower()
    found = [r[0] for r in conn.execute(f"SELECT term FROM temp.{terms} WHERE term >= ? AND term < ? LIMIT ?",
                                        (low, low[:-1] + chr(ord(low[-1]) + 1), MAX_COMPLETIONS + 1))]
    return found if len(found) <= MAX_COMPLETIONS else None


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


# Titles by last activity: every matching title is sorted (one per conversation, so at most thousands),
# and only the ones kept get a snippet (a snippet costs as much as reading the title again).
TITLE_HITS = """
SELECT c.id, c.title, c.updated FROM titles_fts JOIN conversations c ON c.id = titles_fts.rowid
WHERE titles_fts MATCH :query ORDER BY c.updated DESC, c.id DESC LIMIT :limit
"""
TITLE_SNIPPET = """
SELECT snippet(titles_fts, 0, :start, :end, :ellipsis, :tokens) FROM titles_fts
WHERE titles_fts MATCH :query AND rowid = :id
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
        return _search(conn, parse(text), limit)
    except sqlite3.OperationalError as exc:
        if PHRASE_REFUSED not in str(exc):
            raise
    # The index cut a word where this Python did not (a combining mark it drops, a letter newer than its
    # Unicode tables): that word reached FTS5 as several, which it refuses. Cut at the marks too, or give up.
    try:
        return _search(conn, parse(text, split_marks=True), limit)
    except sqlite3.OperationalError as exc:
        if PHRASE_REFUSED not in str(exc):
            raise
        return []


def _search(conn: sqlite3.Connection, query: Query | None, limit: int) -> list[SearchHit]:
    """Look for `query` in titles and in messages; hits newest first."""
    if query is None:
        return []
    start, end = markers()
    args = {"start": start, "end": end, "ellipsis": ELLIPSIS, "tokens": SNIPPET_TOKENS, "limit": limit}
    hits: list[SearchHit] = []
    titles = completions(conn, "titles_fts", query)
    if titles != []:  # [] : no indexed title word begins so
        args["query"] = expression(query, titles)
        hits += [SearchHit(conversation_id=cid, message_id=None, title=title, updated=updated, role=None,
                           where="title", created=updated,
                           snippet=spans(conn.execute(TITLE_SNIPPET, {**args, "id": cid}).fetchone()[0], start, end))
                 for cid, title, updated in conn.execute(TITLE_HITS, args).fetchall()]
    messages = completions(conn, "messages_fts", query)
    if messages != []:
        args["query"] = expression(query, messages)
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
