#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for tests/test_slurm.py: installs slurm-wlm and
# munge with apt when missing, writes slurm.conf for localhost and starts munged, slurmctld
# and slurmd (each only when not already running). Needs root on Debian.
# `setup_cluster.sh stop` stops the three daemons again.
#
# The node declares two stand-in GPUs (gres on /dev/null and /dev/zero): jobs asking for
# `--gpus=1` are scheduled as on a GPU cluster, and torch, finding no CUDA, runs on CPU.
# Accounting is off, so sacct cannot report job states: the profile uses squeue, and
# MinJobAge keeps finished jobs visible to it (and to `scontrol show job`) for 10 minutes.
# Jobs are tracked by process group: a requeue then also ends the batch step's Snakemake,
# which outlives its killed parent shell and escapes tracking by parent process.
set -euo pipefail
# runuser and the daemons live in sbin, which a non-login shell's PATH may lack
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

CONF_DIR=/etc/slurm
MARK="# medsynth test cluster (tests/slurm/setup_cluster.sh)"
PIDS=(/run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid)

die() { echo "setup_cluster.sh: $*" >&2; exit 1; }

if [[ "${1:-start}" == stop ]]; then
    for pidfile in "${PIDS[@]}"; do
        [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts daemons)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || die "slurm-wlm and munge are missing and there is no apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: the key (Debian's package creates one), its folders owned by the munge user
[[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
fi

# slurm.conf: this host, its CPUs and memory as slurmd detects them, one partition
host=$(hostname -s)
node=$(slurmd -C | head -1)  # NodeName=<host> CPUs=... RealMemory=...
[[ -e $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf" \
    && die "$CONF_DIR/slurm.conf exists and was not written by this script: not touching it"
mkdir -p "$CONF_DIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
conf=$(cat <<CONF
$MARK
ClusterName=medsynth-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
GresTypes=gpu
$node NodeAddr=127.0.0.1 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
)
# Slurm drops GPUs that name no device file: two stand-in character devices
gres="$MARK
NodeName=$host Name=gpu File=/dev/null
NodeName=$host Name=gpu File=/dev/zero"
changed=0
if [[ "$(cat "$CONF_DIR/slurm.conf" 2>/dev/null)" != "$conf" || "$(cat "$CONF_DIR/gres.conf" 2>/dev/null)" != "$gres" ]]; then
    printf '%s\n' "$conf" >"$CONF_DIR/slurm.conf"
    printf '%s\n' "$gres" >"$CONF_DIR/gres.conf"
    changed=1
fi

running() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if (( changed )); then  # a new configuration: restart what runs with the old one
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        if running "$pidfile"; then
            pid=$(cat "$pidfile"); kill "$pid"
            while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        fi
    done
fi
running /run/slurmctld.pid || slurmctld
running /run/slurmd.pid || slurmd

for _ in $(seq 150); do
    state=$(sinfo -h -N -o %T 2>/dev/null || true)
    case $state in
        idle|mixed|allocated) echo "slurm test cluster up: node $host $state"; exit 0 ;;
        down*|drain*) scontrol update NodeName="$host" State=RESUME || true ;;
    esac
    sleep 0.2
done
die "node $host did not become idle (state: '${state:-none}'); see /var/log/slurm/"
