"""Redaction: every detector, every action, the RE2 guarantee and bounded work on big values."""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
from collections import Counter
from typing import Any

import pytest

from corral.telemetry import detectors, linear_regex, pii, redact
from corral.telemetry.decode import decode_protobuf
from corral.telemetry.linear_regex import ENGINE, compile_pattern
from corral.telemetry.pii import iban_valid, luhn_valid
from corral.telemetry.records import SpanRecord
from corral.telemetry.redact import ALL_DETECTORS, RedactionSettings, Redactor
from tests.telemetry.otlp_builders import request, span
from tests.telemetry.redaction_cases import CASES, an

ALL_PII = frozenset(d.id for d in ALL_DETECTORS if d.kind == "pii")
EVERYTHING = Redactor(RedactionSettings(pii_entities=ALL_PII))
HASH_KEY = b"k" * 32


def _text(redactor: Redactor, text: str) -> tuple[str | None, Counter[str]]:
    counts: Counter[str] = Counter()
    return redactor.redact_text(text, counts), counts


def _span(attributes: dict[str, Any], **kwargs: Any) -> SpanRecord:
    message = request([span(attributes=attributes, **kwargs)])
    return decode_protobuf(message.SerializeToString()).spans[0]


def test_every_detector_has_a_case_and_a_description() -> None:
    assert set(CASES) == {d.id for d in ALL_DETECTORS}
    assert len(detectors.CREDENTIAL_DETECTORS) >= 50
    assert len({d.id for d in ALL_DETECTORS}) == len(ALL_DETECTORS)
    for detector in ALL_DETECTORS:
        assert detector.description.strip()


@pytest.mark.parametrize("detector_id", sorted(CASES))
def test_true_positive(detector_id: str) -> None:
    text, secret, _ = CASES[detector_id]
    assert secret in text
    redacted, counts = _text(EVERYTHING, text)
    assert redacted == text.replace(secret, f"[REDACTED:{detector_id}]")
    assert counts == {detector_id: 1}


@pytest.mark.parametrize("detector_id", sorted(CASES))
def test_near_miss_is_left_alone(detector_id: str) -> None:
    near_miss = CASES[detector_id][2]
    assert _text(EVERYTHING, near_miss) == (near_miss, Counter())


def test_re2_runs_every_pattern() -> None:
    assert ENGINE.__name__ == "re2"
    compiled = [compile_pattern(d.pattern) for d in ALL_DETECTORS]
    assert {type(p).__module__ for p in compiled} == {"re2"}
    with pytest.raises(ValueError, match="not valid RE2"):
        compile_pattern(r"(a+)\1")
    with pytest.raises(ValueError, match="not valid RE2"):
        compile_pattern(r"(?=lookahead)")


def test_redaction_modules_never_import_the_backtracking_engine() -> None:
    for module in (redact, detectors, pii, linear_regex):
        tree = ast.parse(inspect.getsource(module))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "re" not in imported, module.__name__
        assert "regex" not in imported, module.__name__


def test_pathological_input_is_scanned_linearly() -> None:
    # Inputs that make backtracking engines explode on patterns of this shape.
    hostile = "password=" + "a" * 50_000 + " " + "AKIA" * 20_000 + " " + "-" * 50_000
    redacted, counts = _text(Redactor(RedactionSettings(max_value_chars=1 << 20)), hostile)
    assert redacted is not None
    assert counts == {"password_assignment": 1}


def test_secret_at_the_end_of_a_large_value_is_found() -> None:
    secret = "ghp_" + an(36)
    text = "lorem ipsum dolor sit amet 12:30 a@b " * 25_000 + secret
    redactor = Redactor(RedactionSettings(max_value_chars=2 << 20, pii_entities=ALL_PII))
    redacted, counts = _text(redactor, text)
    assert redacted is not None
    assert secret not in redacted
    assert counts["github_pat"] == 1


