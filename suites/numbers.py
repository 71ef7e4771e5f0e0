"""Numbers as a careful grader reads them, in every pack language (docs/scoring.md, "Numbers").

`rewrite` runs on an answer before it is split into tokens and writes every number one way:
ASCII digits, thousands written together by the language's own separators ("1,000" in English,
"1.000" in German, "1 000" in French are 1000), a minus sign as "-" (U+2212 too), scale words
and multipliers applied ("100万" and "100만" are 1000000, "2 millions" is 2000000), CJK
numerals as digits ("十一" is 11, "三千" is 3000), percent and per-mille words as "%" and "‰",
and Roman numerals as digits ("XIV" is 14). `canonical` then reads one token that is a number
("3.14", "0,5", "3/4", "9.11.1989") as a decimal, a fraction or a date. Rules, no library: the
number-word libraries on PyPI read numbers in English and a few European languages only, and
turn digits into words rather than words into digits for the rest.
"""
from __future__ import annotations

import functools
import re
import unicodedata

# Languages that write the decimal point as a comma ("0,5") and group thousands with "." or a
# space. The others (en, zh, ja, ko, ar with Western digits) write "0.5" and "1,000".
DECIMAL_COMMA = frozenset({"de", "fr", "es", "pt", "ru", "tr", "it", "nl", "pl", "id", "da", "sv", "nb", "fi", "cs"})

# Percent and per-mille, as words (after folding: lower case; accents as written).
_PERCENT = {
    "en": r"per ?cent|percent", "de": r"prozent", "fr": r"pour ?cent|pourcent", "es": r"por ?ciento",
    "pt": r"por ?cento", "ru": r"процент(?:а|ов)?", "tr": r"", "ar": r"بالمئة|بالمائة|في المئة|في المائة",
    "ja": r"パーセント", "ko": r"퍼센트|프로", "zh": r"",
}
_PERMILLE = {
    "en": r"per ?mille|per ?mil", "de": r"promille", "fr": r"pour ?mille", "es": r"por ?mil",
    "pt": r"por ?mil", "ru": r"промилле", "ja": r"パーミル", "ko": r"퍼밀",
}
# Scale words after a number written in digits ("2 millions", "1,5 Milliarden").
_SCALES = {
    "en": {"thousand": 3, "million": 6, "millions": 6, "billion": 9, "billions": 9},
    "de": {"tausend": 3, "million": 6, "millionen": 6, "milliarde": 9, "milliarden": 9, "mio": 6, "mrd": 9},
    "fr": {"mille": 3, "million": 6, "millions": 6, "milliard": 9, "milliards": 9},
    "es": {"mil": 3, "millón": 6, "millones": 6, "millon": 6},
    "pt": {"mil": 3, "milhão": 6, "milhões": 6, "milhao": 6, "milhoes": 6, "bilhão": 9, "bilhões": 9, "bilião": 12},
    "ru": {"тысяча": 3, "тысячи": 3, "тысяч": 3, "тыс": 3, "миллион": 6, "миллиона": 6, "миллионов": 6,
           "млн": 6, "миллиард": 9, "миллиарда": 9, "миллиардов": 9, "млрд": 9},
    "tr": {"bin": 3, "milyon": 6, "milyar": 9},
    "ar": {"ألف": 3, "آلاف": 3, "مليون": 6, "ملايين": 6, "مليار": 9},
}
# CJK numerals: digits and the multipliers of Chinese and Japanese (and Korean hanja) and
# the Korean myriads written after digits ("100만", "3억").
_CJK_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
               "七": 7, "八": 8, "九": 9}
_CJK_SMALL = {"十": 10, "百": 100, "千": 1000}
_CJK_BIG = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8, "兆": 10**12}
_KO_BIG = {"만": 10**4, "억": 10**8, "조": 10**12, "천": 1000}
_CJK_CHARS = "".join(_CJK_DIGITS) + "".join(_CJK_SMALL) + "".join(_CJK_BIG)
# A CJK numeral is read as a number when it is more than one character ("十一", "三千"), or one
# character followed by a counter or unit: alone, "一" is also part of words ("唯一", "一般").
_CJK_COUNTER_CHARS = "个個颗顆年月日天人名位次岁歳才本张張只隻条條种種座届倍分秒米克元円度号號回番枚匹冊台つ階点杯頭羽軒話章部"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")


def _cjk_value(run: str) -> int | None:
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in _CJK_DIGITS:
            if digit is not None:          # "一九八九": digit by digit
                return None
            digit = _CJK_DIGITS[ch]
        elif ch in _CJK_SMALL:
            section += (1 if digit is None else digit) * _CJK_SMALL[ch]
            digit = None
        else:
            total = (total + section + (digit or 0)) * _CJK_BIG[ch] if (section or digit or total) else _CJK_BIG[ch]
            section, digit = 0, None
    return total + section + (digit or 0)


