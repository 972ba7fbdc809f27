# Acquire: the built-in phantom cohort (one job per subject), or a real
# dataset: each published file downloaded by its own job, then converted into
# the BIDS-like layout by a checkpoint, after which its subjects are known;
# and, where the denoise task tests on it, BrainWeb's simulated-MRI database.

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

    checkpoint acquire_dataset:
        """Convert the downloads (or the user's BIDS folder) into rawdata/."""
        input:
            [f"{DOWNLOADS}/{remote.name}" for remote in DATASET.remotes],
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


# Published files by download folder: the dataset's own, and the SBD volumes
# that the denoise task's external test needs (shared by every dataset).
REMOTES = {(DATASET.name, r.name): r for r in DATASET.remotes}
REMOTES.update({(catalog.SBD_FOLDER, r.name): r for r in SBD_REMOTES})

if REMOTES:

    localrules:
        download,


    rule download:
        """One published file, verified against its published size and checksum."""
        output:
            f"{DOWNLOADS_ROOT}/{{source}}/{{file}}",
        params:
            remote=lambda w: REMOTES[(w.source, w.file)],
        wildcard_constraints:
            source="|".join(re.escape(s) for s in {s for s, _ in REMOTES}),
            file="|".join(re.escape(f) for f in {f for _, f in REMOTES}),
        log:
            log("download/{source}/{file}"),
        benchmark:
            bench("download/{source}/{file}")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/download.py"

if SBD_REMOTES:

    rule acquire_brainweb_sbd:
        """BrainWeb's simulated T1w volumes and their anatomical model as NIfTI."""
        input:
            [f"{SBD_DOWNLOADS}/{remote.name}" for remote in SBD_REMOTES],
        output:
            directory(SBD_ROOT),
        params:
            levels=sbd_levels(config["tasks"]["denoise"]),
            rf_percent=sbd_rf_percent(config["tasks"]["denoise"]),
            shape=tuple(config.get("brainweb_sbd_shape", catalog.SBD_SHAPE)),
        log:
            log("acquire_brainweb_sbd"),
        benchmark:
            bench("acquire_brainweb_sbd")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/acquire_brainweb_sbd.py"
