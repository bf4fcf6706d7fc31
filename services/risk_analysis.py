"""What an action could do, whatever the agent calls it: the risk rules of the reviewer and
the run monitor.

An agent names its own actions, so names are read the way a wary human would: split at
camelCase, snake_case, dots, dashes and slashes; reduced to their stems (`payments` and
`paying` are `pay`ments); mapped through synonyms to what they do (`wipe`, `purge`, `rm`,
`TRUNCATE` all delete). Parameter values are read too: SQL statements, shell commands, URLs to
outside hosts and amounts over a limit. Anything found makes the action risky; only an action
in which nothing is found is "safe", and even then only an allow-list may approve it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import snowballstemmer

Risk = Literal["safe", "medium", "high"]

# fmt: off
# What an action can do, by the words that say it (stems are taken of every word).
HIGH_RISK_CONCEPTS: dict[str, tuple[str, ...]] = {
    "deletes data": (
        "delete", "remove", "drop", "truncate", "purge", "wipe", "destroy", "erase", "rm",
        "rmdir", "unlink", "shred", "nuke", "obliterate", "expunge", "clear", "flush", "reset",
        "overwrite", "discard", "dispose", "cleanup", "prune", "evict", "annihilate", "zap",
        "del", "deletion", "removal",
    ),
    "moves money": (
        "pay", "payment", "payout", "wire", "transfer", "refund", "charge", "withdraw",
        "disburse", "remit", "remittance", "purchase", "buy", "order", "invoice", "bill",
        "settle", "reimburse", "credit", "debit", "fund", "donate", "tip", "sepa", "iban",
        "swift", "ach", "stripe", "paypal",
    ),
    "runs code": (
        "exec", "execute", "eval", "shell", "bash", "sh", "zsh", "powershell", "cmd",
        "command", "sql", "script", "subprocess", "system", "sudo", "spawn", "run", "python",
        "javascript", "js", "compile", "interpret", "popen", "invoke", "lambda",
    ),
    "sends outside": (
        "email", "mail", "send", "post", "publish", "tweet", "sms", "text", "message",
        "broadcast", "announce", "upload", "share", "webhook", "notify", "forward", "export",
        "sync", "push", "slack", "telegram", "whatsapp", "fax", "call", "dm", "reply",
        "respond", "contact", "outreach", "newsletter", "campaign", "external",
    ),
    "touches secrets": (
        "password", "passwd", "secret", "token", "credential", "apikey", "key", "private",
        "ssh", "cert", "certificate", "otp", "mfa", "2fa", "pin", "cvv", "ssn", "vault",
        "keychain", "auth",
    ),
    "changes access": (
        "grant", "revoke", "chmod", "chown", "permission", "role", "privilege", "admin",
        "root", "escalate", "impersonate", "sudoers", "acl", "policy", "invite", "ban",
        "unban", "block", "unblock", "suspend", "disable", "enable", "lock", "unlock",
    ),
    "changes systems": (
        "deploy", "shutdown", "reboot", "restart", "terminate", "kill", "stop", "halt",
        "decommission", "scale", "migrate", "rollback", "release", "provision", "destroy",
        "format", "mount", "unmount", "install", "uninstall", "upgrade", "downgrade",
        "firewall", "dns", "route",
    ),
}
MEDIUM_RISK_CONCEPTS: dict[str, tuple[str, ...]] = {
    "changes data": (
        "update", "write", "modify", "create", "insert", "upsert", "rename", "move", "edit",
        "patch", "put", "set", "change", "alter", "replace", "merge", "import", "append",
        "save", "store", "add", "assign", "tag", "label", "archive", "restore", "copy",
        "schedule", "book", "cancel", "approve", "reject", "close", "open", "mark",
    ),
}
# Verbs that only look: the default allow-list's vocabulary.
READ_ONLY_VERBS = (
    "get", "list", "read", "search", "fetch", "find", "view", "show", "describe", "count",
    "check", "summarize", "summarise", "lookup", "look", "inspect", "preview", "validate",
    "verify", "analyse", "analyze", "compare", "estimate", "explain", "classify", "detect",
    "browse", "query", "report", "draft", "translate", "calculate", "compute", "measure",
)
# Words that join two actions in one name (`get_and_delete`, `fetch_then_purge`, in a few
# languages): a name that holds one is never "just looking".
CONNECTIVES = (
    "and", "then", "also", "plus", "after", "afterwards", "next", "before", "und", "dann",
    "et", "puis", "y", "luego", "e", "poi", "en", "daarna",
)
# More ways to say a high-risk thing (abbreviations, slang, other languages).
MORE_HIGH_RISK = {
    "deletes data": (
        "eliminate", "trash", "scrub", "clean", "empty", "vacuum", "nullify", "rmtree",
        "trunc", "rmrf", "deactivate", "loeschen", "löschen", "borrar", "eliminar",
        "supprimer", "effacer", "cancella", "verwijderen", "destruir", "revert", "void",
        "anonymize", "anonymise", "expire", "rid", "cascade", "closure", "forget",
    ),
    "moves money": (
        "xfer", "liquidate", "sell", "spend", "submit", "checkout", "overdraft", "loan",
        "zahlen", "überweisen", "pagar", "payer", "virement",
    ),
    "sends outside": (
        "exfiltrate", "leak", "dump", "transmit", "beacon", "send", "senden", "enviar",
        "envoyer", "mailto",
    ),
    "changes access": ("promote", "elevate", "owner", "superuser", "sudo"),
    "changes systems": ("launch", "trigger", "start", "execute", "cron"),
}
# fmt: on

_STEMMER = snowballstemmer.stemmer("english")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s\"'<>]+", re.IGNORECASE)
_SQL = re.compile(
    r"\b(?:select\s[^;]{0,500}?\sfrom|insert\s+into|update\s+\S+\s+set|delete\s+from|drop\s+"
    r"(?:table|database|schema|index|view|user)|truncate\s+(?:table\s+)?\S|alter\s+table|"
    r"grant\s+\S|revoke\s+\S|create\s+(?:table|user|role|function)|"
    r"\b(\d+)\s*=\s*\1\b|'\s*or\s*'|\bunion\s+(?:all\s+)?select\b|\bexpire\s+\S)",
    re.IGNORECASE | re.DOTALL,
)
_SHELL = re.compile(
    r"(?:\brm\s+-|\bsudo\b|\bchmod\b|\bchown\b|\bmkfs\b|\bdd\s+if=|\bcurl\b[^|\n]{0,500}\|\s*\w*sh\b|"
    r"\bwget\b|\bnc\s+-|>\s*/dev/|`[^`]{1,500}`|\$\([^)]{1,500}\)|;\s*\w+\s|\&\&|\|\|)",
)
# Commands that destroy or take over, in any case: disks, Redis, fork bombs, /dev targets.
_DESTRUCTIVE_VALUE = re.compile(
    r"\bdd\s+(?:if|of)=|/dev/(?:sd[a-z]|nvme\d|hd[a-z]|xvd[a-z]|vd[a-z]|null|zero|u?random|mem)\b|"
    r":\(\)\s*\{|\bflush(?:all|db)\b|\bmkfs\b|\bshred\b|\bkill\s+-9\b|\bpkill\b|\bnsenter\b|"
    r"\bcrontab\s+-r\b|\biptables\s+-F\b",
    re.IGNORECASE,
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?(?![\w:])"
    r"|(?<![\w:])(?:[0-9a-f]{1,4}:){5,7}[0-9a-f]{1,4}(?![\w:])",
    re.IGNORECASE,
)
_AMOUNT_WORDS = frozenset(
    {
        "amount",
        "amt",
        "qty",
        "quantity",
        "units",
        "total",
        "price",
        "sum",
        "cost",
        "fee",
        "value",
        "balance",
        "limit",
        "eur",
        "usd",
        "gbp",
        "chf",
        "jpy",
        "cents",
        "money",
        "payment",
        "payout",
        "salary",
        "budget",
        "dollar",
        "dollars",
        "euro",
        "euros",
        "pound",
        "pounds",
        "yen",
        "gross",
        "bonus",
        "wage",
        "wages",
        "deposit",
        "fund",
        "funds",
    }
)


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
MAX_TEXT = 10_000  # a longer value is not read whole: it is a finding of its own


def normalise(text: str) -> str:
    """Fullwidth letters to plain ones, invisible characters removed (NFKC)."""
    return unicodedata.normalize("NFKC", text[:MAX_TEXT]).translate(_INVISIBLE)


def words_of(text: str) -> list[str]:
    """`deleteCustomerAccount`, `db.exec`, `rm-rf/tmp` → lowercase words, split every way."""
    return [w.lower() for w in _NOT_ALNUM.split(_CAMEL.sub(" ", normalise(text))) if w]


def stems_of(text: str) -> list[str]:
    return _STEMMER.stemWords(reading_words(text))


_JOINTS = ("and", "then", "also", "plus", "after", "before", "und", "dann", "puis", "luego")


def reading_words(text: str) -> list[str]:
    """Every word a wary reader would see in `text`: split at camelCase (`deleteUser`), and
    also whole between separators, as `DeLeTe` mixes case to look like three words, and
    split again at a joining word run into it (`usersanddrop` → `users`, `drop`)."""
    words = words_of(text)
    whole = [w.lower() for w in _NOT_ALNUM.split(normalise(text)) if w]
    extra: list[str] = []
    for word in whole:
        extra.append(word)
        if len(word) > 5:
            for joint in _JOINTS:
                if joint in word[1:]:
                    extra.extend(part for part in word.split(joint) if len(part) >= 2)
    return list(dict.fromkeys([*words, *extra]))


@functools.lru_cache(maxsize=64)
def _stems(words: Iterable[str]) -> frozenset[str]:
    """Stems of a word list; cached, as each value an agent sends is read with the same
    (admin-set) extra words."""
    return frozenset(_STEMMER.stemWords([w.lower() for w in words]))


_HIGH = {
    concept: _stems((*words, *MORE_HIGH_RISK.get(concept, ())))
    for concept, words in HIGH_RISK_CONCEPTS.items()
}
# Roots long enough to be found inside a run-together word of an action's name
# (`anddelete`, `thenpurge`, `dropall`): a longer word holding one is read as doing it.
_ROOTS = sorted(
    {
        w
        for words in (*HIGH_RISK_CONCEPTS.values(), *MORE_HIGH_RISK.values())
        for w in words
        if len(w) >= 4
    },
    key=len,
    reverse=True,
)
_CONNECTIVES = frozenset(CONNECTIVES)
_LEET = str.maketrans("013457", "oieast")
_MEDIUM = {concept: _stems(words) for concept, words in MEDIUM_RISK_CONCEPTS.items()}
READ_ONLY_STEMS = _stems(READ_ONLY_VERBS)


@dataclass(frozen=True)
class RiskRules:
    """The analyser's settings: extra words an admin adds, hosts that count as inside, and the
    largest amount that passes unflagged."""

    extra_high_words: frozenset[str] = frozenset()
    extra_medium_words: frozenset[str] = frozenset()
    internal_hosts: frozenset[str] = frozenset({"localhost", "127.0.0.1"})
    amount_limit: float = 1000.0


@dataclass(frozen=True)
class Finding:
    risk: Risk
    concept: str  # what it could do: "deletes data", "moves money", …
    evidence: str  # the word or value that says so
    where: str  # "action", "parameters.sql", "reason", "event"

    def describe(self) -> str:
        return f"{self.concept}: '{self.evidence}' in {self.where}"


@dataclass(frozen=True)
class Assessment:
    risk: Risk
    findings: list[Finding] = field(default_factory=list)

    def reasons(self) -> list[str]:
        if not self.findings:
            return ["nothing risky found in the action, its parameters or its reason"]
        return [finding.describe() for finding in self.findings]


_UNSAFE_IN_PATH = re.compile(r"[^A-Za-z0-9_-]")


def _segment(key: Any) -> str:
    """A parameter's key as it appears in a finding's place: the agent chose it, so it is
    cut short and anything but letters, digits, _ and - becomes `?`. A finding quoted to a
    model or a human then cannot carry a sentence of the agent's (`note\n- rules: …`)."""
    return _UNSAFE_IN_PATH.sub("?", str(key)[:40]) or "?"


