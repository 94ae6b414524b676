#!/bin/sh
# controller.sh - the shell controller of the FROM scratch image: keep
# every service up, and on SIGTERM or SIGINT stop them in reverse order
# of definition, then end the container with `terminate CODE` (CODE is
# the first argument, default 0).
#
# Run as daemonproxy's controller service (see daemonproxy-sh.conf):
# events on stdin, commands on stdout, log lines on stderr.  daemonproxy
# runs with --container, so `terminate` may end PID 1.  Fields are
# separated by TABs; examples/controller.sh explains the parsing.

tab=$(printf '\t')
set -f
services=''             # in order of definition, "a b c"
up=' '                  # services now running, " a b "
stopping=''             # set once shutdown began
deadline=10             # seconds each service gets after SIGTERM
code=${1:-0}            # the container's exit code after a clean shutdown

log() { printf 'controller.sh: %s\n' "$*" >&2; }

stop_next() {           # signal the last running service, or terminate
    last_up=''
    for s in $services; do
        case $up in *" $s "*) last_up=$s ;; esac
    done
    if [ -z "$last_up" ]; then
        log "every service is down: terminate $code"
        printf 'terminate\t%s\n' "$code"
        return
    fi
    log "stopping $last_up"
    printf 'service.signal\t%s\tSIGTERM\n' "$last_up"
    # A deadline without a timer: echo comes back when daemonproxy gets
    # to it, so a helper sleeps and then asks for a kill.
    ( sleep "$deadline"; printf 'echo\tcontroller.deadline\t%s\n' "$last_up" ) &
}

printf 'statedump\n'
while IFS= read -r line; do
    IFS=$tab
    # shellcheck disable=SC2086  # splitting on TABs is the point
    set -- $line
    unset IFS
    case ${1-} in
    service.args)       # a service definition (from statedump or live)
        [ "$2" = controller ] && continue
        case " $services " in *" $2 "*) ;; *) services="$services $2" ;; esac
        ;;
    service.state)      # NAME STATE TS PID ...
        [ "$2" = controller ] && continue
        case $3 in
        up) up="$up$2 " ;;
        down|deleted)
            case $up in *" $2 "*) up="${up%%" $2 "*} ${up#*" $2 "}" ;; esac
            if [ -n "$stopping" ]; then
                stop_next
            elif [ "$3" = down ] && [ "$4" = - ]; then
                log "$2 was never started: starting it"
                printf 'service.start\t%s\n' "$2"
            elif [ "$3" = down ]; then
                # One second after it went down: a service that fails at
                # once cannot make us spin.
                log "$2 is down: starting it again in a second"
                printf 'service.start\t%s\t%s\n' "$2" "$(($4 + 1))"
            fi
            ;;
        esac
        ;;
    signal)             # SIGNAME TS COUNT
        case $2 in
        SIGTERM|SIGINT)
            [ -n "$stopping" ] && continue
            stopping=1
            log "$2: stopping services in reverse order"
            printf 'signal.clear\t%s\t%s\n' "$2" "$4"
            stop_next
            ;;
        esac
        ;;
    controller.deadline)
        case $up in *" $2 "*)
            log "$2 did not stop within ${deadline}s: SIGKILL"
            printf 'service.signal\t%s\tSIGKILL\n' "$2" ;;
        esac
        ;;
    esac
done
