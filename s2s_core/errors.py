"""The error types users see.

Every failure that is the user's to fix (a bad file, a wrong checkpoint, a bad parameter) raises a
subclass of :class:`S2SError` whose message says what was wrong and what to do. The CLI prints such
errors as one line and exits non-zero; the dashboard shows them on the page. Anything else is a bug.
"""


#: Exit code of ``s2s pretrain``/``s2s finetune`` when SIGTERM/SIGINT stopped the run after it saved a checkpoint
#: (EX_TEMPFAIL of sysexits.h: try again). The run continues with ``--resume``; the job queue records it as
#: ``lost`` (resumable), with the error "stopped ... resumable".
EXIT_STOPPED = 75


class S2SError(Exception):
    """Base class of all user-facing errors."""


class ImageLoadError(S2SError):
    """An image file or upload could not be used (not an image, truncated, empty, too large)."""


class CheckpointError(S2SError):
    """A checkpoint or zoo could not be loaded or written (missing file, hash mismatch, wrong shapes,
    unknown architecture, a file that would need pickle)."""


class ConfigError(S2SError):
    """A configuration value or command-line parameter is invalid."""


class InputTableError(S2SError):
    """A cross-accuracy table (CSV) is malformed; the message names the offending cell."""


class WeightsUnavailableError(S2SError):
    """Pre-trained weights are not in the local cache and cannot be downloaded."""
