"""Zemi Escrow core: money, order states, ledger, use cases and ports.

Imports the standard library, SQLAlchemy and `cryptography` only: never a web,
network or adapter module.
"""
