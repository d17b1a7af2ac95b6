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


@dataclass(frozen=True, slots=True)
class RedactionSettings:
    """Per-application redaction configuration."""

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


class _Delete(Exception):
    """A value matched a detector whose action is `delete`: drop the whole attribute."""


class Redactor:
    """Applies one `RedactionSettings` to spans; build once per settings version and reuse."""

    def __init__(self, settings: RedactionSettings) -> None:
        unknown = (set(settings.pii_entities) | set(settings.disabled_detectors)) - {
            d.id for d in ALL_DETECTORS
        }
        if unknown:
            raise ValueError(f"unknown detectors: {sorted(unknown)}")
        self._settings = settings
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
        uses_hash = "hash" in self._actions or "hash" in settings.key_actions.values()
        if uses_hash and not settings.hash_key:
            raise ValueError("the hash action needs a hash_key")

    @property
    def detector_ids(self) -> list[str]:
        return [d.id for d in self._detectors]

    def redact_span(self, span: SpanRecord) -> RedactionResult:
        """A copy of `span` with sensitive values replaced, and what was found."""
        if not self._settings.enabled:
            return RedactionResult(span, {})
        counts: Counter[str] = Counter()
        return RedactionResult(self._span(span, counts, {}), dict(counts))

    def redact_spans(self, spans: Iterable[SpanRecord]) -> tuple[list[SpanRecord], dict[str, int]]:
        """Redact a batch; resource attributes shared by many spans are redacted once."""
        if not self._settings.enabled:
            return list(spans), {}
        counts: Counter[str] = Counter()
        shared: dict[int, Attributes] = {}
        return [self._span(span, counts, shared) for span in spans], dict(counts)

    def redact_text(self, text: str, counts: Counter[str]) -> str | None:
        """The text with every match replaced; None when a `delete` detector matched."""
        try:
            return self._text(text, counts)
        except _Delete:
            return None

    def redact_attributes(self, attrs: Attributes, counts: Counter[str]) -> Attributes:
        out: Attributes = {}
        allowlist = self._settings.allowlist
        key_actions = self._settings.key_actions
        for key, value in attrs.items():
            if key in allowlist:
                out[key] = value
                continue
            action = key_actions.get(key)
            try:
                if action is not None:
                    counts[f"key:{key}"] += 1
                    out[key] = self._whole_value(value, action)
                else:
                    out[key] = self._value(value, counts)
            except _Delete:
                continue
        return out

    def _span(
        self, span: SpanRecord, counts: Counter[str], shared: dict[int, Attributes]
    ) -> SpanRecord:
        resource = span["resource_attributes"]
        redacted_resource = shared.get(id(resource))
        if redacted_resource is None:
            redacted_resource = self.redact_attributes(resource, counts)
            shared[id(resource)] = redacted_resource
        message = span["status_message"]
        return {
            **span,
            "attributes": self.redact_attributes(span["attributes"], counts),
            "resource_attributes": redacted_resource,
            "status_message": (self.redact_text(message, counts) or "") if message else "",
            "events": [
                {**e, "attributes": self.redact_attributes(e["attributes"], counts)}
                for e in span["events"]
            ],
            "links": [
                {**link, "attributes": self.redact_attributes(link["attributes"], counts)}
                for link in span["links"]
            ],
        }

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
