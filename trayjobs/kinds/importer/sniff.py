"""Working out what a file is from its first bytes: format, encoding, CSV dialect.

Every guess can be overridden by a job setting; what was guessed is logged.
Files that are not data at all (binary, markup, running text) are refused
here, before anything touches the database.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from .problems import FileProblem

__all__ = ["Encoding", "CsvDialect", "detect_encoding", "guess_legacy", "words_beyond_ascii",
           "check_binary",
           "detect_format", "sniff_dialect", "is_sep_line", "HEAD_BYTES", "MARKUP"]

#: How much of a file the guesses look at.
HEAD_BYTES = 256 * 1024

_BY_EXTENSION = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json",
                 ".ndjson": "ndjson", ".jsonl": "ndjson", ".jsonlines": "ndjson"}
_BOMS = [(codecs.BOM_UTF32_LE, "utf-32", "UTF-32 (BOM)"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 (BOM)"),
         (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (BOM)"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE (BOM)"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE (BOM)")]
# Single-byte code pages a desktop export plausibly uses; cp1252 first.
_LEGACY = ["cp1252", "latin_1", "iso8859_15", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257",
           "koi8_r", "mac_roman", "cp850", "iso8859_2", "cp866", "iso8859_5"]
#: Bytes 0x80-0x9F: control characters in ISO 8859 text, letters in the Windows pages.
_C1 = re.compile(b"[\x80-\x9f]")
_MAGIC = [(b"PK\x03\x04", "a ZIP archive (a spreadsheet? name it .xlsx or .ods, or set "
                          "format = \"xlsx\" or \"ods\")"),
          (b"\xd0\xcf\x11\xe0", "an Office document (a spreadsheet? name it .xls, or set "
                                "format = \"xls\")"),
          (b"%PDF-", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"GIF8", "a GIF image"), (b"SQLite format 3\x00", "an SQLite database"),
          (b"\x7fELF", "a program")]
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\udc00-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")
_CANDIDATES = (",", "\t", ";", "|")
# Excel reads a first line "sep=;" as the delimiter to use, and writes one when asked to.
_SEP_LINE = re.compile(r"sep=([^\r\n\"])(?:\r\n|\n|\r)", re.I)
_INSIDE_WORD = re.compile("(?<=[^\\W\\d_])[^\x00-\x7f\u2018\u2019](?=[^\\W\\d_])")
_WORD = re.compile(r"[^\W\d_]+")
# Cyrillic and Greek letters, which a word of Latin letters does not hold.
_NON_LATIN = re.compile("[\u0370-\u03ff\u0400-\u04ff]")
# East Asian code pages, the most used first: Japanese (Shift JIS as Windows has it),
# Chinese (GBK's superset), Traditional Chinese, Korean, Japanese on Unix.
_EAST_ASIAN = ("cp932", "gb18030", "big5", "cp949", "euc_jp")
# Half-width katakana (U+FF61-FF9F) and Hangul count: Japanese banks and payrolls write
# names in them ("ﾔﾏﾀﾞ ﾀﾛｳ"), one byte each in Shift JIS.
_WIDE_CLASS = ("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
               "\uff01-\uffdc\uffe0-\uffe6]")
_WIDE_RUN = re.compile(_WIDE_CLASS + "+")
# cp1252's typography: plain text in curly quotes, a euro sign beside a number. The same
# bytes read as Mac Roman are letters ("“quoted” €5" is "ìquotedî Ä5").
_TYPOGRAPHY = re.compile("[\u201c\u201e][\x20-\x7e]{1,80}?[\u201d\u201c]|\u2018[\x20-\x7e]{1,80}?\u2019"
                         "|\u20ac ?[0-9]|[0-9] ?\u20ac")


# Words, for telling cp1250 from cp1252: runs of letters and other characters beyond ASCII
# (a cp1252 reading of Polish has symbols inside words: "W¹sik", "£ódŸ").
_TOKEN = re.compile("[^\\s\x00-\x40\x5b-\x60\x7b-\x7f\xa0\xab\xbb\u2010-\u206f]+")
# Italian writes its accents on a word's last letter only (città, più, perché).
_ITALIAN = "àèéìíîòóùú"
# The letters beyond ASCII of the languages each code page is written in, one a string:
# German, French, Spanish, Portuguese, Italian, Dutch, Danish and Norwegian, Swedish,
# Finnish, Icelandic, Catalan; German, Polish, Czech, Slovak, Hungarian, Slovenian,
# Croatian, Romanian.
_ALPHABETS = {
    "cp1252": ("äöüß", "àâæçéèêëîïôœùûüÿ", "áéíóúñü", "áâãàçéêíóôõú", _ITALIAN,
               "áéíóúàèëïöü", "æøåéó", "åäöé", "åäöšž", "áðéíóúýþæö", "àçèéíïòóúü"),
    "cp1250": ("äöüß", "ąćęłńóśźż", "áčďéěíňóřšťúůýž", "áäčďéíĺľňóôŕšťúýž", "áéíóöőúüű",
               "čšž", "čćđšž", "ăâîşţ"),
    # Turkish (its "İ" lowers to "i" and a combining dot), and the Western languages;
    # Lithuanian, Latvian, Estonian.
    "cp1254": ("çğıöşüâîû\u0307", "äöüß", "àâæçéèêëîïôœùûüÿ", "áéíóúñü", "áâãàçéêíóôõú",
               _ITALIAN),
    "cp1257": ("ąčęėįšųūž", "āčēģīķļņšūž", "äõöüšž", "äöüß", "æøåéó", "åäöé"),
}


@dataclass(frozen=True)
class Encoding:
    codec: str  # name for TextIOWrapper
    label: str  # what the log says
    ascii_start: bool = False  # guessed as UTF-8 from a start with no byte above 127
    #: A legacy code page told from the text alone: a guess, which the run says it made.
    guessed: bool = False
    examples: tuple[str, ...] = ()  # words beyond ASCII as the guess reads them

    def guess_warning(self) -> str | None:
        """What the run says of a guessed code page: one byte is a letter in every one of
        them, so a wrong guess reads without an error ("ŁódĽ" for "Łódź"), and only a
        person who knows the words can tell."""
        if not self.guessed:
            return None
        shown = f" ({', '.join(self.examples)})" if self.examples else ""
        other = "cp1250" if self.codec == "cp1252" else "cp1252"
        return (f"not UTF-8: the text was read as {self.codec}, a guess{shown}; if letters "
                f"look wrong, set the job's encoding to the file's code page (encoding = "
                f"\"{other}\", say), or encoding = \"{self.codec}\" if they are right")


def is_sep_line(line: str) -> bool:
    """Whether ``line`` (with its line break) is Excel's "sep=;" line."""
    return _SEP_LINE.fullmatch(line) is not None


