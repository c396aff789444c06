#!/usr/bin/env bash
# `make run` after its set-up: Snakemake in this directory with the given arguments, resuming a run
# that was killed, then the time since START (when `make run` began).
# A killed Snakemake (kill -9, a closed terminal, a reboot) leaves its lock in .snakemake/locks and
# the next run would refuse to start. When no Snakemake process works in this directory any more,
# that lock is stale: it is removed (`snakemake --unlock`), and the profile's rerun-incomplete redoes
# what the killed run left half-written. Teacher answers already paid for are in the cache.
set -euo pipefail
export PYTHONPATH=$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}
start=${START:-$(date +%s)}

snakemake_here() {   # pid of a live Snakemake whose working directory is this one
    local here p
    here=$(pwd -P)
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/cwd" 2>/dev/null) == "$here" ]] || continue
        tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxE '(.*/)?snakemake' && { echo "${p#/proc/}"; return 0; }
    done
    return 1
}

# Config files are checked first: Snakemake's own message for a broken one names no file or line.
configs=(config.yaml) taking=0
for arg in "$@"; do
    case $arg in
        --configfile|--configfiles) taking=1 ;;
        --configfile=*|--configfiles=*) configs+=("${arg#*=}"); taking=0 ;;
        -*) taking=0 ;;
        *) ((taking)) && configs+=("$arg") ;;
    esac
done
python -m magicoder_repro.core.config_files "${configs[@]}"

if compgen -G ".snakemake/locks/*" >/dev/null; then
    if pid=$(snakemake_here); then
        echo "another Snakemake run (pid $pid) is working in $(pwd): wait for it to end or stop it, then run this again" >&2
        exit 1
    fi
    echo "a killed run left its lock (.snakemake/locks) and no Snakemake runs here: unlocking, then resuming"
    snakemake --unlock "$@" >/dev/null
fi
snakemake "$@"
report=results/report/index.html
echo "done in $(( $(date +%s) - start )) s from the start of make run$([[ -e $report ]] && echo "; report: $report")"
