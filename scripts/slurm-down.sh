#!/usr/bin/env bash
# Stop what scripts/slurm-up.sh started: slurmctld, slurmd (their jobs are killed) and munged.
# Safe to run when nothing is running. Leaves packages, config and munge key in place.
set -uo pipefail

[ "$(id -u)" -eq 0 ] || { echo "slurm-down: must run as root" >&2; exit 1; }

stop_pidfile() {  # stop one daemon by the pid in its pid file, waiting up to 10 s
    local name="$1" pidfile="$2" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { echo "slurm-down: stopped $name"; return 0; }
        sleep 0.1
    done
    echo "slurm-down: $name (pid $pid) did not stop within 10 s" >&2
    return 1
}

if command -v scancel >/dev/null; then
    scancel --quiet --full --user=root 2>/dev/null || true
fi
rc=0
stop_pidfile slurmd /run/slurmd.pid || rc=1
stop_pidfile slurmctld /run/slurmctld.pid || rc=1
stop_pidfile munged /run/munge/munged.pid || rc=1
exit $rc