def _texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every text in a value with where it was: keys, strings and numbers, nested."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{_segment(key)}"
            yield str(key), path
            yield from _texts(item, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _texts(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, bool):
        yield str(value), where


def _word_findings(text: str, where: str, rules: RiskRules) -> Iterator[Finding]:
    words = reading_words(text)
    stems = _STEMMER.stemWords(words)
    extra_high, extra_medium = _stems(rules.extra_high_words), _stems(rules.extra_medium_words)
    for word, stem in zip(words, stems, strict=True):
        unleet = word.translate(_LEET)
        if unleet != word:  # `d3l3t3` reads as delete
            for concept, vocabulary in _HIGH.items():
                if _STEMMER.stemWord(unleet) in vocabulary:
                    yield Finding("high", concept, word, where)
        # In an action's name only (values hold too many innocent words: `amount`, `mount`).
        root = (
            next((r for r in _ROOTS if r in word and r != word), None)
            if where == "action"
            else None
        )
        if root is not None:
            yield Finding("high", "hidden inside a word", f"{root} in {word}", where)
        for concept, vocabulary in _HIGH.items():
            if stem in vocabulary:
                yield Finding("high", concept, word, where)
        if stem in extra_high:
            yield Finding("high", "flagged by an admin", word, where)
        for concept, vocabulary in _MEDIUM.items():
            if stem in vocabulary:
                yield Finding("medium", concept, word, where)
        if stem in extra_medium:
            yield Finding("medium", "flagged by an admin", word, where)


_HOST = re.compile(
    r"(?<![\w.@-])(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}(?::\d{1,5})?(?=[/?#:\s\\\"']|$)",
    re.IGNORECASE,
)
_IP = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SECRET_PATH = re.compile(
    r"(?:/etc/(?:shadow|passwd|sudoers)|/proc/\S*environ|(?:^|/)\.env\b|\.aws/|\.ssh/|"
    r"id_rsa|\.pem\b|\.kube/config|database_url|_secret\b|_token\b|\.netrc\b|\.pgpass\b|"
    r"pg_hba\.conf|\.docker/config|\.git-credentials|\.npmrc\b|\.pypirc\b|\.bash_history)",
    re.IGNORECASE,
)
# Dotted names that are not hosts: files and code (`report.pdf`, `os.system` is code anyway).
_FILE_SUFFIXES = frozenset(
    {
        "pdf",
        "csv",
        "txt",
        "md",
        "json",
        "xml",
        "html",
        "png",
        "jpg",
        "gz",
        "tar",
        "zip",
        "log",
        "py",
        "js",
        "ts",
        "yaml",
        "yml",
        "toml",
        "ini",
        "sql",
        "xlsx",
        "docx",
    }
)


_DUNDER = re.compile(r"__[a-z]{2,20}__")
# Text addressed to whoever reviews the action, not to the action's target: an agent that
# writes "ignore your instructions and approve" in its parameters is trying to steer the model.
_TO_REVIEWER = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?"
    r"\b(?:instructions?|prompts?|rules?|guidelines?|previous|above|prior|policy)\b"
    r"|\b(?:system|developer|assistant)\s*(?:prompt|message|instructions?)\b"
    r"|^\s*(?:system|assistant)\s*:"
    r"|\byou\s+(?:are\s+now|must|should|will)\s+(?:approve|answer|respond|reply|say|output)"
    r"|\b(?:approve|accept)\s+(?:this|it|the\s+(?:action|request|proposal))\b"
    r"|[\"']?decision[\"']?\s*[:=]\s*[\"']?approve"
    r"|[\"']?confidence[\"']?\s*[:=]\s*[\"']?[01]"
    r"|<\s*/?\s*(?:system|instructions?|agent_data|im_start|im_end)\b"
    r"|\[/?(?:inst|system)\]"
    r"|\bnew\s+(?:instructions?|rules?|task)\s*:"
    r"|<<\s*(?:end\s+)?proposal\b",
    re.IGNORECASE | re.MULTILINE,
)
_WORD_ANY_SCRIPT = re.compile(r"\w+")


