# Pseudo-categories and audio-visual recurrence pseudo-highlights, per split scheme (on the
# scheme's training videos), keyed by what they depend on: the backbones they read and
# the pseudo settings (pseudo_id = readable prefix + hash of the slice). Runs whose pseudo
# settings agree share one job.


rule pseudo:
    input:
        unpack(pseudo_inputs),
    output:
        categories=PLAN.pattern("pseudo_categories"),
        highlights=PLAN.pattern("pseudo_highlights"),
        category_model=PLAN.pattern("pseudo_model"),
    log:
        PLAN.pattern("log_pseudo"),
    # ahead of any training (train_priority): the trainings of the runs that read it wait
    # for it, and a pseudo job left for last ran alone with them behind it
    priority: PSEUDO_PRIORITY
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("pseudo", mem_mb=pseudo_memory),
    params:
        slice=lambda w: as_json(PSEUDO_SLICES.get(w.pseudo_id, {})),
        features=lambda w, input: feature_flags(input),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp pseudo --manifest {input.manifest} --clips {input.clips} {params.features}"
        " --splits {input.splits} --split-scheme {wildcards.split} --slice {params.slice:q}"
        " --categories {output.categories} --highlights {output.highlights}"
        " --category-model {output.category_model} 2> {log}"