def _broken_words(text: str) -> int:
    """Non-ASCII characters other than letters between two letters ("M¸ller", "Kˆln"; a
    modifier such as "ˆ" is no letter here): a sign of the wrong code page, as real words
    rarely hold one (typographic apostrophes aside)."""
    return sum(1 for m in _INSIDE_WORD.finditer(text)
               if not m.group().isalpha() or unicodedata.category(m.group()) == "Lm")


def _unlatin(text: str) -> bool:
    """Whether the words with letters beyond ASCII are mostly words of three or more such
    letters and no other: no Western language writes so, a Latin reading of Cyrillic does."""
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    foreign = sum(1 for w in words if len(w) >= 3 and not any(c.isascii() for c in w))
    return foreign > len(words) - foreign


def _mixed_scripts(text: str) -> bool:
    """Whether most words with letters beyond ASCII mix Latin letters with Cyrillic or Greek
    ones: no one writes so, a Cyrillic reading of Polish does ("Łódź" as cp1251 is "Јуdџ")."""
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    mixed = sum(1 for w in words if _NON_LATIN.search(w)
                and any(c.isascii() and c.isalpha() for c in w))
    return mixed * 2 > len(words)


def _typography(text: str) -> int:
    """Curly quotes around plain text and euro signs beside numbers: how cp1252 text
    reads, where another code page's reading of the same bytes has letters."""
    return len(_TYPOGRAPHY.findall(text))


