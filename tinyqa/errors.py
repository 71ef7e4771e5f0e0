"""The errors the CLI turns into exit codes: 1 a failed check, 2 input, 3 infrastructure
(docs/architecture.md)."""


class TinyQAError(Exception):
    """A failure the user can act on: printed as one line, never as a traceback. `details`
    (e.g. the last lines of a server's log) are printed after it, indented."""

    exit_code = 2

    def __init__(self, message: str = "", details: list[str] | None = None):
        super().__init__(message)
        self.details = list(details or [])


class CheckFailed(TinyQAError):
    """A check failed (a regression, an invalid pack): exit 1."""

    exit_code = 1


class InputError(TinyQAError):
    """Bad input: a missing or malformed pack, an unknown option value, a bad file."""

    exit_code = 2


class InfraError(TinyQAError):
    """The infrastructure failed: an endpoint down, errors beyond the retry budget."""

    exit_code = 3