def test_values_beyond_the_cap_are_truncated_not_stored_unscanned() -> None:
    secret = "ghp_" + an(36)
    redactor = Redactor(RedactionSettings(max_value_chars=1000))
    early, counts = _text(redactor, secret + " " + "x" * 5000)
    assert early == "[REDACTED:github_pat] " + "x" * 959 + "[TRUNCATED:5041]"
    assert counts == {"github_pat": 1, "truncated": 1}
    late, counts = _text(redactor, "x" * 5000 + " " + secret)
    assert late == "x" * 1000 + "[TRUNCATED:5041]"
    assert counts == {"truncated": 1}


def test_overlapping_matches_resolve_to_the_more_specific_detector() -> None:
    jwt = CASES["jwt"][1]
    redacted, counts = _text(EVERYTHING, f"Authorization: Bearer {jwt}")
    assert redacted == "Authorization: Bearer [REDACTED:jwt]"
    assert counts == {"jwt": 1}


def test_several_secrets_in_one_value() -> None:
    text = f"a=ghp_{an(36)} b=AKIA{'A1B2C3D4E5F6G7H8'} c=ghp_{an(36)}"
    redacted, counts = _text(EVERYTHING, text)
    assert redacted == (
        "a=[REDACTED:github_pat] b=[REDACTED:aws_access_key_id] c=[REDACTED:github_pat]"
    )
    assert counts == {"github_pat": 2, "aws_access_key_id": 1}


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----",
        # JSON-escaped newlines, as in a serialized service-account key.
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIFHDBOBgkqhkiG9w0BBQ0w\\n"
        "-----END ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ],
)
def test_private_key_variants_including_a_cut_off_block(text: str) -> None:
    assert _text(EVERYTHING, f"k={text}")[0] == "k=[REDACTED:private_key]"


def test_actions_mask_hash_delete() -> None:
    secret = "ghp_" + an(36)
    masker = Redactor(RedactionSettings(actions={"github_pat": "mask"}))
    assert _text(masker, f"t={secret}")[0] == "t=" + "*" * 36 + secret[-4:]

    hasher = Redactor(RedactionSettings(default_action="hash", hash_key=HASH_KEY))
    digest = hmac.new(HASH_KEY, secret.encode(), hashlib.sha256).hexdigest()
    assert _text(hasher, f"t={secret}")[0] == f"t=hash:{digest}"
    other_key = Redactor(RedactionSettings(default_action="hash", hash_key=b"other"))
    assert _text(other_key, f"t={secret}")[0] != f"t=hash:{digest}"

    deleter = Redactor(RedactionSettings(actions={"credential": "delete"}))
    assert _text(deleter, f"t={secret}")[0] is None


def test_hash_needs_a_key() -> None:
    with pytest.raises(ValueError, match="hash_key"):
        Redactor(RedactionSettings(actions={"email": "hash"}))
    with pytest.raises(ValueError, match="hash_key"):
        Redactor(RedactionSettings(key_actions={"http.url": "hash"}))


def test_unknown_detector_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown detectors"):
        Redactor(RedactionSettings(pii_entities=frozenset({"passport"})))


def test_action_lookup_order_is_detector_then_kind_then_default() -> None:
    redactor = Redactor(
        RedactionSettings(
            actions={"email": "mask", "pii": "delete", "credential": "redact"},
            default_action="delete",
            pii_entities=frozenset({"email", "us_ssn"}),
        )
    )
    assert _text(redactor, "mail jane@example.com")[0] == "mail ************.com"
    assert _text(redactor, "ssn 536-90-4399")[0] is None
    assert _text(redactor, f"k=ghp_{an(36)}")[0] == "k=[REDACTED:github_pat]"


