"""One true positive and one near miss per detector.

Secrets are assembled from repeating alphabets at import time so that no realistic-looking
credential sits in the repository for secret scanners to trip over.
"""

from __future__ import annotations

import base64


def _cycle(alphabet: str, n: int) -> str:
    return "".join(alphabet[i % len(alphabet)] for i in range(n))


def an(n: int) -> str:
    """Mixed-case alphanumerics."""
    return _cycle("aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY", n)


def hx(n: int) -> str:
    """Lowercase hex that never forms long digit runs."""
    return _cycle("a0b1c2d3e4f5a6b7c8d9", n)


def up(n: int) -> str:
    return _cycle("A1B2C3D4E5F6G7H8J9K0", n)


def b64(n: int) -> str:
    return _cycle("aB3+dE5/fG7hJ9kL2mN4", n)


def letters(n: int) -> str:
    return _cycle("aBcDeFgHjKmNpQrStUvWxYz", n)


_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIE" + b64(60) + "\n-----END RSA PRIVATE KEY-----"
_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ." + an(43)
_DISCORD_BOT = "M" + an(23) + "." + an(6) + "." + an(27)
_AGE = "AGE-SECRET-KEY-1" + _cycle("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
_BASIC = base64.b64encode(b"deploy:" + an(12).encode()).decode()

# detector id -> (text containing the secret, the exact secret, a near miss)
CASES: dict[str, tuple[str, str, str]] = {
    "private_key": (
        f"key:\n{_PEM}\nend",
        _PEM,
        "-----BEGIN PUBLIC KEY-----\nMIIB" + b64(60) + "\n-----END PUBLIC KEY-----",
    ),
    "gcp_service_account_key_id": (
        f'{{"type": "service_account", "private_key_id": "{hx(40)}"}}',
        hx(40),
        f'{{"private_key_id": "{hx(39)}"}}',
    ),
    "aws_access_key_id": (f"id AKIA{up(16)} ok", f"AKIA{up(16)}", f"id AKIA{up(15)} ok"),
    "aws_secret_access_key": (
        f'aws_secret_access_key = "{b64(40)}"',
        b64(40),
        f'aws_secret_access_key = "{b64(39)}"',
    ),
    "aws_session_token": (
        f"AWS_SESSION_TOKEN={b64(120)}",
        b64(120),
        f"AWS_SESSION_TOKEN={b64(60)}",
    ),
    "google_api_key": (f"key=AIza{an(35)}&q=1", f"AIza{an(35)}", f"key AIza{an(30)}"),
    "google_oauth_token": (f"token ya29.{an(40)}", f"ya29.{an(40)}", f"token ya29.{an(10)}"),
    "google_oauth_client_secret": (
        f"client GOCSPX-{an(28)}",
        f"GOCSPX-{an(28)}",
        f"client GOCSPX-{an(20)}",
    ),
    "azure_storage_key": (
        f"AccountName=x;AccountKey={b64(86)}==;EndpointSuffix=core.windows.net",
        f"{b64(86)}==",
        f"AccountName=x;AccountKey={b64(40)}==;",
    ),
    "azure_sas_signature": (
        f"https://a.blob.core.windows.net/c/b?sv=2022-11-02&sig={b64(44)}%3D",
        f"{b64(44)}%3D",
        "https://a.blob.core.windows.net/c/b?sv=2022-11-02&sig=short",
    ),
    "azure_client_secret": (
        f"AZURE_CLIENT_SECRET=abc8Q~{an(34)}",
        f"abc8Q~{an(34)}",
        f"value abc8Q-{an(34)}",
    ),
    "azure_api_key": (
        f"Ocp-Apim-Subscription-Key: {an(32)}",
        an(32),
        f"Ocp-Apim-Subscription-Key: {an(20)}",
    ),
    "digitalocean_token": (f"do dop_v1_{hx(64)}", f"dop_v1_{hx(64)}", f"do dop_v2_{hx(64)}"),
    "github_pat": (f"token ghp_{an(36)}", f"ghp_{an(36)}", f"token ghp_{an(35)}"),
    "github_fine_grained_pat": (
        f"github_pat_{an(22)}_{an(59)}",
        f"github_pat_{an(22)}_{an(59)}",
        f"github_pat_{an(30)}",
    ),
    "github_oauth_token": (f"gho_{an(36)}", f"gho_{an(36)}", f"gho-{an(36)}"),
    "github_app_token": (f"ghs_{an(36)}", f"ghs_{an(36)}", f"ghx_{an(36)}"),
    "github_refresh_token": (f"ghr_{an(76)}", f"ghr_{an(76)}", f"ghr_{an(20)}"),
    "gitlab_pat": (f"glpat-{an(20)}", f"glpat-{an(20)}", f"glpat-{an(10)}"),
    "gitlab_token": (f"glrt-{an(20)}", f"glrt-{an(20)}", f"glrx-{an(20)}"),
    "slack_token": (f"xoxb-{an(30)}", f"xoxb-{an(30)}", f"xoxz-{an(30)}"),
    "slack_app_token": (
        "xapp-1-A1B2C3D4E5-1234567890-abc123def456",
        "xapp-1-A1B2C3D4E5-1234567890-abc123def456",
        "xapp-x-A1B2-123-abc",
    ),
    "slack_webhook": (
        f"https://hooks.slack.com/services/T0001/B0002/{an(24)}",
        f"services/T0001/B0002/{an(24)}",
        "https://hooks.slack.com/services/short",
    ),
    "discord_webhook": (
        f"https://discord.com/api/webhooks/123456789012345678/{an(68)}",
        f"123456789012345678/{an(68)}",
        "https://discord.com/api/webhooks/123/abc",
    ),
    "discord_bot_token": (
        f"bot {_DISCORD_BOT}",
        _DISCORD_BOT,
        f"bot M{an(23)}.{an(4)}.{an(27)}",
    ),
    "telegram_bot_token": (
        f"123456789:AA{an(33)}",
        f"123456789:AA{an(33)}",
        f"123456789:BB{an(33)}",
    ),
    "stripe_secret_key": (f"sk_live_{an(24)}", f"sk_live_{an(24)}", f"sk_demo_{an(24)}"),
    "stripe_restricted_key": (f"rk_test_{an(30)}", f"rk_test_{an(30)}", f"rk_test_{an(10)}"),
    "webhook_signing_secret": (f"whsec_{b64(32)}", f"whsec_{b64(32)}", f"whsec_{an(8)}"),
    "square_token": (f"sq0atp-{an(22)}", f"sq0atp-{an(22)}", f"sq0xyz-{an(22)}"),
    "braintree_access_token": (
        f"access_token$production${hx(16)}${hx(32)}",
        f"access_token$production${hx(16)}${hx(32)}",
        f"access_token$sandbox${hx(16)}${hx(32)}",
    ),
    "twilio_api_key": (f"key SK{hx(32)}", f"SK{hx(32)}", f"key SK{hx(30)}"),
    "sendgrid_api_key": (
        f"SG.{an(22)}.{an(43)}",
        f"SG.{an(22)}.{an(43)}",
        f"SG.{an(10)}.{an(43)}",
    ),
    "mailgun_api_key": (f"key-{hx(32)}", f"key-{hx(32)}", f"key-{hx(16)}"),
    "mailchimp_api_key": (f"{hx(32)}-us21", f"{hx(32)}-us21", f"{hx(32)}-eu21"),
    "openai_api_key": (
        f"OPENAI sk-{an(20)}T3BlbkFJ{an(20)}",
        f"sk-{an(20)}T3BlbkFJ{an(20)}",
        f"OPENAI sk-{an(20)}X3BlbkFJ{an(20)}",
    ),
    "openai_project_key": (f"sk-proj-{an(100)}", f"sk-proj-{an(100)}", f"sk-proj-{an(20)}"),
    "anthropic_api_key": (
        f"sk-ant-api03-{an(93)}AA",
        f"sk-ant-api03-{an(93)}AA",
        f"sk-ant-api03-{an(20)}",
    ),
    "openrouter_api_key": (f"sk-or-v1-{hx(64)}", f"sk-or-v1-{hx(64)}", f"sk-or-v1-{hx(32)}"),
    "huggingface_token": (f"hf_{letters(34)}", f"hf_{letters(34)}", f"hf_{letters(20)}"),
    "cohere_api_key": (f"COHERE_API_KEY={an(40)}", an(40), f"cohere model {an(40)}"),
    "groq_api_key": (f"gsk_{an(52)}", f"gsk_{an(52)}", f"gsk_{an(40)}"),
    "xai_api_key": (f"xai-{an(80)}", f"xai-{an(80)}", f"xai-{an(30)}"),
    "perplexity_api_key": (f"pplx-{an(48)}", f"pplx-{an(48)}", f"pplx-{an(20)}"),
    "replicate_api_token": (f"r8_{an(37)}", f"r8_{an(37)}", f"r8_{an(20)}"),
    "npm_token": (f"npm_{an(36)}", f"npm_{an(36)}", f"npm_{an(20)}"),
    "pypi_token": (
        f"pypi-AgEIcHlwaS5vcmc{an(60)}",
        f"pypi-AgEIcHlwaS5vcmc{an(60)}",
        f"pypi-AgEIcHlwaS5vcmc{an(10)}",
    ),
    "dockerhub_pat": (f"dckr_pat_{an(27)}", f"dckr_pat_{an(27)}", f"dckr_pat_{an(10)}"),
    "vault_token": (f"hvs.{an(90)}", f"hvs.{an(90)}", f"hvs.{an(10)}"),
    "terraform_cloud_token": (
        f"{an(14)}.atlasv1.{an(65)}",
        f"{an(14)}.atlasv1.{an(65)}",
        f"{an(14)}.atlasv2.{an(65)}",
    ),
    "shopify_token": (f"shpat_{hx(32)}", f"shpat_{hx(32)}", f"shpat_{hx(20)}"),
    "atlassian_api_token": (f"ATATT3{an(180)}", f"ATATT3{an(180)}", f"ATATT3{an(20)}"),
    "linear_api_key": (f"lin_api_{an(40)}", f"lin_api_{an(40)}", f"lin_api_{an(20)}"),
    "notion_token": (f"ntn_{an(46)}", f"ntn_{an(46)}", f"ntn_{an(20)}"),
    "sentry_token": (f"sntrys_{an(60)}", f"sntrys_{an(60)}", f"sntrys_{an(10)}"),
    "newrelic_api_key": (f"NRAK-{up(27)}", f"NRAK-{up(27)}", f"NRAK-{up(10)}"),
    "supabase_token": (f"sbp_{hx(40)}", f"sbp_{hx(40)}", f"sbp_{hx(20)}"),
    "age_secret_key": (_AGE, _AGE, "AGE-SECRET-KEY-1" + "B" * 58),
    "corral_api_key": (f"Bearer-less crl_{an(43)}", f"crl_{an(43)}", f"crl_{an(10)}"),
    "jwt": (f"token {_JWT}", _JWT, "token eyJhbGciOiJIUzI1NiJ9"),
    "connection_string_password": (
        "postgresql://app:s3cr3t-pw@db.internal:5432/app",
        "s3cr3t-pw",
        "postgresql://db.internal:5432/app?user=app",
    ),
    "url_credentials": (
        "https://deploy:hunter2hunter2@git.example.com/repo.git",
        "hunter2hunter2",
        "https://git.example.com:8443/repo",
    ),
    "bearer_token": (
        f"Authorization: Bearer {an(40)}",
        an(40),
        "Authorization: Bearer short",
    ),
    "basic_auth": (f"Authorization: Basic {_BASIC}", _BASIC, "Basic authentication is enabled"),
    "password_assignment": (
        "db password=hunter2!x port=5432",
        "hunter2!x",
        "password=${DB_PASSWORD}",
    ),
    "secret_assignment": (
        f'{{"api_key": "{an(24)}"}}',
        an(24),
        '{"api_key": "<your-key-here>"}',
    ),
    "email": (
        "contact jane.doe+tag@example.co.uk today",
        "jane.doe+tag@example.co.uk",
        "mail user@localhost now",
    ),
    "iban": (
        "IBAN DE89 3704 0044 0532 0130 00",
        "DE89 3704 0044 0532 0130 00",
        "IBAN DE89 3704 0044 0532 0130 02",
    ),
    "credit_card": (
        "card 4111 1111 1111 1111 exp",
        "4111 1111 1111 1111",
        "card 4111 1111 1111 1112",
    ),
    "us_ssn": ("SSN 536-90-4399", "536-90-4399", "SSN 666-90-4399"),
    "phone": ("call +1 415 555 2671 now", "+1 415 555 2671", "call 555-2671 now"),
    "ipv4": ("client 203.0.113.42 connected", "203.0.113.42", "version 1.2.3.4.5 and 999.1.1.1"),
    "ipv6": (
        "from 2001:db8::8a2e:370:7334 ok",
        "2001:db8::8a2e:370:7334",
        "at 10:30:45 and a::b::c",
    ),
}
