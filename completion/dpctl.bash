# bash completion for dpctl(1): its commands and options, and the names of
# the services for the commands that take them.  Those come from the
# control socket (the one -S names, or the default) through dpctl itself,
# which gives up silently after a second; see 'dpctl __complete' in
# dpctl(1).  Installed as share/bash-completion/completions/dpctl.

_dpctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} out
    local -a lines run=()
    # dpctl bounds its own wait; timeout(1) is a second bound, if present.
    type -P timeout >/dev/null 2>&1 && run=(timeout 3)
    out=$("${run[@]}" "${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" \
          2>/dev/null </dev/null) || return 0
    mapfile -t lines <<<"$out"
    if [[ ${lines[0]} == files ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    elif [[ ${lines[0]} == words ]]; then
        COMPREPLY=("${lines[@]:1}")
    fi
    return 0
}
complete -F _dpctl dpctl
