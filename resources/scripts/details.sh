# Fleet Console, node side: the slow path's look at a node, every 30 s on its existing connection. The
# console sends this file's text as `sh -c TEXT fleet-console SINCE PARTS [RECENT OLDER]`:
#   SINCE  the epoch of the last look (kernel lines since then)
#   PARTS  what to look at, any of: nvidia (nvidia-smi -q -x), nvidia-health (only the health fields, see
#          below), kernel (the kernel log, where it is not followed live), node (load, uptime, memory,
#          CPUs, root disk)
#   RECENT, OLDER  nvidia-health's --query-gpu field lists, under recent and older drivers' names
# Each part ends with a frame line naming it and its exit status.

since=$1
parts=$2
recent=${3:-}
older=${4:-}

frame() { printf '\n@@fleet-console-frame %s %s\n' "$1" "$2"; }
wants() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

if wants nvidia; then
    nvidia-smi -q -x 2>&1; frame nvidia-xml $?
fi

# The health fields alone, a few hundred bytes a GPU instead of the whole -q -x: under recent drivers'
# names, then older ones'; a driver that refuses both (no remapped rows before R460) gets the whole -q -x.
if wants nvidia-health; then
    nvidia-smi --query-gpu="$recent" --format=csv,nounits 2>&1; s=$?; frame nvidia-health "$s"
    if [ "$s" != 0 ]; then
        nvidia-smi --query-gpu="$older" --format=csv,nounits 2>&1; s=$?; frame nvidia-health "$s"
    fi
    if [ "$s" != 0 ]; then
        nvidia-smi -q -x 2>&1; frame nvidia-xml $?
    fi
fi

# journalctl where it works (only lines since the last look); else dmesg (the whole ring buffer; the console
# drops repeats). A journalctl that finds no journal, or may read only the user's own, says so and still
# exits 0 with "-- No entries --": those words send it to dmesg too.
if wants kernel; then
    s=127
    if command -v journalctl >/dev/null 2>&1; then
        out=$(journalctl -k -o short-iso --no-pager --since "@$since" 2>&1); s=$?
        case "$out" in
            *"No journal files were"* | *"not seeing messages from other users"*) [ "$s" = 0 ] && s=2 ;;
        esac
        printf '%s' "$out"; frame journalctl "$s"
    fi
    if [ "$s" != 0 ]; then
        dmesg --decode --time-format=iso 2>&1; frame dmesg $?
    fi
fi

if wants node; then
    cat /proc/loadavg /proc/uptime /proc/meminfo 2>&1; nproc 2>&1; frame proc $?
    df -P / 2>&1; frame df $?
fi