def _cjk_digits_only(run: str) -> str | None:
    """"一九八九" (a year read digit by digit) as "1989"."""
    if len(run) > 1 and all(ch in _CJK_DIGITS for ch in run):
        return "".join(str(_CJK_DIGITS[ch]) for ch in run)
    return None


def _cjk_numerals(s: str) -> str:
    def sub(m: re.Match) -> str:
        run = m.group(0)
        after = s[m.end():m.end() + 1]
        before = s[m.start() - 1:m.start()] if m.start() else ""
        if len(run) == 1 and run not in _CJK_BIG and not (after and after in _CJK_COUNTER_CHARS):
            return run
        if before.isdigit() or run[0] in _CJK_BIG:
            return run                      # "100万": the multiplier rule below
        digits = _cjk_digits_only(run)
        value = digits if digits is not None else _cjk_value(run)
        return run if value is None else str(value)
    return _CJK_RUN.sub(sub, s)


_DIGIT_BIG = re.compile(r"(\d+(?:[.,]\d+)?)\s?([万萬亿億兆])")
_KO_DIGIT_BIG = re.compile(r"(\d+(?:[.,]\d+)?)\s?([만억조천])(?![가-힣])|(\d+(?:[.,]\d+)?)\s?([만억조천])(?=[가-힣])")


def _times(num: str, exp_value: int) -> str:
    num = num.replace(",", ".")
    if "." in num:
        whole, frac = num.split(".")
        value = int(whole + frac) * exp_value // 10 ** len(frac)
    else:
        value = int(num) * exp_value
    return str(value)


def _ascii_digits(s: str) -> str:
    if s.isascii():
        return s
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in s)


# Roman numerals up to 399: two letters or more of I V X L C (not D and M: "MIX", "DIV"), and a single
# V or X written upper-case ("Henry V", "Pius X"); a single "I" is a pronoun in English and is
# read as 1 only in the accepted answers (`roman_variants`).
_ROMAN = re.compile(r"(?<![\w.])(?=[CLXVI]{2,}\b|[VX]\b)(?:XC|XL|L?X{0,3}|C{1,3}(?:XC|XL|L?X{0,3}))(?:IX|IV|V?I{0,3})(?![\w])")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
ROMAN_LANGS = frozenset({"en", "fr", "de", "es", "pt", "ru", "tr", "it", "nl", "pl"})


def roman_value(s: str) -> int:
    total = 0
    for k, ch in enumerate(s):
        v = _ROMAN_VALUES[ch]
        total += -v if k + 1 < len(s) and _ROMAN_VALUES[s[k + 1]] > v else v
    return total


def _roman(s: str) -> str:
    def sub(m: re.Match) -> str:
        r = m.group(0)
        if not r or r in {"CC", "CV", "CL", "LC", "CI", "CLI", "LCI", "LI", "VC", "XC"}:
            return r                        # CC, CV, CLI: abbreviations before numerals
        return str(roman_value(r))
    return _ROMAN.sub(sub, s)


_SPACE_GROUPS = re.compile(r"(?<![\d.,])(-?\d{1,3})((?:[ \u00a0\u202f\u2009]\d{3})+)(?![\d]|[.,]\d{3})")


@functools.lru_cache(maxsize=64)
def _word_rules(lang: str) -> tuple:
    rules = []
    if pat := _PERCENT.get(lang):
        rules.append((re.compile(rf"(\d)\s*(?:{pat})\b", re.IGNORECASE), r"\1 %"))
    if pat := _PERMILLE.get(lang):
        rules.append((re.compile(rf"(\d)\s*(?:{pat})\b", re.IGNORECASE), r"\1 ‰"))
    if lang == "tr":
        rules.append((re.compile(r"\b(?:yüzde|%)\s*(\d+(?:[.,]\d+)?)", re.IGNORECASE), r"\1 %"))
        rules.append((re.compile(r"\b(?:binde|‰)\s*(\d+(?:[.,]\d+)?)", re.IGNORECASE), r"\1 ‰"))
    if lang in ("zh", "ja"):
        rules.append((re.compile(r"\x00\s*(\d+(?:\.\d+)?)"), r"\1%"))
        rules.append((re.compile(r"\x01\s*(\d+(?:\.\d+)?)"), r"\1‰"))
    if scales := _SCALES.get(lang):
        alt = "|".join(sorted(scales, key=len, reverse=True))
        rules.append((re.compile(rf"(?<![\d.,])(\d+(?:[.,]\d+)?)\s+({alt})\b", re.IGNORECASE),
                      lambda m, sc=scales: _scaled(m, sc, lang)))
    return tuple(rules)


