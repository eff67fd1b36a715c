"""No planted secret leaves the process: every file, forge row, stdout and stderr line is scanned.

Evidence of every kind is written to a tmp dir with secrets planted in every field a reader keeps
(excerpts, ids, test names, messages, paths and file names). The real CLI then runs in-process
(``report``, ``manifest``, ``plan``, ``run`` twice on the local forge), plus the error paths, and
the test asserts that no planted value appears in anything written. JUnit and JSONL are not wired
into the CLI yet, so they go through the library pipeline (reader → accumulator → report/manifest/body).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_harness.cli import main
from trace_harness.cluster import ClusterAccumulator
from trace_harness.driver import tracking_body
from trace_harness.evidence.actions_log import CONTEXT_LINES, read_actions_log
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.jsonl import read_jsonl
from trace_harness.evidence.junit import read_junit
from trace_harness.evidence.manifest import ManifestBuilder
from trace_harness.evidence.manifest import manifest_json as v2_manifest_json
from trace_harness.evidence.th_manifest import build_manifest
from trace_harness.evidence.th_manifest import manifest_json as th_manifest_json
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import Finding
from trace_harness.report import build_report, report_json
from trace_harness.taxonomy import FailureClass

# Built by concatenation so the repository itself holds no scanner-shaped literal.
GITHUB_TOKEN = "ghp_" + "k3Tz8hLq2Wv9Xr4Nm7Bc1Dy6Fp0Gs5Hj2Ka"
FINE_GRAINED_PAT = "github_pat_" + "11ABCDEFG0qW3eR5tY7uI9oP1aS3dF5gH7jK9lZ2xC4vB6nM8"
AWS_KEY_ID = "AKIA" + "Q7ZL4XK2MB9TWE5R"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq9Lk3Tz8h"
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJsZWFrLXRlc3QtOTE3In0" + ".c2lnbmF0dXJlLXBsYW50ZWQtNDI"
BEARER = "b3arerPlanted9Zq8Xw7Vu6Ts5"
USERINFO_PASSWORD = "s3cr3tUserinfoPass77"
PASSWORD = "Hunter2Planted9x"
CLONE_URL = f"https://ci-bot:{USERINFO_PASSWORD}@github.com/acme/app.git"
_RNG = random.Random(7)
PEM_BODY = tuple(base64.b64encode(_RNG.randbytes(48)).decode() for _ in range(40))
PEM_BEGIN, PEM_END = "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"
PEM_LINES = (PEM_BEGIN, *PEM_BODY[:8], PEM_END)

SECRETS = {
    "github": GITHUB_TOKEN,
    "github_pat": FINE_GRAINED_PAT,
    "aws_key_id": AWS_KEY_ID,
    "aws_secret": AWS_SECRET,
    "jwt": JWT,
    "bearer": BEARER,
    "userinfo": USERINFO_PASSWORD,
    "password": PASSWORD,
    **{f"pem_line_{index}": line for index, line in enumerate(PEM_BODY)},
}
SECRET_TEXT = (
    f"push to {CLONE_URL} failed; Authorization: Bearer {BEARER} password={PASSWORD} "
    f"aws_secret_access_key={AWS_SECRET} key {AWS_KEY_ID} pat {FINE_GRAINED_PAT}"
)
TS = "2026-06-18T09:00:00.1234567Z"


def leaks(text: str) -> list[str]:
    """Names of the planted secrets whose value occurs in ``text``."""
    return sorted(name for name, value in SECRETS.items() if value in text)


def scan_tree(root: Path) -> dict[str, list[str]]:
    """Every file under ``root`` (raw bytes, so SQLite pages and WAL too) and every path name."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        text = path.read_bytes().decode("utf-8", "replace") if path.is_file() else ""
        if hits := leaks(text):
            found[path.name] = hits
    return found


# -- evidence files ------------------------------------------------------------------------------


