# Highlight pipeline: videos -> clip features -> pseudo-highlights -> models -> result tables.
# Run: snakemake --cores 2   (the default config runs the embedded synthetic dataset)


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/pseudo.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"


onerror:
    report_failures(log)


rule all:
    default_target: True
    input:
        all_targets(),