def _scaled(m: re.Match, scales: dict, lang: str) -> str:
    num = m.group(1)
    if lang not in DECIMAL_COMMA and "," in num:
        num = num.replace(",", "")           # "1,200 million": a grouped number
    elif lang in DECIMAL_COMMA and "." in num and re.fullmatch(r"\d{1,3}\.\d{3}", num):
        num = num.replace(".", "")
    return _times(num, 10 ** scales[m.group(2).lower()])


def rewrite(s: str, lang: str, roman: bool = True) -> str:
    """`s` (NFKC, case kept) with its numbers written one way (module docstring)."""
    s = _rewrite(s, lang, roman)
    return s.replace("\x00", "百分之").replace("\x01", "千分之") if "\x00" in s or "\x01" in s else s


def _rewrite(s: str, lang: str, roman: bool) -> str:
    s = _ascii_digits(s).replace("\u2212", "-").replace("٫", ".").replace("٬", ",").replace("٪", "%").replace("؉", "‰")
    if lang in ("zh", "ja", "ko"):
        s = s.replace("百分之", "\x00").replace("千分之", "\x01")
        s = _cjk_numerals(s)
        s = _DIGIT_BIG.sub(lambda m: _times(m.group(1), _CJK_BIG[m.group(2)]), s)
        if lang == "ko":
            s = _KO_DIGIT_BIG.sub(lambda m: _times(m.group(1) or m.group(3), _KO_BIG[m.group(2) or m.group(4)]), s)
    if not any(c.isdigit() for c in s):
        if roman and lang in ROMAN_LANGS:
            s = _roman(s)
        return s
    s = _SPACE_GROUPS.sub(lambda m: m.group(1) + re.sub(r"\s", "", m.group(2)), s)
    for pat, repl in _word_rules(lang):
        s = pat.sub(repl, s)
    if roman and lang in ROMAN_LANGS:
        s = _roman(s)
    return s


_NUMBER_TOKEN = re.compile(r"-?\d+(?:[.,'’/]\d+)*")
_GROUPED = re.compile(r"-?(?!0[.,'’])\d{1,3}([.,'’])\d{3}(?:\1\d{3})*")


def _decimal(whole: str, frac: str, lang: str) -> str:
    """A decimal with the language's own mark: "0,5" in French, "0.5" in English (so that
    reading it again gives the same number)."""
    frac = frac.rstrip("0")
    return f"{whole}{',' if lang in DECIMAL_COMMA else '.'}{frac}" if frac else whole


@functools.lru_cache(maxsize=8192)
def canonical(tok: str, lang: str) -> tuple[str, ...]:
    """A token that is a number, written one way: integers without separators, decimals with
    ".", fractions "a/b", a date as its parts ("9.11.1989" is 9, 11, 1989: each its own token).
    Other tokens come back as they are."""
    if not _NUMBER_TOKEN.fullmatch(tok) or tok.isdigit():
        return (tok,)
    if "/" in tok:
        parts = tok.split("/")
        if len(parts) == 2 and not any(c in tok for c in ".,"):
            return (tok,)
        if len(parts) == 3:
            return tuple(str(int(p)) if p.isdigit() else p for p in parts)
        return (tok,)
    parts = re.split(r"[.,'’]", tok)
    seps = re.findall(r"[.,'’]", tok)
    if len(parts) == 3 and len(set(seps)) == 1 and seps[0] in ".-" and (len(parts[2]) == 4 or len(parts[0]) == 4) \
            and all(p.isdigit() for p in parts) and not _GROUPED.fullmatch(tok):
        return tuple(str(int(p)) for p in parts)          # a date: 9.11.1989
    group_seps = ".'’ " if lang in DECIMAL_COMMA else ",'’"
    dec_sep = "," if lang in DECIMAL_COMMA else "."
    if m := _GROUPED.fullmatch(tok):
        sep = m.group(1)
        if sep in group_seps or len(seps) > 1:
            return (re.sub(r"[.,'’]", "", tok),)
    if len(set(seps)) == 2 and seps[-1] != seps[0]:            # 1.234,5 / 1,234.5
        last = seps[-1]
        whole, frac = tok.rsplit(last, 1)
        return (_decimal(re.sub(r"[.,'’]", "", whole), frac, lang),)
    if len(seps) == 1 and seps[0] in ".,":
        whole, frac = parts
        if seps[0] == dec_sep or seps[0] in ".,":
            return (_decimal(whole, frac, lang),)
    return (tok,)
