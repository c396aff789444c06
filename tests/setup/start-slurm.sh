#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (munged, slurmctld, slurmd) for tests/test_slurm.py,
# unless one with this configuration already answers. No systemd: daemons run in the background.
# The node advertises two fake GPUs (copies of /dev/null as device files), so GPU requests
# (--gres=gpu:N) are accepted and scheduled as on a real cluster. Partition: `debug` (the default).
# Partition `gpu` has one GPU node the size of a real one (64 CPUs, 512 GB, 8 GPUs) that never comes
# up (no slurmd answers on its port): a paper-scale GPU job is accepted there as submitted and stays pending, for reading
# its request back (tests/test_slurm.py).
set -euo pipefail
for cmd in munged slurmctld slurmd; do
    command -v $cmd >/dev/null || { echo "$cmd not installed: run tests/setup/system-deps.sh" >&2; exit 1; }
done
host=$(hostname -s)
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >>/etc/hosts

# munge: a key, then the daemon as user munge.
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
[[ -s /etc/munge/munge.key ]] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
pgrep -u munge -x munged >/dev/null || runuser -u munge -- munged --pid-file /run/munge/munged.pid

# Fake GPUs and the cluster configuration (CPUs and memory as slurmd sees them, less a margin).
mkdir -p /dev/fake-gpu /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
for i in 0 1; do [[ -e /dev/fake-gpu/$i ]] || mknod -m 666 /dev/fake-gpu/$i c 1 3; done
cpus=$(slurmd -C | sed -n "s/.*CPUs=\([0-9]*\).*/\1/p")  # not nproc: it follows OMP_NUM_THREADS
mem=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 1024 ))
conf=$(cat <<CONF
ClusterName=magicoder-test
SlurmctldHost=$host
SlurmUser=root
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AuthType=auth/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
# Jobs are not requeued unless they ask (sbatch --requeue), as on many clusters.
JobRequeue=0
ReturnToService=2
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
NodeName=gpu-node NodeAddr=127.0.0.1 Port=9 CPUs=64 RealMemory=512000 Gres=gpu:8 State=DOWN Reason=no-slurmd
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=gpu-node MaxTime=INFINITE State=UP
CONF
)
clear=()
if [[ "$conf" != "$(cat /etc/slurm/slurm.conf 2>/dev/null)" ]]; then
    # A cluster started with another configuration (e.g. another machine size) is restarted with this
    # one, its saved jobs cleared (-c).
    clear=(-c)
    pkill -x slurmd || true; pkill -x slurmctld || true
    while pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null; do sleep 0.5; done
    printf '%s\n' "$conf" >/etc/slurm/slurm.conf
fi
printf '%s\n' AutoDetect=off "NodeName=$host Name=gpu File=/dev/fake-gpu/0" "NodeName=$host Name=gpu File=/dev/fake-gpu/1" \
    "NodeName=gpu-node Name=gpu Count=8" >/etc/slurm/gres.conf

pgrep -x slurmctld >/dev/null || slurmctld "${clear[@]}"
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
    sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && exit 0
    sleep 1
done
echo "SLURM did not come up; logs:" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2
exit 1