def _misfits(text: str, codec: str) -> tuple[int, int]:
    """How badly ``text`` reads as the languages ``codec`` is written in: (words no one of
    them writes, languages it takes to write all its letters beyond ASCII). A short
    sample gives a detector too little to rate; words still tell: cp1250 Czech read as
    cp1252 has "Mìsto" and "Øepa", letters of three languages, one of them misplaced."""
    alphabets = [(set(a), a is _ITALIAN) for a in _ALPHABETS[codec]]
    misfits, letters = 0, set()
    for m in _TOKEN.finditer(text):
        word = m.group()
        if word.isascii() or not any(c.isalpha() for c in word):
            continue
        own = {low for c in word if not c.isascii() for low in c.lower() if not low.isascii()}
        if not any(own <= a and (not last or word[:-1].isascii()) for a, last in alphabets):
            misfits += 1
        letters |= own
    languages = 0
    while letters:  # greedy: the language with most of the letters left, and so on
        best = max((a for a, _ in alphabets), key=lambda a: len(letters & a))
        if not letters & best:
            languages += len(letters)  # letters no language has count one each
            break
        letters -= best
        languages += 1
    return misfits, languages


def _latin2(data: bytes) -> bool:
    """Whether ``data`` reads better as ISO 8859-2 than as cp1250, the Windows page that
    moved some of its letters (ą ś ź š ž ť: "Łódź" in ISO 8859-2 reads "ŁódĽ" in cp1250). The
    same letters fill 0x80-0x9F in cp1250, where ISO 8859-2 has control characters: text
    with such a byte is not ISO 8859-2."""
    if _C1.search(data):
        return False
    try:
        windows = data.decode("cp1250")
    except UnicodeDecodeError:
        return True
    iso = data.decode("iso8859_2")
    return iso != windows and _misfits(iso, "cp1250") < _misfits(windows, "cp1250")


def _better_words(data: bytes, chosen: str, other: str) -> str:
    """``other`` if ``data`` reads as clearly better words in it than in ``chosen``."""
    try:
        ours, theirs = _misfits(data.decode(other), other), _misfits(data.decode(chosen), chosen)
    except UnicodeDecodeError:
        return chosen
    return other if ours < theirs and ours[0] < theirs[0] else chosen


def _central_european(data: bytes, western: str = "cp1252") -> str | None:
    """cp1250 or ISO 8859-2 if ``data`` reads better so (Polish, Czech, Slovak, Hungarian...)
    than as ``western`` (see :func:`_misfits`): clearly better, as Western text is the more
    common (and text of another code page, Cyrillic say, reads badly as both)."""
    codec = "iso8859_2" if _latin2(data) else "cp1250"
    try:
        west, central = data.decode(western), data.decode(codec)
    except UnicodeDecodeError:
        return None
    if west == central:
        return None
    ours, theirs = _misfits(central, "cp1250"), _misfits(west, "cp1252")
    return codec if ours < theirs and ours[0] <= theirs[0] // 2 else None


def _same_codec(a: str, b: str) -> bool:
    return codecs.lookup(a).name == codecs.lookup(b).name


def _by_latin(text: str, start: int, end: int) -> bool:
    return (start > 0 and text[start - 1].isascii() and text[start - 1].isalpha()) or (
        end < len(text) and text[end].isascii() and text[end].isalpha())


def _lines_beyond_ascii(data: bytes) -> bytes:
    """The lines of ``data`` with a byte beyond ASCII. Lines of ASCII alone (numbers, codes)
    read alike in every code page and, mixed in, make any reading's oddities look fewer:
    past 4 KB of them, Japanese read as cp1252 looked as tidy as read as cp932."""
    lines = [line for line in data.split(b"\n") if not line.isascii()]
    return b"\n".join(lines) if lines else data


