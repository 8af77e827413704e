"""Times operators read are East Africa Time, labelled: every time a console template prints goes
through the `eat` filter (which adds the label), and the filter turns the database's UTC into EAT."""
import pathlib
import re
from datetime import datetime

from console.web import eat

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "console" / "templates" / "console"
A_TIME = re.compile(r"{{[^}]*\b(\w+_at|\w+\.at|at|since|last_miss)\b[^}]*}}")


def test_every_time_a_template_prints_goes_through_the_eat_filter():
    bare = []
    for path in TEMPLATES.glob("*.html"):
        for printed in re.findall(r"{{[^}]*}}", path.read_text()):
            if A_TIME.match(printed) and "|eat" not in printed and "total_seconds" not in printed:
                bare.append((path.name, printed))
    assert bare == []


def test_the_eat_filter_is_utc_plus_three_and_says_so():
    assert eat(datetime(2026, 12, 31, 22, 30)) == "2027-01-01 01:30 EAT"
    assert eat(None) == "-"
