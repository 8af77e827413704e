"""LOG_FORMAT=json: one JSON object per log line (time, level, logger, message, and the exception if
any), for log shippers. Records are formatted after the app's redaction (app.py's record factory has
already hidden path tokens; numbers are masked where they are logged), so nothing new is revealed."""
import json
import logging
import sys
from datetime import datetime, timezone

LOGGERS_WITH_OWN_HANDLERS = ("gunicorn.error", "gunicorn.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def use_json_logs(level: int = logging.INFO) -> None:
    """Root logs go to stderr as JSON (once per process), and gunicorn's own handlers format as JSON too."""
    formatter = JsonFormatter()
    root = logging.getLogger()
    if not any(getattr(handler, "zemi_json", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.zemi_json = True
        root.addHandler(handler)
        root.setLevel(level)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    for name in LOGGERS_WITH_OWN_HANDLERS:
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
