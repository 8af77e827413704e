"""Our books against M-Pesa's: what M-Pesa says each shortcode holds and moved (its statement,
Pull Transactions, and its Account Balance answers), checked against the ledger (issue 12;
docs/mpesa-statement.md).

- runs.py: statement runs (one window of one shortcode) and how far back they cover without a gap;
  `StatementEntry` and the `StatementSource` port the M-Pesa adapter fills.
- match.py: one statement line against our money-in facts and payouts, and the reverse.
- passes.py: the statement pass the reconciler runs: fetch, match both ways, place, record the run.
- shortcode_cash.py: each shortcode's cash account (`mpesa_cash:<shortcode>`) and the movements
  only the statement tells us about (charges, sweeps, top-ups, opening balance).
- placement.py: our own cash postings placed on the shortcode the money moved on.
- balances.py: Account Balance answers kept (the `BalanceSource` port), and the B2C float compared
  with what is owed out.

Modules are imported by their own path (`from escrow.statement.runs import ...`): nothing is
re-exported here.
"""
