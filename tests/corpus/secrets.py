"""The redaction attack corpus: one line per format a secret is written in, each holding a
secret that must not survive `console.core.redact.redact`, and the name that must.

(label, text, secret, kept). `secret` is the exact string that must be gone; `kept` a part
that must remain (the variable or header name) so a reader still sees a secret was set.
"""

from __future__ import annotations

S = "s3cr3tV4lue9"  # a plain secret value, no recognisable shape
HF = "hf_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
SK = "sk-" + "proj-Ab12Cd34Ef56Gh78Ij90Kl12"
GHP = "ghp_" + "A" * 12 + "b" * 12 + "1234567890ab"
GHPAT = "github_pat_" + "11ABCDEFG0" + "x" * 40
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
XOX = "xoxb-" + "123456789012-abcdefABCDEF"
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq0mysecretbody\n"
       "-----END RSA PRIVATE KEY-----")
OPENSSH = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAsecretbody\n"
           "-----END OPENSSH PRIVATE KEY-----")

SECRETS: list[tuple[str, str, str, str]] = [
    ("env upper", f"HF_TOKEN={S}", S, "HF_TOKEN"),
    ("env export", f"export OPENAI_API_KEY={S}", S, "OPENAI_API_KEY"),
    ("env lower aws", f"aws_secret_access_key = {S}", S, "aws_secret_access_key"),
    ("lower client_secret", f"client_secret={S}", S, "client_secret"),
    ("mixed Password colon", f"Password: {S}", S, "Password"),
    ("yaml password spaces", "password: correct horse battery staple", "horse battery", "password"),
    ("yaml indented", f"  db_password: {S}", S, "db_password"),
    ("json key", f'{{"api_key": "{S}"}}', S, "api_key"),
    ("json upper", f'{{"HF_TOKEN": "{S}"}}', S, "HF_TOKEN"),
    ("json spaces in value", '{"password": "two words; and more"}', "two words", "password"),
    ("quoted with semicolon", 'DB_PASSWORD="ab;cd ef"', "ab;cd ef", "DB_PASSWORD"),
    ("single quoted", "secret_key='my secret key'", "my secret key", "secret_key"),
    ("unquoted semicolon", f"client_secret={S};next", S, "client_secret"),
    ("python kwarg", f"login(token='{S}')", S, "token"),
    ("python kwarg hf", f'hf_token="{S}"', S, "hf_token"),
    ("ini", f"api_key = {S}", S, "api_key"),
    ("toml", f'secret = "{S}"', S, "secret"),
    ("header authorization bearer", f"Authorization: Bearer {S}", S, "Authorization"),
    ("header authorization basic", "Authorization: Basic dXNlcjpwYXNzd29yZA==",
     "dXNlcjpwYXNzd29yZA==", "Authorization"),
    ("header authorization bare", f"authorization: {S}", S, "authorization"),
    ("header proxy authorization", f"Proxy-Authorization: Basic {S}", S, "Proxy-Authorization"),
    ("header x-api-key", f"x-api-key: {S}", S, "x-api-key"),
    ("header X-Api-Key", f"X-Api-Key: {S}", S, "X-Api-Key"),
    ("header x-auth-token", f"X-Auth-Token: {S}", S, "X-Auth-Token"),
    ("header cookie", f"Cookie: session={S}; theme=dark", S, "Cookie"),
    ("curl header", f'curl -H "Authorization: Bearer {S}" https://x.example', S, "curl"),
    ("url user:password", f"https://alice:{S}@example.com/repo.git", S, "example.com"),
    ("url db", f"postgres://app:{S}@db:5432/x", S, "db:5432"),
    ("key value upper", f"HF_TOKEN {S}", S, "HF_TOKEN"),
    ("key value netrc", f"machine example.com login alice password {S}", S, "password"),
    ("key value api key", f"api_key {S}", S, "api_key"),
    ("cli flag", f"--token {S}", S, "--token"),
    ("cli flag equals", f"--hf-token={S}", S, "--hf-token"),
    ("cli password", f"--password {S}", S, "--password"),
    ("hf token shape", f"using {HF} now", HF, "using"),
    ("openai shape", f"key is {SK}", SK, "key is"),
    ("github classic", f"remote {GHP}", GHP, "remote"),
    ("github fine-grained", f"pat {GHPAT}", GHPAT, "pat"),
    ("aws access key id", f"id {AKIA}", AKIA, "id"),
    ("slack", f"slack {XOX}", XOX, "slack"),
    ("pem rsa", f"key:\n{PEM}\nafter", "mysecretbody", "after"),
    ("pem openssh", OPENSSH, "secretbody", "BEGIN"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
     "dozjgNryP4J3jVmNHl0w5N", ""),
    ("passphrase", f"GPG_PASSPHRASE={S}", S, "GPG_PASSPHRASE"),
    ("credentials", f"credentials: {S}", S, "credentials"),
    ("access token lower", f"access_token={S}", S, "access_token"),
    ("refresh token json", f'"refresh_token":"{S}"', S, "refresh_token"),
]

# Model facts that look a little like secrets and must stay as they are.
NOT_SECRETS: list[str] = [
    "missing_keys=['lm_head.weight']",
    "num_key_value_heads: 8",
    "pad_token: <pad>",
    'eos_token="</s>"',
    "max_new_tokens=64",
    "bos_token_id: 2",
    "hf_token=None",
    "generated 12 tokens",
]