def test_span_attributes_nested_events_links_resource_and_status() -> None:
    secret = "ghp_" + an(36)
    record = _span(
        {
            "plain": "nothing here",
            "nested": {"list": ["ok", f"token {secret}"], "n": 3},
            "gen_ai.request.model": "gpt-4o",
        },
        status_message=f"failed with {secret}",
        events=[("exception", 1, {"exception.message": f"bad key {secret}"})],
    )
    record["resource_attributes"] = {"env.token": secret}
    result = Redactor(RedactionSettings()).redact_span(record)
    out = result.span
    assert out["attributes"]["nested"] == {"list": ["ok", "token [REDACTED:github_pat]"], "n": 3}
    assert out["attributes"]["plain"] == "nothing here"
    assert out["status_message"] == "failed with [REDACTED:github_pat]"
    assert out["events"][0]["attributes"] == {"exception.message": "bad key [REDACTED:github_pat]"}
    assert out["resource_attributes"] == {"env.token": "[REDACTED:github_pat]"}
    assert result.counts == {"github_pat": 4}
    assert record["attributes"]["nested"] == {"list": ["ok", f"token {secret}"], "n": 3}


def test_delete_drops_the_whole_attribute_even_from_a_nested_value() -> None:
    record = _span(
        {"keep": "fine", "args": {"deep": ["x", "mail jane@example.com"]}},
        events=[("e", 1, {"who": "jane@example.com", "ok": "yes"})],
    )
    out = Redactor(RedactionSettings(actions={"email": "delete"})).redact_span(record).span
    assert out["attributes"] == {"keep": "fine"}
    assert out["events"][0]["attributes"] == {"ok": "yes"}


def test_allowlist_and_key_actions() -> None:
    secret = "ghp_" + an(36)
    record = _span(
        {
            "debug.raw": f"t={secret}",
            "http.request.header.authorization": ["Bearer abc"],
            "user.email": "jane@example.com",
            "other": f"t={secret}",
        }
    )
    settings = RedactionSettings(
        allowlist=frozenset({"debug.raw"}),
        key_actions={"http.request.header.authorization": "redact", "user.email": "delete"},
    )
    result = Redactor(settings).redact_span(record)
    assert result.span["attributes"] == {
        "debug.raw": f"t={secret}",
        "http.request.header.authorization": "[REDACTED:attribute]",
        "other": "t=[REDACTED:github_pat]",
    }
    assert result.counts == {
        "github_pat": 1,
        "key:http.request.header.authorization": 1,
        "key:user.email": 1,
    }


def test_disabled_redaction_returns_the_span_untouched() -> None:
    record = _span({"t": "ghp_" + an(36)})
    result = Redactor(RedactionSettings(enabled=False)).redact_span(record)
    assert result.span is record
    assert result.counts == {}


def test_pii_entities_are_configurable() -> None:
    default = Redactor(RedactionSettings())
    assert _text(default, "call +1 415 555 2671 from 203.0.113.42")[1] == Counter()
    opted_in = Redactor(RedactionSettings(pii_entities=frozenset({"phone", "ipv4"})))
    assert _text(opted_in, "call +1 415 555 2671 from 203.0.113.42")[0] == (
        "call [REDACTED:phone] from [REDACTED:ipv4]"
    )
    no_credentials = Redactor(RedactionSettings(credentials=False))
    assert _text(no_credentials, f"t=ghp_{an(36)} jane@example.com")[0] == (
        f"t=ghp_{an(36)} [REDACTED:email]"
    )
    fewer = Redactor(RedactionSettings(disabled_detectors=frozenset({"github_pat"})))
    assert "github_pat" not in fewer.detector_ids


def test_batch_redacts_a_shared_resource_once() -> None:
    message = request(
        [span(span_id=b"\x01" * 8), span(span_id=b"\x02" * 8)],
        resource={"service.name": "svc", "owner": "jane@example.com"},
    )
    spans = decode_protobuf(message.SerializeToString()).spans
    out, counts = Redactor(RedactionSettings()).redact_spans(spans)
    assert out[0]["resource_attributes"] is out[1]["resource_attributes"]
    assert out[0]["resource_attributes"]["owner"] == "[REDACTED:email]"
    assert counts == {"email": 1}


def test_short_and_non_string_values_pass_through() -> None:
    record = _span({"n": 4111111111111111, "b": True, "s": "ok", "f": 1.5})
    assert Redactor(RedactionSettings()).redact_span(record).span["attributes"] == {
        "n": 4111111111111111,
        "b": True,
        "s": "ok",
        "f": 1.5,
    }


