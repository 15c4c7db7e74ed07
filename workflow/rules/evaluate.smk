# Evaluation per run; result tables, plots and a highlight reel per dataset; QVHighlights
# evaluation-server submission files.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        PLAN.pattern("metrics"),
    log:
        PLAN.pattern("log_evaluate"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("evaluate"),
    params:
        run=lambda w: as_json(hlruns.run_slice(run_of(w))),
        protocol=lambda w: protocol_flags(w),
        eval_split=lambda w: dataset_spec(w)["eval_split"],
        features=lambda w: features_label(run_of(w)),
        weights=lambda w: PLAN.run_weights(run_of(w)),
        pseudo=lambda w, input: (
            f"--pseudo {input.pseudo}" if "pseudo" in input.keys() else ""
        ),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp evaluate --predictions {input.predictions} --manifest {input.manifest}"
        " --clips {input.clips} --splits {input.splits} --split-scheme {wildcards.split}"
        " {params.protocol} --eval-split {params.eval_split}"
        " --dataset {wildcards.dataset} --method {wildcards.method}"
        " --variant {wildcards.variant} --features {params.features:q}"
        " --weights {params.weights}"
        " --seed {wildcards.seed} --slice {params.run:q} {params.pseudo}"
        " --devices {input.devices} --out {output} 2> {log}"


rule analysis:
    input:
        unpack(score_inputs),
    output:
        PLAN.pattern("analysis"),
    log:
        PLAN.pattern("log_analysis"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("analysis"),
    params:
        features=lambda w, input: feature_flags(input),
        eval_split=lambda w: dataset_spec(w)["eval_split"],
        paper_dataset=lambda w: dataset_spec(w).get("paper_dataset", w.dataset),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp analyse --model {input.model} --manifest {input.manifest} --clips {input.clips}"
        " {params.features} --splits {input.splits} --split-scheme {wildcards.split}"
        " --eval-split {params.eval_split} --paper-dataset {params.paper_dataset}"
        " --name {wildcards.analysis} --out {output} > {log} 2>&1"


rule explain:
    input:
        unpack(explain_inputs),
    output:
        report(
            directory(PLAN.pattern("explain")),
            patterns=["{video}.png"],
            caption="../report/explain.rst",
            category="Explanations",
            subcategory="{method}/{variant}",
        ),
    log:
        PLAN.pattern("log_explain"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **run_resources("explain"),
    params:
        features=lambda w, input: feature_flags(input),
        eval_split=lambda w: dataset_spec(w)["eval_split"],
        videos=lambda w: explain_choice(),
        panels=CFG["evaluation"]["explain_panels"],
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " HLP_RUNTIME_MIN={resources.runtime}"
        " hlp explain --model {input.model} --manifest {input.manifest} --clips {input.clips}"
        " {params.features} --splits {input.splits} --split-scheme {wildcards.split}"
        " --eval-split {params.eval_split} --videos {params.videos:q}"
        " --panels {params.panels} --scores {input.scores} --device {resources.hlp_device}"
        " --cuda {resources.hlp_cuda:q} --out {output} 2> {log}"


rule table:
    input:
        metrics=lambda w: metrics_of(w.dataset),
        analyses=lambda w: analyses_of(w.dataset),
    output:
        md=report(
            PLAN.pattern("table_md"),
            caption="../report/table.rst",
            category="Tables",
        ),
        csv=PLAN.pattern("table_csv"),
        tex=PLAN.pattern("table_tex"),
    log:
        PLAN.pattern("log_table"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("table"),
    params:
        paper_dataset=lambda w: dataset_spec(w).get("paper_dataset", w.dataset),
        rehearsal="--rehearsal" if CFG["rehearsal"]["enabled"] else "",
        differs=lambda w: as_json(paper_differences(w.dataset)),
        analyses=lambda w, input: (
            f"--analyses {input.analyses}" if input.analyses else ""
        ),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp table --dataset {wildcards.dataset} --paper-dataset {params.paper_dataset}"
        " --metrics {input.metrics} {params.analyses} {params.rehearsal}"
        " --differs {params.differs:q}"
        " --md {output.md} --csv {output.csv} --tex {output.tex}"
        " 2>&1 > {log} | tee -a {log} >&2"


rule scores_summary:
    input:
        lambda w: scores_of(w.dataset),
    output:
        PLAN.pattern("scores_summary"),
    log:
        PLAN.pattern("log_scores_summary"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("scores_summary"),
    params:
        runs=lambda w: as_json(scored_runs(w.dataset)),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp scores-summary --dataset {wildcards.dataset} --runs {params.runs:q}"
        " --out {output} 2> {log} | tee -a {log} >&2"


rule qv_submission:
    input:
        scores=lambda w: scores_path(w.dataset, w.method, w.variant, w.split, w.seed),
        annotations=qv_release_input,
    output:
        PLAN.pattern("submission"),
    log:
        PLAN.pattern("log_submission"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("qv_submission"),
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp qv-submission --scores {input.scores} --annotations {input.annotations:q}"
        " --out {output} 2> {log}"


rule plots:
    input:
        unpack(plot_inputs),
    output:
        bars=report(
            PLAN.pattern("map_bars"),
            caption="../report/bars.rst",
            category="Plots",
        ),
        curves=report(
            directory(PLAN.pattern("curves")),
            patterns=["{video}.png"],
            caption="../report/curves.rst",
            category="Plots",
        ),
    log:
        PLAN.pattern("log_plots"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("plots"),
    params:
        pseudo=lambda w, input: (
            f"--pseudo {input.pseudo}" if "pseudo" in input.keys() else ""
        ),
        split=lambda w: dataset_spec(w)["eval_split"],
        scheme=plot_scheme,
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp plots --predictions {input.predictions} --manifest {input.manifest}"
        " --clips {input.clips} --table {input.table} {params.pseudo} --split {params.split}"
        " --splits {input.splits} --split-scheme {params.scheme}"
        " --bars {output.bars} --curves {output.curves} 2> {log}"


rule reel:
    input:
        unpack(plot_inputs),
    output:
        report(
            PLAN.pattern("reel"),
            caption="../report/reel.rst",
            category="Reel",
        ),
    log:
        PLAN.pattern("log_reel"),
    conda:
        "../../envs/pipeline.yaml"
    resources:
        **job_resources("reel"),
    params:
        seconds=CFG["evaluation"]["reel_seconds"],
        split=lambda w: dataset_spec(w)["eval_split"],
        scheme=plot_scheme,
    shell:
        "HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt}"
        " hlp reel --predictions {input.predictions} --manifest {input.manifest}"
        " --clips {input.clips} --split {params.split} --seconds {params.seconds}"
        " --splits {input.splits} --split-scheme {params.scheme}"
        " --out {output} 2> {log}"