def _east_asian(data: bytes) -> str | None:
    """The East Asian code page ``data`` reads as words of, or None. Western text read so
    has such characters one or two at a time within Latin words ("Crème" as cp932 is "Cr",
    a kanji, "e"); real text has runs of them, mostly apart from Latin letters, and no
    other characters beyond ASCII."""
    from charset_normalizer import from_bytes

    fits = []
    for codec in _EAST_ASIAN:
        try:  # not final: the sample may end inside a character
            text = codecs.getincrementaldecoder(codec)().decode(data, final=False)
        except UnicodeDecodeError:
            continue
        runs = [(m.end() - m.start(), _by_latin(text, m.start(), m.end()))
                for m in _WIDE_RUN.finditer(text)]
        wide = sum(n for n, _ in runs)
        others = len(_NON_ASCII.findall(text)) - wide
        if (wide >= 4 and not others and sum(n for n, _ in runs if n > 1) >= 0.8 * wide
                and sum(n for n, by in runs if by) <= 0.5 * wide):
            fits.append(codec)
    if not fits:
        return None
    # The same bytes may be kanji in one page and hanzi in another: the best-rated reading
    # wins. Cyrillic or Greek text of short words can read as such runs too, but then its
    # own code page reads nearly as well, where East Asian text is noise in any of those.
    east, single = [], []
    for m in from_bytes(_lines_beyond_ascii(data), cp_isolation=[*fits, *_LEGACY]):
        codec = next((c for c in fits if _same_codec(c, m.encoding)), None)
        if codec:
            east.append((m.chaos, -m.coherence, fits.index(codec), codec))
        else:
            single.append(m.chaos)
    if not east or (single and min(single) < min(east)[0] + 0.1):
        return None
    return min(east)[3]


def guess_legacy(data: bytes) -> str:
    """The likeliest single-byte code page for ``data``; among equally good readings the
    most common one (cp1252 before cp1250...), since short samples rarely tell them apart.
    Text in an East Asian code page (Japanese Excel's Shift JIS, say) is that page."""
    from charset_normalizer import from_bytes  # only needed for legacy files

    east = _east_asian(data[:HEAD_BYTES])
    if east:
        return east
    sample = _lines_beyond_ascii(data[:HEAD_BYTES])
    matches = list(from_bytes(sample, cp_isolation=_LEGACY)) if data else []
    if matches:
        chaos = min(m.chaos for m in matches)
        coherence = max(m.coherence for m in matches if m.chaos <= chaos + 0.01)
        fine = [m.encoding for m in matches
                if m.chaos <= chaos + 0.01 and m.coherence >= coherence - 0.01]
        name = min(fine, key=lambda e: _LEGACY.index(e) if e in _LEGACY else len(_LEGACY))
        try:
            if name != "cp1252":
                common, chosen = data.decode("cp1252"), data.decode(name)
                # charset_normalizer may rate a reading that breaks words with symbols
                # (cp1252 "Müller" read as Mac Roman is "M¸ller") above cp1252's, or one
                # that turns quotes and euro signs into letters.
                if (common == chosen or _broken_words(common) < _broken_words(chosen)
                        or _typography(common) > _typography(chosen)):
                    name = "cp1252"
        except UnicodeDecodeError:
            pass
        if name in ("cp1251", "cp1253") and _mixed_scripts(
                data[:HEAD_BYTES].decode(name, errors="replace")):
            name = "cp1252"  # Latin text, rated by too few words: which Latin page, below
        if name in ("cp1252", "latin_1", "iso8859_15"):
            name = _central_european(data[:HEAD_BYTES], name) or name
        elif name in ("cp1250", "iso8859_2"):  # rated alike: the words tell
            name = "iso8859_2" if _latin2(data[:HEAD_BYTES]) else "cp1250"
        elif name in ("cp1254", "cp1257"):  # Turkish reads as Baltic ("Żstanbul"), and back
            name = _better_words(data[:HEAD_BYTES], name,
                                 "cp1257" if name == "cp1254" else "cp1254")
        return codecs.lookup(name).name
    # No reading rated (a short sample): cp1252, unless its words are made of accented
    # letters only ("Êîä;Òîâàð"), as Cyrillic reads in it: then cp1251 ("Код;Товар").
    for name in ("cp1252", "cp1251"):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        if name != "cp1252" or not _unlatin(text):
            return (_central_european(data) or name) if name == "cp1252" else name
    return "latin-1"


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[:4096]
    half = len(sample) // 2
    if half < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if odd > 0.4 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.4 * half and odd < 0.05 * half:
        return "utf-16-be"
    if not even and not odd:
        return None
    # Cyrillic, Greek or East Asian text has few zero bytes: none in its letters, one in
    # each delimiter, digit and line break. Read so, it is line breaks and characters
    # that print, a tenth of them ASCII or more; any other reading of the bytes (UTF-8
    # with a NUL, say) has control characters or next to no ASCII.
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = codecs.getincrementaldecoder(codec)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        ascii_ = sum(1 for c in text if c < "\x80")
        if ("\n" in text or "\r" in text) and not _CONTROL.search(text) \
                and ascii_ >= 0.1 * len(text) and "\x00" not in text:
            return codec
    return None