def test_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_valid("GB82")


def test_key_patterns_ending_with_a_star_are_prefixes() -> None:
    secret = "ghp_" + an(36)
    record = _span(
        {
            "gen_ai.prompt.0.content": "mail jane@example.com",
            "gen_ai.prompt.1.content": f"t={secret}",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.completion.0.content": "call jane@example.com",
            "debug.trace.raw": f"t={secret}",
            "debugger": f"t={secret}",
        }
    )
    settings = RedactionSettings(
        allowlist=frozenset({"debug.*"}),
        key_actions={
            "gen_ai.prompt.*": "delete",
            "gen_ai.prompt.1.*": "redact",
            "gen_ai.prompt.1.role": "mask",
        },
    )
    out = Redactor(settings).redact_span(record).span["attributes"]
    assert out == {
        # The longest prefix wins, and an exact key wins over every prefix.
        "gen_ai.prompt.1.content": "[REDACTED:attribute]",
        "gen_ai.prompt.1.role": "****",
        "gen_ai.completion.0.content": "call [REDACTED:email]",
        "debug.trace.raw": f"t={secret}",
        "debugger": "t=[REDACTED:github_pat]",
    }


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (RedactionSettings(pii_entities=frozenset({"jwt"})), "not PII detectors"),
        (RedactionSettings(disabled_detectors=frozenset({"nope"})), "disabled_detectors"),
        (RedactionSettings(actions={"secrets": "redact"}), "unknown detectors or kinds"),
        (RedactionSettings(key_actions={"k": "shred"}), "unknown actions"),  # type: ignore[dict-item]
        (RedactionSettings(allowlist=frozenset({"*"})), "bare `*`"),
        (RedactionSettings(allowlist=frozenset({"a*b"})), "last character"),
        (RedactionSettings(allowlist=frozenset(str(i) for i in range(300))), "at most"),
    ],
)
def test_settings_problems_are_reported_before_compiling(
    settings: RedactionSettings, problem: str
) -> None:
    problems = redact.settings_problems(settings)
    assert any(problem in p for p in problems), problems
    with pytest.raises(ValueError, match=problem.replace("`", "").split()[0]):
        Redactor(settings)


def test_good_settings_have_no_problems() -> None:
    settings = RedactionSettings(
        actions={"pii": "mask", "github_pat": "delete"},
        key_actions={"gen_ai.prompt.*": "hash"},
        pii_entities=frozenset({"email", "phone"}),
        hash_key=HASH_KEY,
    )
    assert redact.settings_problems(settings) == []
    assert redact.uses_hash(settings)
    assert not redact.uses_hash(RedactionSettings())


def test_a_batch_tells_which_spans_redaction_changed() -> None:
    secret = "ghp_" + an(36)
    message = request(
        [
            span(attributes={"plain": "nothing"}, span_id=b"\x00" * 7 + b"\x01"),
            span(attributes={"token": secret}, span_id=b"\x00" * 7 + b"\x02"),
            span(attributes={"plain": "nothing"}, span_id=b"\x00" * 7 + b"\x03"),
        ]
    )
    records = decode_protobuf(message.SerializeToString()).spans
    batch = Redactor(RedactionSettings()).redact_batch(records)
    assert batch.changed == [False, True, False]
    assert batch.counts == {"github_pat": 1}

    # A secret in the shared resource changes every span of that resource.
    with_resource = request([span(span_id=bytes([0] * 7 + [i])) for i in (1, 2)])
    shared = decode_protobuf(with_resource.SerializeToString()).spans
    resource = {"deploy.token": secret}
    shared = [{**record, "resource_attributes": resource} for record in shared]  # type: ignore[typeddict-item]
    batch = Redactor(RedactionSettings()).redact_batch(shared)
    assert batch.changed == [True, True]
    assert batch.counts == {"github_pat": 1}
    off = Redactor(RedactionSettings(enabled=False)).redact_batch(shared)
    assert off.changed == [False, False]
    assert off.spans == shared
