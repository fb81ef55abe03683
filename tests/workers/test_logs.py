"""workers.logs: the service's log keeps secrets out."""

import logging
import sys

from workers.logs import RedactingFilter, Redactor


def test_the_log_filter_hides_secrets_even_in_exceptions():
    redact = Redactor()
    redact.hide("hrw_abc_supersecretvalue")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", ("hrw_abc_supersecretvalue",), None)
    try:
        raise ValueError("hrw_abc_supersecretvalue")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter(redact).filter(record)
    text = logging.Formatter().format(record)
    assert "supersecret" not in text and "[redacted]" in text
