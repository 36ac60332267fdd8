"""Pure data layer: dataset layouts, the Pair3C split, verl parquet rows, prompts, binary sets."""


class DataError(ValueError):
    """The one error type of the data layer: its message is a single line naming the path and the fix."""
