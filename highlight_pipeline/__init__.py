"""Video highlight detection pipeline: features, saliency, pseudo-labels, models, evaluation."""

__version__ = "0.1.0"