def worker_log_text() -> str:
    records = []
    for index in range(3):
        records.append(
            f"2026/06/18 09:0{index}:00 event=runner_timeout task_id=run-{index}-{GITHUB_TOKEN} "
            f"issue_id={AWS_KEY_ID}-{index} issue_identifier=ENG-{index}-{FINE_GRAINED_PAT} session_id=s-{JWT}{index} "
            f'msg="timed out: {SECRET_TEXT}" payload=map[elapsed_ms:5 task_id:{GITHUB_TOKEN} error:{CLONE_URL}]'
        )
        records.append(
            f"2026/06/18 09:1{index}:00 event=runner_end task_id=end-{index}-{FINE_GRAINED_PAT} "
            f'issue_id=i-{index} msg="runner failed: {SECRET_TEXT}" payload=map[exit_code:1 raw:{PEM_BEGIN}\n'
            + "\n".join(PEM_LINES[1:])
            + "]"
        )
    return "\n".join(records) + "\n"


def actions_log_text(run: int) -> str:
    lines = [
        "##[group]Run ./deploy.sh",
        "./deploy.sh",
        "##[endgroup]",
        f"git clone {CLONE_URL}",
        *PEM_LINES,
        f"export AWS_ACCESS_KEY_ID={AWS_KEY_ID}",
        f"aws_secret_access_key={AWS_SECRET}",
        f'curl -H "Authorization: Bearer {BEARER}" https://api.example.invalid/deploy',
        f"Error: HTTP 401 Bad credentials for {GITHUB_TOKEN} session {JWT} password={PASSWORD}",
        *PEM_LINES,
        "##[error]Process completed with exit code 1.",
    ]
    return "".join(f"{TS} {line}\n" for line in ["Uses: acme/app/.github/workflows/ci.yml@main", *lines])


def junit_text() -> str:
    message = f"AssertionError: {SECRET_TEXT}"
    cases = "".join(
        f'<testcase classname="tests.test_auth" name="test_login[{GITHUB_TOKEN}-{index}]" time="0.1">'
        f'<failure message="{message}" type="AssertionError">{chr(10).join(PEM_LINES)}\n{JWT}</failure></testcase>'
        for index in range(2)
    )
    return f'<?xml version="1.0"?><testsuites><testsuite name="s-{AWS_KEY_ID}">{cases}</testsuite></testsuites>\n'


def jsonl_text() -> str:
    records = [
        {
            "type": "error",
            "level": "error",
            "timestamp": f"2026-06-18T09:0{index}:00Z",
            "message": f"model call failed: {SECRET_TEXT}\n" + "\n".join(PEM_LINES),
            "session_id": f"sess-{JWT}-{index}",
            "task_id": f"task-{GITHUB_TOKEN}-{index}",
            "issue_id": f"{AWS_KEY_ID}-{index}",
        }
        for index in range(2)
    ]
    return "".join(json.dumps(record) + "\n" for record in records)


def raw_th_manifest() -> str:
    """A hand-written (hostile or pre-redaction) trace-harness-manifest/v1 carrying raw secrets."""
    record = {
        "cluster_id": "infra-tooling-0badc0de",
        "failure_class": "infra_tooling",
        "title": f"auth failed {GITHUB_TOKEN}",
        "symptom_class": "infra tooling",
        "signature": f"line:401 {JWT}",
        "source": "actions_log",
        "ref": f"logs/{AWS_KEY_ID}.txt:3",
        "kind": "step_failure",
        "timestamp": "2026-06-18T09:00:00Z",
        "excerpt": f"{SECRET_TEXT}\n" + "\n".join(PEM_LINES),
        "metadata": {"job": f"deploy {CLONE_URL}", "token": GITHUB_TOKEN},
        "run": f"run-{GITHUB_TOKEN}",
        "job": f"job password={PASSWORD}",
    }
    runs = [{"run": f"run-{GITHUB_TOKEN}-{n}", "findings": [{**record, "run": f"r{n}-{GITHUB_TOKEN}"}]} for n in (1, 2)]
    return json.dumps({"schema_version": "trace-harness-manifest/v1", "runs": runs})