def detect_encoding(head: bytes, *, complete: bool, explicit: str = "auto") -> Encoding:
    if explicit != "auto":
        name = codecs.lookup(explicit).name
        if name == "utf-8" and head.startswith(codecs.BOM_UTF8):
            return Encoding("utf-8-sig", "UTF-8 (BOM, as set)")
        return Encoding(name, f"{name} (as set)")
    for bom, codec, label in _BOMS:
        if head.startswith(bom):
            return Encoding(codec, label)
    wide = _utf16_without_bom(head)
    if wide:
        return Encoding(wide, f"{wide.upper()} (no BOM)")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return Encoding("utf-8", "UTF-8", ascii_start=head.isascii() and not complete)
    except UnicodeDecodeError:
        pass
    # A few damaged bytes among many good multi-byte characters are damaged rows of a
    # UTF-8 file; a legacy code page almost never forms valid UTF-8 sequences.
    text = head.decode("utf-8", "replace")
    good = len(_NON_ASCII.findall(text))
    bad = text.count("\ufffd") - text.count("\ufffd\ufffd")
    if good > 2 * max(bad, 1):
        return Encoding("utf-8", "UTF-8 (with undecodable bytes)")
    legacy = guess_legacy(head)
    return Encoding(legacy, f"{legacy} (detected)", guessed=True,
                    examples=words_beyond_ascii(head.decode(legacy, "replace")))


def words_beyond_ascii(text: str, *, limit: int = 3) -> tuple[str, ...]:
    """The first few distinct words of ``text`` with characters beyond ASCII, quoted."""
    found: dict[str, None] = {}
    for m in _TOKEN.finditer(text):
        word = m.group()
        if not word.isascii() and len(word) <= 40:
            found.setdefault(repr(word))
            if len(found) >= limit:
                break
    return tuple(found)


