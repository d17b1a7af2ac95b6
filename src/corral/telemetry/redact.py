"""Redact credentials and configured PII from span attributes before anything is stored.

One RE2 pattern set is searched per string value (a single linear pass); only the detectors it
reports are then run individually to locate and validate their matches. Matches that overlap
are resolved in detector order, so each character is replaced at most once and a replacement
is never re-scanned.

String values longer than `max_value_chars` are cut to that length before scanning and marked
`[TRUNCATED:<original length>]`: what is not scanned is not stored.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import orjson

from corral.telemetry.detectors import CREDENTIAL_DETECTORS, Detector
from corral.telemetry.linear_regex import Pattern, PatternSet, compile_pattern
from corral.telemetry.pii import PII_DETECTORS
from corral.telemetry.records import Attributes, AttributeValue, SpanRecord

Action = Literal["redact", "mask", "hash", "delete"]

ALL_DETECTORS: tuple[Detector, ...] = CREDENTIAL_DETECTORS + PII_DETECTORS
DEFAULT_PII_ENTITIES = frozenset({"email", "credit_card", "iban", "us_ssn"})
"""PII detectors on unless configured otherwise. Phone numbers and IP addresses are opt-in:
they are common in ordinary telemetry (`server.address`, ids) and costly to redact blindly."""

TRUNCATED = "truncated"
"""Counter key for values cut to `max_value_chars`."""

# No detector matches fewer characters than this; shorter strings skip the scan entirely.
_MIN_MATCH_CHARS = 6


ACTIONS: tuple[Action, ...] = ("redact", "mask", "hash", "delete")
DETECTOR_KINDS = ("credential", "pii")
PII_DETECTOR_IDS = frozenset(d.id for d in ALL_DETECTORS if d.kind == "pii")
MAX_KEY_PATTERNS = 256
MAX_KEY_PATTERN_CHARS = 256


@dataclass(frozen=True, slots=True)
class RedactionSettings:
    """Per-application redaction configuration.

    Keys in `allowlist` and `key_actions` are exact attribute keys, or prefixes when they end
    with `*` (`gen_ai.prompt.*` covers `gen_ai.prompt.0.content`); an exact key wins over a
    prefix, and a longer prefix over a shorter one.
    """

    enabled: bool = True
    # Attribute keys never scanned nor changed (e.g. `gen_ai.request.model`).
    allowlist: frozenset[str] = frozenset()
    # Action per detector id, or per kind (`credential`, `pii`); falls back to default_action.
    actions: Mapping[str, Action] = field(default_factory=dict)
    default_action: Action = "redact"
    # Actions applied to a whole attribute by key, whatever its content.
    key_actions: Mapping[str, Action] = field(default_factory=dict)
    credentials: bool = True
    pii_entities: frozenset[str] = DEFAULT_PII_ENTITIES
    disabled_detectors: frozenset[str] = frozenset()
    hash_key: bytes | None = None
    max_value_chars: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class RedactionResult:
    span: SpanRecord
    counts: dict[str, int]
    """Matches replaced per detector id (plus `truncated`), for metrics."""


@dataclass(frozen=True, slots=True)
class RedactedBatch:
    spans: list[SpanRecord]
    counts: dict[str, int]
    changed: list[bool]
    """Per span: whether redaction replaced or removed anything in it (or in its resource)."""


class _Delete(Exception):
    """A value matched a detector whose action is `delete`: drop the whole attribute."""


class Redactor:
    """Applies one `RedactionSettings` to spans; build once per settings version and reuse."""

    def __init__(self, settings: RedactionSettings) -> None:
        problems = settings_problems(settings)
        if problems:
            raise ValueError("; ".join(problems))
        self._settings = settings
        self._allow_exact, self._allow_prefixes = _split_patterns(settings.allowlist)
        exact_actions, _ = _split_patterns(settings.key_actions)
        self._key_exact = {key: settings.key_actions[key] for key in exact_actions}
        self._key_prefixes = sorted(
            ((key[:-1], action) for key, action in settings.key_actions.items() if key[-1:] == "*"),
            key=lambda item: -len(item[0]),
        )
        self._detectors = [
            d
            for d in ALL_DETECTORS
            if d.id not in settings.disabled_detectors
            and (settings.credentials if d.kind == "credential" else d.id in settings.pii_entities)
        ]
        self._patterns: list[Pattern] = [compile_pattern(d.pattern) for d in self._detectors]
        self._set = PatternSet([d.pattern for d in self._detectors])
        self._actions: list[Action] = [
            settings.actions.get(d.id) or settings.actions.get(d.kind) or settings.default_action
            for d in self._detectors
        ]
        if uses_hash(settings) and not settings.hash_key:
            raise ValueError("the hash action needs a hash_key")

    @property
    def detector_ids(self) -> list[str]:
        return [d.id for d in self._detectors]

    def redact_span(self, span: SpanRecord) -> RedactionResult:
        """A copy of `span` with sensitive values replaced, and what was found."""
        if not self._settings.enabled:
            return RedactionResult(span, {})
        counts: Counter[str] = Counter()
        redacted, _ = self._span(span, counts, {})
        return RedactionResult(redacted, dict(counts))

    def redact_spans(self, spans: Iterable[SpanRecord]) -> tuple[list[SpanRecord], dict[str, int]]:
        """Redact a batch; resource attributes shared by many spans are redacted once."""
        batch = self.redact_batch(spans)
        return batch.spans, batch.counts

    def redact_batch(self, spans: Iterable[SpanRecord]) -> RedactedBatch:
        """Like `redact_spans`, also telling which spans redaction changed."""
        if not self._settings.enabled:
            kept = list(spans)
            return RedactedBatch(kept, {}, [False] * len(kept))
        counts: Counter[str] = Counter()
        shared: dict[int, tuple[Attributes, bool]] = {}
        out: list[SpanRecord] = []
        changed: list[bool] = []
        for span in spans:
            redacted, touched = self._span(span, counts, shared)
            out.append(redacted)
            changed.append(touched)
        return RedactedBatch(out, dict(counts), changed)

    def redact_text(self, text: str, counts: Counter[str]) -> str | None:
        """The text with every match replaced; None when a `delete` detector matched."""
        try:
            return self._text(text, counts)
        except _Delete:
            return None

    def redact_attributes(self, attrs: Attributes, counts: Counter[str]) -> Attributes:
        if self._nothing_to_find(attrs):
            return attrs
        out: Attributes = {}
        allowlist = self._allow_exact
        allow_prefixes = self._allow_prefixes
        key_actions = self._key_exact
        for key, value in attrs.items():
            if key in allowlist or (allow_prefixes and key.startswith(allow_prefixes)):
                out[key] = value
                continue
            action = key_actions.get(key)
            if action is None and self._key_prefixes:
                action = self._prefix_action(key)
            try:
                if action is not None:
                    counts[f"key:{key}"] += 1
                    out[key] = self._whole_value(value, action)
                else:
                    out[key] = self._value(value, counts)
            except _Delete:
                continue
        return out

    def _nothing_to_find(self, attrs: Attributes) -> bool:
        """True when no detector matches any value: one pattern-set search over all of them.

        The values are joined with newlines. A detector matching inside one value also matches
        the joined text: the only context a pattern reads beyond its match is `^`, `\\z` or
        `\\b`, each in a form that a neighbouring newline satisfies as well as the value's edge
        (`tests/telemetry/test_redact_prescan.py` holds every detector to that). A match across
        values is only a false alarm, answered by the exact per-value scan. Whole-attribute
        key actions, truncation and structured values always take the per-value path.
        """
        if self._key_exact or self._key_prefixes or not attrs:
            return not attrs
        allowlist = self._allow_exact
        allow_prefixes = self._allow_prefixes
        cap = self._settings.max_value_chars
        texts: list[str] = []
        for key, value in attrs.items():
            if type(value) is str:
                if len(value) > cap:
                    return False
                if len(value) >= _MIN_MATCH_CHARS and not (
                    key in allowlist or (allow_prefixes and key.startswith(allow_prefixes))
                ):
                    texts.append(value)
            elif type(value) is list or type(value) is dict:
                return False
        return not texts or not self._set.matching("\n".join(texts))

    def _prefix_action(self, key: str) -> Action | None:
        for prefix, action in self._key_prefixes:
            if key.startswith(prefix):
                return action
        return None

    def _span(
        self,
        span: SpanRecord,
        counts: Counter[str],
        shared: dict[int, tuple[Attributes, bool]],
    ) -> tuple[SpanRecord, bool]:
        found: Counter[str] = Counter()
        resource = span["resource_attributes"]
        cached = shared.get(id(resource))
        if cached is None:
            redacted_resource = self.redact_attributes(resource, found)
            cached = shared[id(resource)] = (redacted_resource, bool(found))
        message = span["status_message"]
        record: SpanRecord = {
            **span,
            "attributes": self.redact_attributes(span["attributes"], found),
            "resource_attributes": cached[0],
            "status_message": (self.redact_text(message, found) or "") if message else "",
            "events": [
                {**e, "attributes": self.redact_attributes(e["attributes"], found)}
                for e in span["events"]
            ],
            "links": [
                {**link, "attributes": self.redact_attributes(link["attributes"], found)}
                for link in span["links"]
            ],
        }
        if found:
            counts.update(found)
        return record, cached[1] or bool(found)

    def _value(self, value: AttributeValue, counts: Counter[str]) -> AttributeValue:
        if type(value) is str:
            return self._text(value, counts)
        if type(value) is list:
            return [self._value(v, counts) for v in value]
        if type(value) is dict:
            return {k: self._value(v, counts) for k, v in value.items()}
        return value

    def _whole_value(self, value: AttributeValue, action: Action) -> AttributeValue:
        text = value if type(value) is str else orjson.dumps(value).decode()
        return self._replace(text, action, "attribute")

    def _text(self, text: str, counts: Counter[str]) -> str:
        if len(text) < _MIN_MATCH_CHARS:
            return text
        suffix = ""
        cap = self._settings.max_value_chars
        if len(text) > cap:
            suffix = f"[TRUNCATED:{len(text)}]"
            text = text[:cap]
            counts[TRUNCATED] += 1
        hits = self._set.matching(text)
        if not hits:
            return text + suffix
        found = self._locate(text, sorted(hits))
        if not found:
            return text + suffix
        parts: list[str] = []
        position = 0
        for start, end, index in found:
            detector = self._detectors[index]
            counts[detector.id] += 1
            parts.append(text[position:start])
            parts.append(self._replace(text[start:end], self._actions[index], detector.id))
            position = end
        parts.append(text[position:])
        parts.append(suffix)
        return "".join(parts)

    def _locate(self, text: str, hits: list[int]) -> list[tuple[int, int, int]]:
        """Non-overlapping (start, end, detector index) spans, earlier detectors first."""
        starts: list[int] = []
        accepted: list[tuple[int, int, int]] = []
        for index in hits:
            detector = self._detectors[index]
            group = detector.group
            for match in self._patterns[index].finditer(text):
                start, end = match.start(group), match.end(group)
                if start < 0 or start == end:
                    continue
                if detector.validate is not None and not detector.validate(text, start, end):
                    continue
                slot = bisect.bisect_left(starts, start)
                if slot > 0 and accepted[slot - 1][1] > start:
                    continue
                if slot < len(accepted) and accepted[slot][0] < end:
                    continue
                starts.insert(slot, start)
                accepted.insert(slot, (start, end, index))
        return accepted

    def _replace(self, secret: str, action: Action, label: str) -> str:
        if action == "redact":
            return f"[REDACTED:{label}]"
        if action == "mask":
            keep = 4 if len(secret) > 4 else 0
            return "*" * (len(secret) - keep) + secret[len(secret) - keep :]
        if action == "hash":
            key = self._settings.hash_key
            assert key is not None
            return "hash:" + hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
        raise _Delete


def uses_hash(settings: RedactionSettings) -> bool:
    """Whether any action of `settings` is `hash` (and so needs a `hash_key`)."""
    return (
        settings.default_action == "hash"
        or "hash" in settings.actions.values()
        or "hash" in settings.key_actions.values()
    )


def settings_problems(settings: RedactionSettings) -> list[str]:
    """What is wrong with `settings`, without compiling anything (cheap enough for an API)."""
    problems: list[str] = []
    known = {d.id for d in ALL_DETECTORS}
    not_pii = sorted(set(settings.pii_entities) - PII_DETECTOR_IDS)
    if not_pii:
        problems.append(f"unknown detectors in pii_entities (not PII detectors): {not_pii}")
    unknown = sorted(set(settings.disabled_detectors) - known)
    if unknown:
        problems.append(f"unknown detectors in disabled_detectors: {unknown}")
    unknown_targets = sorted(set(settings.actions) - known - set(DETECTOR_KINDS))
    if unknown_targets:
        problems.append(f"actions name unknown detectors or kinds: {unknown_targets}")
    every_action = [
        settings.default_action,
        *settings.actions.values(),
        *settings.key_actions.values(),
    ]
    bad_actions = sorted({str(a) for a in every_action if a not in ACTIONS})
    if bad_actions:
        problems.append(f"unknown actions {bad_actions}; use one of {list(ACTIONS)}")
    for name, keys in (("allowlist", settings.allowlist), ("key_actions", settings.key_actions)):
        if len(keys) > MAX_KEY_PATTERNS:
            problems.append(f"{name} holds at most {MAX_KEY_PATTERNS} keys")
        if any(not key or key == "*" or len(key) > MAX_KEY_PATTERN_CHARS for key in keys):
            problems.append(
                f"{name} keys are 1-{MAX_KEY_PATTERN_CHARS} characters and not a bare `*`"
            )
        if any("*" in key[:-1] for key in keys):
            problems.append(f"{name} keys may hold `*` only as their last character")
    return problems


def _split_patterns(keys: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Exact keys, and the prefixes of keys ending with `*`."""
    exact = frozenset(k for k in keys if k[-1:] != "*")
    prefixes = tuple(k[:-1] for k in keys if k[-1:] == "*")
    return exact, prefixes
