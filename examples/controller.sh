#!/bin/sh
# controller.sh - a minimal daemonproxy controller in POSIX sh.
#
# Run it as a service whose fds are control.event, control.cmd and stderr
# (see controller.conf): events arrive on stdin, commands go to stdout, and
# stderr is daemonproxy's stderr.
#
# Policy: print every event to stderr, and restart every service that goes
# down (at most about once a second per service), except those that
# daemonproxy's own auto_up already looks after.  If this script dies,
# daemonproxy restarts it; the new instance resyncs with statedump.
#
# Fields are separated by TABs.  TAB is an IFS whitespace character, so
# `set -- $line` merges empty fields; the fields this script uses are never
# empty, and events always name the object in field 2.

tab=$(printf '\t')
set -f                  # no pathname expansion when splitting lines

auto=' '                # services with auto_up triggers, as " a b c "
pending=''              # "NAME:TS:DOWNTIME" of services seen down while syncing
syncing=1

forget_auto() {         # forget_auto NAME
    case $auto in
    *" $1 "*) auto="${auto%%" $1 "*} ${auto#*" $1 "}" ;;
    esac
}

restart() {             # restart NAME DOWN_TS DOWNTIME
    case $auto in
    *" $1 "*) return ;; # daemonproxy restarts it itself
    esac
    if [ "$3" -ge 1 ]; then
        # Down for a while (we learnt it from a statedump): start now.
        printf 'service.start\t%s\n' "$1"
    else
        # Just died: start it one second after it went down, so a service
        # that fails at once cannot make us spin.
        printf 'service.start\t%s\t%s\n' "$1" "$(($2 + 1))"
    fi
}

resync() {
    syncing=1
    pending=''
    printf 'statedump\n'
    # Commands run in order, so this echo comes back after the whole dump.
    printf 'echo\tcontroller.synced\n'
}

resync
while IFS= read -r line; do
    printf 'controller.sh: %s\n' "$line" >&2
    IFS=$tab
    # shellcheck disable=SC2086  # splitting on TABs is the point
    set -- $line
    unset IFS
    case ${1-} in
    service.state)      # NAME STATE TS PID REASON VALUE UPTIME DOWNTIME
        [ "$3" = deleted ] && forget_auto "$2"
        if [ "$3" != down ] || [ "$4" = - ]; then
            continue    # not an exit (never-started services have TS "-")
        fi
        if [ -n "$syncing" ]; then
            # auto_up lines follow the state line in a dump: decide later.
            pending="$pending $2:$4:$9"
        else
            restart "$2" "$4" "$9"
        fi
        ;;
    service.auto_up)    # NAME - | NAME INTERVAL TRIGGER...
        forget_auto "$2"
        [ "$3" = - ] || auto="$auto$2 "
        ;;
    controller.synced)  # our echo: the statedump is complete
        syncing=''
        for p in $pending; do
            name=${p%%:*} rest=${p#*:}
            restart "$name" "${rest%%:*}" "${rest#*:}"
        done
        pending=''
        ;;
    overflow)           # events were lost
        resync
        ;;
    esac
done
# EOF: daemonproxy closed our connection.  Exiting lets auto_up restart us.
