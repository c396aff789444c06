#!/usr/bin/env bash
# Start magicoder_repro.train with one process per GPU, or CPU_PROCESSES processes where GPUS_PER_NODE is 0.
#   launch_train.sh GPUS_PER_NODE NODES fsdp|ddp|deepspeed CPU_PROCESSES TRAIN ARGS...
# 1 process: plain python. One node, several processes: `accelerate launch` with the repo's FSDP, DDP or
# DeepSpeed config. Several nodes (inside a SLURM allocation of NODES nodes, one task per node): srun starts
# one accelerate launcher per node; they meet at the first node of the allocation.
# Processes on CPUs (gloo) take the DDP or FSDP config (train.py gives gloo accelerate's FSDP state); DeepSpeed
# needs GPUs, so there they take DDP.
# RANK_LOG_DIR set: each rank's stdout and stderr also go to files under it (torchrun's --log_dir, --tee).
# SIGUSR1 to every process of a run prints each rank's Python stacks (train.py); launchers ignore it.
set -euo pipefail
gpus=$1 nodes=$2 backend=$3 cpu_processes=$4
shift 4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
per_node=$(( gpus > 0 ? gpus : cpu_processes ))
world=$(( per_node * nodes ))
trap '' USR1  # inherited as ignored by the launchers; the ranks install their own handler
# Packed micro-batches vary in length step to step: growable segments keep the caching allocator from
# fragmenting (6.7B at 32 records a micro-batch peaks at ~104 GiB of an H200's 140; BENCHMARKS.md).
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
if (( world == 1 )); then
    exec python -m magicoder_repro.train "$@"
fi
if (( gpus == 0 )); then
    if [[ $backend == deepspeed ]]; then
        echo "launch_train.sh: processes on CPUs take the DDP config, not deepspeed" >&2
        backend=ddp
    fi
    # The workers' Trainer reads this; torchrun does not pass on a config file's `use_cpu`.
    export ACCELERATE_USE_CPU=true
fi
config="$here/configs/accelerate/$backend.yaml"
export MAGICODER_ACCELERATE_CONFIG=$config  # train.py names it when it contradicts train.precision
logs=()
if [[ -n "${RANK_LOG_DIR:-}" ]]; then
    logs=(--log_dir "$RANK_LOG_DIR" --tee 3)
fi
if (( nodes == 1 )); then
    # Port 0: a free one, so that runs sharing a machine do not collide.
    exec accelerate launch --config_file "$config" --num_machines 1 --num_processes "$per_node" \
        --main_process_port "${MASTER_PORT:-0}" ${logs[@]+"${logs[@]}"} -m magicoder_repro.train "$@"
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
        ${logs[@]+$(printf '%q ' "${logs[@]}")} -m magicoder_repro.train $(printf '%q ' "$@")"
