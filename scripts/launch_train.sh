#!/usr/bin/env bash
# Start magicoder_repro.train with as many processes as the run has GPUs.
#   launch_train.sh GPUS_PER_NODE NODES fsdp|deepspeed -- TRAIN ARGS...
# 1 process: plain python. One node, several GPUs: `accelerate launch` with the repo's FSDP or DeepSpeed
# config. Several nodes (inside a SLURM allocation of NODES nodes, one task per node): srun starts one
# accelerate launcher per node; they meet at the first node of the allocation.
set -euo pipefail
gpus=$1 nodes=$2 backend=$3
shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
world=$(( (gpus > 0 ? gpus : 1) * nodes ))
if (( world == 1 )); then
    exec python -m magicoder_repro.train "$@"
fi
config="$here/configs/accelerate/$backend.yaml"
if (( nodes == 1 )); then
    exec accelerate launch --config_file "$config" --num_machines 1 --num_processes "$gpus" \
        -m magicoder_repro.train "$@"
fi
if [[ -z "${SLURM_JOB_NODELIST:-}" ]]; then
    echo "launch_train.sh: $nodes nodes need a SLURM allocation (run under sbatch/salloc or the slurm profile)" >&2
    exit 2
fi
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)
port=${MASTER_PORT:-29500}
# One launcher per node; each learns its rank from SLURM_NODEID (escaped so srun's task expands it).
exec srun --nodes="$nodes" --ntasks="$nodes" --ntasks-per-node=1 bash -c "
    accelerate launch --config_file '$config' --num_machines $nodes --num_processes $world \
        --machine_rank \$SLURM_NODEID --main_process_ip $head_node --main_process_port $port \
        -m magicoder_repro.train $(printf '%q ' "$@")"
