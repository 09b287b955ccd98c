"""Errors a user can act on.

The CLI turns a :class:`VidsslError` into one line on stderr and exit code 2
(no traceback unless ``--debug``). Raise it with a message that names the file,
line or key and says what was expected.
"""


class VidsslError(Exception):
    """Bad input the user can fix: missing path, malformed split file, bad config key."""


class CorruptVideoError(VidsslError):
    """A video (or frame folder) could not be decoded, or lacks the frames asked for.

    Datasets catch this, skip the video, count it and go on.
    """
