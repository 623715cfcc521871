"""docs/operations.md: every troubleshooting step names the test that follows it, and that test exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ISSUE_12_ALARMS = {"OldestPendingAge", "ExportFailures / AckFailures", "FeedInFlightTooLong", "FeedsNeedingAttention",
                   "RejectedMessages", "FailedRows", "FeedsAbandoned", "BadEvents", "ExportErrors / AckErrors"}


def test_every_troubleshooting_step_is_exercised_by_a_named_test():
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide[guide.index("## 5. Alarms and what to do"):guide.index("## 6.")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| alarm")
            and not line.startswith("| ---")]
    assert len(rows) >= 9
    defined = set(re.findall(r"^def (test_\w+)", "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py")),
                             re.MULTILINE))
    for row in rows:
        steps = re.findall(r"\b(test_\w+)", row)
        alarm = row.split("|")[1].strip()
        # the steps of issue 12's alarms (failures and dead ends) each name the test that follows them
        assert steps or alarm not in ISSUE_12_ALARMS, f"no test follows this step: {row[:80]}"
        missing = [name for name in steps if name not in defined]
        assert missing == [], f"{missing} named in the guide do not exist"
