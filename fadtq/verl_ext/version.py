"""The verl release fadtq is written against: one constant, one check, one error.

The plugin, the CPU backend and the preflight all read it from here. Our extensions lean on verl
internals that move between releases (trainer hooks, the multimodal forward), so another verl is
refused loudly rather than trained on quietly.
"""

from __future__ import annotations

SUPPORTED_VERL = "0.9.1"


class UnsupportedVerlVersion(RuntimeError):
    """The installed verl is not :data:`SUPPORTED_VERL`."""


def verl_version_problem() -> str | None:
    """One line saying why fadtq cannot extend the installed verl, or None when it can."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("verl")
    except PackageNotFoundError:
        return f"verl is not installed — pip install verl=={SUPPORTED_VERL} (or pip install -e .)"
    if installed != SUPPORTED_VERL:
        return (f"fadtq extends verl {SUPPORTED_VERL}, but verl {installed} is installed — "
                f"pip install verl=={SUPPORTED_VERL}")
    return None


def check_verl_version() -> None:
    """Raise :class:`UnsupportedVerlVersion` (one line) unless verl is :data:`SUPPORTED_VERL`."""
    problem = verl_version_problem()
    if problem:
        raise UnsupportedVerlVersion(problem)
