"""The one error type for bad input: it names where the problem is and what is allowed."""


class ConfigError(ValueError):
    """Bad input to a sweep or a suite.

    `where` names the field (e.g. "grid.learning_rate", or "suites/quick.toml:
    steps"), the message says what is allowed. The CLI prints it as one line
    and exits with code 2.
    """

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")
