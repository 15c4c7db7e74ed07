"""Exceptions the library raises; the CLI turns each into a one-line message and exit code 2."""


class PipelineError(Exception):
    """Base class: a problem the user can act on (bad input, bad config, missing file)."""


class ConfigError(PipelineError):
    """The configuration is invalid (unknown key, wrong type, bad value)."""


class VideoError(PipelineError):
    """A video cannot be opened, probed or decoded."""


class DatasetError(PipelineError):
    """A dataset description (manifest, annotation file) is malformed."""


class WeightsError(PipelineError):
    """A checkpoint file is missing or does not match the architecture."""


class ModelFileError(PipelineError):
    """A model, resume or results file is not what the pipeline writes: refused, and nothing
    in it run (model files are data; pickles are never loaded)."""


class NumericsError(PipelineError):
    """A computation gave values that are not finite (NaN, infinity): a network's features
    under mixed precision, for one. It names what gave them and stops the job."""


class SubmissionError(PipelineError):
    """A benchmark server's submission file cannot be written (a query without scores, a
    clip without a score) or breaks the server's format rules. The message names the file
    and the query."""
