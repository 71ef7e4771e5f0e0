"""Scorers for tiny QA: each a small function that says exactly what it matches, and the
registry (`SCORERS`) that every other part reads: the items table's score columns, the
metrics and how they aggregate, compare, the gate and the dashboard.

All scorers compare a prediction with every accepted answer (`answers`: the label first, then
its aliases) after `normalize`, and take the best. The matching rules a careful grader applies
(docs/scoring.md, with the reasons for each language's choices):

- normalisation: NFKC, full case folding (Turkish İ/ı aware), every script's punctuation read
  as a space, Unicode digits as ASCII digits, English articles dropped, Arabic harakat and
  hamza forms, and accents where the language's readers accept a word without them (`ACCENTS`);
- numbers: English number words read as digits ("four" is 4, "twenty-sixth" is 26th); a label
  that is a number with a counter or unit ("4위", "180 Grad", "4th") also accepts the bare
  number (`COUNTERS`);
- boundaries (`contains`): the answer is found as whole tokens, and a hyphenated compound, a
  number with separators ("3.14") or a name like "C++"/"C#" is one token for this: "C" is not
  in "C++" or "Objective-C"; in Korean an answer may be followed only by particles and copula
  endings ("금이다", not "금성"), in Turkish by any suffix ("Ankara'dır"), in Chinese, Japanese
  and Thai it may stand anywhere, and a number never matches inside a longer number;
- short aliases: an alias that is a bare number or ordinal ("23", "First") while the label says
  more ("Rule 23", "First Amendment") is accepted only as the whole answer.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

from tinyqa.languages import ARTICLES, SUFFIXING, UNSPACED
from tinyqa.languages import base as _base

SCORER_VERSION = 1

# Accent-insensitive matching, per language: which combining marks on a Latin letter may be
# left out ("all", a set of marks, or the marks of all but some letters). Languages not named
# keep every mark. Turkish ç ğ ı ö ş ü and Spanish ñ are letters, not accents; German ä ö ü
# may be written ae oe ue (not a o u); Russian ё may be written е.
_CIRCUMFLEX, _TILDE, _DIAERESIS = "\u0302", "\u0303", "\u0308"
ACCENTS: dict[str, str | frozenset[str]] = {
    "en": "all", "fr": "all", "pt": "all",
    "es": "all but ñ",
    "de": "all, ä ö ü as ae oe ue",
    "tr": frozenset({_CIRCUMFLEX}),
    "ru": "ё as е",
}
_LIGATURES = {"en": {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d"}, "fr": {"œ": "oe", "æ": "ae"}}

# Counters and units after a number: a label written as number + one of these also accepts
# the bare number ("4위" → "4"); in Korean a number answer may carry one before its particles.
# (Written as `normalize` leaves them: folded, without punctuation.)
COUNTERS: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in {
    "en": "st nd rd th ° degree degrees year years bit bits byte bytes percent % km kg",
    "de": "° grad jahr jahre prozent % bit byte km kg meter platz",
    "fr": "° degre degres an ans % bit bits octet octets km kg e eme er re",
    "es": "° grado grados año años % bit bits byte bytes km kg o a",
    "pt": "° grau graus ano anos % bit bits byte bytes km kg o a",
    "ru": "° градус градуса градусов год года лет % бит байт км кг й я е го место",
    "tr": "° derece yıl % bit bayt km kg inci ıncı uncu üncü nci ncı ncu ncü",
    "ar": "° درجة درجات عام عاما سنة سنوات % بت بايت كم",
    "ko": "위 등 번째 등급 개 명 자 년 살 세 회 번 도 점 층 권 마리 장 편 곡 척 비트 바이트 킬로미터 "
          "미터 킬로그램 그램 퍼센트 % 시간 분 초",
    "ja": "位 番 番目 個 人 名 年 度 音 回 歳 本 枚 匹 冊 台 つ 階 点 倍 分 秒 時間 キロメートル "
          "メートル km キログラム グラム kg ビット バイト パーセント % °",
    "zh": "个 位 名 篇 条 度 年 次 岁 本 张 只 首 种 天 人 座 届 倍 分 秒 米 公里 千米 克 千克 公斤 "
          "比特 字节 % °",
}.items()}


# Arabic: short vowels and other harakat, and the tatweel, are optional in writing; the alef
# with hamza or madda is often written as a bare alef.
_ARABIC_OPTIONAL = {chr(c) for c in range(0x064B, 0x0660)} | {"\u0670", "\u0640"}
_ARABIC_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def fold_accents(s: str, lang: str) -> str:
    """`s` (case-folded) without the accents `lang`'s readers accept a word without (ACCENTS)."""
    rule = ACCENTS.get(_base(lang))
    if rule is None:
        return s
    if rule == "ё as е":
        return s.replace("ё", "е")
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", s):
        if not unicodedata.combining(ch):
            base = ch if _is_latin(ch) else ""
            out.append(ch)
            continue
        keep = (not base
                or (isinstance(rule, frozenset) and ch not in rule)
                or (rule == "all but ñ" and ch == _TILDE and base == "n"))
        if keep:
            out.append(ch)
        elif rule == "all, ä ö ü as ae oe ue" and ch == _DIAERESIS and base in "aou":
            out.append("e")
    s = unicodedata.normalize("NFC", "".join(out))
    for lig, plain in _LIGATURES.get(_base(lang), {}).items():
        s = s.replace(lig, plain)
    return s


