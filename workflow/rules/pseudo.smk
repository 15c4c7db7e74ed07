# Pseudo-categories and audio-visual recurrence pseudo-highlights (avph), per split scheme
# (they are computed on the scheme's training videos).


rule pseudo:
    input:
        unpack(feature_inputs),
        splits=split_inputs,
    output:
        categories=f"{RESULTS}/{{dataset}}/pseudo/{FEATURE_SET}/{{split}}/categories.csv",
        highlights=f"{RESULTS}/{{dataset}}/pseudo/{FEATURE_SET}/{{split}}/highlights.h5",
    log:
        f"{RESULTS}/logs/{{dataset}}/pseudo/{{split}}.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        slice=as_json(CFG["pseudo"]),
    shell:
        "hlp pseudo --manifest {input.manifest} --clips {input.clips}"
        " --visual {input.visual} --audio {input.audio} --splits {input.splits}"
        " --split-scheme {wildcards.split} --slice {params.slice:q}"
        " --categories {output.categories} --highlights {output.highlights} 2> {log}"
