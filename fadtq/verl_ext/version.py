"""The verl release fadtq is written against, and the check that refuses any other: our extensions
use verl internals that move between releases (trainer hooks, the multimodal forward)."""

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


def verl_extra_requirement(extra: str, package: str) -> str | None:
    """``package``'s requirement in the installed verl's ``extra`` (e.g. ``flash-attn==2.8.3`` for
    ``fsdp``); None when verl is missing or names no such package. Nested ``verl[…]`` extras are
    followed because verl pins flash-attn only through one (``fsdp`` → ``verl[flash-attn-cu130torch211]``)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        raw = requires("verl") or []
    except PackageNotFoundError:
        return None
    from packaging.requirements import Requirement  # a dependency of verl, so present from here on
    from packaging.utils import canonicalize_name

    lines = [Requirement(line) for line in raw]

    def requirements_of(name: str, seen: set[str]) -> list[Requirement]:
        found = []
        for requirement in lines:
            marker = requirement.marker
            if marker is None or "extra" not in str(marker) or not marker.evaluate({"extra": name}):
                continue
            if canonicalize_name(requirement.name) == "verl":
                for nested in sorted(requirement.extras - seen):
                    seen.add(nested)
                    found += requirements_of(nested, seen)
            else:
                found.append(requirement)
        return found

    pins = [r for r in requirements_of(extra, {extra}) if canonicalize_name(r.name) == canonicalize_name(package)]
    return f"{package}{pins[0].specifier}" if pins else None