# --- tokens -----------------------------------------------------------------------------------

_HYPHENS = "-\u2010\u2011"
_DIGIT_SEPARATORS = ".,'\u2019"
_ATTACHED = "+\u266f"     # C++, C# (written ♯): part of the name before them


def _is_word(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return not (ch.isspace() or cat[0] in "PS")


def _digit(ch: str) -> str:
    d = unicodedata.decimal(ch, None)
    return str(d) if d is not None else ch


def _decimal(ch: str) -> bool:
    return bool(ch) and unicodedata.decimal(ch, None) is not None


def _tokens(s: str) -> list[tuple[str, bool, bool]]:
    """Tokens of a prepared string, each with whether it starts and ends a compound: a hyphen
    between two word characters or a digit separator between two digits joins tokens into one
    compound ("Objective-C", "3.14"); "+" and "#" right after a word stay part of it ("C++");
    other punctuation and spaces separate; any other symbol is a token of its own ("°")."""
    toks: list[list] = []           # [text, starts, ends]
    cur: list[str] = []             # the current token's characters (a list: linear in long tokens)
    joined = False                  # the next token continues the current compound
    n = len(s)

    def flush(end: bool) -> None:
        nonlocal joined
        if cur:
            toks.append(["".join(cur), not joined, end])
            joined = not end
        elif end and toks:
            toks[-1][2] = True
            joined = False
        elif end:
            joined = False
        cur.clear()

    for k, ch in enumerate(s):
        prev = s[k - 1] if k else ""
        nxt = s[k + 1] if k + 1 < n else ""
        if ch.isspace():
            flush(True)
        elif ch == "#" and cur:
            cur.append("\u266f")
        elif ch in _ATTACHED and cur:
            cur.append(ch)
        elif ch in _HYPHENS and cur and nxt and _is_word(nxt) and _is_word(prev):
            flush(False)
        elif ch in _DIGIT_SEPARATORS and cur and _decimal(prev) and _decimal(nxt):
            flush(False)
        elif unicodedata.category(ch)[0] == "P":
            flush(True)
        elif unicodedata.category(ch)[0] == "S":
            flush(True)
            cur.append(ch)
            flush(True)
        else:
            cur.append(_digit(ch))
    flush(True)
    return [(t, bool(a), bool(b)) for t, a, b in toks]


# --- English number words -------------------------------------------------------------------

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORD_UNITS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
              "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth").split()
_ORD_TENS = "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()
_CARD = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_ORD = {w: i for i, w in enumerate(_ORD_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_ORD_TENS)}
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}
NUMBER_WORDS = frozenset(_CARD) | frozenset(_ORD) | {"hundred", "hundredth"} | frozenset(_SCALES)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _below_hundred(w: list[str], i: int) -> tuple[int, bool, int] | None:
    """(value, is ordinal, next index) of a number under 100 spelled from w[i], or None."""
    if i >= len(w):
        return None
    if w[i] in _ORD:
        return _ORD[w[i]], True, i + 1
    if w[i] not in _CARD:
        return None
    v = _CARD[w[i]]
    if v >= 20 and v % 10 == 0 and i + 1 < len(w):
        nxt = w[i + 1]
        if nxt in _CARD and 1 <= _CARD[nxt] <= 9:
            return v + _CARD[nxt], False, i + 2
        if nxt in _ORD and 1 <= _ORD[nxt] <= 9:
            return v + _ORD[nxt], True, i + 2
    return v, False, i + 1


