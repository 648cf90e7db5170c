"""`from ecrf.ctcae import grade_lab` works without Django configured."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_public_api_imports_without_django():
    """CTCAE v5.0 'Alanine aminotransferase increased' G2: >3.0-5.0 x ULN (130 with ULN 40)."""
    script = (
        "import sys\n"
        "from ecrf.ctcae import grade_lab, get_term\n"
        "r = grade_lab('ALT', 130, 'U/L', uln=40)\n"
        "print(r.term, r.grade, get_term('Fatigue').grades)\n"
        "assert 'django' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Alanine aminotransferase increased 2 (1, 2, 3)"
