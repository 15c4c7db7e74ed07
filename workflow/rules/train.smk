# Training and prediction, per (dataset, method, variant, split scheme, seed).


rule train_avph:
    input:
        unpack(feature_inputs),
        splits=split_inputs,
        pseudo=pseudo_of,
    output:
        f"{RESULTS}/{{dataset}}/models/avph/av-ph/{{split}}/seed{{seed}}.pt",
    log:
        f"{RESULTS}/logs/{{dataset}}/train/avph/{{split}}/seed{{seed}}.log",
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        slice=lambda w: as_json(hlconfig.method_slice(CFG, w.dataset, "avph")),
    shell:
        "hlp train --method avph --manifest {input.manifest} --clips {input.clips}"
        " --visual {input.visual} --audio {input.audio} --pseudo {input.pseudo}"
        " --splits {input.splits} --split-scheme {wildcards.split}"
        " --slice {params.slice:q} --seed {wildcards.seed} --threads {threads}"
        " --out {output} 2> {log}"


rule predict_avph:
    input:
        unpack(feature_inputs),
        model=f"{RESULTS}/{{dataset}}/models/avph/av-ph/{{split}}/seed{{seed}}.pt",
    output:
        f"{RESULTS}/{{dataset}}/models/avph/av-ph/{{split}}/seed{{seed}}.predictions.jsonl",
    log:
        f"{RESULTS}/logs/{{dataset}}/predict/avph/{{split}}/seed{{seed}}.log",
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "hlp score --method avph --model {input.model} --manifest {input.manifest}"
        " --clips {input.clips} --visual {input.visual} --audio {input.audio}"
        " --out {output} 2> {log}"


rule predict_random:
    input:
        unpack(feature_inputs),
    output:
        f"{RESULTS}/{{dataset}}/models/random/uniform/{{split}}/seed{{seed}}.predictions.jsonl",
    log:
        f"{RESULTS}/logs/{{dataset}}/predict/random/{{split}}/seed{{seed}}.log",
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "hlp score --method random --seed {wildcards.seed} --manifest {input.manifest}"
        " --clips {input.clips} --visual {input.visual} --audio {input.audio}"
        " --out {output} 2> {log}"
