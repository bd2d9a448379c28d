"""Exceptions the CLI turns into one clear message (and a non-zero exit) instead of a traceback."""


class HarnessError(Exception):
    """A user-facing error: the message says what is wrong, where, and what to do."""


class ConfigError(HarnessError):
    """A YAML card or suite is invalid (unknown key, bad value, missing field)."""


class DataError(HarnessError):
    """A data file is missing, has the wrong checksum, or is malformed."""


class DataUnavailable(DataError):
    """A dataset cannot be had on this machine; the message says how to get it.

    The runner records this as "not run" with the reason instead of failing the suite.
    """
