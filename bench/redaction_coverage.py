"""Measure `redact.mask` against the gitleaks + detect-secrets example table.

Usage: python bench/redaction_coverage.py [secret_examples.tsv] [-v]

Prints the share of true-positive examples whose secret is masked and the share of false-positive
examples left untouched. A true positive counts as masked when the secret span found by the
upstream rule regex (read at run time from gitleaks.toml beside the table, never copied) no longer
occurs in the output; without a usable upstream regex, when the output changed at all.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from trace_harness.redact import mask

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "secrets" / "secret_examples.tsv"
_TEMPLATES = ("%s", "{secret}")
_FILENAME_RE = re.compile(r"^[\w./-]+\.[A-Za-z0-9]+$")

# True positives we knowingly leave, by upstream rule, with the reason. Only *unmasked* examples of
# these rules are excluded; masked ones still count. Context-free shapes (a bare UUID, hex or 40-char
# string) would blank every UUID and commit hash in CI logs, which destroys the evidence itself.
TP_ALLOWLIST = {
    "generic-api-key": "bare high-entropy strings: gitleaks decides by entropy; we keep hashes/ids readable",
    "snyk-api-token": "a bare UUID; UUIDs are ordinary ids in logs",
    "messagebird-client-id": "a bare UUID",
    "heroku-api-key": "a UUID under a `HEROKU_KEY`-style name; UUID values stay readable",
    "hubspot-api-key": "a UUID under a `hubspotKey` name",
    "sonar-api-token": "a bare 40-char alnum string: the shape of a commit hash",
    "clickhouse-cloud-api-secret-key": "a bare 42-char string with no prefix",
    "maxmind-license-key": "a bare 40-char string with no prefix",
    "1password-secret-key": "A3-… keys: the shape collides with part and build numbers",
    "sumologic-access-id": "14-char `su…` ids are not secrets by themselves",
    "sourcegraph-access-token": "a bare 40-hex string (a commit hash shape)",
    "facebook-secret": "a 32-hex value (an md5 shape) under free text",
    "facebook-access-token": "`appid|secret` pairs inside prose",
    "gcp-service-account": '`"type": "service_account"` names a file kind, not a secret',
    "kubernetes-secret-yaml": "base64 `data:` values need YAML structure (kind: Secret), not text rules",
    "sidekiq-secret": "`cafebabe:deadbeef` under a Bundler host env name",
    "age-secret-key": "the example body is one repeated filler character, which we treat as a placeholder",
    "aws-amazon-bedrock-api-key-long-lived": "the example is filled with EXAMPLE, which we treat as a placeholder",
    "curl-auth-user": "one example wraps both halves in template braces `{…}`, our placeholder form",
    "artifactory": "detect-secrets examples are x-filled placeholders; real AKCp…/cmVmd… keys are masked",
    "twilio": "x-filled placeholders; real SK/AC + 32 hex are masked",
    "discord": "one example starts with `A`, outside the documented M/N/O first character",
    "ip_public": "IP addresses are evidence, not credentials; normalization handles them",
}

# False positives we knowingly mask, by upstream rule. Over-masking costs an excerpt a few characters;
# under-masking leaks a credential, so for log text we lean to masking.
FP_ALLOWLIST = {
    "1password-service-account-token": "a truncated real token; masking the fragment is the safe side",
    "anthropic-api-key": "upstream rejects by exact length/suffix; any `sk-ant-` token is masked by design",
    "anthropic-admin-api-key": "as anthropic-api-key",
    "aws-amazon-bedrock-api-key-short-lived": "upstream rejects by decoded content; the prefix is masked by design",
    "azure-ad-client-secret": "signed-URL signatures and `Q~` secrets inside other text: masking is the safe side",
    "curl-auth-header": "a JWT after `Basic` is still a credential",
    "databricks-api-token": "a near-miss token assigned to `DATABRICKS_TOKEN`: any value under a token name is masked",
    "flyio-access-token": "a `signature` value: signatures grant access, so they are masked",
    "freemius-secret-key": "a value under `secret_key`: masked by the key/value rule",
    "gcp-api-key": "known-public keys gitleaks allowlists by value; we cannot know them, masking is safe",
    "generic-api-key": "values under `apiKey`, `*_key`, `csrf-token` names: masked by the key/value rule",
    "gitlab-rrt": "a digits-only runner token body; the GR1348941 prefix is masked by design",
    "mailchimp-api-key": "a value under `token:` is masked by the key/value rule",
    "cisco-meraki-api-key": "values under `*-api-key`/`*_token` names are masked by the key/value rule",
    "notion-api-token": "a digits-only `ntn_` body; the prefix is masked by design",
    "nuget-config-password": "the same text is an upstream true positive; upstream rejects it only by file path",
    "private-key": "any private-key block is masked, even a short or empty one",
    "kubernetes-secret-yaml": "a value under `secretKey:` is masked by the key/value rule",
    "sumologic-access-token": "values under `*_ACCESS_KEY` names are masked by the key/value rule",
    "artifactory": "`:_password=` values in .npmrc-style config are always masked",
    "npm": "`_authToken=` values are always masked, whatever their shape",
    # The token prefixes the product promises to mask (ghp_ gho_ ghu_ ghr_ ghs_ github_pat_ glpat- …) are masked
    # whatever the body looks like: filler bodies such as `ghs_AAAA…` are exactly what CI logs and tests plant.
    **{
        rule: "a required token prefix: masked whatever its body, filler included"
        for rule in (
            "github-app-token",
            "github-fine-grained-pat",
            "github-oauth",
            "github-pat",
            "github-refresh-token",
            "gitlab-pat",
            "gitlab-ptt",
        )
    },
    # Detectors that reject a token by exact length or charset; we mask any token with the prefix.
    **{
        rule: "prefix-masked by design; upstream rejects it by exact length or charset only"
        for rule in (
            "slack-bot-token",
            "slack-user-token",
            "slack-config-access-token",
            "slack-legacy-bot-token",
            "sourcegraph-access-token",
            "gitlab_token",
            "openai",
            "pypi_token",
            "jwt",
            "discord",
        )
    },
}


@dataclass(frozen=True)
class Example:
    source: str
    rule: str
    kind: str
    notes: str
    value: str

    @property
    def partial(self) -> bool:
        return "partial=True" in self.notes


def _decode(raw: str) -> str:
    """Undo the table's CSV-style quoting and literal ``\\n`` escapes (both lossy upstream)."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].replace('""', '"')
    return raw.replace("\\n", "\n").replace("\\t", "\t")


