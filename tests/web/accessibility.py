"""axe-core, run in the page the test has open: what it finds serious or critical fails the test, in words.

The page's Content-Security-Policy forbids inline scripts, so axe is not added as a <script> element: Playwright's
`evaluate` hands its source to the browser through the DevTools protocol, which the policy does not govern. The
policy stays in force for everything the page itself does (tests/web/test_accessibility.py checks both)."""

from functools import cache
from pathlib import Path
from typing import Any

AXE_VERSION = "4.14.1"  # tests/web/vendor/README.md says where it comes from and how to update it
AXE_SCRIPT = Path(__file__).parent / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and Deque's best practices (landmarks, one h1, headings in order).
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice")
FAILING_IMPACTS = ("serious", "critical")

RUN_AXE = """options => axe.run(document, options).then(result => result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
})))"""


@cache
def axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Every violation axe finds in the page as it is now, of any impact."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    options = {"runOnly": {"type": "tag", "values": list(TAGS)}, "resultTypes": ["violations"]}
    violations: list[dict[str, Any]] = page.evaluate(RUN_AXE, options)
    return violations


def describe(violations: list[dict[str, Any]], where: str, *, kind: str = "serious or critical") -> str:
    """One paragraph a violation: its rule, what it asks, and each element that breaks it with axe's reason."""
    lines = [f"axe-core {AXE_VERSION} found {len(violations)} {kind} violation(s) on {where}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            reason = " ".join(str(node["summary"] or "").split())
            lines.append(f"    at {node['target']}: {reason}")
    return "\n".join(lines)


def assert_accessible(page: Any) -> None:
    """Fail, listing them all, if axe finds a serious or critical violation in the page as it is now."""
    found, where = axe_violations(page), f"{page.url} ({page.title()})"
    failing = [v for v in found if v["impact"] in FAILING_IMPACTS]
    if lesser := [v for v in found if v not in failing]:  # shown with the test's output (pytest -rA)
        print(describe(lesser, where, kind="moderate or minor"))
    assert not failing, describe(failing, where)