def check_binary(head: bytes, text: str) -> None:
    """Refuse files that are not text: known magic numbers, or many control characters."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise FileProblem(f"this is binary data, not text: it looks like {what}", offset=0)
    controls = _CONTROL.findall(text[:65536])
    if len(controls) >= 4 and len(controls) > 0.05 * min(len(text), 65536):
        first = _CONTROL.search(text)
        offset = len(text[:first.start()].encode("utf-8", "surrogateescape")) if first else 0
        sample = text[:65536]
        text_part = sample.rstrip("\0")
        if len(text_part) < len(sample) and not _CONTROL.search(text_part):
            # Text, then zeros to the end of the sample: no binary file, but one cut short.
            raise FileProblem(f"the text ends here and NUL bytes follow "
                              f"({len(sample) - len(text_part):,} in the first 64 KB), as in a "
                              f"file cut short by a crash or an interrupted copy: copy or "
                              f"export the file again, or cut the NUL bytes off its end",
                              offset=offset)
        raise FileProblem(f"this is binary data, not text ({len(controls):,} control "
                          f"characters in the first {min(len(text), 65536):,})", offset=offset)


def _looks_ndjson(text: str) -> bool:
    first, _, rest = text.lstrip().partition("\n")
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and rest.lstrip().startswith("{")


def _objects_in_turn(text: str) -> bool:
    """Objects one after another, each over several lines (``jq '.[]'`` without -c): no
    JSON Lines, but records the JSON reader takes one at a time."""
    start = text.lstrip()
    try:
        value, end = json.JSONDecoder().raw_decode(start)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "\n" in start[:end] and start[end:].lstrip()[:1] == "{"


def detect_format(path: Path, text: str, explicit: str = "auto") -> str:
    if explicit != "auto":
        return explicit
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    by_name = _BY_EXTENSION.get(suffixes[-1]) if suffixes else None
    start = text.lstrip()[:1]
    if by_name == "json" and start == "{" and _looks_ndjson(text):
        return "ndjson"
    if by_name == "ndjson" and (start == "[" or start == "{" and _objects_in_turn(text)):
        # A JSON array under a JSON Lines name: read line by line, its first line "[" and
        # its records' commas would set every record but the last aside; and objects over
        # several lines each would fail the file at its first line, "{".
        return "json"
    if by_name:
        return by_name
    if start == "[":
        return "json"
    if start == "{":
        return "ndjson" if _looks_ndjson(text) else "json"
    return "csv"


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quotechar: str | None  # None: no quoting at all
    fields: int  # the usual number of fields per row
    sep_line: bool = False  # the file starts with Excel's "sep=;" line, which is no record
    #: Fields start after blanks (``1, "Smith, John", 5``): spaces before a field are
    #: passed over, so that its quote quotes it (the csv module's skipinitialspace).
    blank_start: bool = False

    def reader_args(self) -> dict:
        if self.quotechar:
            return {"delimiter": self.delimiter, "quotechar": self.quotechar,
                    "doublequote": True, "strict": False,
                    "skipinitialspace": self.blank_start}
        return {"delimiter": self.delimiter, "quoting": csv.QUOTE_NONE}

    def describe(self) -> str:
        names = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
        quote = f"quote {self.quotechar}" if self.quotechar else "no quoting"
        sep = " (named by its sep= line)" if self.sep_line else ""
        blank = ", blanks before a field passed over" if self.blank_start else ""
        return (f"{names.get(self.delimiter, repr(self.delimiter))}-separated{sep}, "
                f"{quote}{blank}")


#: Why a text file that starts with "<" is no table (see :func:`.plan.plan_file`).
MARKUP = "this is not a table: it looks like HTML or XML"


def _blank_start(text: str, complete: bool, dialect: CsvDialect,
                 counts: list[int]) -> CsvDialect | None:
    """The dialect reading fields after blanks, if the file writes a blank after each
    delimiter and quotes after it (``id, name`` / ``1, "Smith, John"``, as people and
    some programs write): read as the csv module does by default, such a quote is text
    and the delimiter inside it splits the field, and every row had too many fields."""
    quote = dialect.quotechar
    if not quote or not re.search(re.escape(dialect.delimiter) + " +" + re.escape(quote), text):
        return None
    blank = replace(dialect, blank_start=True)
    again = [len(r) for r in _records(text, complete, blank.reader_args())]
    if not again:
        return None
    # Rows that match the header line, as read each way.
    if sum(n == again[0] for n in again) <= sum(n == counts[0] for n in counts):
        return None
    return replace(blank, fields=Counter(again).most_common(1)[0][0])


def _records(text: str, complete: bool, args: dict) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in itertools.islice(csv.reader(io.StringIO(text, newline=""), **args), 200):
            rows.append(row)
    except csv.Error:
        complete = False  # e.g. a quote never closed: judge by the rows before it
    if not complete and len(rows) > 1:
        rows.pop()  # probably cut short by the end of the sample
    return [r for r in rows if r]


def _reads_like_prose(records: list[list[str]]) -> bool:
    """Sentences, not a table: a "header" that is a sentence, and wordy fields throughout."""
    if not records:
        return False
    fields = [f for r in records[:50] for f in r]
    wordy = sum(1 for f in fields if f.count(" ") >= 4)
    header_is_sentence = any(len(f) > 60 or f.count(" ") >= 6 for f in records[0])
    return header_is_sentence and wordy >= 0.5 * len(fields)


def _quote_of(text: str, delimiter: str) -> str:
    d = re.escape(delimiter)
    double = len(re.findall(rf'(?:^|{d})"', text, re.M))
    single_open = len(re.findall(rf"(?:^|{d})'", text, re.M))
    single_close = len(re.findall(rf"'(?:{d}|\r?$)", text, re.M))
    return "'" if double == 0 and min(single_open, single_close) >= 2 else '"'


def sniff_dialect(text: str, *, complete: bool, tsv: bool = False, delimiter: str | None = None,
                  quotechar: str | None = None) -> CsvDialect:
    """Delimiter and quoting of a CSV/TSV sample; a :class:`FileProblem` if it is not a table."""
    sep_line = _SEP_LINE.match(text)
    if sep_line:
        text = text[sep_line.end():]
        delimiter = delimiter or sep_line.group(1)
    fixed = delimiter or ("\t" if tsv else None)
    if quotechar and quotechar == fixed:  # a .tsv file read with quotechar = "\t"
        raise FileProblem(f"quotechar {quotechar!r} is the file's delimiter; set another "
                          f"quotechar for the job, or \"\" for none")
    # a tab that separates fields is not blank: "\t" alone is a header of two empty names
    if not (text.replace(fixed, "x") if fixed and fixed.isspace() else text).strip():
        raise FileProblem("the file holds no data, only blank lines or spaces")
    if text.lstrip()[:1] == "<" and delimiter is None:
        raise FileProblem(MARKUP, line=1)
    scored = []
    for order, cand in enumerate([fixed] if fixed else _CANDIDATES):
        if cand == quotechar:
            continue  # the job's quote character separates no fields
        quote = quotechar if quotechar is not None else _quote_of(text, cand)
        dialect = CsvDialect(cand, quote or None, 0)
        counts = [len(r) for r in _records(text, complete, dialect.reader_args())]
        if not counts:
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        scored.append(((mode > 1, freq / len(counts), -order), CsvDialect(cand, quote or None, mode),
                       counts))
    if not scored:
        raise FileProblem("the file holds no data, only blank lines or spaces")
    (wide, consistency, _), dialect, counts = max(scored, key=lambda s: s[0])
    if (not wide and fixed is None and quotechar in _CANDIDATES
            and quotechar in text.lstrip().partition("\n")[0]):
        raise FileProblem(f"quotechar {quotechar!r} is the file's delimiter, it seems: no "
                          f"other one splits its lines; set another quotechar for the job, "
                          f"or \"\" for none", line=1)
    if not wide and fixed is None:
        # One column whatever the delimiter: a stray ',' in a row is then more likely a
        # row with too many fields than a sign of another delimiter.
        dialect, counts = next(((d, c) for _, d, c in scored if d.delimiter == ","),
                               (dialect, counts))
    dialect = _blank_start(text, complete, dialect, counts) or dialect
    if wide and consistency < 0.5 and len(counts) >= 4:
        raise FileProblem(
            f"this does not look like a table: only {consistency:.0%} of the first "
            f"{len(counts)} rows have the usual {dialect.fields} fields; if it is one, set "
            f"delimiter (and quotechar) for the job", line=1)
    if fixed is None and _reads_like_prose(_records(text, complete, dialect.reader_args())):
        raise FileProblem("this does not look like a table: the lines read like running text; "
                          "if it is one, set delimiter for the job", line=1)
    return replace(dialect, sep_line=True) if sep_line else dialect
