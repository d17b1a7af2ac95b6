"""Credential detectors: well-known secret formats, each an RE2 pattern with an id.

Order matters: when two detectors claim overlapping text the earlier one wins, so specific
formats come before generic ones (a JWT before a bearer header, a connection-string password
before any URL credential, everything before the `key = value` heuristics).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Validator = Callable[[str, int, int], bool]
"""Second opinion on a match: `(text, start, end) -> keep?` for checks RE2 cannot express."""


@dataclass(frozen=True, slots=True)
class Detector:
    id: str
    description: str
    pattern: str
    kind: Literal["credential", "pii"]
    # The capture group holding the sensitive part; 0 replaces the whole match.
    group: int = 1
    validate: Validator | None = None


_PLACEHOLDER_PREFIXES = ("[redacted", "${", "$(", "<", "{{", "%(", "***", "xxx", "hash:")
_PLACEHOLDERS = frozenset({"null", "none", "nil", "true", "false", "undefined", "redacted"})


def _not_placeholder(text: str, start: int, end: int) -> bool:
    value = text[start:end].lower()
    return value not in _PLACEHOLDERS and not value.startswith(_PLACEHOLDER_PREFIXES)


def _basic_credentials(text: str, start: int, end: int) -> bool:
    try:
        decoded = base64.b64decode(text[start:end], validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _cred(
    detector_id: str, description: str, pattern: str, validate: Validator | None = None
) -> Detector:
    return Detector(detector_id, description, pattern, "credential", 1, validate)


_KEY_VALUE = r"""['"]?\s*[:=]\s*['"]?"""
_URL_USER = r"""[^\s:/@'"]*"""

CREDENTIAL_DETECTORS: tuple[Detector, ...] = (
    _cred(
        "private_key",
        "PEM private key block (RSA, EC, DSA, OpenSSH, PGP, PKCS#8, encrypted)",
        r"(-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]*))",
    ),
    _cred(
        "gcp_service_account_key_id",
        "Google Cloud service-account JSON key id",
        r'"private_key_id"\s*:\s*"([0-9a-f]{40})"',
    ),
    _cred(
        "aws_access_key_id",
        "AWS access key id (long-term or temporary)",
        r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b",
    ),
    _cred(
        "aws_secret_access_key",
        "AWS secret access key assigned to a named variable",
        r"(?i)aws_?secret_?access_?key" + _KEY_VALUE + r"([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|\z)",
    ),
    _cred(
        "aws_session_token",
        "AWS session token assigned to a named variable",
        r"(?i)aws_?session_?token" + _KEY_VALUE + r"([A-Za-z0-9/+=]{100,})",
    ),
    _cred(
        "google_api_key",
        "Google API key (Google Cloud, Gemini / AI Studio, Firebase)",
        r"\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|\z)",
    ),
    _cred("google_oauth_token", "Google OAuth access token", r"\b(ya29\.[0-9A-Za-z_-]{20,})"),
    _cred(
        "google_oauth_client_secret",
        "Google OAuth client secret",
        r"\b(GOCSPX-[0-9A-Za-z_-]{28})",
    ),
    _cred(
        "azure_storage_key",
        "Azure storage account key in a connection string",
        r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
    ),
    _cred(
        "azure_sas_signature",
        "Azure shared access signature (sig= parameter)",
        r"[?&]sig=([A-Za-z0-9%+/]{40,}(?:%3[Dd]|=){0,2})",
    ),
    _cred(
        "azure_client_secret",
        "Azure AD (Entra ID) application client secret",
        r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})"
        r"(?:[^A-Za-z0-9_~.-]|\z)",
    ),
    _cred(
        "azure_api_key",
        "Azure OpenAI / API Management key assigned to a named header or variable",
        r"(?i)(?:ocp-apim-subscription-key|azure[_-]?(?:openai[_-]?)?api[_-]?key)"
        + _KEY_VALUE
        + r"([A-Za-z0-9]{32})\b",
    ),
    _cred(
        "digitalocean_token",
        "DigitalOcean personal, OAuth or refresh token",
        r"\b(do[opr]_v1_[a-f0-9]{64})\b",
    ),
    _cred("github_pat", "GitHub personal access token (classic)", r"\b(ghp_[A-Za-z0-9]{36})\b"),
    _cred(
        "github_fine_grained_pat",
        "GitHub fine-grained personal access token",
        r"\b(github_pat_[A-Za-z0-9_]{82})\b",
    ),
    _cred("github_oauth_token", "GitHub OAuth access token", r"\b(gho_[A-Za-z0-9]{36})\b"),
    _cred(
        "github_app_token",
        "GitHub App user-to-server or installation token",
        r"\b(gh[us]_[A-Za-z0-9]{36})\b",
    ),
    _cred("github_refresh_token", "GitHub refresh token", r"\b(ghr_[A-Za-z0-9]{36,76})\b"),
    _cred("gitlab_pat", "GitLab personal access token", r"\b(glpat-[0-9A-Za-z_.-]{20,})"),
    _cred(
        "gitlab_token",
        "GitLab runner, deploy or pipeline-trigger token",
        r"\b((?:glrt|gldt|glptt)-[0-9A-Za-z_.-]{20,})",
    ),
    _cred(
        "slack_token",
        "Slack bot, user, app-level or refresh token",
        r"\b(xox[abeoprs]-[0-9A-Za-z-]{10,})",
    ),
    _cred(
        "slack_app_token",
        "Slack app-level token",
        r"\b(xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+)\b",
    ),
    _cred(
        "slack_webhook",
        "Slack incoming webhook or workflow URL",
        r"hooks\.slack\.com/((?:services|workflows|triggers)/[A-Za-z0-9/_+-]{20,})",
    ),
    _cred(
        "discord_webhook",
        "Discord webhook URL",
        r"discord(?:app)?\.com/api/webhooks/([0-9]+/[A-Za-z0-9_-]{60,})",
    ),
    _cred(
        "discord_bot_token",
        "Discord bot token",
        r"\b([MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})\b",
    ),
    _cred(
        "telegram_bot_token",
        "Telegram bot token",
        r"\b([0-9]{8,10}:AA[0-9A-Za-z_-]{33})(?:[^0-9A-Za-z_-]|\z)",
    ),
    _cred("stripe_secret_key", "Stripe secret key", r"\b(sk_(?:live|test)_[0-9A-Za-z]{24,})"),
    _cred(
        "stripe_restricted_key", "Stripe restricted key", r"\b(rk_(?:live|test)_[0-9A-Za-z]{24,})"
    ),
    _cred(
        "webhook_signing_secret",
        "Stripe or Standard Webhooks signing secret (whsec_)",
        r"\b(whsec_[A-Za-z0-9+/=]{24,})",
    ),
    _cred(
        "square_token",
        "Square access token or OAuth secret",
        r"\b(sq0(?:atp|csp)-[0-9A-Za-z_-]{22,43})",
    ),
    _cred(
        "braintree_access_token",
        "Braintree / PayPal production access token",
        r"(access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})",
    ),
    _cred("twilio_api_key", "Twilio API key", r"\b(SK[0-9a-fA-F]{32})\b"),
    _cred(
        "sendgrid_api_key",
        "SendGrid API key",
        r"\b(SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43})(?:[^0-9A-Za-z_-]|\z)",
    ),
    _cred("mailgun_api_key", "Mailgun API key", r"\b(key-[0-9a-f]{32})\b"),
    _cred("mailchimp_api_key", "Mailchimp API key", r"\b([0-9a-f]{32}-us[0-9]{1,2})\b"),
    _cred(
        "openai_api_key",
        "OpenAI API key (user, project, service-account or admin)",
        r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})",
    ),
    _cred(
        "openai_project_key",
        "OpenAI project, service-account or admin key (newer format)",
        r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,})",
    ),
    _cred(
        "anthropic_api_key",
        "Anthropic API or admin key",
        r"\b(sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_-]{80,})",
    ),
    _cred("openrouter_api_key", "OpenRouter API key", r"\b(sk-or-v1-[a-f0-9]{64})\b"),
    _cred("huggingface_token", "Hugging Face access token", r"\b(hf_[A-Za-z]{34})\b"),
    _cred(
        "cohere_api_key",
        "Cohere API key assigned to a named variable",
        r"(?i)co(?:here)?_?api_?key" + _KEY_VALUE + r"([A-Za-z0-9]{40})\b",
    ),
    _cred("groq_api_key", "Groq API key", r"\b(gsk_[A-Za-z0-9]{52})\b"),
    _cred("xai_api_key", "xAI API key", r"\b(xai-[A-Za-z0-9]{80})\b"),
    _cred("perplexity_api_key", "Perplexity API key", r"\b(pplx-[A-Za-z0-9]{48})\b"),
    _cred("replicate_api_token", "Replicate API token", r"\b(r8_[A-Za-z0-9]{37})\b"),
    _cred("npm_token", "npm access token", r"\b(npm_[A-Za-z0-9]{36})\b"),
    _cred("pypi_token", "PyPI API token", r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})"),
    _cred("dockerhub_pat", "Docker Hub personal access token", r"\b(dckr_pat_[A-Za-z0-9_-]{27,})"),
    _cred("vault_token", "HashiCorp Vault token", r"\b(hv[sbr]\.[A-Za-z0-9_-]{24,})"),
    _cred(
        "terraform_cloud_token",
        "Terraform Cloud / Enterprise API token",
        r"\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})",
    ),
    _cred(
        "shopify_token",
        "Shopify access token or shared secret",
        r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
    ),
    _cred("atlassian_api_token", "Atlassian API token", r"\b(ATATT3[A-Za-z0-9_=-]{100,})"),
    _cred("linear_api_key", "Linear API key", r"\b(lin_api_[A-Za-z0-9]{40})\b"),
    _cred("notion_token", "Notion integration token", r"\b(ntn_[A-Za-z0-9]{40,})"),
    _cred(
        "sentry_token",
        "Sentry organization or user auth token",
        r"\b(sntry[su]_[A-Za-z0-9_=+/-]{40,})",
    ),
    _cred("newrelic_api_key", "New Relic user API key", r"\b(NRAK-[A-Z0-9]{27})\b"),
    _cred("supabase_token", "Supabase personal access token", r"\b(sbp_[a-f0-9]{40})\b"),
    _cred(
        "age_secret_key",
        "age encryption secret key",
        r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
    ),
    _cred("corral_api_key", "Corral API key", r"\b(crl_[A-Za-z0-9_-]{20,})"),
    _cred(
        "jwt",
        "JSON Web Token (signed or unsigned)",
        r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)",
    ),
    _cred(
        "connection_string_password",
        "Password inside a database or broker connection URI",
        r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver"
        r"|clickhouse|cockroachdb|oracle)(?:\+[a-z0-9]+)?://" + _URL_USER + r""":([^\s@/'"]+)@""",
    ),
    _cred(
        "url_credentials",
        "Password in the user-info part of any URL",
        r"\b[a-z][a-z0-9+.-]*://" + _URL_USER + r""":([^\s@/'"]+)@""",
        _not_placeholder,
    ),
    _cred(
        "bearer_token",
        "Bearer token in an Authorization header",
        r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)",
        _not_placeholder,
    ),
    _cred(
        "basic_auth",
        "Basic credentials in an Authorization header",
        r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})",
        _basic_credentials,
    ),
    _cred(
        "password_assignment",
        "Value assigned to a password-like name (password=, passwd:, pwd=)",
        r"(?i)(?:password|passwd|pwd)" + _KEY_VALUE + r"""([^\s'",;&]{4,})""",
        _not_placeholder,
    ),
    _cred(
        "secret_assignment",
        "Value assigned to a secret-like name (secret=, api_key:, access_token=, …)",
        r"(?i)(?:secret|api[_-]?key|access[_-]?token|auth[_-]?token|private[_-]?key)"
        + _KEY_VALUE
        + r"""([^\s'",;&]{8,})""",
        _not_placeholder,
    ),
)
