# Evaluation per run, and the result table per dataset.


rule evaluate:
    input:
        predictions=f"{RESULTS}/{{dataset}}/models/{{method}}/{{variant}}/{{split}}/seed{{seed}}.predictions.jsonl",
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
        clips=f"{RESULTS}/{{dataset}}/clips.csv",
    output:
        f"{RESULTS}/{{dataset}}/metrics/{{method}}/{{variant}}/{{split}}/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/{{dataset}}/evaluate/{{method}}/{{variant}}/{{split}}/seed{{seed}}.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        slice=method_params,
        protocol=lambda w: dataset_spec(w)["protocol"],
        features=FEATURES_LABEL,
    shell:
        "hlp evaluate --predictions {input.predictions} --manifest {input.manifest}"
        " --clips {input.clips} --protocol {params.protocol} --split test"
        " --dataset {wildcards.dataset} --method {wildcards.method}"
        " --variant {wildcards.variant} --features {params.features:q}"
        " --seed {wildcards.seed} --slice {params.slice:q} --out {output} 2> {log}"


rule table:
    input:
        lambda w: metrics_of(w.dataset),
    output:
        md=f"{RESULTS}/tables/{{dataset}}.md",
        csv=f"{RESULTS}/tables/{{dataset}}.csv",
    log:
        f"{RESULTS}/logs/tables/{{dataset}}.log",
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "hlp table --dataset {wildcards.dataset} --metrics {input}"
        " --md {output.md} --csv {output.csv} > {log} 2>&1"
