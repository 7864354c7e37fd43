"""Errors raised when a value breaks a WorldFlux contract.

Each is a ValueError subclass so callers that only know "bad input" can catch that, while the
services map ContractError to INVALID_ARGUMENT with the message unchanged.
"""


class ContractError(ValueError):
    """A value does not satisfy a spec: wrong shape, dtype, kind, key or a non-finite number."""


class UnknownModelError(KeyError):
    """A model id or family that no registered family provides."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, tampered with or incompatible."""


class NonFiniteLossError(FloatingPointError):
    """A loss component became NaN or infinite."""

    def __init__(self, component: str, value: float, step: int | None = None) -> None:
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"loss component '{component}' is {value}{where}")
        self.component = component
        self.value = value
        self.step = step
