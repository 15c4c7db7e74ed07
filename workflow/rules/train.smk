# Training and scoring, generic over the registered methods and their variants, per
# (dataset, method, variant, split scheme, seed): one job trains the run, writes its model
# and then scores every clip with that model file (`hlp train --scores`, what `hlp score`
# does), so that each run starts one process, not two. Inputs follow the method's declaration
# and the resolved run (highlight_pipeline.methods.registry); a run whose method runs a
# network asks for gpu=1 (run_resources in common.smk) unless `device: cpu`.


rule train:
    input:
        unpack(train_inputs),
    output:
        model=PLAN.pattern("model"),
        scores=PLAN.pattern("scores"),
        devices=PLAN.pattern("devices"),
    log:
        PLAN.pattern("log_train"),
    # the longest trainings first (their registry runtime), so that short ones fill the
    # end of a run instead of one long job running alone
    priority: train_priority
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        **run_resources("train", train_limits),
    params:
        run=lambda w: as_json(hlruns.run_slice(run_of(w))),
        features=lambda w, input: feature_flags(input),
        pseudo=lambda w, input: (
            f"--pseudo {input.pseudo}" if "pseudo" in input.keys() else ""
        ),
        # a run that starts from a published checkpoint (pld): where it is, and its
        # signature (a replaced file retrains)
        start=pretrained_flags,
        checkpoint=pretrained_signature,
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " HLP_RUNTIME_MIN={resources.runtime}"
        " hlp train --method {wildcards.method} --variant {wildcards.variant}"
        " --run {params.run:q} --manifest {input.manifest} --clips {input.clips}"
        " {params.features} {params.pseudo} --splits {input.splits}"
        " --split-scheme {wildcards.split} --seed {wildcards.seed} --threads {threads}"
        " --device {resources.hlp_device} --cuda {resources.hlp_cuda:q}"
        " {params.start} --out {output.model} --scores {output.scores}"
        " --devices {output.devices} 2> {log}"
