#!/usr/bin/env bash
# A real single-node SLURM on this machine, for the tests marked `slurm` and for trying
# jobs/slurm.sbatch by hand. Idempotent: safe to run again; it restarts nothing that is up
# with the same config. Runs as root, asks nothing, uses no systemd, cgroups or accounting.
#
#   scripts/slurm-up.sh        # install (first time), start, wait for the node, print status
#   scripts/slurm-down.sh      # stop the daemons again
#
# Environment: SLURM_UP_TIMEOUT (seconds to wait for the node to be idle, default 60).
set -euo pipefail

NODE="$(hostname -s)"
CONF=/etc/slurm/slurm.conf
LOGDIR=/var/log/slurm
TIMEOUT="${SLURM_UP_TIMEOUT:-60}"
START=$(date +%s)

say() { echo "slurm-up: $*"; }
die() {
    echo "slurm-up: ERROR: $*" >&2
    for log in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmd.log" /var/log/munge/munged.log; do
        if [ -s "$log" ]; then
            echo "---- last lines of $log" >&2
            tail -n 20 "$log" >&2
        fi
    done
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons)"

# ---------------------------------------------------------------------------------------
# 1. Packages: Debian's slurm-wlm and munge. apt-get update only when apt cannot find them
#    (or the install fails on stale lists).
APT_LOG=/tmp/slurm-up-apt.log
install_packages() {
    # Waits for a dpkg lock held by another apt (up to 5 min) instead of failing on it.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        slurm-wlm munge >>"$APT_LOG" 2>&1
}
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge from Debian"
    # Keep the packages' own init scripts from starting daemons against a config that does
    # not exist yet (no-op where a policy-rc.d is already in place, as in containers).
    POLICY_ADDED=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_ADDED=1
    fi
    : >"$APT_LOG"
    # (No `apt-cache ... | grep -q`: with pipefail, grep's early exit fails the pipeline.)
    candidate="$(apt-cache policy slurm-wlm munge 2>/dev/null || true)"
    if [ "$(grep -c 'Candidate: [0-9]' <<<"$candidate")" -ne 2 ] || ! install_packages; then
        say "apt-get update (package lists missing or stale)"
        apt-get update -q -o DPkg::Lock::Timeout=300 >>"$APT_LOG" 2>&1 \
            || { tail -n 20 "$APT_LOG" >&2; die "apt-get update failed (log: $APT_LOG)"; }
        install_packages || { tail -n 30 "$APT_LOG" >&2; die "apt-get install slurm-wlm munge failed (log: $APT_LOG)"; }
    fi
    [ -n "$POLICY_ADDED" ] && rm -f /usr/sbin/policy-rc.d
fi

# ---------------------------------------------------------------------------------------
# 2. munge: a key, and munged running as user munge.
id munge >/dev/null 2>&1 || die "user munge missing after installing munge"
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    say "writing a munge key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1 || die "munged did not start"
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 || die "munge does not answer"
fi

# ---------------------------------------------------------------------------------------
# 3. slurm.conf for one node: this host, on 127.0.0.1, all its CPUs, memory a bit below
#    physical (slurmd drains a node that has less than RealMemory).
CPUS="$(nproc)"
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
REAL_MB=$(( MEM_MB * 95 / 100 ))
install -d -m 0755 /etc/slurm "$LOGDIR" /var/spool/slurmctld /var/spool/slurmd
NEW_CONF="$(mktemp)"
trap 'rm -f "$NEW_CONF"' EXIT
cat >"$NEW_CONF" <<EOF
# Written by dask_clipwriter scripts/slurm-up.sh: one node, no accounting, no cgroups.
ClusterName=clipwriter
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=${LOGDIR}/slurmctld.log
SlurmdLogFile=${LOGDIR}/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${REAL_MB} State=UNKNOWN
PartitionName=debug Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF

ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! cmp -s "$NEW_CONF" "$CONF"; then
    if ctld_up || pid_alive /run/slurmd.pid; then
        say "slurm.conf changed: stopping the running daemons"
        scontrol shutdown >/dev/null 2>&1 || true
        for _ in $(seq 100); do
            pid_alive /run/slurmctld.pid || pid_alive /run/slurmd.pid || break
            sleep 0.1
        done
    fi
    install -m 0644 "$NEW_CONF" "$CONF"
fi

# ---------------------------------------------------------------------------------------
# 4. Daemons, in the background (they daemonize themselves; stdio detached so that a caller
#    capturing this script's output is not held open by them).
if ! pid_alive /run/slurmctld.pid; then
    say "starting slurmctld"
    slurmctld </dev/null >>"$LOGDIR/slurmctld.stdio" 2>&1 || die "slurmctld did not start"
fi
if ! pid_alive /run/slurmd.pid; then
    say "starting slurmd"
    slurmd -N "$NODE" </dev/null >>"$LOGDIR/slurmd.stdio" 2>&1 || die "slurmd did not start"
fi

# ---------------------------------------------------------------------------------------
# 5. Wait (bounded) for the node to be idle (or already running jobs: mixed/allocated).
state=""
resumed=""
deadline=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    for daemon in slurmctld slurmd; do
        pid_alive "/run/$daemon.pid" || { sleep 1; pid_alive "/run/$daemon.pid"; } \
            || die "$daemon is not running (it exited after starting; see its log below)"
    done
    state="$(sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle|mix|alloc) break ;;
        down*|drain*|drng*|fail*|inval*)
            # Left down/drained by an earlier run (e.g. a changed RealMemory): resume once.
            if [ -z "$resumed" ]; then
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi ;;
    esac
    sleep 0.5
done
case "$state" in
    idle|mix|alloc) ;;
    *)
        reason="$(sinfo -h -N -n "$NODE" -o '%E' 2>/dev/null || true)"
        die "node $NODE is not up after ${TIMEOUT}s (state: '${state:-none}'${reason:+, reason: $reason})" ;;
esac

echo "slurm-up: OK: node $NODE $state, $CPUS CPUs, ${REAL_MB} MB, partition debug, $(sinfo --version) ($(( $(date +%s) - START ))s)"
