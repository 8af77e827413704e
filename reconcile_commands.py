"""`flask reconcile`, `flask reconcile statement`, `flask reconcile resolve`: our books against M-Pesa's
(a pass over stale attempts, unknown payouts and orphan callbacks; a statement window) and the findings
an operator closes."""
import sys

import click
from flask.cli import AppGroup, with_appcontext

from commands import components, run
from escrow.reports import eat_text
from operator_commands import as_option, cli_actor, finding_audit

WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"])


@click.group("reconcile", cls=AppGroup, invoke_without_command=True)
@click.option("--findings", "show_findings", is_flag=True, help="Also list every open finding.")
@click.option("--all", "show_all", is_flag=True, help="List resolved findings too (implies --findings).")
@click.pass_context
@with_appcontext
def reconcile_command(ctx, show_findings, show_all):
    """One reconciliation pass now: query stale STK attempts and unknown payouts, re-match orphan
    callbacks, confirm held successes, retry definitely failed payouts; then list what needs review.
    `reconcile resolve ID --note ...` closes a finding."""
    if ctx.invoked_subcommand is not None:
        return
    from escrow.findings import list_findings

    zemi = components()
    report = zemi.reconciler.run()
    click.echo(f"reconcile: {report}")
    with zemi.db.transaction() as session:
        findings = list_findings(session, include_resolved=show_all)
    open_count = sum(1 for finding in findings if finding["status"] == "open")
    click.echo(f"{open_count} open finding(s) for review")
    if show_findings or show_all:
        for finding in findings:
            resolved = (f" -- resolved {_eat_of(finding['resolved_at'])}: {finding.get('resolution')}"
                        if finding["status"] != "open" else "")
            click.echo(f"  #{finding['id']} {eat_text(finding['at'])} [{finding.get('kind')}] "
                       f"order {finding.get('order') or '-'}: {finding.get('summary')}{resolved}")


def _eat_of(stored) -> str:
    """A finding's resolved_at, kept as text in its JSON body (naive UTC), in EAT."""
    from datetime import datetime
    try:
        return eat_text(datetime.fromisoformat(str(stored)))
    except ValueError:
        return str(stored)


@reconcile_command.command("statement")
@click.option("--from", "start", type=WHEN, help="Window start, UTC (default: where the last complete run ended, "
                                                "less STATEMENT_OVERLAP_SECONDS).")
@click.option("--to", "end", type=WHEN, help="Window end, UTC (default: now less STATEMENT_SETTLE_SECONDS).")
@click.option("--csv", "csv_file", type=click.File("rb"), help="Reconcile the org portal's statement export instead.")
@click.option("--shortcode", help="The shortcode the --csv export is of.")
def reconcile_statement(start, end, csv_file, shortcode):
    """Reconcile M-Pesa's statement (Pull Transactions, or a portal export with --csv) for a window: match
    every line to a payment and every payment to a line, post what we never recorded, record the run."""
    if (start is None) != (end is None) or (start and start >= end):
        raise click.UsageError("give both --from and --to, --from before --to (or neither)")
    if bool(csv_file) != bool(shortcode):
        raise click.UsageError("--csv and --shortcode go together")
    statement = components().reconciler.statement
    if csv_file:
        from mpesa.statement_csv import StatementFileError, read_portal_csv
        try:
            entries = read_portal_csv(csv_file.read(), shortcode)
        except StatementFileError as error:
            raise click.ClickException(str(error))
        summaries = [run(lambda: statement.import_lines(shortcode, entries, start, end))]
    else:
        summaries = run(lambda: statement.run(start, end))
    for summary in summaries:
        click.echo(f"statement {summary}")
    sys.exit(0 if all(summary.status == "complete" for summary in summaries) else 1)


@reconcile_command.command("resolve")
@click.argument("finding_id", type=int)
@click.option("--note", required=True, help="What was done about it; kept with the finding.")
@as_option
def reconcile_resolve(finding_id, note, as_name):
    """Mark finding FINDING_ID resolved with a note; `reconcile --findings` stops listing it. Audited."""
    from escrow.findings import resolve_finding
    who = cli_actor(as_name)

    def resolve():
        with components().db.transaction() as session:
            finding = resolve_finding(session, finding_id, note)
            finding_audit(session, who, finding, note)
            return finding
    finding = run(resolve)
    click.echo(f"finding #{finding_id} resolved ({finding.get('kind')}, order {finding.get('order') or '-'})")
