"""The operating docs: a troubleshooting section for every Stalled reason the operator can write, links and
cited paths that exist, and a quickstart TurbineStack that the API server's checks accept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from turbine_operator.cli import main

from .support import REPO_ROOT, product_reasons

DOCS = REPO_ROOT / "docs"
TROUBLESHOOTING = DOCS / "troubleshooting.md"
QUICKSTART = DOCS / "quickstart-aws.md"
UPGRADE = DOCS / "upgrade-and-uninstall.md"
PAGES = [REPO_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# What each troubleshooting section says, in this order (as the runbooks do for the alerts).
PARTS = ("**What it means.**", "**How to look.**", "**How to fix.**")
# Top-level folders of the repository: a backticked path starting with one is a file the page cites.
TOP = (
    "operator/",
    "charts/",
    "crds/",
    "cfn/",
    "lambdas/",
    "manifests/",
    "devtools/",
    "docs/",
    "tests/",
    "examples/",
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def sections(text: str) -> dict[str, str]:
    """Second-level heading -> the text under it."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(heading) for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)}


def test_every_stalled_reason_has_a_troubleshooting_section() -> None:
    reasons = product_reasons()["stalled"]
    assert {"StackCreateFailed", "InvalidSpec", "AwsAccessDenied", "OutsideTenantGrant"} <= reasons
    found = sections(TROUBLESHOOTING.read_text())
    assert sorted(reasons - set(found)) == [], "Stalled reasons without a section in docs/troubleshooting.md"
    # Every other section is prose (a space in its heading), not a reason the operator no longer writes.
    assert sorted(heading for heading in set(found) - reasons if " " not in heading) == []
    for reason in reasons:
        body = found[reason]
        positions = [body.find(part) for part in PARTS]
        assert -1 not in positions, f"{reason}: needs {PARTS}"
        assert positions == sorted(positions), f"{reason}: {PARTS} in this order"


def test_the_new_pages_are_linked_from_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for page in (QUICKSTART, TROUBLESHOOTING, UPGRADE):
        assert f"(docs/{page.name})" in readme, page.name


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_docs_cite_only_files_that_exist(page: Path) -> None:
    """Relative links (and their #anchors, within the docs) and backticked repository paths."""
    text = page.read_text()
    missing = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # another site, or this page
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve()
        if not linked.exists():
            missing.append(target)
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            missing.append(f"{target} (no such heading)")
    cited = re.findall(r"`([\w./-]+)`", text)
    for path in cited:
        if path.startswith(TOP) and "*" not in path and not (REPO_ROOT / path).exists():
            missing.append(path)
    assert missing == []


def test_the_docs_link_headings_of_their_own_page_that_exist() -> None:
    for page in (QUICKSTART, TROUBLESHOOTING, UPGRADE):
        own = anchors(page)
        for fragment in re.findall(r"\]\(#([^)]+)\)", page.read_text()):
            assert fragment in own, f"{page.name}: #{fragment}"


def test_the_quickstart_turbinestack_passes_the_api_servers_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest the quickstart writes (its heredoc, with the shell's variables filled in) and the Secret
    it creates, through `turbine-operator render`, which refuses what the API server would."""
    heredoc = re.search(r"cat > turbine-stack\.yaml <<EOF\n(.*?)\nEOF\n", QUICKSTART.read_text(), re.DOTALL)
    assert heredoc, "the quickstart writes turbine-stack.yaml with a heredoc"
    values = {
        "REGION": "eu-west-1",
        "BUCKET": "turbine-templates-111122223333-eu-west-1",
        "SERVICE_ROLE_ARN": "arn:aws:iam::111122223333:role/turbine-cloudformation-default-ServiceRole-X",
        "MY_IP": "203.0.113.7",
    }
    manifest = re.sub(r"\$(\w+)", lambda variable: values[variable.group(1)], heredoc.group(1))
    (tmp_path / "turbine-stack.yaml").write_text(manifest)
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "airflow-users.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: airflow-users, namespace: default}\n"
        "stringData: {admin: not-a-real-password}\n"
    )
    code = main(["render", "-f", str(tmp_path / "turbine-stack.yaml"), "--resources", str(resources)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "not-a-real-password" not in captured.out
    assert f"stackName: t7-default-airflow\nregion: {values['REGION']}\n" in captured.out
