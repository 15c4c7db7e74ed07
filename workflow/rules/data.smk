# Dataset sources, manifest (probe once) and clip tables.


rule synth:
    output:
        videos=PLAN.pattern("source_videos"),
        highlights=PLAN.pattern("source_highlights"),
        clip_labels=PLAN.pattern("source_clip_labels"),
        folder=directory(PLAN.pattern("source_folder")),
    log:
        PLAN.pattern("log_synth"),
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        **job_resources("synth"),
    params:
        slice=lambda w: as_json(dataset_spec(w).get("synth", {})),
        clip_seconds=lambda w: dataset_spec(w)["clip_seconds"],
        out=lambda w, output: str(Path(output.videos).parent),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp synth --slice {params.slice:q} --clip-seconds {params.clip_seconds}"
        " --out {params.out} --jobs {threads} 2> {log}"


rule manifest:
    input:
        source_inputs,
    output:
        manifest=PLAN.pattern("manifest"),
        rejected=PLAN.pattern("rejected"),
        splits=PLAN.pattern("splits"),
    log:
        PLAN.pattern("log_manifest"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("manifest"),
    params:
        slice=lambda w: as_json(hlconfig.reader_slice(CFG, w.dataset)),
        reader=lambda w: dataset_spec(w)["reader"],
        root=root_of,
        videos=source_signature,
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp manifest --reader {params.reader} --root {params.root:q} --slice {params.slice:q}"
        " --out {output.manifest} --rejected {output.rejected} --splits {output.splits}"
        " --name {wildcards.dataset} 2> {log} | tee -a {log} >&2"


rule clips:
    input:
        manifest=PLAN.pattern("manifest"),
        labels=label_inputs,
    output:
        PLAN.pattern("clips"),
    log:
        PLAN.pattern("log_clips"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("clips"),
    params:
        slice=lambda w: as_json(hlconfig.reader_slice(CFG, w.dataset)),
        reader=lambda w: dataset_spec(w)["reader"],
        root=root_of,
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp clips --reader {params.reader} --manifest {input.manifest}"
        " --root {params.root:q} --slice {params.slice:q} --out {output} 2> {log}"
