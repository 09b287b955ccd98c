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


class OutputError(VidsslError, OSError):
    """An output could not be written: ``cannot write PATH: reason`` (unwritable folder, full disk, a file
    where a folder should be). Raised by :mod:`vidssl.fileio`; the CLI prints it as one line.

    Also an ``OSError``, so code that treats a failed write of an optional file
    as a warning (``except OSError``) keeps doing so.
    """

    def __init__(self, path, reason) -> None:
        self.path = path
        if isinstance(reason, OSError):
            reason = reason.strerror or str(reason)
        self.reason = str(reason)
        super().__init__(f"cannot write {path}: {self.reason}")