def _below_thousand(w: list[str], i: int) -> tuple[int, bool, int] | None:
    head = _below_hundred(w, i)
    if head is None and i < len(w) and w[i] in ("hundred", "hundredth"):
        head = (1, False, i)
    if head is None or head[1] or not 1 <= head[0] <= 9 or head[2] >= len(w) \
            or w[head[2]] not in ("hundred", "hundredth"):
        return head
    v, j = head[0] * 100, head[2] + 1
    if w[j - 1] == "hundredth":
        return v, True, j
    k = j + 1 if j < len(w) and w[j] == "and" else j
    rest = _below_hundred(w, k)
    if rest is not None and rest[0] >= 1:
        return v + rest[0], rest[1], rest[2]
    return v, False, j


def _number(w: list[str], i: int) -> tuple[int, bool, int] | None:
    """The longest English number phrase at w[i] ("one hundred and twelve", "twenty-sixth")."""
    total = 0
    part = _below_thousand(w, i)
    while part is not None and not part[1] and part[2] < len(w) and w[part[2]] in _SCALES \
            and part[0] >= 1:
        total += part[0] * _SCALES[w[part[2]]]
        j = part[2] + 1
        k = j + 1 if j < len(w) and w[j] == "and" else j
        nxt = _below_thousand(w, k)
        if nxt is None or nxt[0] < 1:
            return total, False, j
        part = nxt
    if part is None:
        return None
    return total + part[0], part[1], part[2]


def _english_numbers(toks: list[tuple[str, bool, bool]]) -> list[tuple[str, bool, bool]]:
    """Spelled-out English numbers as digits ("4", "26th"), one token for the whole phrase."""
    words = [t for t, _, _ in toks]
    out = []
    i = 0
    while i < len(toks):
        hit = _number(words, i) if words[i] in NUMBER_WORDS else None
        if hit is None:
            out.append(toks[i])
            i += 1
            continue
        value, ordinal, end = hit
        out.append((_ordinal(value) if ordinal else str(value), toks[i][1], toks[end - 1][2]))
        i = end
    return out


# --- normalisation --------------------------------------------------------------------------

def _prepared(text: str, lang: str, case: bool) -> str:
    s = unicodedata.normalize("NFKC", text)
    if not case:
        if lang in {"tr", "az"}:
            s = s.replace("I", "ı").replace("İ", "i")
        s = s.casefold().replace("i\u0307", "i")
    if lang == "ar":
        s = "".join(c for c in s if c not in _ARABIC_OPTIONAL).translate(_ARABIC_ALEF)
    if not case:
        s = fold_accents(s, lang)
    return s


@functools.lru_cache(maxsize=4096)
def _analysed(text: str, lang: str, case: bool) -> tuple[tuple[str, bool, bool], ...]:
    lang = _base(lang)
    toks = _tokens(_prepared(text, lang, case))
    drop = ARTICLES.get(lang, set())
    if drop:
        kept = []
        for k, (t, start, end) in enumerate(toks):
            if t in drop:
                if end and kept and not start:      # the compound now ends before it
                    kept[-1] = (kept[-1][0], kept[-1][1], True)
                elif start and not end and k + 1 < len(toks):
                    toks[k + 1] = (toks[k + 1][0], True, toks[k + 1][2])
                continue
            kept.append((t, start, end))
        toks = kept
    if lang == "en" and not case:
        toks = _english_numbers(toks)
    return tuple(toks)


def normalize(text: str, lang: str = "en", case: bool = False) -> str:
    """NFKC, full case folding (Turkish İ/ı aware), every script's punctuation turned into
    spaces, Unicode decimal digits as ASCII digits (٤ and ４ are 4), whitespace collapsed,
    symbols other than "+" and "#" after a word set apart ("180°" is "180 °"); English
    articles dropped and English number words written as digits ("twenty-six" is 26, "first"
    is 1st); accents dropped where the language's readers accept it (ACCENTS); in Arabic,
    harakat and tatweel dropped and hamza/madda alefs read as a bare alef. With `case`, letter
    case and accents are kept and number words left alone (items tagged `match: case`, whose
    answer is a spelling: "İSTANBUL", "ς")."""
    return " ".join(t for t, _, _ in _analysed(text, lang, case))


# --- matching -------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:st|nd|rd|th)?")


def _bare_number(toks: tuple) -> bool:
    return len(toks) == 1 and _NUMBER.fullmatch(toks[0][0]) is not None


def _counted_number(norm: str, lang: str) -> str | None:
    """The number of a label written as a number and a counter or unit ("4위", "180 grad")."""
    m = re.fullmatch(r"(\d+) ?(\S+)", norm)
    if m and m.group(2) in COUNTERS.get(lang, ()):
        return m.group(1)
    return None


