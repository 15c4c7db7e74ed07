# Pseudo-categories and audio-visual recurrence pseudo-highlights (avph).


rule pseudo:
    input:
        unpack(feature_inputs),
    output:
        categories=f"{RESULTS}/{{dataset}}/pseudo/{FEATURE_SET}/categories.csv",
        highlights=f"{RESULTS}/{{dataset}}/pseudo/{FEATURE_SET}/highlights.h5",
    log:
        f"{RESULTS}/logs/{{dataset}}/pseudo.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        slice=as_json(CFG["pseudo"]),
    shell:
        "hlp pseudo --manifest {input.manifest} --clips {input.clips}"
        " --visual {input.visual} --audio {input.audio} --slice {params.slice:q}"
        " --categories {output.categories} --highlights {output.highlights} 2> {log}"
