"""README.md stays true: every message kind, setting the code reads, and callback path is in it."""
import re
from pathlib import Path

from escrow.catalog import CATALOGS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_sms_kind_is_listed_with_its_text_in_both_languages():
    for key, text in CATALOGS["en"].items():
        if key.startswith("sms.") and not key.startswith("sms.stk_reason"):
            assert f"`{key[4:]}`" in README
            assert text.replace("|", "/") in README and CATALOGS["sw"][key].replace("|", "/") in README


def test_every_escrow_setting_is_documented():
    from escrow.settings import EscrowSettings
    for name in EscrowSettings.__dataclass_fields__:
        assert name.upper() in README, name.upper()


def test_the_readme_names_both_commands():
    assert re.search(r"^bin/serve", README, re.M) and re.search(r"^bin/test", README, re.M)
