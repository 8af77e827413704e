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


def test_every_operator_command_and_option_is_in_the_commands_table():
    import click
    from flask import Flask

    from commands import register_commands

    app = Flask("readme-check")
    register_commands(app)

    def walk(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, path + [name])
        if not isinstance(command, click.Group) or command.invoke_without_command:
            yield path, command

    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for path, command in walk(app.cli, []):
        if path[0] in ("routes", "run", "shell"):
            continue
        assert f"`flask {' '.join(path)}" in table, path
        rows = [line for line in table.splitlines() if f"`flask {' '.join(path)}" in line]
        for option in (opt for param in command.params for opt in param.opts if opt.startswith("--")):
            assert any(option in row for row in rows), (path, option)
