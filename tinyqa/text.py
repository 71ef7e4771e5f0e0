"""Untrusted text (model answers, generated items, pack fields, provider error text) as data:
its control characters found or made visible, and what is kept of it capped.

Model answers and generated items are written by whoever serves the model; packs by whoever
opens the pull request. Neither may reach a terminal as escape sequences (ESC, OSC 8 links,
OSC 52 clipboard writes) nor fill a report: see docs/security.md.
"""
from __future__ import annotations

import hashlib
import re

# C0 controls, DEL, C1 controls: what a field may not hold (but those a caller allows).
_CONTROL_ANY = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What visible() escapes: controls, the characters that reorder what a terminal or a page shows
# (bidirectional overrides, isolates), lone surrogates and the non-characters XML refuses.
_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")

ANSWER_MAX = 4096       # characters of an answer kept in reports (the items table, checkpoints, cache)
COMMENT_MAX = 300       # characters of an answer or question quoted in a PR comment or JUnit


def control_char(text: str, allow: str = "") -> str | None:
    """The first control character in `text` (C0 but those in `allow`, DEL, C1), or None."""
    for m in _CONTROL_ANY.finditer(text):
        if m.group() not in allow:
            return m.group()
    return None


def describe_char(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def visible(text: str, keep: str = "") -> str:
    """`text` safe for a terminal: every control character (newline and tab included, but those
    in `keep`), every bidirectional override and every lone surrogate shown as its escape
    (`\\x1b`, `\\u202e`), never sent."""
    def esc(m: re.Match) -> str:
        ch = m.group()
        if ch in keep:
            return ch
        o = ord(ch)
        return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"

    return _UNSEEN.sub(esc, text)


def terminal(text: str) -> str:
    """`text` for a rich console with markup on: control characters visible and rich's markup
    (`[link=…]`, `[/]`) escaped, so it prints as written."""
    from rich.markup import escape

    return escape(visible(text))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cap(text: str, limit: int = ANSWER_MAX) -> str:
    """The first `limit` characters of `text`, with `…` when it was longer."""
    return text if len(text) <= limit else text[:limit] + "…"


def clip(text: str | None, limit: int = ANSWER_MAX) -> tuple[str | None, int | None, str | None]:
    """What is kept of an answer: its first `limit` characters, its full length in characters
    and the sha256 of the whole (so that two long answers are still told apart)."""
    if text is None:
        return None, None, None
    return text[:limit], len(text), digest(text)


# --- secrets in text ------------------------------------------------------------------------

# Environment variables whose values are credentials (OPENAI_API_KEY, HF_TOKEN, DB_PASSWD,
# PREFECT_API_AUTH_STRING, ...): redacted from text, kept from the warm worker.
SECRET_VAR = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH|AUTH_STRING|PRIVATE|COOKIE)$",
                        re.IGNORECASE)
# A URL's userinfo (`user:pass@`) and its query (`?key=…`), wherever a URL appears in text.
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@", re.IGNORECASE)
_URL_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#'\"<>]*\?)[^\s#'\"<>]+", re.IGNORECASE)


def encodings(secret: str) -> set[str]:
    """The forms a secret is written in by the code that echoes it: as is, URL-encoded (path
    and query style, either hex case), decoded, and escaped inside JSON."""
    from urllib.parse import quote, quote_plus, unquote, unquote_plus

    forms = {secret, unquote(secret), unquote_plus(secret)}
    for s in list(forms):
        forms |= {quote(s, safe=""), quote(s), quote_plus(s), quote_plus(s, safe="/")}
    for s in list(forms):
        escaped = json_escaped(s)
        forms |= {escaped, escaped.replace("/", "\\/"),
                  re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), s)}
    forms |= {repr(s)[1:-1] for s in forms}   # inside a repr (nested error text: a dict's repr)
    return {f for f in forms if len(f) >= 4}


def json_escaped(s: str) -> str:
    import json

    return json.dumps(s)[1:-1]


def url_secrets(url: str | None) -> set[str]:
    """A URL's credentials: its user and password, its query whole and each query value, raw
    (as written) and decoded."""
    from urllib.parse import parse_qsl, urlsplit

    if not url:
        return set()
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return {url}
    found = {user or "", password or "", parts.query}
    found |= {v for _, v in parse_qsl(parts.query, keep_blank_values=True)}
    found |= {pair.partition("=")[2] for pair in parts.query.split("&")}
    return {s for s in found if s}


def redact(text: str, urls=(), env=None) -> str:
    """`text` with every credential in reach replaced by `***`, in every encoding (`encodings`):
    values of environment variables named like keys (8 characters or more), the credentials
    of `urls` (an api_base: user, password, query), and any URL's userinfo and query in the
    text. Providers echo keys (and the URL they were asked at) in their error messages."""
    import os

    env = os.environ if env is None else env
    found = {v for k, v in env.items() if SECRET_VAR.search(k) and len(v) >= 8}
    for url in urls:
        found |= url_secrets(url)
    forms = set().union(*(encodings(s) for s in found)) if found else set()
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_USERINFO.sub(r"\1***@", text)
    return _URL_QUERY.sub(r"\1***", text)