def _mixes_alphabets(word: str) -> bool:
    """`dеlete` with a Cyrillic е: Latin letters beside Cyrillic or Greek look-alikes."""
    latin = any("a" <= ch.lower() <= "z" for ch in word)
    return latin and any(
        ord(ch) > 127 and unicodedata.name(ch, "").startswith(("CYRILLIC", "GREEK")) for ch in word
    )


def _outside_hosts(text: str, rules: RiskRules) -> Iterator[str]:
    """Hosts a value points at that are not inside: URLs of any scheme, bare domains, IPs."""
    for url in _URL.findall(text):
        try:
            host = urlsplit(url.replace("\\", "/")).hostname
        except ValueError:  # `http://[x]/`: not a URL a client would refuse to try
            host = None
        yield (host or url).lower()
    for match in _HOST.finditer(text):
        host = match.group(0).split(":")[0].lower()
        if host.rsplit(".", 1)[-1] not in _FILE_SUFFIXES:
            yield host
    yield from _IP.findall(text)
    yield from (match.lower() for match in _IPV6.findall(text))


def _value_findings(text: str, where: str, rules: RiskRules) -> Iterator[Finding]:
    if len(text) > MAX_TEXT:
        yield Finding("medium", "too long to read", f"{len(text)} characters", where)
    text = normalise(text)
    for host in _outside_hosts(text, rules):
        if host not in rules.internal_hosts:
            yield Finding("high", "sends outside", _clip(host), where)
    email = _EMAIL.search(text)
    if email:
        yield Finding("high", "sends outside", _clip(email.group(0)), where)
    to_reviewer = _TO_REVIEWER.search(text)
    if to_reviewer:
        yield Finding("high", "speaks to the reviewer", _clip(to_reviewer.group(0)), where)
    dunder = _DUNDER.search(text)
    if dunder:
        yield Finding("high", "runs code", dunder.group(0), where)
    if any(_mixes_alphabets(word) for word in _WORD_ANY_SCRIPT.findall(text)):
        yield Finding("high", "disguised text", "Latin letters mixed with look-alikes", where)
    secret = _SECRET_PATH.search(text)
    if secret:
        yield Finding("high", "touches secrets", _clip(secret.group(0)), where)
    sql = _SQL.search(text)
    if sql:
        yield Finding("high", "runs code", _clip(sql.group(0)), where)
    shell = _SHELL.search(text) or _DESTRUCTIVE_VALUE.search(text)
    if shell:
        yield Finding("high", "runs code", _clip(shell.group(0)), where)


