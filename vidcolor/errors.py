"""User-facing errors. The CLI prints ``str(error)`` as one line and exits non-zero; no traceback."""


class VidcolorError(Exception):
    """A problem with the user's input, files or environment (not a bug)."""


class WeightsError(VidcolorError):
    """A weight file is missing, corrupted or does not match its manifest."""
