// dnagpu embed as an nf-core-style module: one embedding per sequence of a
// FASTA / CSV / text file, with the model shipped in dnagpu or one given.
// The container is the repository's Dockerfile (docker build -t dnagpu .);
// there is no Bioconda package yet, so no conda directive.
process DNAGPU_EMBED {
    tag "${meta.id}"
    label 'process_gpu'

    container "${ task.ext.container ?: 'dnagpu:latest' }"

    input:
    tuple val(meta), path(sequences)
    // A Hugging Face model folder; [] for the model shipped in dnagpu.
    path(model)

    output:
    tuple val(meta), path("${prefix}.npy"), emit: embeddings
    tuple val("${task.process}"), val('dnagpu'), eval("dnagpu --version | sed 's/^dnagpu //'"), topic: versions, emit: versions_dnagpu

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    def model_arg = model ? "--model ${model}" : ''
    """
    RAYON_NUM_THREADS=${task.cpus} dnagpu embed \\
        ${model_arg} \\
        --input ${sequences} \\
        --output ${prefix}.npy \\
        ${args}
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.npy
    """
}
