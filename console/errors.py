"""The console's one root exception and its kinds."""


class ConsoleError(Exception):
    """Anything the console refuses, in words an operator can act on."""


class SignInRefused(ConsoleError):
    """Wrong name, password or code, a locked or disabled account: one message for all."""


class Forbidden(ConsoleError):
    """The operator's role does not allow the action."""


class BadRequest(ConsoleError):
    """A form that is incomplete, malformed, or carries no valid CSRF token."""
