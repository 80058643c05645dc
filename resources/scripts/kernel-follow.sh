# Fleet Console, node side: the kernel log followed live, on a second channel of the node's connection. The
# console sends this file's text as `sh -c TEXT fleet-console SINCE` (SINCE: the epoch of the last line
# it read, an hour back the first time). The first line names the tool; a tool that cannot read the log
# ends, and its words on stderr say why.

since=$1

if command -v journalctl >/dev/null 2>&1; then
    probe=$(journalctl -k -n 1 --no-pager 2>&1); ok=$?
    case "$probe" in
        *"No journal files were"* | *"not seeing messages from other users"*) ok=1 ;;
    esac
    if [ "$ok" = 0 ]; then
        printf '@@fleet-console-frame follow journalctl\n'
        exec journalctl -k -f -o short-iso --no-pager --since "@$since"
    fi
fi
printf '@@fleet-console-frame follow dmesg\n'
exec dmesg -w --decode --time-format=iso
