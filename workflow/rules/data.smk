# Data: fetch the four IDX files (mirrors, MD5, atomic), then parse and binarize each split.


rule download:
    input:
        code=code_inputs("scripts/download.py"),
    output:
        raw="results/data/raw/{part}.gz",
        prov=prov("download", "{part}"),
    log:
        log_path("download", "{part}"),
    # Kept in the output cache (see the Snakefile): a setting changed back restores it.
    cache: True
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=200,
        runtime=30,
    params:
        harness=HARNESS_VERSION,
        cfg=download_cfg,
    script:
        "../../scripts/download.py"


rule parse_split:
    input:
        images="results/data/raw/{split}_images.gz",
        labels="results/data/raw/{split}_labels.gz",
        code=code_inputs("scripts/parse_split.py"),
    output:
        arrays="results/data/{split}.npz",
        prov=prov("parse_split", "{split}"),
    log:
        log_path("parse_split", "{split}"),
    # Kept in the output cache (see the Snakefile): a setting changed back restores it.
    cache: True
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        harness=HARNESS_VERSION,
        cfg=parse_cfg,
        software=NUMERIC_SOFTWARE,
    script:
        "../../scripts/parse_split.py"
