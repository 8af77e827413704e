"""RETENTION_* settings, read by escrow/settings.py's one parser."""
from dataclasses import dataclass
from typing import Mapping

from escrow.settings import read_int

AUDIT_FLOOR_DAYS = 90   # the audit_log trigger refuses to delete anything younger (migration 0014)


@dataclass(frozen=True)
class RetentionSettings:
    sms_days: int = 90              # SMS texts (sealed and readable copies) after they were written
    callback_days: int = 180        # provider callback bodies after they arrived (settled ones)
    numbers_days: int = 365         # parties' sealed numbers after their order became final
    audit_days: int = 1825          # audit entries (5 years, as records of the transactions they touched)
    batch: int = 500                # rows per table per transaction
    every_seconds: int = 3600       # how often the worker runs the purge
    erasure_every_seconds: int = 30  # how often the worker looks at pending erasure requests
    reply_wait_seconds: int = 900   # an erasure waits this long at most for its answer's delivery report

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "RetentionSettings":
        return cls(sms_days=read_int(env, "RETENTION_SMS_DAYS", cls.sms_days, minimum=1),
                   callback_days=read_int(env, "RETENTION_CALLBACK_DAYS", cls.callback_days, minimum=1),
                   numbers_days=read_int(env, "RETENTION_NUMBERS_DAYS", cls.numbers_days, minimum=30),
                   audit_days=read_int(env, "RETENTION_AUDIT_DAYS", cls.audit_days, minimum=AUDIT_FLOOR_DAYS),
                   batch=read_int(env, "RETENTION_BATCH", cls.batch, minimum=1, maximum=10_000),
                   every_seconds=read_int(env, "RETENTION_EVERY_SECONDS", cls.every_seconds, minimum=1))
