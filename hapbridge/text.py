"""Text from outside (the cloud's messages, lock and passcode names) made safe for one line.

A tab, newline or terminal escape in a lock alias or an errmsg would split a log line or a
table row, or move the cursor; they are replaced by a space in one place, with one rule.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab, newline, ESC...) and the Unicode line and paragraph separators.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def without_controls(text: str) -> str:
    """``text`` with every control character replaced by a space."""
    return CONTROL_CHARS.sub(" ", text)