def raw_v2_manifest() -> str:
    """A hand-written aiops trace-evidence-manifest/v2 with raw secrets in events and id summaries."""
    ids = {"issues": [f"{AWS_KEY_ID}-1", f"{AWS_KEY_ID}-2"], "runs": [f"run-{GITHUB_TOKEN}-{n}" for n in (1, 2)]}
    event = {
        "class": "runner-timeout",
        "source": "worker_log",
        "ref": f"worker-{GITHUB_TOKEN}.log:1",
        "kind": "runner_timeout",
        "excerpt": SECRET_TEXT,
        "metadata": {"timestamp": "2026/06/18 09:00:00", "error": CLONE_URL},
        "affected": ids,
    }
    run = {"run": f"run-{GITHUB_TOKEN}", "affected_by_class": {"runner-timeout": ids}, "events": [event]}
    return json.dumps({"schema_version": "trace-evidence-manifest/v2", "runs": [run]})


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory: no token in the environment, no config, no bundled examples."""
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_EVENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_evidence(root: Path) -> dict[str, Path]:
    """Every evidence kind, under a directory whose name is a token, with secrets in the file names too."""
    folder = root / "in" / GITHUB_TOKEN
    actions = folder / "logs_1234567" / f"1_deploy-{AWS_KEY_ID}.txt"
    actions_two = folder / "logs_7654321" / f"1_deploy-{AWS_KEY_ID}.txt"
    files = {
        "worker": folder / f"worker-{AWS_KEY_ID}.log",
        "actions": actions,
        "actions_two": actions_two,
        "junit": folder / f"junit-{AWS_KEY_ID}.xml",
        "jsonl": folder / f"events-{AWS_KEY_ID}.jsonl",
        "th_manifest": folder / f"th-{AWS_KEY_ID}.json",
        "v2_manifest": folder / f"v2-{AWS_KEY_ID}.json",
    }
    texts = {
        "worker": worker_log_text(),
        "actions": actions_log_text(1),
        "actions_two": actions_log_text(2),
        "junit": junit_text(),
        "jsonl": jsonl_text(),
        "th_manifest": raw_th_manifest(),
        "v2_manifest": raw_v2_manifest(),
    }
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[name], encoding="utf-8")
    return files


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# -- the whole CLI ---------------------------------------------------------------------------------


def test_planted_evidence_really_carries_every_secret(workspace: Path) -> None:
    files = write_evidence(workspace)
    planted = "".join(path.read_text() + str(path) for path in files.values())
    assert set(leaks(planted)) >= {"github", "github_pat", "aws_key_id", "aws_secret", "jwt", "bearer", "password"}
    assert "userinfo" in leaks(planted) and "pem_line_0" in leaks(planted)


def test_cli_outputs_hold_no_planted_secret(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = write_evidence(workspace)
    out, state = workspace / "out", workspace / "state"
    out.mkdir()
    evidence = [str(files[name]) for name in ("worker", "actions", "actions_two", "th_manifest", "v2_manifest")]
    streams: dict[str, str] = {}
    commands = {
        "report": ["report", "--worker-log", str(files["worker"]), "--evidence-manifest", str(files["v2_manifest"]),
                   "--json-out", str(out / "report.json"), "--evaluator-results-out", str(out / "evaluator.json")],
        "manifest": ["manifest", "--worker-log", str(files["worker"]), "--json-out", str(out / "manifest.json")],
        "report_stdout": ["report", "--worker-log", str(files["worker"])],
        "plan": ["plan", "--forge", "local", "--state-dir", str(state), "--evidence", *evidence],
        "run_1": ["run", "--forge", "local", "--state-dir", str(state), "--evidence", *evidence],
        "run_2": ["run", "--forge", "local", "--state-dir", str(state), "--evidence", *evidence],
        "prior": ["report", "--worker-log", str(files["worker"]),
                  "--prior-evaluator-results", str(out / "evaluator.json"), "--json-out", str(out / "again.json")],
    }  # fmt: skip
    for name, argv in commands.items():
        code, streams[name] = run_cli(capsys, *argv)
        assert code == 0, (name, streams[name])
    report = json.loads((out / "report.json").read_text())
    assert report["clusters"], "the planted evidence must produce clusters, or this test proves nothing"
    assert (state / "forge.sqlite").exists() and "Filed" in streams["run_1"]
    assert {name: hits for name, text in streams.items() if (hits := leaks(text))} == {}
    assert scan_tree(out) == {}
    assert scan_tree(state) == {}


def test_forge_rows_hold_no_planted_secret(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    files = write_evidence(workspace)
    state = workspace / "state"
    evidence = [str(files[name]) for name in ("worker", "actions", "actions_two", "th_manifest")]
    for _ in range(2):
        assert run_cli(capsys, "run", "--forge", "local", "--state-dir", str(state), "--evidence", *evidence)[0] == 0
    with sqlite3.connect(state / "forge.sqlite") as db:
        rows = [*db.execute("SELECT title, body, labels FROM issues"), *db.execute("SELECT body, '', '' FROM comments")]
    assert rows, "the run must file issues, or this test proves nothing"
    assert [leaks(" ".join(row)) for row in rows if leaks(" ".join(row))] == []
    code, text = run_cli(capsys, "issues", "--forge", "local", "--state-dir", str(state), "--json", "--all")
    assert code == 0 and json.loads(text) and leaks(text) == []


# -- error paths -----------------------------------------------------------------------------------


def error_cases(root: Path, files: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    folder = files["worker"].parent
    wrong = folder / f"wrong-{AWS_KEY_ID}.json"
    wrong.write_text(json.dumps({"schema_version": f"bogus/{GITHUB_TOKEN}", "runs": []}))
    bad_th = folder / f"bad-th-{AWS_KEY_ID}.json"
    bad_th.write_text(f'{{"schema_version": "trace-harness-manifest/v1", "runs": "{GITHUB_TOKEN}"}}')
    missing = folder / f"missing-{AWS_KEY_ID}.log"
    state = ["--forge", "local", "--state-dir", str(root / "state")]
    yield "wrong-schema v2 manifest", ["report", "--evidence-manifest", str(wrong)]
    yield "wrong-schema evaluator results", ["report", "--worker-log", str(files["worker"]),
                                             "--prior-evaluator-results", str(wrong)]  # fmt: skip
    yield "report as manifest", ["report", "--evidence-manifest", str(files["th_manifest"])]
    yield "missing worker log", ["report", "--worker-log", str(missing)]
    yield "missing manifest input", ["manifest", "--worker-log", str(missing)]
    yield "missing evidence path", ["run", *state, "--evidence", str(missing)]
    yield "missing report file", ["plan", *state, "--report", str(missing)]
    yield "wrong-kind report file", ["plan", *state, "--report", str(wrong)]
    yield "malformed th manifest", ["plan", *state, "--evidence", str(bad_th)]
    yield "missing config", ["report", "--worker-log", str(files["worker"]), "--config", str(missing)]


def test_error_lines_mask_tokens_in_paths(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = write_evidence(workspace)
    results = {}
    for name, argv in error_cases(workspace, files):
        code, text = run_cli(capsys, *argv)
        results[name] = (code, leaks(text))
    failed = {name: code for name, (code, _) in results.items() if code != 0}
    assert {"wrong-schema v2 manifest", "missing worker log", "missing evidence path"} <= set(failed)
    assert {name: hits for name, (_, hits) in results.items() if hits} == {}


def test_bad_config_error_is_masked(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = write_evidence(workspace)
    config = files["worker"].parent / "trace-harness.yml"
    config.write_text(f"mode: {GITHUB_TOKEN}\nredaction: {{extra_patterns: ['(']}}\nwindow: {JWT}\n")
    code, text = run_cli(capsys, "report", "--worker-log", str(files["worker"]), "--config", str(config))
    assert code == 2 and "error" in text
    assert leaks(text) == []


# -- readers the CLI does not route yet (JUnit, JSONL): the library pipeline -----------------------


def library_outputs(findings: list[Finding]) -> str:
    """Everything the pipeline would write for these findings: report, both manifests, issue bodies."""
    accumulator = ClusterAccumulator()
    builder = ManifestBuilder()
    for finding in findings:
        accumulator.add(finding)
        builder.add(finding)
    report = build_report(accumulator.clusters(), [], generated_at="2026-06-18T10:00:00Z")
    bodies = [tracking_body(cluster, "d", raw_excerpts=True) for cluster in report.clusters]
    manifests = [th_manifest_json(build_manifest(findings, [], "2026-06-18T10:00:00Z"))]
    manifests.append(v2_manifest_json(builder.manifest([], "2026-06-18T10:00:00Z")))
    return "\n".join([report_json(report), *manifests, *bodies])


def read_findings(reader: object, path: Path) -> list[Finding]:
    with path.open("rb") as stream:
        items = list(reader(stream, str(path), ReaderOptions()))  # type: ignore[operator]
    return [item for item in items if isinstance(item, Finding)]


@pytest.mark.parametrize("kind", ["junit", "jsonl", "worker", "actions"])
def test_library_pipeline_outputs_hold_no_planted_secret(workspace: Path, kind: str) -> None:
    readers = {"junit": read_junit, "jsonl": read_jsonl, "worker": read_worker_log, "actions": read_actions_log}
    findings = read_findings(readers[kind], write_evidence(workspace)[kind])
    assert findings, f"the planted {kind} evidence must yield findings"
    assert leaks(library_outputs(findings)) == []


# -- Actions logs: PEM blocks under per-line timestamps, whatever the excerpt window cuts -----------


TIMED_OUT = (
    "##[error]The job running on runner GitHub Actions 2 has exceeded the maximum execution time of 360 minutes."
)


def actions_with_key(key_lines: int, error_at: int, timed_out: bool) -> str:
    """A step that prints a ``key_lines``-line key block and fails ``error_at`` lines into (or after) it."""
    block = [PEM_BEGIN, *PEM_BODY[:key_lines], PEM_END]
    failure = TIMED_OUT if timed_out else "Error: ECONNREFUSED 127.0.0.1:5432"
    body = [*block[:error_at], failure, *block[error_at:]]
    tail = [] if timed_out else ["##[error]Process completed with exit code 1."]
    lines = ["##[group]Run cat deploy.pem", "cat deploy.pem", "##[endgroup]", *body, *tail]
    return "".join(f"{TS} {line}\n" for line in lines)


def actions_outputs(tmp: Path, text: str) -> str:
    path = tmp / "logs_1234567" / "1_deploy.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    findings = read_findings(read_actions_log, path)
    assert findings, "the failing step must yield a finding, or the scan proves nothing"
    return library_outputs(findings)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key_lines=st.integers(1, 40), data=st.data())
def test_actions_pem_block_never_leaks_when_the_block_is_closed(
    tmp_path: Path, key_lines: int, data: st.DataObject
) -> None:
    """The failure line lands before or after a timestamped key block, or inside it with BEGIN in the window."""
    inside = st.integers(1, min(CONTEXT_LINES, key_lines + 1))
    error_at = data.draw(st.one_of(st.just(0), st.just(key_lines + 2), inside))
    assert leaks(actions_outputs(tmp_path, actions_with_key(key_lines, error_at, timed_out=False))) == []


def test_actions_failure_inside_a_long_key_block_leaks_nothing(tmp_path: Path) -> None:
    assert leaks(actions_outputs(tmp_path, actions_with_key(30, CONTEXT_LINES + 5, timed_out=False))) == []


def test_actions_step_timed_out_inside_a_key_block_leaks_nothing(tmp_path: Path) -> None:
    text = actions_with_key(40, 30, timed_out=True).split(f"{TS} {PEM_END}")[0]  # killed mid-print: no END
    assert leaks(actions_outputs(tmp_path, text)) == []


# -- worker logs: a planted token anywhere in the prefix --------------------------------------------

FIELDS = ("task_id", "issue_id", "issue_identifier", "session_id", "msg")
TOKENS = (GITHUB_TOKEN, FINE_GRAINED_PAT, AWS_KEY_ID, JWT, f"password={PASSWORD}", CLONE_URL, f"Bearer {BEARER}")


@settings(max_examples=25, deadline=None)
@given(
    field=st.sampled_from(FIELDS),
    token=st.sampled_from(TOKENS),
    before=st.tuples(st.text("abc-_.:/", max_size=6), st.sampled_from("-.:/=@_")).map("".join),
    after=st.tuples(st.sampled_from("-.:/"), st.text("abc-_.:/", max_size=6)).map("".join),
    kind=st.sampled_from(("runner_timeout", "turn_input_required", "unsupported_tool_call", "malformed")),
)
def test_worker_prefix_token_never_leaks(field: str, token: str, before: str, after: str, kind: str) -> None:
    import io

    value = f"{before}{token}{after}"
    values = {name: f"{name}-1" for name in FIELDS} | {field: value}
    msg = json.dumps(values.pop("msg"))
    line = f"2026/06/18 09:00:00 event={kind} " + " ".join(f"{k}={v}" for k, v in values.items()) + f" msg={msg}\n"
    findings = [item for item in read_worker_log(io.BytesIO(line.encode()), "w.log", ReaderOptions())]
    assert findings and all(isinstance(item, Finding) for item in findings)
    assert leaks(library_outputs(findings)) == []  # type: ignore[arg-type]


def test_run_from_an_unredacted_report_posts_no_planted_secret(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ready report from elsewhere (e.g. an older aiops run) is not trusted to be redacted."""
    files = write_evidence(workspace)
    clean = workspace / "clean.json"
    assert run_cli(capsys, "report", "--worker-log", str(files["worker"]), "--json-out", str(clean))[0] == 0
    report = json.loads(clean.read_text())
    for cluster in report["clusters"]:
        cluster["title"] = f"{cluster['title']} {GITHUB_TOKEN}"
        cluster["affected"]["runs"] = [*cluster["affected"]["runs"], f"run-{AWS_KEY_ID}"]
        cluster["evidence"][0]["excerpt"] = SECRET_TEXT + "\n" + "\n".join(PEM_LINES)
        cluster["proposals"]["github_issue"]["title"] = f"fix {JWT}"
        cluster["proposals"]["github_issue"]["body"] = SECRET_TEXT
    raw = workspace / "in" / f"raw-{AWS_KEY_ID}.json"
    raw.write_text(json.dumps(report))
    state = workspace / "state"
    streams = [run_cli(capsys, "run", "--forge", "local", "--state-dir", str(state), "--report", str(raw))]
    streams.append(run_cli(capsys, "issues", "--forge", "local", "--state-dir", str(state), "--json", "--all"))
    assert [code for code, _ in streams] == [0, 0] and json.loads(streams[1][1])
    assert [leaks(text) for _, text in streams] == [[], []]
    assert scan_tree(state) == {}


