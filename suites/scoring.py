"""Scorers for tiny QA: each a small function that says exactly what it matches, and the
registry (`SCORERS`) that every other part reads: the items table's score columns, the
metrics and how they aggregate, compare, the gate and the dashboard.

All scorers compare a prediction with every accepted answer (`answers`: the label first, then
its aliases) and take the best. The rules a careful grader applies (docs/scoring.md, with the
reasons for each language's choices and the graded set that measures them):

- normalisation: NFKC, full case folding (Turkish İ/ı aware), every script's punctuation read
  as a space, articles dropped (en, fr, de, es, pt; never a letter that is the answer: "Vitamin
  A"), Arabic harakat and hamza forms, abbreviations with dots as one word ("U.S.A." is "usa");
- accents: a missing mark is forgiven where the language's readers accept it (`ACCENTS`), a
  different mark never is ("avô" is not "avó", "côté" is not "côte");
- numbers (`suites/numbers.py`): one way of writing each number (separators by language,
  number words, CJK numerals and 万/만 multipliers, Roman numerals, percent words, "−40");
  a number never matches inside a longer one; a label with a unit or counter needs the same
  unit ("4 months" is not "4 years"), its bare number counts only as the whole answer;
- boundaries (`contains`): whole tokens, whole compounds ("C" is not in "C++"), whole names
  ("Virginia" is not in "West Virginia", "京都" not in "東京都"), Turkish suffixes and Korean
  particles from their inventories only ("Aydın" is not Ay + suffix, "철도" is not 철 + 도);
- hedged and negated answers ("Paris or Lyon", "Nicht Bonn, sondern Berlin") are not credited;
- `em` accepts what `contains` accepts around a whole answer: particles, suffixes, copulas
  ("서울입니다", "Ankara'dır", "東京です"), a year's counter ("1945年");
- extraction (`em_extracted`): answer labels of every pack language, emphasis, quotes, a
  trailing explanation; a correction on a later line wins.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import Levenshtein

from tinyqa.languages import ARTICLES, SUFFIXING, UNSPACED
from tinyqa.languages import base as _base
from tinyqa.suites import numbers

# Bumped whenever a rule changes a verdict: runs and baselines record it.
SCORER_VERSION = 2

# Accent-insensitive matching, per language: which combining marks on a Latin letter may be
# left out ("all", a set of marks, or the marks of all but some letters). Languages not named
# keep every mark. Turkish ç ğ ı ö ş ü and Spanish ñ are letters, not accents; German ä ö ü
# may be written ae oe ue (not a o u); Russian ё may be written е. Only a missing mark is
# forgiven: a prediction with another mark, or a mark the answer has not, is another word.
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
# the bare number as the whole answer ("4위" → "4"), and a bare-number label accepts the
# number with one of these ("1945年" for 1945); in Korean a number answer may carry one
# before its particles. (Written as `normalize` leaves them: folded, without punctuation.)
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
# The counters of a year: a bare year label accepts them ("1945年", "1945년", "1945 yılında").
_YEAR_COUNTERS = {"zh": ("年",), "ja": ("年",), "ko": ("년",), "tr": ("yılı", "yılında", "yılıdır"),
                  "ru": ("год", "году", "года", "г"), "de": ("jahr",), "fr": ("en",)}

# Words that name a place or person longer than the answer when written just before it:
# "West Virginia" is not Virginia, "Nueva York" is not York.
NAME_PREFIXES: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in {
    "en": "west east north south new upper lower greater little old saint st san santa fort port mount",
    "de": "west ost nord sud neu alt gross klein sankt bad ober unter nieder",
    "fr": "nouvelle nouveau saint sainte haute bas basse grand grande petit petite nord sud",
    "es": "nueva nuevo san santa norte sur gran",
    "pt": "nova novo sao santa norte sul grande",
    "ru": "новая новый новое северная северный южная южный западная западный восточная восточный "
          "великий великая нижний нижняя верхний верхняя",
    "tr": "kuzey güney batı doğu yeni büyük küçük",
}.items()}
# A word in the same clause right before the answer that negates it ("not Paris", "nicht
# Bonn", "ce n'est pas Paris", "не Москва"), or right after it (Turkish "değil", Korean 아니라).
NEGATIONS_BEFORE: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in {
    "en": "not never no neither nor isn wasn aren weren doesn didn hasn haven nobody",
    "de": "nicht kein keine keinen keiner nie niemals weder",
    "fr": "pas non jamais ni",
    "es": "no nunca ni",
    "pt": "nao nunca nem",
    "ru": "не ни нет",
    "ar": "ليس ليست لا لم غير",
    "tr": "",
    "ko": "안",
}.items()}
NEGATIONS_AFTER: dict[str, frozenset[str]] = {
    "tr": frozenset("değil değildir değildi".split()),
    "ko": frozenset("아니다 아니라 아닙니다 아니고 아니에요 아니야 아닌".split()),
}
# Words joining two candidates ("Paris or Lyon"): an answer next to one is hedged.
DISJUNCTIONS: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in {
    "en": "or", "de": "oder bzw", "fr": "ou", "es": "o u", "pt": "ou", "ru": "или либо",
    "tr": "veya yoksa ya yahut", "ar": "او", "ko": "또는 혹은 아니면",
}.items()}
# Words that take back what came before in the same answer ("attributed to Leonardo da Vinci,
# but it's actually a painting by Michelangelo"): only what follows the last one counts.
CORRECTIONS = frozenset("actually eigentlich vielmehr plutot вернее aslında".split())
# After "or": a rephrasing of the same answer ("World Wide Web, or more specifically…"), not a
# second candidate.
_REPHRASING = frozenset("more rather simply just also so even in otherwise plutot plutôt besser eher mejor mas más melhor".split())
_UNSPACED_NEG_BEFORE = re.compile(r"(?:不是|并非|並非|不|非)$")
_UNSPACED_NEG_AFTER = re.compile(r"^(?:ではな|じゃな|でなく|ではあり|じゃあり)")
_UNSPACED_OR = ("或者", "或是", "还是", "還是", "或", "または", "あるいは", "もしくは", "か")
_JA_COPULA = re.compile(r"(?:です|だ|である|でした|だった|でしょう|でございます)$")
_ZH_PREFIXES = frozenset("东西南北新東")
_JA_NAME_SUFFIXES = frozenset("都道府県市区町村郡州省")


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
    if s.isascii():
        return s
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


def _clusters(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for ch in unicodedata.normalize("NFD", s):
        if unicodedata.combining(ch) and out:
            out[-1] = (out[-1][0], out[-1][1] + ch)
        else:
            out.append((ch, ""))
    return out


@functools.lru_cache(maxsize=16384)
def marks_agree(pred: str, gold: str) -> bool:
    """Two spellings that fold to the same word agree when the prediction's marks are the
    answer's or fewer: a missing accent is forgiven, another accent is another word."""
    if pred == gold or pred.isascii():
        return True
    p, g = _clusters(pred), _clusters(gold)
    if len(p) != len(g):
        return True                 # a spelled-out mark ("ae" for "ä") or a ligature: the fold decided
    return all(pb != gb or set(pm) <= set(gm) for (pb, pm), (gb, gm) in zip(p, g))


