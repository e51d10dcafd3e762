# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tokctl_global_optspecs
    string join \n config= v/verbose q/quiet h/help V/version
end

function __fish_tokctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tokctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tokctl_using_subcommand
    set -l cmd (__fish_tokctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tokctl -n "__fish_tokctl_needs_command" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_needs_command" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_needs_command" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_needs_command" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_needs_command" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "config" -d 'Show or check the effective configuration'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "migrate" -d 'Apply database migrations, or show their status'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "generate-docs" -d 'Write completions and man pages (for packaging and the repo\'s own tests)'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -f -a "show" -d 'Print the effective configuration as TOML, each value with its source; secrets masked'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -f -a "check" -d 'Validate the configuration: exit 0 when valid, 2 with the reason when not'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the effective configuration as TOML, each value with its source; secrets masked'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate the configuration: exit 0 when valid, 2 with the reason when not'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l dry-run -d 'Show what would be applied, change nothing'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -f -a "status" -d 'List applied and pending migrations; fail (exit 1) when an applied one differs from the binary\'s'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "status" -d 'List applied and pending migrations; fail (exit 1) when an applied one differs from the binary\'s'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -l out -d 'Directory that receives completions/ and man/' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from config migrate generate-docs help" -f -a "config" -d 'Show or check the effective configuration'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from config migrate generate-docs help" -f -a "migrate" -d 'Apply database migrations, or show their status'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from config migrate generate-docs help" -f -a "generate-docs" -d 'Write completions and man pages (for packaging and the repo\'s own tests)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from config migrate generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the effective configuration as TOML, each value with its source; secrets masked'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the configuration: exit 0 when valid, 2 with the reason when not'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "status" -d 'List applied and pending migrations; fail (exit 1) when an applied one differs from the binary\'s'
