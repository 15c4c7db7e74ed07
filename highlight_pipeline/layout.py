"""The pipeline's file layout: every file and folder it writes under ``results``, once.

:data:`PATHS` maps a name to a template whose ``{fields}`` are the workflow's wildcards;
:class:`highlight_pipeline.plan.Plan` fills them (``Plan.pattern``, ``Plan.path``) and
every rule's outputs and logs name an entry (``PLAN.pattern(name)``). It imports nothing,
so anything may read it (``paper_settings`` reads the train rule's output from it).
"""

from __future__ import annotations

_RUN = "{method}/{variant}/{split}/seed{seed}"

#: Every file and folder the pipeline writes, under ``results``: name -> template.
PATHS: dict[str, str] = {
    "source_videos": "{dataset}/source/videos.csv",
    "source_highlights": "{dataset}/source/highlights.csv",
    "source_clip_labels": "{dataset}/source/clip_labels.csv",
    "source_folder": "{dataset}/source/videos",
    "manifest": "{dataset}/manifest.csv",
    "rejected": "{dataset}/rejected.csv",
    "splits": "{dataset}/splits.csv",
    "clips": "{dataset}/clips.csv",
    "features": "{dataset}/features/{backbone}/shard-{shard}.h5",
    "saliency": "{dataset}/saliency/{backbone}/shard-{shard}.h5",
    "frames": "{dataset}/frames/{frames_id}/shard-{shard}.h5",
    "pseudo": "{dataset}/pseudo/{feature_set}/{pseudo_id}/{split}",
    "pseudo_categories": "{dataset}/pseudo/{feature_set}/{pseudo_id}/{split}/categories.csv",
    "pseudo_highlights": "{dataset}/pseudo/{feature_set}/{pseudo_id}/{split}/highlights.h5",
    "pseudo_model": "{dataset}/pseudo/{feature_set}/{pseudo_id}/{split}/category_model.h5",
    "model": "{dataset}/models/" + _RUN + ".pt",
    "scores": "{dataset}/models/" + _RUN + ".scores.jsonl",
    "devices": "{dataset}/models/" + _RUN + ".devices.json",
    "metrics": "{dataset}/metrics/" + _RUN + ".json",
    "analysis": "{dataset}/analyses/" + _RUN + ".{analysis}.json",
    "explain": "plots/{dataset}/explain/" + _RUN,
    "table_md": "tables/{dataset}.md",
    "table_csv": "tables/{dataset}.csv",
    "table_tex": "tables/{dataset}.tex",
    "scores_summary": "tables/{dataset}.scores.md",
    "submission": "submissions/{dataset}/" + _RUN + "/hl_{qv_split}_submission.jsonl",
    "map_bars": "plots/{dataset}/map_bars.png",
    "curves": "plots/{dataset}/curves",
    "reel": "plots/{dataset}/reel.mp4",
    # logs, one per job
    "log_synth": "logs/{dataset}/synth.log",
    "log_manifest": "logs/{dataset}/manifest.log",
    "log_clips": "logs/{dataset}/clips.log",
    "log_features": "logs/{dataset}/features/{backbone}/shard-{shard}.log",
    "log_saliency": "logs/{dataset}/saliency/{backbone}/shard-{shard}.log",
    "log_frames": "logs/{dataset}/frames/{frames_id}/shard-{shard}.log",
    "log_pseudo": "logs/{dataset}/pseudo/{feature_set}/{pseudo_id}/{split}.log",
    "log_train": "logs/{dataset}/train/" + _RUN + ".log",
    "log_evaluate": "logs/{dataset}/evaluate/" + _RUN + ".log",
    "log_analysis": "logs/{dataset}/analyses/" + _RUN + ".{analysis}.log",
    "log_explain": "logs/{dataset}/explain/" + _RUN + ".log",
    "log_table": "logs/tables/{dataset}.log",
    "log_scores_summary": "logs/tables/{dataset}.scores.log",
    "log_submission": "logs/{dataset}/submissions/" + _RUN + ".{qv_split}.log",
    "log_plots": "logs/plots/{dataset}.log",
    "log_reel": "logs/plots/{dataset}.reel.log",
}
