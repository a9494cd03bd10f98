# Data: fetch the four IDX files (mirrors, MD5, atomic), then parse and binarize each split.


rule download:
    output:
        raw="results/data/raw/{part}.gz",
        prov=prov("download", "{part}"),
    params:
        cfg=download_cfg,
    log:
        log_path("download", "{part}"),
    benchmark:
        bench_path("download", "{part}")
    threads: 1
    resources:
        mem_mb=200,
        runtime=30,
    retries: 1
    input:
        module("data"),
    script:
        "../../scripts/download.py"


rule parse_split:
    input:
        images="results/data/raw/{split}_images.gz",
        labels="results/data/raw/{split}_labels.gz",
        code=module("data"),
    output:
        arrays="results/data/{split}.npz",
        prov=prov("parse_split", "{split}"),
    params:
        cfg=parse_cfg,
    log:
        log_path("parse_split", "{split}"),
    benchmark:
        bench_path("parse_split", "{split}")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/parse_split.py"
