# Acquire: the built-in phantom cohort (one job per subject), or a real
# dataset: each published file downloaded by its own job, then converted into
# the BIDS-like layout by a checkpoint, after which its subjects are known.

# Light rules run in the submitting Snakemake on a cluster rather than queueing.

if DATASET.is_phantom:

    localrules:
        phantom_description,

    rule phantom_subject:
        output:
            raw_files(),
        params:
            seed=config["seed"],
            voxel_mm=PRESET["phantom"]["voxel_mm"],
        log:
            log("phantom/sub-{subject}"),
        benchmark:
            bench("phantom/sub-{subject}")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/make_phantom_subject.py"


    rule phantom_description:
        output:
            f"{RAW}/dataset_description.json",
            f"{RAW}/participants.tsv",
            f"{RAW}/dseg.tsv",
        params:
            subjects=subjects(),
            seed=config["seed"],
            voxel_mm=PRESET["phantom"]["voxel_mm"],
        log:
            log("phantom/description"),
        benchmark:
            bench("phantom/description")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/describe_phantom.py"

else:

    localrules:
        download,

    REMOTES = {remote.name: remote for remote in DATASET.remotes}


    rule download:
        """One published file, verified against its published size and checksum."""
        output:
            f"{DOWNLOADS}/{{file}}",
        params:
            remote=lambda w: REMOTES[w.file],
        wildcard_constraints:
            file="|".join(re.escape(name) for name in REMOTES) or "(?!)",
        log:
            log("download/{file}"),
        benchmark:
            bench("download/{file}")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/download.py"


    checkpoint acquire_dataset:
        """Convert the downloads (or the user's BIDS folder) into rawdata/."""
        input:
            [f"{DOWNLOADS}/{name}" for name in REMOTES],
        output:
            directory(RAW),
        params:
            dataset=DATASET,
            bids_root=config.get("bids_root"),
            max_subjects=config.get("max_subjects"),
            brainweb_shape=tuple(config.get("brainweb_shape", catalog.BRAINWEB_MODEL_SHAPE)),
        log:
            log("acquire"),
        benchmark:
            bench("acquire")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/acquire_dataset.py"
