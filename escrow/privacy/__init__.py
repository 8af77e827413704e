"""Personal data kept only as long as it is needed, and erased on request (issue 15, Kenya's Data
Protection Act). What the ledger needs (amounts, references, receipts, journal entries, order
states) is never touched: numbers, message texts and callback bodies are.

- settings.py: RETENTION_* settings.
- retention.py: the purge the worker runs on a schedule (`flask data purge` by hand).
- erasure.py: one person's number made unreadable (`flask data erase`, the ERASE/FUTA SMS keyword).
- scrub.py: what erasing a number does to each table.
- schedule.py: both attached to the worker's pass.
"""
