# Fleet Console, node side: the telemetry of a node whose tool is not run directly (Ascend, AMD, or a vendor
# to detect). The console sends this file's text as `sh -c TEXT fleet-console MODE VENDOR [PROBE]`:
#   MODE    stream (a reading every second, until the console goes) or once
#   VENDOR  auto, ascend or amd  (NVIDIA nodes run nvidia-smi's own loop, without a script)
#   PROBE   the NVML probe's Python source, tried first by auto
# Tools that print a whole document per reading are followed by a frame line naming the tool and its exit
# status; auto first says what it found on a vendor line. Nothing from the inventory is spliced in.

mode=$1
vendor=$2
probe=$3
NVIDIA_FIELDS=timestamp,count,index,uuid,name,pci.bus_id,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw,power.limit,clocks.sm,fan.speed,pstate
NO_TOOL="fleet-console: no accelerator tool found on this node (looked for nvidia-smi, npu-smi, amd-smi, rocm-smi)"

have() { command -v "$1" >/dev/null 2>&1; }
frame() { printf '\n@@fleet-console-frame %s %s\n' "$1" "$2"; }
found() { echo "@@fleet-console-vendor $1 $2"; }
no_tool() { echo "$NO_TOOL" >&2; exit 3; }

# One reading, or one every second for ever (npu-smi and amd-smi have no loop option of their own).
readings() {
    if [ "$mode" = once ]; then "$@"; return; fi
    while :; do "$@"; sleep 1; done
}
npu_smi_reading() { npu-smi info 2>&1; frame npu-smi $?; }
amd_smi_reading() { amd-smi metric --json 2>&1; frame amd-smi-metric $?; }
rocm_smi_reading() { rocm-smi --showmeminfo all -a --json 2>&1; frame rocm-smi $?; }

ascend() { readings npu_smi_reading; }

amd() {
    if have amd-smi; then
        amd-smi static --json 2>&1; frame amd-smi-static $?
        readings amd_smi_reading
    elif have rocm-smi; then
        readings rocm_smi_reading
    else
        no_tool
    fi
}

nvidia() {
    if [ "$mode" = once ]; then
        exec nvidia-smi --query-gpu=$NVIDIA_FIELDS --format=csv,noheader,nounits
    fi
    exec nvidia-smi --query-gpu=$NVIDIA_FIELDS --format=csv,noheader,nounits -lms 1000
}

auto() {
    if have python3 && python3 -c "$probe" --check >/dev/null 2>&1; then
        found nvidia nvml-probe
        if [ "$mode" = once ]; then exec python3 -c "$probe" --once; fi
        exec python3 -c "$probe"
    elif have nvidia-smi; then
        found nvidia nvidia-smi; nvidia
    elif have npu-smi; then
        found ascend npu-smi; ascend
    elif have amd-smi || have rocm-smi; then
        found amd amd-smi; amd
    else
        no_tool
    fi
}

case "$vendor" in
    auto | ascend | amd) "$vendor" ;;
    *) echo "fleet-console: telemetry.sh: unknown vendor '$vendor'" >&2; exit 2 ;;
esac
