"""Redaction: mask credentials in every string that leaves the process.

Choice: our own rule table, not a kept scanner library. Scanners (detect-secrets, gitleaks) answer
"does this file contain a secret?" with per-line verdicts, entropy plugins and allowlists tuned for
source trees; we need a fast, idempotent *substitution* over log excerpts, ids and titles. So each
rule here is one compiled regex plus cheap lowercase substring hints: ``mask`` lowercases the text
once, runs only the rules whose hints occur (typically zero or one per excerpt), and replaces just
the secret span, keeping the key (``password=``) so the excerpt stays readable.

Conventions:
  * URL userinfo of any scheme is dropped (``scheme://user:pass@host`` -> ``scheme://host``), also
    for URLs that ``urllib`` would reject, following the aiops ``MaskCloneURL`` convention.
  * Known token shapes become ``[redacted-token]``, private-key blocks ``[redacted-private-key]``,
    key/value secrets ``[redacted]``. No rule matches a marker, so ``mask`` is idempotent.
  * Placeholders (``xxxx…``, ``${VAR}``, ``<token>``) are left alone: they are not secrets.
Multi-line PEM blocks in line streams are handled by ``PemTracker`` and ``mask_lines``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import re2

TOKEN_MARK = "[redacted-token]"
KEY_MARK = "[redacted-private-key]"
VALUE_MARK = "[redacted]"
_QUOTES = "\"'`"

Check = Callable[[str], bool]


_PLACEHOLDER_PREFIXES = ("os.", "process.env", "env.", "secrets.", "var.", "local.", "module.", "data.")
_PLACEHOLDER_WORDS = frozenset({"password", "passwd", "token", "secret", "pass", "changeme", "username", "redacted"})
_REPEAT_RE = re.compile(r"(.)\1{7,}")


def _is_placeholder(value: str) -> bool:
    """True for values that are obviously not real secrets: templates, env refs, filler characters."""
    body = value.strip(_QUOTES + " ")
    if not body or body[0] in "$%<{[(*#" or body.startswith(_PLACEHOLDER_PREFIXES):
        return True
    lowered = body.lower()
    if lowered in _PLACEHOLDER_WORDS or "xxxxxx" in lowered or "example" in lowered:
        return True
    repeat = _REPEAT_RE.search(body)
    return len(set(lowered)) <= 3 or _is_env_name(body) or (repeat is not None and 2 * len(repeat[0]) >= len(body))


def _is_env_name(body: str) -> bool:
    """`ACCESS_TOKEN` as a value is a variable name standing in for the secret."""
    return body.isupper() and "_" in body and body.replace("_", "").isalpha()


def _curl_password(value: str) -> bool:
    """`user:password` (or a lone `user:` token): mask unless the secret half is a placeholder."""
    user, password = (part.strip(_QUOTES) for part in value.split(":", 1))
    secret = password or user
    return len(secret) >= 3 and not _is_placeholder(value) and not _is_placeholder(secret) and ":" not in password


def _long_enough(value: str) -> bool:
    return len(value.strip(_QUOTES)) >= 3 and not _is_placeholder(value)


@dataclass(frozen=True, slots=True)
class Rule:
    """One secret shape: ``pattern`` matches it; group ``k`` (if any) is context kept verbatim."""

    name: str
    pattern: re.Pattern[str]
    hints: tuple[str, ...]
    marker: str = TOKEN_MARK
    accept: Check = field(default=lambda value: not _is_placeholder(value))
    # Lines that can hold a match are exactly those where this lowercase regex matches: long texts are then
    # scanned only there (a key=value pattern trying every word of a 64 KiB body costs ~1 ms).
    line_hint: re.Pattern[str] | None = None
    # Hints tested on the text as it is, for case-sensitive patterns whose lowercase hint is in common words.
    exact_hints: tuple[str, ...] = ()

    def substitute(self, text: str) -> str:
        if self.line_hint is not None and len(lowered := text.lower()) == len(text):  # İ lowers to two chars
            return self._substitute_hint_lines(text, lowered, self.line_hint)
        return self.pattern.sub(self._replace, text)

    def _substitute_hint_lines(self, text: str, lowered: str, line_hint: re.Pattern[str]) -> str:
        pieces: list[str] = []
        done = 0
        for hit in line_hint.finditer(lowered):
            if hit.start() < done:
                continue  # a second hint on a line already substituted
            start = text.rfind("\n", 0, hit.start()) + 1
            end = text.find("\n", hit.end())
            end = len(text) if end < 0 else end
            pieces += (text[done:start], self.pattern.sub(self._replace, text[start:end]))
            done = end
        return "".join(pieces) + text[done:] if pieces else text

    def _replace(self, match: re.Match[str]) -> str:
        keep = match.group("k") if "k" in self.pattern.groupindex else ""
        value = match.group(0)[len(keep) :]
        if not self.accept(value) or "public" in keep.lower():
            return match.group(0)
        quote = value[0] if len(value) > 1 and value[0] in _QUOTES and value[-1] == value[0] else ""
        return f"{keep}{quote}{self.marker}{quote}"


def _always(value: str) -> bool:
    """The prefixed token formats the issue names are masked even when they look like filler: CI plants those."""
    return True


def _rule(
    name: str,
    pattern: str,
    hints: Iterable[str],
    marker: str = TOKEN_MARK,
    accept: Check | None = None,
    *,
    line_hint: str | None = None,
    exact_hints: Iterable[str] = (),
) -> Rule:
    compiled = re.compile(pattern, re.IGNORECASE if marker == VALUE_MARK else 0)
    checked = accept or (lambda value: not _is_placeholder(value))
    lines = re.compile(line_hint) if line_hint else None
    return Rule(name, compiled, tuple(hints), marker, checked, lines, tuple(exact_hints))


_PEM_BEGIN_RE = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END_RE = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_B64_LINE_RE = re.compile(r"^\s*(?:[A-Za-z0-9+/=]{16,}|=[A-Za-z0-9+/]{4}|[A-Za-z-]+: .*|)\s*$")

# Generic key names whose value is a secret: ends with one of these words (so `max_tokens` is not one).
_SECRET_KEY = (
    r"[\w.-]*?(?:password|passwd|passphrase|pwd|secret|token|credentials?|api[_.-]?key|apikey|"
    r"access[_.-]?key(?:[_.-]?id)?|secret[_.-]?key|private[_.-]?key|account[_.-]?key|auth[_.-]?key|"
    r"client[_.-]?secret|[_.-]key|sharedaccesskey|signature)"
)
_SECRET_KEY_WORDS = ("pass", "pwd", "secret", "token", "credential", "key", "signature")
# Every secret key name is one of these words plus word characters: a line holding no such word directly
# before a separator cannot match the key rules (their patterns never span lines).
_KEY_WORD_HINT = "(?:" + "|".join(_SECRET_KEY_WORDS) + r")[\w.-]*"
_VALUE = r"(?:\"[^\"\n]*\"|'[^'\n]*'|`[^`\n]*`|[^\s\"'`,;<>{}()\[\]]+)"
_SEP = r"[\"']?[ \t]*(?:=>|::=|:=|=|:(?=[\s\"'])|(?<=[\"']):)[ \t]*"

_TOKEN_BODY = r"[A-Za-z0-9_-]"
# Distinctive prefixes also match when glued to an identifier by `_` (`run_ghp_…`), unlike `\b`.
_GLUED = r"(?<![A-Za-z0-9])"
_RULES: tuple[Rule, ...] = (
    _rule(
        "private-key-block",
        _PEM_BEGIN_RE.pattern + r"[\s\S]*?(?:" + _PEM_END_RE.pattern + r"|\Z)",
        ["private key"],
        KEY_MARK,
        lambda value: True,
    ),
    _rule(
        "private-key-tail",
        r"(?m)(?:^[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*\r?\n)+[ \t]*" + _PEM_END_RE.pattern,
        ["private key"],
        KEY_MARK,
        lambda value: True,
    ),
    _rule("url-userinfo", r"(?P<k>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#\"'<>\\`]*@", ["://"], "", lambda v: True),
    _rule(
        "github",
        _GLUED + r"(?:gh[opurs]_[A-Za-z0-9_]{20,}|github_pat_[A-Za-z0-9_]{20,})",
        ["gho_", "ghp_", "ghr_", "ghs_", "ghu_", "github_pat_"],  # not "gh": issue keys (GH-12) are everywhere
        accept=_always,
    ),
    _rule("gitlab", r"\bgl(?:pat|ptt|rt|dt|soat|cbt|imt|ft|agent|oas)-[A-Za-z0-9_.-]{20,}", ["gl"], accept=_always),
    _rule(
        "slack",
        r"\bxox(?:e\.xox[a-z])?[abcdeprs]?-[A-Za-z0-9-]{8,}|\bxoxo-\d+-[0-9a-f-]{8,}|\bxapp-\d-[A-Za-z0-9-]{10,}",
        ["xox", "xapp-"],
        accept=_always,
    ),
    _rule("slack-webhook", r"(?P<k>hooks\.slack\.com/(?:services|workflows)/)[A-Za-z0-9/_-]{20,}", ["hooks.slack"]),
    _rule("discord-webhook", r"(?P<k>discord(?:app)?\.com/api/webhooks/\d+/)[A-Za-z0-9_-]{30,}", ["discord"]),
    _rule("openai-anthropic", r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", ["sk-"], accept=_always),
    _rule("linear", r"\blin_(?:api|oauth)_[A-Za-z0-9_]{8,}", ["lin_"], accept=_always),
    _rule("stripe", r"\b[rs]k_(?:live|test|prod)_[A-Za-z0-9]{16,}", ["k_live_", "k_test_", "k_prod_"]),
    _rule(
        "aws-access-key-id",
        _GLUED + r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])",
        ["akia", "asia", "abia", "acca", "a3t"],
    ),
    _rule(
        "aws-bedrock",
        r"\bABSK[A-Za-z0-9+/]{100,}=*|\bbedrock-api-key-[A-Za-z0-9+/=]{20,}",
        ["absk", "bedrock-api-key-"],
    ),
    _rule("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", ["aiza"]),
    _rule("google-oauth", r"\bya29\.[0-9A-Za-z_-]{20,}", ["ya29."]),
    _rule("azure-ad-client-secret", r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}", ["q~"]),
    _rule(
        "jwt",
        _GLUED + r"ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_/\\-]{10,}\.(?:[A-Za-z0-9_/\\-]{8,}={0,2})?",
        ["ey"],
    ),
    _rule("npm", r"\bnpm_[A-Za-z0-9]{36}\b", ["npm_"]),
    _rule("pypi", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", ["pypi-"]),
    _rule(
        "npmrc-auth",
        r"(?P<k>:_(?:authToken|auth|password)\s*=\s*)[^\s\"']+",
        [":_auth", ":_password"],
        VALUE_MARK,
        lambda value: not value.startswith("$"),
    ),
    _rule("telegram-bot", r"\b\d{8,10}:AA[0-9A-Za-z_-]{32,33}\b", [":aa"]),
    _rule("gitlab-runner-registration", r"\bGR1348941[A-Za-z0-9_-]{20,}", ["gr1348941"]),
    _rule("twilio", r"\b(?:SK|AC)[a-f0-9]{32}\b", [], exact_hints=["SK", "AC"]),  # "sk" is in every `task_id`
    _rule("artifactory", r"\b(?:AKCp[A-Za-z0-9]{69}|cmVmd[A-Za-z0-9]{59})\b", ["akcp", "cmvmd"]),
    _rule("discord-bot", r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}\b", ["."]),
    _rule("huggingface", r"\b(?:hf_[A-Za-z]{30,40}|api_org_[A-Za-z]{30,40})\b", ["hf_", "api_org_"]),
    _rule(
        "prefixed-service-token",
        r"(?<![\w.-])(?:ops_eyJ[A-Za-z0-9+/=_-]{40,}|ATATT3[A-Za-z0-9_=-]{30,}|HRKU-[A-Za-z0-9_-]{30,}|pplx-[A-Za-z0-9]{32,}|"
        r"fo1_[A-Za-z0-9_-]{30,}|FlyV1 fm\d_[A-Za-z0-9+/=_,-]{20,}|ntn_\d{11}[A-Za-z0-9]{32,}|"
        r"sgp_(?:local_)?[A-Fa-f0-9_]{40,}|"
        r"glc_[A-Za-z0-9+/=]{30,}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|sntrys_eyJ[A-Za-z0-9+/=_]{30,}|"
        r"AGE-SECRET-KEY-1[A-Z0-9]{50,}|hv[sb]\.[A-Za-z0-9_-]{24,}|dapi[a-f0-9]{32}(?:-\d)?|"
        r"sq0(?:atp|csp)-[A-Za-z0-9_-]{20,}|EAA[A-Za-z0-9]{60,}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|"
        r"dop_v1_[a-f0-9]{64}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|sha256~[A-Za-z0-9_-]{40,}|"
        r"s-s4t2(?:ud|af)-[a-f0-9]{64}|v1\.0-[a-f0-9]{24}-[a-f0-9]{140,}|API-[A-Z0-9]{26}|ico-[A-Za-z0-9]{32}|"
        r"tk-us-[A-Za-z0-9_-]{48}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}|pnu_[A-Za-z0-9]{36}|"
        r"rdme_[a-z0-9]{70}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|[a-f0-9]{32}-us\d{1,2})\b",
        [
            "ops_",
            "atatt3",
            "hrku-",
            "pplx-",
            "fo1_",
            "flyv1",
            "ntn_",
            "sgp_",
            "glc_",
            "glsa_",
            "sntrys_",
            "age-secret-key",
            "hvs.",
            "hvb.",
            "dapi",
            "sq0",
            "eaa",
            "shp",
            "dop_v1_",
            "sg.",
            "sha256~",
            "s-s4t2",
            "v1.0-",
            "api-",
            "ico-",
            "tk-us-",
            "atlasv1",
            "pnu_",
            "rdme_",
            "xkeysib-",
            "-us",
        ],
    ),
    _rule(
        "authorization-header",
        r"(?P<k>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest|bot|negotiate|"
        r"apikey|sso-key)\s+)?)[^\s\"',;]+",
        ["authorization"],
        VALUE_MARK,
        _long_enough,
    ),
    _rule(
        "bearer",
        r"(?P<k>\bbearer\s+)(?=[A-Za-z0-9._~+/=-]{8,})(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]+",
        ["bearer"],
        VALUE_MARK,
    ),
    _rule(
        "curl-user",
        r"(?P<k>\bcurl\b(?:[^\n]|\\\n)*?\s(?:-u|--user)\s*[\"']?)[^\s\"':]*:[\"']?[^\s\"']*",
        ["curl"],
        VALUE_MARK,
        _curl_password,
    ),
    _rule(
        "config-add-key",
        r"(?P<k><add\s+key=[\"'][^\"']*(?:password|secret|token|apikey)[^\"']*[\"']\s+value=[\"'])[^\"']{3,}",
        ["<add"],
        VALUE_MARK,
    ),
    _rule(
        # Every secret key name holds one of these words, so they are exact hints (a bare `-` is in every line).
        "cli-flag",
        r"(?P<k>(?<![\w-])--?" + _SECRET_KEY + r"(?:=|[ \t]+))" + _VALUE,
        _SECRET_KEY_WORDS,
        VALUE_MARK,
        _long_enough,
        line_hint=_KEY_WORD_HINT + r"(?:=|[ \t])",
    ),
    _rule(
        "key-value",
        r"(?P<k>(?<![\w.-])[\"']?" + _SECRET_KEY + _SEP + r")" + _VALUE,
        _SECRET_KEY_WORDS,
        VALUE_MARK,
        _long_enough,
        line_hint=_KEY_WORD_HINT + r"[\"']?[ \t]*[=:]",
    ),
)


# Hints of one character (`-`, `.`) occur in nearly every id, so they stay out of the prefilter: text with
# none of the other hints can only meet rules with a common hint, which run as ``mask`` would run them.
_COMMON_HINTS = frozenset(hint for rule in _RULES for hint in rule.hints if len(hint) == 1)
_COMMON_HINT_RULES = tuple(rule for rule in _RULES if set(rule.hints) & _COMMON_HINTS)
_RARE_HINTS = {hint for rule in _RULES for hint in rule.hints if hint not in _COMMON_HINTS}
# A hint containing a shorter hint adds nothing to "does any hint occur", so only the shortest stay. RE2 (a
# DFA) searches this alternation of ~100 literals ~40x faster than `re`, which tries each one at each offset.
_PREFILTER = re2.compile(
    "|".join(sorted(re2.escape(hint) for hint in _RARE_HINTS if not any(o != hint and o in hint for o in _RARE_HINTS)))
)
_EXACT_PREFILTER = re2.compile("|".join(sorted(re2.escape(hint) for rule in _RULES for hint in rule.exact_hints)))


@dataclass(frozen=True, slots=True)
class Redactor:
    """The rule table plus config-supplied ``extra_patterns`` (each whole match becomes ``[redacted]``)."""

    extra: tuple[re.Pattern[str], ...] = ()
    rules: tuple[Rule, ...] = _RULES
    # Every (hint, rule index): one flat loop of substring tests picks the rules a text can meet.
    hint_index: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)
    exact_index: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = tuple((hint, number) for number, rule in enumerate(self.rules) for hint in rule.hints)
        exact = tuple((hint, number) for number, rule in enumerate(self.rules) for hint in rule.exact_hints)
        object.__setattr__(self, "hint_index", index)
        object.__setattr__(self, "exact_index", exact)

    @classmethod
    def from_patterns(cls, patterns: Sequence[str]) -> Redactor:
        return cls(tuple(re.compile(pattern) for pattern in patterns))

    def mask(self, text: str) -> str:
        """Return ``text`` with credentials replaced by markers. Idempotent."""
        lowered = text.lower()
        if self.rules is _RULES and _PREFILTER.search(lowered) is None and _EXACT_PREFILTER.search(text) is None:
            text = _mask_clean(text, lowered)  # the usual case: two C-level searches, no Python loop
        else:
            hinted = {index for hint, index in self.hint_index if hint in lowered}
            hinted.update(index for hint, index in self.exact_index if hint in text)
            for index in sorted(hinted):  # table order, as the rules' patterns may overlap
                text = self.rules[index].substitute(text)
        for pattern in self.extra:
            text = pattern.sub(_extra_replacement, text)
        return text


def _mask_clean(text: str, lowered: str) -> str:
    """Text without any prefilter hint: only rules with a one-character hint can apply, in table order."""
    for rule in _COMMON_HINT_RULES:
        if any(hint in lowered for hint in rule.hints):
            text = rule.substitute(text)
    return text


def _extra_replacement(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0) == VALUE_MARK else VALUE_MARK


DEFAULT = Redactor()


def mask(text: str) -> str:
    """Mask ``text`` with the default rule table. Idempotent; never raises on any string."""
    return DEFAULT.mask(text)


class PemTracker:
    """Masks the lines of a private-key block in a line stream, whatever line the block spans.

    Feed lines in order (timestamps already stripped); each comes back masked.
    """

    __slots__ = ("_inside", "_redactor")

    def __init__(self, redactor: Redactor = DEFAULT, inside: bool = False) -> None:
        self._inside = inside
        self._redactor = redactor

    @property
    def inside(self) -> bool:
        return self._inside

    def feed(self, line: str) -> str:
        if self._inside:
            return self._feed_inside(line)
        begin = _PEM_BEGIN_RE.search(line)
        if begin is None:
            return self._redactor.mask(line)
        head = self._redactor.mask(line[: begin.start()])
        self._inside = True
        return head + KEY_MARK + self._feed_inside(line[begin.end() :], marked=True)

    def _feed_inside(self, line: str, marked: bool = False) -> str:
        end = _PEM_END_RE.search(line)
        if end is None:
            return "" if marked else KEY_MARK
        self._inside = False
        prefix = "" if marked else KEY_MARK
        return prefix + self.feed(line[end.end() :])


def mask_lines(lines: Sequence[str], redactor: Redactor = DEFAULT) -> list[str]:
    """Mask an excerpt window line by line, including a key block the window starts inside."""
    start = _orphan_block_start(lines)
    tracker = PemTracker(redactor, inside=start is not None)  # the window may open inside a key block
    return [line if index < (start or 0) else tracker.feed(line) for index, line in enumerate(lines)]


def _orphan_block_start(lines: Sequence[str]) -> int | None:
    """Index where a key block begins if the window's first END precedes any BEGIN, else None."""
    for index, line in enumerate(lines):
        if _PEM_BEGIN_RE.search(line):
            return None
        if _PEM_END_RE.search(line):
            return _base64_run_start(lines, index)
    return None


def _base64_run_start(lines: Sequence[str], end_index: int) -> int:
    start = end_index
    while start > 0 and _B64_LINE_RE.match(lines[start - 1]):
        start -= 1
    return start
