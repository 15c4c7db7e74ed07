# Window features per (dataset, backbone, shard) into HDF5 shards, and saliency maps.
# Published networks ask for one GPU (resources: gpu=1) unless `device: cpu`; weight-free
# extractors none. Decoding jobs take `features.threads` CPUs (DECODE_THREADS, common.smk)
# for FFmpeg's decoder threads; their numeric libraries keep one thread (DECODE_ENV),
# so the features are the same whatever that count.


rule features:
    input:
        manifest=PLAN.pattern("manifest"),
    output:
        PLAN.pattern("features"),
    log:
        PLAN.pattern("log_features"),
    priority: EXTRACTION_PRIORITY
    conda:
        "../../envs/pipeline.yaml"
    threads: DECODE_THREADS
    resources:
        **extractor_resources("features"),
    params:
        slice=lambda w: as_json(
            hlconfig.features_slice(
                CFG, hlconfig.modality_of_backbone(w.backbone), w.backbone
            )
        ),
        weights=lambda w: as_json(hlconfig.weights_slice(CFG, w.backbone)),
        checkpoint=lambda w: checkpoint_signature(w.backbone),
        shards=len(SHARDS),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " HLP_RUNTIME_MIN={resources.runtime} "
        + DECODE_ENV
        + " hlp features --manifest {input.manifest} --shard {wildcards.shard}"
        " --shards {params.shards} --slice {params.slice:q} --runtime {params.weights:q}"
        " --execution {resources.hlp_runtime:q} --out {output} 2> {log}"


use rule features as saliency with:
    output:
        PLAN.pattern("saliency"),
    log:
        PLAN.pattern("log_saliency"),
    priority: saliency_priority
    resources:
        **extractor_resources("saliency"),


rule frames:
    input:
        manifest=PLAN.pattern("manifest"),
    output:
        PLAN.pattern("frames"),
    log:
        PLAN.pattern("log_frames"),
    priority: EXTRACTION_PRIORITY
    conda:
        "../../envs/pipeline.yaml"
    threads: DECODE_THREADS
    resources:
        **job_resources("frames"),
    params:
        slice=lambda w: as_json(hlruns.parse_frames_id(w.frames_id)),
        shards=len(SHARDS),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt} "
        + DECODE_ENV
        + " hlp frames --manifest {input.manifest} --shard {wildcards.shard}"
        " --shards {params.shards} --slice {params.slice:q} --out {output} 2> {log}"