@functools.lru_cache(maxsize=4096)
def _forms(answers: tuple[str, ...], lang: str, case: bool) -> tuple[tuple[tuple, bool], ...]:
    """The accepted answers as token tuples, each with whether it counts only as the whole
    answer: the label, its bare number when it has a counter, then the aliases."""
    out: list[tuple[tuple, bool]] = []
    label = _analysed(answers[0], lang, case) if answers else ()
    for k, a in enumerate(answers):
        toks = _analysed(a, lang, case)
        if not toks:
            continue
        whole_only = k > 0 and _bare_number(toks) and not _bare_number(label)
        out.append((toks, whole_only))
        if k == 0 and not case:
            number = _counted_number(" ".join(t for t, _, _ in toks), _base(lang))
            if number is not None:
                out.append((((number, True, True),), False))
    return tuple(out)


# Korean particles and copula endings that may follow an answer: after a final consonant, after
# a vowel, after either; then up to three more endings ("에서는", "이었습니다").
_KO_AFTER_CONSONANT = "이 은 을 과 으로 으로서 으로써 이랑 이나 이라 이라고 이라는 이란 이든 이며 이고 이다 이야 이에요 이었 이요 이지 이죠 이면 인 임".split()
_KO_AFTER_VOWEL = "가 는 를 와 로 로서 로써 랑 나 라 라고 라는 란 든 며 고 다 야 예요 였 요 지 죠 면".split()
_KO_EITHER = "의 에 에서 에게 께 께서 한테 도 만 까지 부터 보다 처럼 밖에 마다 뿐 입니다 입니까 입니다만 이었 였 인데 이다".split()
_KO_MORE = "는 도 의 만 요 다 고 며 지 죠 니다 습니다 어요 에요 라 라고 서 나 든 부터 까지 이 가 을 를 로 에 에서".split()


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_KO_REST = re.compile(rf"(?:{_alternation(_KO_MORE)}){{0,3}}")
_KO_FIRST = {
    "consonant": re.compile(f"(?:{_alternation(_KO_AFTER_CONSONANT + _KO_EITHER)})"),
    "rieul": re.compile(f"(?:{_alternation(_KO_AFTER_CONSONANT + _KO_EITHER + ['로', '로서', '로써'])})"),
    "vowel": re.compile(f"(?:{_alternation(_KO_AFTER_VOWEL + _KO_EITHER)})"),
    "other": re.compile(f"(?:{_alternation(_KO_AFTER_CONSONANT + _KO_AFTER_VOWEL + _KO_EITHER)})"),
}
_KO_COUNTER = re.compile(f"(?:{_alternation(sorted(COUNTERS['ko']))})")


def _ko_final(ch: str) -> str:
    if not "\uac00" <= ch <= "\ud7a3":
        return "other"
    final = (ord(ch) - 0xAC00) % 28
    return "vowel" if final == 0 else "rieul" if final == 8 else "consonant"


def _ko_ending(answer: str, rest: str) -> bool:
    """`rest` is what may follow `answer` inside a Korean word: nothing, or particles and
    copula endings (after a number, first a counter)."""
    if not rest:
        return True
    if answer[-1].isdigit():
        if rest[0].isdigit():
            return False
        if m := _KO_COUNTER.match(rest):
            if _ko_ending(answer + m.group(0), rest[m.end():]):
                return True
    first = _KO_FIRST[_ko_final(answer[-1])]
    return any(first.fullmatch(rest[:k]) and _KO_REST.fullmatch(rest[k:]) for k in range(len(rest), 0, -1))


def _last_token_fits(answer: str, tok: str, lang: str) -> bool:
    if tok == answer:
        return True
    if lang not in SUFFIXING or not tok.startswith(answer):
        return False
    rest = tok[len(answer):]
    if lang == "ko":
        return _ko_ending(answer, rest)
    return not rest[0].isdigit()


def _contains_tokens(pred: tuple, ans: tuple, lang: str) -> bool:
    n, m = len(pred), len(ans)
    words = [t for t, _, _ in ans]
    for i in range(n - m + 1):
        if not pred[i][1]:
            continue                                   # the answer must start a compound
        if any(pred[i + k][0] != words[k] for k in range(m - 1)):
            continue
        last = pred[i + m - 1]
        if last[2] and _last_token_fits(words[-1], last[0], lang):
            return True
    return False