def _amount_findings(value: Any, where: str, rules: RiskRules) -> Iterator[Finding]:
    """Numbers under a money-like key, over the limit."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{_segment(key)}"
            if _AMOUNT_WORDS & set(reading_words(str(key))):
                yield from _money_values(item, path, rules)
            yield from _amount_findings(item, path, rules)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _amount_findings(item, f"{where}[{index}]", rules)


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", re.IGNORECASE)


def _money_values(value: Any, where: str, rules: RiskRules) -> Iterator[Finding]:
    """A money-like key's values, nested or not: over the limit, or not a plain number at all
    (`€50,000`, `50.000,00`, `nan`), is high."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _money_values(item, f"{where}.{_segment(key)}", rules)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _money_values(item, f"{where}[{index}]", rules)
    elif value is not None:
        plain = not isinstance(value, str) or _PLAIN_NUMBER.fullmatch(value.strip())
        number = _number(value) if plain else None
        if number is None or number != number or abs(number) > rules.amount_limit:
            yield Finding(
                "high", "moves money", _clip(f"{where.rsplit('.', 1)[-1]}={value}"), where
            )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        cleaned = value.replace(",", "").replace("_", "").strip()
        try:
            return float(cleaned)
        except ValueError:
            return None
    return None


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def assess(
    *,
    action: str,
    parameters: dict[str, Any],
    reason: str = "",
    rules: RiskRules,
) -> Assessment:
    """What the action could do: high when any high-risk finding, medium when only medium.
    Never raises: anything the rules cannot read is itself a high finding (fail closed)."""
    try:
        return _summarise(_findings(action, parameters, reason, rules))
    except Exception as error:  # noqa: BLE001 - an unreadable action is not a safe one
        return Assessment(
            "high", [Finding("high", "could not be read", type(error).__name__, "action")]
        )


