"""The feature recipe a model carries: how its training videos were featurised.

``{"features": {modality: extractor config slice}, "clip_seconds": float}``, and for a
method that reads frames ``"frames"``: the frame cache's slice (fps, height, width). ``hlp predict``
reads it to cut a new video into clips of the same length and featurise it with the same
extractors. Checkpoints of the first format kept ``visual`` and ``audio`` at the top level.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from highlight_pipeline.features.shards import read_meta


def feature_recipe(clips_path: str | Path, files: dict[str, list[str]]) -> dict:
    clips = pd.read_csv(clips_path)
    features = {
        modality: read_meta(paths[0]).preprocessing["slice"]
        for modality, paths in files.items()
        if modality in ("visual", "audio") and paths
    }
    recipe = {"features": features, "clip_seconds": float((clips["end"] - clips["start"]).median())}
    if files.get("frames"):  # pixel-level methods: the frame cache's fps and size
        recipe["frames"] = read_meta(files["frames"][0]).preprocessing["slice"]
    return recipe


def recipe_features(recipe: dict) -> dict[str, dict]:
    """Modality -> extractor slice, for either format."""
    if "features" in recipe:
        return dict(recipe["features"])
    return {m: recipe[m] for m in ("visual", "audio") if m in recipe}