# -- cuts: a bound applied before masking leaves a token prefix too short to be recognised ------------


def fragments(text: str, size: int = 16) -> list[str]:
    """Planted tokens of which some ``size``-char window (a usable part of the secret) survives in ``text``."""
    tokens = {"github": GITHUB_TOKEN, "jwt": JWT, "github_pat": FINE_GRAINED_PAT}
    return sorted(
        name for name, value in tokens.items() if any(value[i : i + size] in text for i in range(len(value) - size + 1))
    )


def cut_line(room: int, offset: int) -> str:
    """A line whose ``room``-byte cut falls ``offset`` characters into a planted token."""
    return "x" * (room - offset - 1) + " " + GITHUB_TOKEN


@pytest.mark.parametrize("offset", [30, 36, 42])
def test_jsonl_and_junit_mask_before_they_cut(tmp_path: Path, offset: int) -> None:
    long_message = cut_line(1024 - 12, offset)  # the metadata `message` value is cut at 1 KiB
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text(json.dumps({"level": "error", "message": long_message}) + "\n")
    junit = tmp_path / "j.xml"
    case = f'<testcase classname="c" name="t"><failure message="{long_message}" type="E"/></testcase>'
    junit.write_text(f"<testsuite>{case}</testsuite>")
    findings = read_findings(read_jsonl, jsonl) + read_findings(read_junit, junit)
    assert len(findings) == 2 and fragments(library_outputs(findings)) == []


def test_actions_context_cut_keeps_no_token_fragment(tmp_path: Path) -> None:
    lines = ["##[group]Run make", "make", "##[endgroup]", cut_line(1024, 36), "Error: ECONNREFUSED 127.0.0.1:5432"]
    text = "".join(f"{TS} {line}\n" for line in [*lines, "##[error]Process completed with exit code 1."])
    assert fragments(actions_outputs(tmp_path, text)) == []


def test_th_manifest_cut_keeps_no_token_fragment() -> None:
    finding = Finding(
        cluster_id="infra-tooling-0badc0de",
        failure_class=FailureClass.INFRA_TOOLING,
        title="t",
        symptom_class="s",
        signature="s",
        source="actions_log",
        ref="a.txt:1",
        kind="step_failure",
        excerpt="e",
        run=cut_line(512, 36),
    )
    assert fragments(th_manifest_json(build_manifest([finding], [], "2026-06-18T10:00:00Z"))) == []