# --- tokens -----------------------------------------------------------------------------------

_HYPHENS = "-\u2010\u2011"
_DIGIT_SEPARATORS = ".,'\u2019/"
_APOSTROPHES = "'\u2019"
_ATTACHED = "+\u266f"     # C++, C# (written ♯): part of the name before them
_CLAUSE = set(".,;:!?()[]{}…。，、；：！？،؛؟\n")
_SENTENCE = set(".!?:;。！？\n؟")
_ABBREVIATION = re.compile(r"(?<![^\W\d_])((?:[^\W\d_]\.)+[^\W\d_]\.?)(?![^\W\d_])")


def _is_word(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return not (ch.isspace() or cat[0] in "PS")


def _decimal(ch: str) -> bool:
    return bool(ch) and unicodedata.decimal(ch, None) is not None


class _Raw:
    __slots__ = ("text", "starts", "ends", "brk", "sent")

    def __init__(self, text: str, starts: bool, brk: bool, sent: bool):
        self.text, self.starts, self.ends, self.brk, self.sent = text, starts, True, brk, sent


# A run of word characters (letters, digits, combining marks), a run of spaces, or one other
# character: the tokenizer looks at single characters only where punctuation or symbols stand.
_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed" \
         "\u0900-\u0963\u0966-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1-\u0ebc\u0ec8-\u0ecd" \
         "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a\ufe20-\ufe2f"
_RUN = re.compile(f"(?:[^\\W_]|[{_MARKS}])+|\\s+|.", re.S)


def _tokens(s: str, lang: str) -> list[_Raw]:
    """Raw tokens of a string (case kept), each with whether it starts and ends a compound, and
    whether a clause or a sentence break comes before it. A hyphen between two word characters,
    or parentheses written onto a word ("O(n log n)": "log n" is not in it), make a compound;
    a separator between two digits joins tokens ("3.14",
    "1,000", "3/4" are one token); "+" and "#" right after a word stay part of it ("C++"); a
    minus before a digit is part of the number; in Turkish an apostrophe between letters joins
    a name and its suffix ("Ankara'dır"); other punctuation and spaces separate; any other
    symbol is a token of its own ("°")."""
    toks: list[_Raw] = []
    cur: list[str] = []
    joined = False
    brk = sent = True
    paren = 0                       # inside parentheses written onto a word: "O(n log n)"
    n = len(s)

    def flush(end: bool) -> None:
        nonlocal joined, brk, sent
        end = end and not paren
        if cur:
            toks.append(_Raw("".join(cur), not joined, brk, sent))
            toks[-1].ends = end
            joined = not end
            brk = sent = False
        elif end and toks:
            toks[-1].ends = True
            joined = False
        elif end:
            joined = False
        cur.clear()

    for m in _RUN.finditer(s):
        ch = m.group()
        if len(ch) > 1 or _is_word(ch):
            if ch[0].isspace():
                flush(True)
                if "\n" in ch:
                    brk = sent = True
            else:
                cur.append(ch)
            continue
        k = m.start()
        prev = s[k - 1] if k else ""
        nxt = s[k + 1] if k + 1 < n else ""
        if ch == "(" and cur and not paren and ")" in s[k:k + 40]:
            flush(False)
            paren = 1
            continue
        if ch == ")" and paren:
            paren = 0
            flush(True)
            continue
        if ch.isspace():
            flush(True)
            if ch == "\n":
                brk = sent = True
        elif ch == "#" and cur:
            cur.append("\u266f")
        elif ch in _ATTACHED and cur:
            cur.append(ch)
        elif ch in _HYPHENS and not cur and _decimal(nxt) and not _is_word(prev or " "):
            cur.append("-")
        elif ch in _HYPHENS and cur and nxt and _is_word(nxt) and _is_word(prev):
            flush(False)
        elif ch in _DIGIT_SEPARATORS and cur and _decimal(prev) and _decimal(nxt):
            cur.append(ch)
        elif ch in _APOSTROPHES and lang == "tr" and cur and _is_word(prev) and nxt and _is_word(nxt):
            continue
        elif unicodedata.category(ch)[0] == "P" and ch not in "%‰":
            flush(True)
            if ch in _CLAUSE:
                brk = True
                sent = sent or ch in _SENTENCE
        elif unicodedata.category(ch)[0] == "S" or ch in "%‰":
            flush(True)
            cur.append(ch)
            flush(True)
        else:
            cur.append(ch)
    flush(True)
    return toks


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


def _english_numbers(toks: list[list]) -> list[list]:
    """Spelled-out English numbers as digits ("4", "26th"), one token for the whole phrase."""
    words = [t[0] for t in toks]
    out = []
    i = 0
    while i < len(toks):
        hit = _number(words, i) if words[i] in NUMBER_WORDS else None
        if hit is None:
            out.append(toks[i])
            i += 1
            continue
        value, ordinal, end = hit
        v = _ordinal(value) if ordinal else str(value)
        out.append([v, toks[i][1], toks[end - 1][2], v, toks[i][4], False])
        i = end
    return out


# --- normalisation --------------------------------------------------------------------------

# A token: (key, starts a compound, ends a compound, the case-folded spelling with its marks,
# a clause break before it, written with a capital).
Token = tuple[str, bool, bool, str, bool, bool]


@functools.lru_cache(maxsize=16384)
def _fold(text: str, lang: str, case: bool) -> tuple[str, str]:
    """(key, marked): the token as compared, and as case-folded with every mark kept."""
    if case:
        return text, text
    if lang in {"tr", "az"}:
        text = text.replace("I", "ı").replace("İ", "i")
    text = text.casefold().replace("i\u0307", "i")
    if lang == "ar":
        text = "".join(c for c in text if c not in _ARABIC_OPTIONAL).translate(_ARABIC_ALEF)
    return fold_accents(text, lang), text


@functools.lru_cache(maxsize=8192)
def _analysed(text: str, lang: str, case: bool) -> tuple[Token, ...]:
    lang = _base(lang)
    s = unicodedata.normalize("NFKC", text)
    if not case:
        if "." in s:
            s = _ABBREVIATION.sub(lambda m: m.group(1).replace(".", ""), s)
        s = numbers.rewrite(s, lang)
    elif not s.isascii():
        s = numbers._ascii_digits(s)
    raw = _tokens(s, lang)
    drop = ARTICLES.get(lang, frozenset()) if not case else frozenset()
    toks: list[list] = []
    for k, r in enumerate(raw):
        key, marked = _fold(r.text, lang, case)
        if key in drop and k + 1 < len(raw) and not raw[k + 1].brk and _is_word(raw[k + 1].text[0]) \
                and not (len(r.text) == 1 and r.text.isupper() and not r.sent):
            if r.ends and toks and not r.starts:         # the compound now ends before it
                toks[-1][2] = True
            elif r.starts and not r.ends:
                raw[k + 1].starts = True
            if r.brk and k + 1 < len(raw):
                raw[k + 1].brk = True
            continue
        cap = r.text[:1].isupper()
        if not case and (key[:1].isdigit() or key[:1] == "-"):
            parts = numbers.canonical(key, lang)
            if len(parts) > 1:
                for j, p in enumerate(parts):
                    toks.append([p, True, True, p, r.brk and j == 0, False])
                continue
            key = marked = parts[0]
        toks.append([key, r.starts, r.ends, marked, r.brk, cap])
    if lang == "en" and not case:
        toks = _english_numbers(toks)
    return tuple(tuple(t) for t in toks)


def normalize(text: str, lang: str = "en", case: bool = False) -> str:
    """NFKC, full case folding (Turkish İ/ı aware), every script's punctuation turned into
    spaces, whitespace collapsed, symbols other than "+" and "#" after a word set apart ("180°"
    is "180 °"); numbers written one way (`suites/numbers.py`: "1,000" is 1000, "0,5" in French
    is 0.5, "十一" is 11, "XIV" is 14, "71 percent" is "71 %"); articles dropped (not a letter
    that is the answer); English number words as digits ("twenty-six" is 26, "first" is 1st);
    accents dropped where the language's readers accept it (ACCENTS); in Arabic, harakat and
    tatweel dropped and hamza/madda alefs read as a bare alef. With `case`, letter case and
    accents are kept and words left alone (items tagged `match: case`, whose answer is a
    spelling: "İSTANBUL", "ς")."""
    return " ".join(t[0] for t in _analysed(text, lang, case))


def _text(toks: tuple) -> str:
    return " ".join(t[0] for t in toks)


# --- typed answers --------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?(?:/\d+)?(?:st|nd|rd|th)?")


def _bare_number(toks: tuple) -> bool:
    return len(toks) == 1 and _NUMBER.fullmatch(toks[0][0]) is not None


def _counted_number(norm: str, lang: str) -> str | None:
    """The number of a label written as a number and a counter or unit ("4위", "180 grad")."""
    m = re.fullmatch(r"(-?\d+(?:[.,]\d+)?) ?(\S+)", norm)
    if m and m.group(2) in COUNTERS.get(lang, ()):
        return m.group(1)
    return None


def answer_type(answer: str, lang: str) -> str:
    """What an accepted answer is, read from it: `year` (a bare year, 1000–2100), `number` (an
    integer, decimal, fraction or ordinal, negative too), `quantity` (a number with a unit or
    counter: the unit must agree), `name` (up to four words) or `text`."""
    toks = _analysed(answer, lang, False)
    norm = _text(toks)
    if _bare_number(toks):
        return "year" if re.fullmatch(r"1\d{3}|20\d{2}", norm) else "number"
    if _counted_number(norm, _base(lang)) is not None:
        return "quantity"
    return "name" if len(toks) <= 4 else "text"


@dataclass(frozen=True)
class _Form:
    toks: tuple
    whole_only: bool = False      # accepted only as the whole answer
    year: bool = False            # a bare year: its counter may follow ("1945年")
    exact: bool = False           # the bare number of a counted label: nothing may follow it
    then: str | None = None       # an alias that starts the label ("Guido" of "Guido van Rossum"):
                                  # a capitalised word after it must be the label's next word


def _variants(answer: str, lang: str) -> list[str]:
    """Other spellings of an accepted answer that a reader writes for it: Turkish İ typed as I
    ("Istanbul"); a Roman numeral I as 1 ("Elizabeth 1") and, in English, a Roman numeral as
    an ordinal ("Louis the Fourteenth")."""
    out = []
    if lang in {"tr", "az"} and "İ" in answer:
        out.append(answer.replace("İ", "I"))
    if lang in numbers.ROMAN_LANGS and re.search(r"(?<=\w )I\b", answer):
        out.append(re.sub(r"(?<=\w )I\b", "1", answer))
    if lang == "en":
        m = numbers._ROMAN.search(answer)
        if m and m.group(0) and m.group(0) not in {"V", "X"} or re.search(r"(?<=\w )I\b", answer):
            out.append(re.sub(r"(?<=\w )I\b", "1st", numbers._ROMAN.sub(
                lambda r: _ordinal(numbers.roman_value(r.group(0))) if r.group(0) else "", answer)))
    return out


@functools.lru_cache(maxsize=4096)
def _forms(answers: tuple[str, ...], lang: str, case: bool) -> tuple[_Form, ...]:
    """The accepted answers as token tuples: the label, its bare number when it has a counter
    (only as the whole answer), the aliases (a bare-number alias of a longer label only as the
    whole answer), and their other spellings (`_variants`)."""
    out: list[_Form] = []
    lang = _base(lang)
    label = _analysed(answers[0], lang, case) if answers else ()
    for k, a in enumerate(answers):
        for v, text in enumerate([a, *([] if case else _variants(a, lang))]):
            toks = _analysed(text, lang, case)
            if not toks:
                continue
            whole_only = k > 0 and _bare_number(toks) and not _bare_number(label)
            year = _bare_number(toks) and re.fullmatch(r"1\d{3}|20\d{2}", toks[0][0]) is not None
            then = None
            if k > 0 and len(toks) < len(label) and [t[0] for t in label[:len(toks)]] == [t[0] for t in toks]:
                then = label[len(toks)][0]
            out.append(_Form(toks, whole_only, year, then=then))
            if v == 0 and not case:
                number = _counted_number(_text(toks), lang)
                if number is not None:
                    out.append(_Form(((number, True, True, number, True, False),), True, exact=True))
    return tuple(out)


# --- boundaries: Korean particles and Turkish suffixes from their inventories ------------------

# Korean particles and copula endings that may follow an answer: after a final consonant, after
# a vowel, after either; then up to three more endings ("에서는", "이었습니다"). Not 나/이나
# ("or": "서울이나 부산" names two candidates).
_KO_AFTER_CONSONANT = "이 은 을 과 으로 으로서 으로써 이랑 이라 이라고 이라는 이란 이든 이며 이고 이다 이야 이에요 이었 이요 이지 이죠 이면 인 임".split()
_KO_AFTER_VOWEL = "가 는 를 와 로 로서 로써 랑 라 라고 라는 란 든 며 고 다 야 예요 였 요 지 죠 면".split()
_KO_EITHER = "의 에 에서 에게 께 께서 한테 도 만 까지 부터 보다 처럼 밖에 마다 뿐 입니다 입니까 입니다만 이었 였 인데 이다".split()
_KO_MORE = "는 도 의 만 요 다 고 며 지 죠 니다 습니다 어요 에요 라 라고 서 든 부터 까지 이 가 을 를 로 에 에서".split()
# After a one-syllable answer, only the case particles and the copula: a one-syllable particle
# such as 도 or 고 makes a word of its own too often ("철도" is a railway, not 철 + 도).
_KO_SHORT = set("이 가 은 는 을 를 의 에 에서 에게 으로 로 으로서 로서 이다 입니다 이에요 예요 이었 였 인 임 이라 "
                "이라고 이라는 이란 라 라고 라는 란 이야 야 인데 까지 부터 보다 처럼 한테".split())


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_KO_REST = re.compile(rf"(?:{_alternation(_KO_MORE)}){{0,3}}")
_KO_FIRST = {
    "consonant": re.compile(f"(?:{_alternation(_KO_AFTER_CONSONANT + _KO_EITHER)})"),
    "rieul": re.compile(f"(?:{_alternation(_KO_AFTER_CONSONANT + _KO_EITHER + ['로', '로서', '로써'])})"),
    "vowel": re.compile(f"(?:{_alternation(_KO_AFTER_VOWEL + _KO_EITHER)})"),
    "other": re.compile(f"(?:{_alternation(_KO_AFTER_CONSONANT + _KO_AFTER_VOWEL + _KO_EITHER)})"),
}
_KO_COUNTER = re.compile(f"(?:{_alternation(sorted(COUNTERS['ko']))})")

# Turkish suffixes in their order: plural, possessive, case, -ki, copula; with the buffer
# consonants y/n/s and the vowel and consonant harmony forms. "Ankara'dır", "İstanbul'u",
# "altından" are the answer and suffixes; "Aydın" is not "Ay" and a suffix.
_TR_PLURAL = "lar ler"
_TR_POSS = ("ım im um üm m ın in un ün n ı i u ü sı si su sü ımız imiz umuz ümüz mız miz muz müz "
            "ınız iniz unuz ünüz nız niz nuz nüz ları leri")
_TR_CASE = ("yı yi yu yü nı ni nu nü ı i u ü ya ye na ne a e da de ta te nda nde dan den tan ten ndan nden "
            "nın nin nun nün ın in un ün la le yla yle ca ce ça çe yken ken")
_TR_COPULA = ("dır dir dur dür tır tir tur tür ydı ydi ydu ydü dı di du dü tı ti tu tü ymış ymiş ymuş ymüş "
              "mış miş muş müş ysa yse sa se")
_TR_SUFFIX = re.compile(
    "".join(f"(?:{_alternation(group.split())})?" for group in (_TR_PLURAL, _TR_POSS, _TR_CASE, "ki", _TR_COPULA)))


def _ko_final(ch: str) -> str:
    if not "\uac00" <= ch <= "\ud7a3":
        return "other"
    final = (ord(ch) - 0xAC00) % 28
    return "vowel" if final == 0 else "rieul" if final == 8 else "consonant"


def _ko_ending(answer: str, rest: str) -> bool:
    """`rest` is what may follow `answer` inside a Korean word: nothing, or particles and
    copula endings (after a number, first a counter; after one syllable, only case particles
    and the copula)."""
    if not rest:
        return True
    if answer[-1].isdigit():
        if rest[0].isdigit():
            return False
        if m := _KO_COUNTER.match(rest):
            if _ko_ending(answer + m.group(0), rest[m.end():]):
                return True
    first = _KO_FIRST[_ko_final(answer[-1])]
    short = len(answer) == 1 and _ko_final(answer) != "other"
    return any(first.fullmatch(rest[:k]) and (not short or rest[:k] in _KO_SHORT) and _KO_REST.fullmatch(rest[k:])
               for k in range(len(rest), 0, -1))


def _last_token_fits(answer: str, tok: str, lang: str) -> bool:
    if tok == answer:
        return True
    if lang not in SUFFIXING or not tok.startswith(answer):
        return False
    rest = tok[len(answer):]
    if lang == "ko":
        return _ko_ending(answer, rest)
    if lang in {"tr", "az"}:
        return not rest[0].isdigit() and _TR_SUFFIX.fullmatch(rest) is not None
    return not rest[0].isdigit()


# --- matching -------------------------------------------------------------------------------

def _occurrences(pred: tuple, ans: tuple, lang: str):
    """Where `ans` stands in `pred` as whole tokens (a compound, "C++" or "3.14" is not split;
    a Turkish suffix or Korean particle may follow), with marks that agree."""
    n, m = len(pred), len(ans)
    first = ans[0][0]
    for i in range(n - m + 1):
        if not pred[i][1] or (m > 1 and pred[i][0] != first):
            continue                                   # the answer must start a compound
        if any(pred[i + k][0] != ans[k][0] for k in range(m - 1)):
            continue
        last = pred[i + m - 1]
        if not (last[2] and _last_token_fits(ans[-1][0], last[0], lang)):
            continue
        if all(marks_agree(pred[i + k][3], ans[k][3]) for k in range(m - 1)) \
                and marks_agree(last[3][:len(ans[-1][3])], ans[-1][3]):
            yield i, i + m - 1


def _clean(pred: tuple, i: int, j: int, lang: str) -> bool:
    """The occurrence pred[i..j] is the answer given: not the end of a longer name ("West
    Virginia"), not negated ("nicht Bonn", "Ankara değil"), not one of two candidates ("Paris
    or Lyon")."""
    n = len(pred)
    if i and not pred[i][4]:
        before = pred[i - 1]
        if before[5] and before[0] in NAME_PREFIXES.get(lang, ()):
            return False
        if before[0] in DISJUNCTIONS.get(lang, ()):
            return False
        neg = NEGATIONS_BEFORE.get(lang, ())
        if before[0] in neg or (i > 1 and not before[4] and pred[i - 2][0] in neg):
            return False
    if j + 1 < n and not pred[j + 1][4]:
        after = pred[j + 1][0]
        if after in NEGATIONS_AFTER.get(lang, ()):
            return False
        if j + 2 < n and after in DISJUNCTIONS.get(lang, ()) and pred[j + 2][0] not in _REPHRASING:
            return False
    return True


def _renamed(pred: tuple, j: int, form: _Form) -> bool:
    """A first-name alias followed by another surname: "Guido Boog" is not Guido van Rossum."""
    return (form.then is not None and j + 1 < len(pred) and not pred[j + 1][4] and pred[j + 1][5]
            and pred[j + 1][0] != form.then)


def _script(ch: str) -> str:
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch == "々":
        return "han"
    if "\u30a0" <= ch <= "\u30ff":
        return "katakana"
    return "other"


def _unspaced_clean(p: str, s: int, e: int, lang: str) -> bool:
    """An answer found at p[s:e] in Chinese or Japanese text is a whole word given as the answer:
    not inside a longer number, not the end of a longer name (ja: after a kanji or katakana of
    the same script, "東京都" for 京都; zh: after 东/西/南/北/新), not negated (不是, ではなく),
    not one of two candidates (或, 还是, または, か)."""
    before, after = p[max(0, s - 4):s], p[e:e + 5]
    if before[-1:].isdigit() or after[:1].isdigit() or re.match(r"[.,/]\d", after):
        return False
    if s and p[s - 1] == "-" and p[s:s + 1].isdigit():
        return False
    if lang == "ja":
        b, f, first, last = before[-1:], after[:1], p[s], p[e - 1]
        if b and _script(b) != "other" and _script(b) == _script(first):
            return False
        if f and _script(last) == "katakana" == _script(f):
            return False
        if f and _script(last) == "han" == _script(f) and f not in _JA_NAME_SUFFIXES:
            return False
    if lang == "zh" and before[-1:] in _ZH_PREFIXES:
        return False
    if _UNSPACED_NEG_BEFORE.search(before.rstrip()) or _UNSPACED_NEG_AFTER.match(after.lstrip()):
        return False
    a = after.lstrip()
    for word in _UNSPACED_OR:
        if a.startswith(word) and (word != "か" or (len(a) > 1 and a[1] not in "。？?！! ")):
            return False
        if before.rstrip().endswith(word) and word != "か":
            return False
    return True


def _whole(pred: tuple, form: _Form, lang: str) -> bool:
    """The prediction is the accepted answer and nothing else (but a particle, suffix or
    copula around it, and the counter of a number: "1945年" is 1945)."""
    ans = form.toks
    if form.exact:
        return _text(pred) == _text(ans)
    number = _bare_number(ans)
    counters = COUNTERS.get(lang, frozenset()) | frozenset(_YEAR_COUNTERS.get(lang, ()) if form.year else ())
    if lang in UNSPACED:
        p, a = _text(pred), _text(ans)
        if p == a:
            return True
        if lang == "ja":
            p = _JA_COPULA.sub("", p).rstrip()
        if p == a:
            return True
        return number and p.startswith(a) and p[len(a):].strip() in counters
    m = len(ans)
    if len(pred) == m:
        return next(_occurrences(pred, ans, lang), None) is not None
    if number and len(pred) == 2 and pred[0][0] == ans[0][0] and pred[1][0] in counters:
        return True
    return False


def exact_match(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """The prediction is an accepted answer, as a whole: after `normalize`, with the marks
    rule (a missing accent forgiven, not another), a Korean particle, a Turkish suffix or a
    Japanese copula after it, a bare number's counter ("1945年")."""
    lang = _base(lang)
    pred = _analysed(prediction, lang, case)
    return any(_whole(pred, f, lang) for f in _forms(tuple(answers), lang, case))


def contains(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """An accepted answer appears in the prediction as whole tokens, a whole compound and a
    whole name (docs/scoring.md, "Boundaries"), given as the answer: not negated and not one of
    two candidates. A counted label's bare number and a bare-number alias of a longer label
    count only as the whole answer."""
    lang = _base(lang)
    if "\n" in prediction:
        prediction = _after_correction(prediction)
    pred = _analysed(prediction, lang, case)
    p = None
    for form in _forms(tuple(answers), lang, case):
        if form.whole_only:
            if _whole(pred, form, lang):
                return True
        elif lang in UNSPACED:
            p = _text(pred) if p is None else p
            a = _text(form.toks)
            start = p.find(a)
            while start >= 0:
                if _unspaced_clean(p, start, start + len(a), lang):
                    return True
                start = p.find(a, start + 1)
        else:
            last = max((k for k, t in enumerate(pred) if t[0] in CORRECTIONS), default=-1)
            if any(i > last and _clean(pred, i, j, lang) and not _renamed(pred, j, form)
                   for i, j in _occurrences(pred, form.toks, lang)):
                return True
    return False


def lev_ratio(prediction: str, answers: list[str], lang: str, case: bool = False) -> float:
    """Best Levenshtein ratio, 1 − distance / length of the longer string (rapidfuzz's
    `Levenshtein.normalized_similarity`, 0..1), of the normalised prediction against any
    accepted answer."""
    p = normalize(prediction, lang, case)
    return max(Levenshtein.normalized_similarity(p, normalize(a, lang, case)) for a in answers)


TQB_THRESHOLD = 0.75


def lev_verdict(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """TQB++'s thresholded verdict: the Levenshtein ratio is at least 0.75. Kept for comparison
    with its published figures, not a tinyqa score column: it credits near misses ("cheval" for
    "chevaux") and a number inside an alias ("100 degrees" for "32 degrees")."""
    return lev_ratio(prediction, answers, lang, case) >= TQB_THRESHOLD


# --- extraction -----------------------------------------------------------------------------

# Answer labels of every pack language, at the start of a line ("Answer:", "Réponse :",
# "答案：", "정답:"), and the phrases that announce an answer anywhere ("the answer is").
_LABELS = ("final answer|correct answer|short answer|answer|a|réponse finale|réponse|antwort|lösung|respuesta|"
           "resposta|ответ|правильный ответ|cevap|yanıt|الإجابة|الاجابة|الجواب|答案|回答|答|答え|解答|정답|답|대답")
_LABEL = re.compile(rf"^\s*(?:{_LABELS})\s*[:：]\s*", re.IGNORECASE)
_PHRASE = re.compile(
    r"(?:the (?:correct |right |final )?answer is|la (?:bonne )?réponse est|die (?:richtige )?antwort (?:ist|lautet)|"
    r"la respuesta (?:correcta )?es|a resposta (?:correta )?é|правильный ответ\s*[—–-]|ответ\s*[—–-]|"
    r"(?:doğru )?cevap|答案是|答えは|정답은|답은)\s*:?\s*", re.IGNORECASE)
_CORRECTION = re.compile(
    r"^\s*(?:actually|correction|wait|sorry|in fact|en fait|en réalité|correction|eigentlich|korrektur|tatsächlich|"
    r"en realidad|de hecho|corrección|na verdade|correção|на самом деле|поправка|вернее|aslında|düzeltme|"
    r"其实|更正|实际上|実は|訂正|正しくは|사실은|사실|정정|في الواقع|تصحيح)\b\s*[,，:：]?\s*", re.IGNORECASE)
_LEAD = re.compile(
    r"^\s*(?:it\s+(?:is|was)|it's|that\s+(?:is|was)|c'est|c’est|es\s+(?:ist|war)|das\s+ist|es|son|é|это)\s+",
    re.IGNORECASE)
_EMPHASIS = re.compile(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)")
_TRAILING = re.compile(r"\s*(?:\([^()]*\)|（[^（）]*）|\s[—–-]\s.*)$")
_QUOTES = "\"'“”‘’«»「」『』„‚`"


def _after_correction(prediction: str) -> str:
    """The text from the last correction on ("Actually, it was Raphael."), or all of it."""
    lines = prediction.splitlines()
    for k in range(len(lines) - 1, 0, -1):
        if _CORRECTION.match(_EMPHASIS.sub("", lines[k])):
            return "\n".join(lines[k:])
    return prediction


def _tidy(line: str) -> str:
    line = _LEAD.sub("", line).strip()
    for _ in range(2):
        line = _TRAILING.sub("", line).strip()
        line = line.rstrip(".。!！").strip().strip(_QUOTES).strip()
    return line


def extract_answer(prediction: str, lang: str = "en") -> str:
    """The answer a reader takes from the prediction: the line an answer label starts ("Answer:",
    "Réponse :", "答案：", in any pack language) or the words after "the answer is" (the last one
    given), else the first line; a correction on a later line ("Actually, it was Raphael.") wins.
    Without the label, markdown emphasis, quotes, a lead ("It is"), a trailing parenthesis or
    dash explanation and a final period."""
    lines = [_EMPHASIS.sub("", ln).strip() for ln in prediction.strip().splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return ""
    pick = None
    for k, line in enumerate(lines):
        if m := _LABEL.match(line):
            rest = line[m.end():].strip()
            pick = rest or (lines[k + 1] if k + 1 < len(lines) else "")
        elif k and (m := _CORRECTION.match(line)):
            pick = line[m.end():]
            if p := list(_PHRASE.finditer(pick)):
                pick = pick[p[-1].end():]
        elif pick is None and (p := list(_PHRASE.finditer(line))):
            pick = line[p[-1].end():]
    return _tidy(lines[0] if pick is None else pick)


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
    extracted = extract_answer(prediction, lang)
    read = {"prediction": prediction, "extracted": extracted}
    return {"extracted": extracted, **{s.name: s.fn(read[s.on], answers, lang, case) for s in SCORERS}}
