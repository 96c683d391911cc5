"""Errors that the command line turns into exit codes.

``UserError`` (and its subclasses) means *bad input*: the CLI prints one line ``error: <message>`` on stderr
and exits 2, and nothing has been written.  ``DivergenceError`` means a simulation blew up (NaN/overflow);
the CLI prints it and exits 1.
"""


class UserError(Exception):
    """Bad input from the user: unknown study, bad preset, invalid config value, corrupt run dir..."""


class ConfigError(UserError):
    """An invalid config field. The message names the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class DivergenceError(RuntimeError):
    """Training or sampling produced NaN/inf; raised with the step and quantity that diverged."""


def check_finite(name: str, value, step=None) -> None:
    """Raise DivergenceError if a tensor/array/float holds NaN or inf."""
    import math

    import numpy as np

    try:
        import torch

        if isinstance(value, torch.Tensor):
            ok = bool(torch.isfinite(value).all())
        else:
            ok = bool(np.all(np.isfinite(np.asarray(value))))
    except ImportError:  # pragma: no cover
        ok = math.isfinite(float(value))
    if not ok:
        where = f" at step {step}" if step is not None else ""
        raise DivergenceError(f"{name} is not finite{where}: training diverged (lower the learning rate)")