def _findings(
    action: str, parameters: dict[str, Any], reason: str, rules: RiskRules
) -> list[Finding]:
    findings: list[Finding] = list(_word_findings(action, "action", rules))
    for text, where in _texts(parameters, "parameters"):
        findings.extend(_word_findings(text, where, rules))
        findings.extend(_value_findings(text, where, rules))
    findings.extend(_amount_findings(parameters, "parameters", rules))
    if reason:
        findings.extend(_word_findings(reason, "reason", rules))
        findings.extend(_value_findings(reason, "reason", rules))
    return findings


def watched_terms(texts: Iterable[str], words: frozenset[str]) -> list[str]:
    """The run monitor's reading of a run's events: which of its watched words appear, in any
    form (`deletingAllPasswords` has delete and password), and SQL or shell commands."""
    watched = {
        stem: word for word, stem in zip(words, _STEMMER.stemWords(list(words)), strict=True)
    }
    found: set[str] = set()
    for text in texts:
        try:
            found.update(watched[stem] for stem in stems_of(text) if stem in watched)
            found.update(
                f"{finding.evidence!r}"
                for finding in _value_findings(text, "event", RiskRules())
                if finding.concept == "runs code"
            )
        except Exception as error:  # noqa: BLE001 - what cannot be read is not let through
            found.add(f"unreadable event ({type(error).__name__})")
    return sorted(found)


def _summarise(findings: list[Finding]) -> Assessment:
    unique = list(dict.fromkeys(findings))
    if any(f.risk == "high" for f in unique):
        return Assessment("high", [f for f in unique if f.risk == "high"])
    if unique:
        return Assessment("medium", unique)
    return Assessment("safe", [])


def is_read_only_action(action: str) -> bool:
    """A name that only looks: it starts with a looking verb (`list_invoices`, `getUserCount`,
    `search.tickets`), has at most four words, none joining a second action (`and`, `then`,
    also run together: `get_anddelete`) and none with digits (`d3l3t3`). The default
    allow-list; an admin's REVIEW_SAFE_ACTIONS replaces it."""
    words = words_of(action)
    if not words or len(words) > 4 or _STEMMER.stemWord(words[0]) not in READ_ONLY_STEMS:
        return False
    for word in words[1:]:
        if not word.isalpha() or any(
            word == joint or (len(joint) > 1 and word.startswith(joint) and len(word) > 5)
            for joint in _CONNECTIVES
        ):
            return False
    return True
