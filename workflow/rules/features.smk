# Window features per (dataset, backbone, shard) into HDF5 shards.


rule features:
    input:
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
    output:
        f"{RESULTS}/{{dataset}}/features/{{backbone}}/shard-{{shard}}.h5",
    log:
        f"{RESULTS}/logs/{{dataset}}/features/{{backbone}}/shard-{{shard}}.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        slice=lambda w: as_json(hlconfig.features_slice(CFG, modality_of(w.backbone))),
        shards=len(SHARDS),
    shell:
        "hlp features --manifest {input.manifest} --shard {wildcards.shard}"
        " --shards {params.shards} --slice {params.slice:q} --out {output} 2> {log}"
