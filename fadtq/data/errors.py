"""The one error type of the data layer: its message is a single line naming the path and the fix."""


class DataError(ValueError):
    pass
