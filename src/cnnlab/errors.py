"""The one base class of expected failures: :class:`UserError` (bad file, wrong weights folder, missing network).

Its message is meant for the user as it is -- what went wrong, where, and what to do -- so the CLI prints it as one
line and exits 1, without a traceback. Programming errors stay ordinary exceptions.
"""


class UserError(Exception):
    """An expected failure whose message says what, where and what to do."""


class DeviceUnavailable(UserError, RuntimeError):
    """A device was asked for that this machine does not have (e.g. ``cuda`` without a GPU)."""