def _skeleton(text: str) -> str:
    return re.sub(r"[\s\\\"]", "", text)


def _clean_values(path: Path) -> dict[str, str]:
    """Undamaged originals from the JSON files beside the table, keyed by a quote-free skeleton."""
    values: list[str] = []
    gitleaks = path.parent / "gitleaks" / "gitleaks_rule_examples.json"
    if gitleaks.exists():
        values += [str(item["value"]) for item in json.loads(gitleaks.read_text(encoding="utf-8"))]
    detect = path.parent / "detect-secrets" / "detect_secrets_plugin_test_cases.json"
    if detect.exists():
        cases = json.loads(detect.read_text(encoding="utf-8"))
        values += [str(case["params"]["payload"]) for case in cases if "payload" in case.get("params", {})]
    return {_skeleton(value): value for value in values}


def load_examples(path: Path) -> Iterator[Example]:
    """Rows of the table; a value whose quoting the table damaged is restored from the JSON sources."""
    clean = _clean_values(path)
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 5:
                value = _decode(fields[4])
                yield Example(*fields[:4], clean.get(_skeleton(value), value))


def load_upstream_regexes(path: Path) -> dict[str, tuple[re.Pattern[str], int]]:
    toml = path.parent / "gitleaks" / "gitleaks.toml"
    if not toml.exists():
        return {}
    rules = tomllib.loads(toml.read_text(encoding="utf-8")).get("rules", [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Go-syntax character classes
        return {rule["id"]: compiled for rule in rules if "regex" in rule if (compiled := _compile(rule))}


def _compile(rule: dict[str, object]) -> tuple[re.Pattern[str], int] | None:
    pattern = str(rule["regex"])
    flags = re.IGNORECASE if "(?i)" in pattern else 0
    try:
        return re.compile(pattern.replace("(?i)", ""), flags), int(str(rule.get("secretGroup", 0)))
    except (re.error, ValueError):
        return None


def eligible(example: Example) -> bool:
    """Examples that contain a whole secret (or whole non-secret) in text form."""
    if example.kind not in ("true_positive", "false_positive") or example.partial:
        return False
    if any(template in example.value for template in _TEMPLATES):
        return False  # a format string in upstream test code: no literal secret to mask
    return not _FILENAME_RE.match(example.value.strip())


def secret_span(example: Example, regexes: dict[str, tuple[re.Pattern[str], int]]) -> str | None:
    compiled = regexes.get(example.rule)
    if compiled is None:
        return None
    pattern, group = compiled
    match = pattern.search(example.value)
    if match is None:
        return None
    index = group or (1 if pattern.groups else 0)
    return match.group(index) or None


def is_masked(example: Example, regexes: dict[str, tuple[re.Pattern[str], int]]) -> bool:
    masked = mask(example.value)
    secret = secret_span(example, regexes)
    if secret is None:
        return masked != example.value
    return secret not in masked


def evaluate(path: Path) -> dict[str, list[Example]]:
    regexes = load_upstream_regexes(path)
    result: dict[str, list[Example]] = {"tp": [], "tp_missed": [], "tp_allowlisted": [], "fp": [], "fp_masked": []}
    for example in filter(eligible, load_examples(path)):
        if example.kind == "false_positive":
            result["fp"].append(example)
            if mask(example.value) != example.value:
                result["fp_masked"].append(example)
        elif example.rule in TP_ALLOWLIST and not is_masked(example, regexes):
            result["tp_allowlisted"].append(example)
        else:
            result["tp"].append(example)
            if not is_masked(example, regexes):
                result["tp_missed"].append(example)
    return result


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.1f}%" if whole else "n/a"


def main(argv: list[str]) -> int:
    args = [arg for arg in argv if arg != "-v"]
    path = Path(args[0]) if args else DEFAULT_TABLE
    if not path.exists():  # the table lives outside the repository
        print(f"no example table at {path}", file=sys.stderr)
        return 2
    result = evaluate(path)
    tp, fp = len(result["tp"]), len(result["fp"])
    print(f"true positives masked:     {_rate(tp - len(result['tp_missed']), tp)}")
    print(f"  unmasked TPs excluded by the reasoned allowlist: {len(result['tp_allowlisted'])}")
    print(f"false positives untouched: {_rate(fp - len(result['fp_masked']), fp)}")
    if "-v" in argv:
        for key in ("tp_missed", "fp_masked", "tp_allowlisted"):
            for example in result[key]:
                print(f"{key}\t{example.source}\t{example.rule}\t{example.value[:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