def exact_match(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """The normalised prediction equals a normalised answer (or the bare number of a label
    written with a counter)."""
    p = normalize(prediction, lang, case)
    return any(p == " ".join(t for t, _, _ in toks) for toks, _ in _forms(tuple(answers), lang, case))


def contains(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """A normalised answer appears in the normalised prediction as whole tokens (a compound,
    "C++" or "3.14" is not split), as a word start followed by suffixes in Turkish and by
    particles in Korean, anywhere in unspaced scripts (zh, ja, th); digits never match inside
    a longer number; a bare-number alias of a longer label only as the whole answer."""
    lang = _base(lang)
    pred = _analysed(prediction, lang, case)
    p = " ".join(t for t, _, _ in pred)
    for toks, whole_only in _forms(tuple(answers), lang, case):
        a = " ".join(t for t, _, _ in toks)
        if whole_only:
            if p == a:
                return True
        elif lang in UNSPACED:
            # Still never read "14" as containing "4".
            if re.search(rf"(?<!\d){re.escape(a)}(?!\d)", p):
                return True
        elif _contains_tokens(pred, toks, lang):
            return True
    return False


def lev_ratio(prediction: str, answers: list[str], lang: str, case: bool = False) -> float:
    """Best normalised Levenshtein similarity (rapidfuzz ratio, 0..1) against any answer."""
    p = normalize(prediction, lang, case)
    return max(fuzz.ratio(p, normalize(a, lang, case)) / 100.0 for a in answers)


_WRAPPERS = re.compile(
    r"^\s*(?:(?:final\s+)?answer\s*[:：]|the\s+(?:correct\s+)?answer\s+is\s*:?|it\s+is|it's)\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’«»「」『』„‚*`"


def extract_answer(prediction: str) -> str:
    """The answer inside common wrappers: the first non-empty line, without a leading
    "Answer:" / "The answer is", surrounding quotes or markdown emphasis, and a trailing period."""
    line = next((ln for ln in prediction.strip().splitlines() if ln.strip()), "")
    line = _WRAPPERS.sub("", line).strip()
    line = line.rstrip(".。!！").strip().strip(_QUOTES).strip()
    return line


def token_f1(prediction: str, answers: list[str], lang: str, case: bool = False) -> float:
    """Best bag-of-words F1 between normalised prediction and any answer (characters are
    the tokens in unspaced scripts)."""
    def toks(s: str) -> list[str]:
        n = normalize(s, lang, case)
        return [c for c in n if not c.isspace()] if _base(lang) in UNSPACED else n.split()

    def f1(p: list[str], g: list[str]) -> float:
        common = sum(min(p.count(t), g.count(t)) for t in set(g))
        if not common:
            return 0.0
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    p = toks(prediction)
    return max(f1(p, toks(a)) for a in answers)


# --- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Scorer:
    """One score column of the items table. `kind` says how it aggregates into metrics:
    `proportion` (a bool per item: the share right, with a 95% Wilson interval; a gate and
    compare metric) or `mean` (a float per item). `on` is what it reads: the prediction, or
    the answer `extract_answer` finds in it. `label` is how reports show it."""

    name: str
    fn: Callable[[str, list[str], str, bool], bool | float]
    kind: Literal["proportion", "mean"]
    label: str
    on: Literal["prediction", "extracted"] = "prediction"


SCORERS: tuple[Scorer, ...] = (
    Scorer("em", exact_match, "proportion", "exact match"),
    Scorer("contains", contains, "proportion", "contains the answer"),
    Scorer("lev_ratio", lev_ratio, "mean", "Levenshtein ratio"),
    Scorer("em_extracted", exact_match, "proportion", "exact match (extracted)", on="extracted"),
    Scorer("f1", token_f1, "mean", "token F1"),
)
PROPORTIONS = tuple(s.name for s in SCORERS if s.kind == "proportion")
MEANS = tuple(s.name for s in SCORERS if s.kind == "mean")
LABELS = {s.name: s.label for s in SCORERS}


def score(prediction: str | None, answers: list[str], lang: str, case: bool = False) -> dict:
    """Every scorer's column for one prediction, plus `extracted`; all None when there is no
    prediction (an errored item is never scored, so never counted as wrong)."""
    if prediction is None:
        return {"extracted": None, **{s.name: None for s in SCORERS}}
    extracted = extract_answer(prediction)
    read = {"prediction": prediction, "extracted": extracted}
    return {"extracted": extracted, **{s.name: s.fn(read[s.on], answers, lang, case) for s in SCORERS}}
