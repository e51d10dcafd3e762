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
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "serve" -d 'Run the gateway: OpenAI- and Anthropic-compatible endpoints with the usage ledger'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "config" -d 'Show or check the effective configuration'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "migrate" -d 'Apply database migrations, or show their status'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "users" -d 'Create, list, update (team, models), disable, enable and delete users of the gateway'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "keys" -d 'Create, list, update (models), revoke and rotate API keys (a new key is printed once, alone on stdout)'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "teams" -d 'Create, list, show, update and delete teams (groups of users; ledger entries carry the team)'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "tune" -d 'Recommend ledger-writer and pool settings for a target rate, with the reasons; --measure calibrates'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "health" -d 'Ask a running gateway (or, with --direct, the configured databases) how healthy it is; Nagios exit codes'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "loadtest" -d 'Load-test an OpenAI-compatible endpoint (closed or open loop, HDR percentiles)'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "ledger" -d 'Export ledger entries (CSV, JSON lines), summarise usage, verify the hash chains, inspect the spool'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "generate-docs" -d 'Write completions and man pages (for packaging and the repo\'s own tests)'
complete -c tokctl -n "__fish_tokctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -l listen -d 'Address to listen on (overrides server.listen); port 0 picks a free port' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -l no-migrate -d 'Do not apply pending migrations at start (a schema that differs from this binary still stops the start)'
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand serve" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -f -a "show" -d 'Print the effective configuration as TOML, each value with its source; secrets masked'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -f -a "check" -d 'Validate the configuration: exit 0 when valid, 2 with the reason when not'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and not __fish_seen_subcommand_from show check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "toml\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -l strict -d 'Exit 2 on every warning, not only on errors'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
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
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "status" -d 'List applied and pending migrations; fail (exit 1) when an applied one differs from the binary\'s'
complete -c tokctl -n "__fish_tokctl_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "create" -d 'Create a user (then give them a key with `tokctl keys create --user NAME`)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "update" -d 'Move a user into a team (or out of theirs), replace their model allow-list or change their budget'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "list" -d 'List users with their count of usable keys'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "disable" -d 'Disable a user: every key of theirs is refused within the auth cache TTL'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "enable" -d 'Enable a disabled user: their keys that are neither revoked nor expired work again'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "delete" -d 'Delete a user and their keys; refused while the ledger holds rows of theirs unless --keep-ledger'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and not __fish_seen_subcommand_from create update list disable enable delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -l team -d 'The team the user joins (see `tokctl teams list`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -l models -d 'Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g. \'claude-*,gpt-4o\'). The key, its user and the user\'s team must all allow a model; \'\' removes this list (any model)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -l budget -d 'Spend budget per window, in the ledger\'s currency (e.g. 50, 0.50, 12.345); requests that would pass it are refused with 429 budget_exceeded' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -l budget-window -d 'When the budget\'s spend resets: daily, weekly, monthly (calendar, in budgets.timezone) or a duration counted from when the budget is set (30d, 12h) [default: monthly]' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -l budget-soft -d 'Soft threshold: percent of the budget (1-100) at which an event is raised once per window; \'\' removes it' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l team -d 'The team to move the user into; \'\' removes them from their team' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l models -d 'Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g. \'claude-*,gpt-4o\'). The key, its user and the user\'s team must all allow a model; \'\' removes this list (any model)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l budget -d 'Spend budget per window, in the ledger\'s currency (e.g. 50, 0.50, 12.345); requests that would pass it are refused with 429 budget_exceeded' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l budget-window -d 'When the budget\'s spend resets: daily, weekly, monthly (calendar, in budgets.timezone) or a duration counted from when the budget is set (30d, 12h) [default: monthly]' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l budget-soft -d 'Soft threshold: percent of the budget (1-100) at which an event is raised once per window; \'\' removes it' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l no-team -d 'Remove the user from their team'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -l no-budget -d 'Remove the budget'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''
csv\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from disable" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from disable" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from disable" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from disable" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from enable" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from enable" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from enable" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from enable" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from delete" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from delete" -l keep-ledger -d 'Delete even though the ledger has rows of this user; the rows are kept as they are (user id and name), and ids are never reused'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a user (then give them a key with `tokctl keys create --user NAME`)'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "update" -d 'Move a user into a team (or out of theirs), replace their model allow-list or change their budget'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "list" -d 'List users with their count of usable keys'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Disable a user: every key of theirs is refused within the auth cache TTL'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Enable a disabled user: their keys that are neither revoked nor expired work again'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a user and their keys; refused while the ledger holds rows of theirs unless --keep-ledger'
complete -c tokctl -n "__fish_tokctl_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -f -a "create" -d 'Create a key and print it (alone, on stdout). It is shown only this once'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -f -a "update" -d 'Change a key\'s model allow-list or budget (seen by gateways within auth.cache_ttl_ms)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -f -a "list" -d 'List keys (never the keys themselves: only their display prefixes), with their state'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -f -a "revoke" -d 'Revoke a key by id, display prefix or full key; refused within the auth cache TTL'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -f -a "rotate" -d 'Replace a key: print a new one (same user, name, limits and expiry); revoke the old one now or after --grace'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and not __fish_seen_subcommand_from create update list revoke rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l user -d 'The user the key acts for' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l name -d 'A label for the key, shown in listings' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l expires -d 'Expiry: a duration from now (30d, 12h) or an RFC 3339 time' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l rps -d 'Requests per second for this key (default: rate_limit.apikey_rps)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l burst -d 'Burst size for this key (default: rate_limit.apikey_burst)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l tpm -d 'Tokens per minute for this key (default: unlimited)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l models -d 'Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g. \'claude-*,gpt-4o\'). The key, its user and the user\'s team must all allow a model; \'\' removes this list (any model)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l budget -d 'Spend budget per window, in the ledger\'s currency (e.g. 50, 0.50, 12.345); requests that would pass it are refused with 429 budget_exceeded' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l budget-window -d 'When the budget\'s spend resets: daily, weekly, monthly (calendar, in budgets.timezone) or a duration counted from when the budget is set (30d, 12h) [default: monthly]' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l budget-soft -d 'Soft threshold: percent of the budget (1-100) at which an event is raised once per window; \'\' removes it' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -l models -d 'Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g. \'claude-*,gpt-4o\'). The key, its user and the user\'s team must all allow a model; \'\' removes this list (any model)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -l budget -d 'Spend budget per window, in the ledger\'s currency (e.g. 50, 0.50, 12.345); requests that would pass it are refused with 429 budget_exceeded' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -l budget-window -d 'When the budget\'s spend resets: daily, weekly, monthly (calendar, in budgets.timezone) or a duration counted from when the budget is set (30d, 12h) [default: monthly]' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -l budget-soft -d 'Soft threshold: percent of the budget (1-100) at which an event is raised once per window; \'\' removes it' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -l no-budget -d 'Remove the budget'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -l user -d 'Only this user\'s keys' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''
csv\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l grace -d 'How long the old key keeps working (e.g. 1h, 30m; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a key and print it (alone, on stdout). It is shown only this once'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "update" -d 'Change a key\'s model allow-list or budget (seen by gateways within auth.cache_ttl_ms)'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "list" -d 'List keys (never the keys themselves: only their display prefixes), with their state'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a key by id, display prefix or full key; refused within the auth cache TTL'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Replace a key: print a new one (same user, name, limits and expiry); revoke the old one now or after --grace'
complete -c tokctl -n "__fish_tokctl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -f -a "create" -d 'Create a team, optionally with a model allow-list and a budget for all its members'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -f -a "list" -d 'List teams with their member counts, allow-lists and budgets'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -f -a "show" -d 'Show a team: its allow-list, budget and members'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -f -a "update" -d 'Rename a team, replace its allow-list or change its budget (seen by gateways within auth.cache_ttl_ms)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -f -a "delete" -d 'Delete a team; refused while it has members unless --force'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and not __fish_seen_subcommand_from create list show update delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -l models -d 'Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g. \'claude-*,gpt-4o\'). The key, its user and the user\'s team must all allow a model; \'\' removes this list (any model)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -l budget -d 'Spend budget per window, in the ledger\'s currency (e.g. 50, 0.50, 12.345); requests that would pass it are refused with 429 budget_exceeded' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -l budget-window -d 'When the budget\'s spend resets: daily, weekly, monthly (calendar, in budgets.timezone) or a duration counted from when the budget is set (30d, 12h) [default: monthly]' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -l budget-soft -d 'Soft threshold: percent of the budget (1-100) at which an event is raised once per window; \'\' removes it' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''
csv\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l rename -d 'A new name; members stay in the team' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l models -d 'Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g. \'claude-*,gpt-4o\'). The key, its user and the user\'s team must all allow a model; \'\' removes this list (any model)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l budget -d 'Spend budget per window, in the ledger\'s currency (e.g. 50, 0.50, 12.345); requests that would pass it are refused with 429 budget_exceeded' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l budget-window -d 'When the budget\'s spend resets: daily, weekly, monthly (calendar, in budgets.timezone) or a duration counted from when the budget is set (30d, 12h) [default: monthly]' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l budget-soft -d 'Soft threshold: percent of the budget (1-100) at which an event is raised once per window; \'\' removes it' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -l no-budget -d 'Remove the budget'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from delete" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from delete" -l force -d 'Delete even with members: they are left without a team (in the same transaction)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a team, optionally with a model allow-list and a budget for all its members'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from help" -f -a "list" -d 'List teams with their member counts, allow-lists and budgets'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a team: its allow-list, budget and members'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from help" -f -a "update" -d 'Rename a team, replace its allow-list or change its budget (seen by gateways within auth.cache_ttl_ms)'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a team; refused while it has members unless --force'
complete -c tokctl -n "__fish_tokctl_using_subcommand teams; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l qps -d 'Target peak rate, requests (ledger entries) per second per gateway' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l burst-seconds -d 'How long the peak may outrun the writers; the buffer holds qps × this (e.g. 1s, 500ms; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l max-delay-ms -d 'How stale the ledger may be; bounds flush_ms (e.g. 500ms, 2s; a bare number is milliseconds; default: no bound)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l cores -d 'CPU cores for the writers (default: detected)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l db-max-conns -d 'The database\'s connection limit (default: PostgreSQL\'s max_connections, else 100)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l entry-bytes -d 'Memory per buffered entry (default: the measured size of a representative entry)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l memory-budget -d 'Bound on the buffer\'s memory when full, e.g. 256MiB (default: no bound)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l instances -d 'Gateways sharing one database' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l backend -d 'Backend to plan for (default: from the configured ledger DSN)' -r -f -a "sqlite\t''
postgres\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
toml\t''
env\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l measure-seconds -d 'Time budget of --measure (e.g. 10s; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l verify-seconds -d 'How long --verify sends load (e.g. 30s; a bare number is seconds; at most 10m)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l verify-override -d 'Replace one [ledger.async] value for --verify, e.g. buffer_size=4 or on_full=drop (repeatable)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l measure -d 'Benchmark the real bulk insert on the ledger database first (scratch table, bounded time)'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l write -d 'Write the recommendation into the config file (asks per change unless --yes)'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l yes -d 'Accept every change without asking'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l dry-run -d 'Show what would be written, write nothing'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -l verify -d 'Run the recommendation: start `tokctl serve` on 127.0.0.1 with it, send --qps for --verify-seconds, and check the ledger kept up (exit 1 when not)'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand tune" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l url -d 'The gateway\'s base URL (default: http://<server.listen>, a wildcard host becomes 127.0.0.1)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l watch -d 'Check again at this interval until interrupted (e.g. 5s; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l timeout -d 'Give up on the server after this long, exit 3 (e.g. 2s, 500ms; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l direct -d 'Check the configured databases and providers from here, without a server'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -l live -d 'Only ask whether the gateway serves (GET /livez), for liveness checks such as a container\'s HEALTHCHECK'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand health" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s c -l concurrency -d 'Connections, one per concurrency slot; a list (10,50,100) runs a sweep' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l rate -d 'Open loop: requests per second on a constant schedule' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s d -l duration -d 'How long to measure each level (e.g. 10s, 1m; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s n -l requests -d 'Measure exactly this many requests per level instead of a duration' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s t -l threads -d 'Load threads, each driving its share of the connections (like wrk\'s -t); default: one per core. On a machine shared with the target, fewer threads leave the target more CPU' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l warmup -d 'Traffic before measuring, per level (e.g. 2s; a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l timeout -d 'A request unanswered after this long counts as a timeout error (a bare number is seconds)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l model -d 'Model for the generated chat body (default: the first [[models]] entry of the configuration, else the first model the target\'s /v1/models lists)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l prompt -d 'Prompt for the generated chat body' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l body-file -d 'Send this JSON file as the body instead' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l api-key -d 'Bearer token to send' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s H -l header -d 'Extra header, `Name: value` (repeatable)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l slo -d 'Bounds each request must MEET to count as good (goodput), written as what is wanted: e.g. --slo "ttft<500ms,p99<2s" means a good request\'s TTFT is under 500 ms (p50…max, mean, and with --stream ttft, itl). Reports the share of good requests' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l fail-on -d 'Conditions that FAIL the run (exit 1), written as what is bad: e.g. --fail-on "p99>50ms,errors>0.1%" fails when the p99 is over 50 ms or over 0.1% of requests fail' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l hdr-out -d 'Write per-second histograms in the HdrHistogram log format' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l insecure -d 'https:// targets: accept any certificate (a self-signed test server); the connection is still encrypted, not authenticated'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l stream -d 'Stream answers: report time to first token, inter-token latency and tokens/s'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -a "compare" -d 'Show two `--format json` results side by side with ratios (B/A)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and not __fish_seen_subcommand_from compare help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from compare" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from help" -f -a "compare" -d 'Show two `--format json` results side by side with ratios (B/A)'
complete -c tokctl -n "__fish_tokctl_using_subcommand loadtest; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -f -a "export" -d 'Stream ledger entries to CSV or JSON lines (stdout, or a file made atomically)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -f -a "summary" -d 'Totals grouped by user, key, model, day or hour: requests, errors, tokens, cost, p50/p99 latency'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -f -a "verify" -d 'Check the hash chains: reports the first entry where each breaks (edited, deleted, inserted); exit 1'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -f -a "spool" -d 'The crash-safe spool: `status`, or `replay` its entries into the database without serving'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and not __fish_seen_subcommand_from export summary verify spool help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l since -d 'Entries at or after this time: RFC 3339 (2026-11-01T00:00:00Z), or a duration before now (24h, 7d)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l until -d 'Entries before this time: RFC 3339, or a duration before now' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l user -d 'Only this user\'s entries (by name)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l key -d 'Only this API key\'s entries: its id or display prefix (see `tokctl keys list`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l team -d 'Only entries of this team\'s users (the team at request time; see `tokctl teams list`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l model -d 'Only entries for this model (as the client asked for it)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l status -d 'Only entries with this HTTP status code' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l instance -d 'Only entries of this gateway instance\'s hash chain (see `tokctl ledger verify`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l format -d 'Output format' -r -f -a "csv\t''
jsonl\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -s o -l output -d 'Write to FILE (temporary name, renamed when complete) instead of stdout' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l compress -d 'Compression (default: from the output\'s extension, .gz/.gzip or .zst/.zstd; else none)' -r -f -a "none\t''
gzip\t''
zstd\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l after -d 'Incremental export: entries numbered above SEQ in one chain (--instance, or the only one), up to its committed watermark' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l cursor -d 'Incremental export: each chain from the position kept in FILE up to its committed watermark; FILE is rewritten only when the export completes. Not with --since/--until' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l errors -d 'Only error rows: status >= 400, or a stream that began 200 and then failed (its error_kind is set)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l excel-safe -d 'Prefix text cells starting with = + - @ with \' so spreadsheets show them as text'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l manifest -d 'Also write <FILE>.manifest.json: rows, time range, filters, SHA-256, columns'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l since -d 'Entries at or after this time: RFC 3339 (2026-11-01T00:00:00Z), or a duration before now (24h, 7d)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l until -d 'Entries before this time: RFC 3339, or a duration before now' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l user -d 'Only this user\'s entries (by name)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l key -d 'Only this API key\'s entries: its id or display prefix (see `tokctl keys list`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l team -d 'Only entries of this team\'s users (the team at request time; see `tokctl teams list`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l model -d 'Only entries for this model (as the client asked for it)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l status -d 'Only entries with this HTTP status code' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l instance -d 'Only entries of this gateway instance\'s hash chain (see `tokctl ledger verify`)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l by -d 'Group by these (comma-separated or repeated); none: grand totals' -r -f -a "user\t''
key\t''
model\t''
day\t''
hour\t''
upstream_api\t'The provider\'s API (`chat`, `messages`, `responses`, `embeddings`)'
team\t'The user\'s team at request time, by name (`#ID (deleted)` for a deleted team)'
cache\t'`none`, `hit`, `miss`, `bypass`'
provider\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''
csv\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l errors -d 'Only error rows: status >= 400, or a stream that began 200 and then failed (its error_kind is set)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -l csv -d 'The same as --format csv'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from summary" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l instance -d 'Only this gateway instance\'s chain (default: every chain in the ledger)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l from-seq -d 'Start after this sequence number, in every chain (links into it are not checked)' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l since -d 'Check every entry created since WHEN, an RFC 3339 time or a duration before now (24h, 7d): each chain is walked from its first entry since then. A bare number is refused: a sequence number is --from-seq' -r
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l head-file -d 'A chain head file to check its chain against (repeatable: other instances\' head files); default: this gateway\'s ledger.chain.head_file' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l format -d 'Output format: the first listed (the default) is for people, the others for scripts (raw numbers)' -r -f -a "table\t''
json\t''"
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -l json -d 'The same as --format json'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -f -a "status" -d 'Segments, backlog above the committed watermark, torn records'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -f -a "replay" -d 'Write every spooled entry above the watermark into the database, without serving'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from spool" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "export" -d 'Stream ledger entries to CSV or JSON lines (stdout, or a file made atomically)'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "summary" -d 'Totals grouped by user, key, model, day or hour: requests, errors, tokens, cost, p50/p99 latency'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the hash chains: reports the first entry where each breaks (edited, deleted, inserted); exit 1'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "spool" -d 'The crash-safe spool: `status`, or `replay` its entries into the database without serving'
complete -c tokctl -n "__fish_tokctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -l out -d 'Directory that receives completions/ and man/' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -l config -d 'Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present)' -r -F
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s v -l verbose -d 'More log output (-v debug, -vv trace)'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s q -l quiet -d 'Less log output (-q warnings and errors only, -qq errors only)'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c tokctl -n "__fish_tokctl_using_subcommand generate-docs" -s V -l version -d 'Print version'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "serve" -d 'Run the gateway: OpenAI- and Anthropic-compatible endpoints with the usage ledger'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "config" -d 'Show or check the effective configuration'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "migrate" -d 'Apply database migrations, or show their status'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "users" -d 'Create, list, update (team, models), disable, enable and delete users of the gateway'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "keys" -d 'Create, list, update (models), revoke and rotate API keys (a new key is printed once, alone on stdout)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "teams" -d 'Create, list, show, update and delete teams (groups of users; ledger entries carry the team)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "tune" -d 'Recommend ledger-writer and pool settings for a target rate, with the reasons; --measure calibrates'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "health" -d 'Ask a running gateway (or, with --direct, the configured databases) how healthy it is; Nagios exit codes'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "loadtest" -d 'Load-test an OpenAI-compatible endpoint (closed or open loop, HDR percentiles)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "ledger" -d 'Export ledger entries (CSV, JSON lines), summarise usage, verify the hash chains, inspect the spool'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "generate-docs" -d 'Write completions and man pages (for packaging and the repo\'s own tests)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and not __fish_seen_subcommand_from serve config migrate users keys teams tune health loadtest ledger generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the effective configuration as TOML, each value with its source; secrets masked'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the configuration: exit 0 when valid, 2 with the reason when not'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "status" -d 'List applied and pending migrations; fail (exit 1) when an applied one differs from the binary\'s'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "create" -d 'Create a user (then give them a key with `tokctl keys create --user NAME`)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "update" -d 'Move a user into a team (or out of theirs), replace their model allow-list or change their budget'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "list" -d 'List users with their count of usable keys'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "disable" -d 'Disable a user: every key of theirs is refused within the auth cache TTL'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "enable" -d 'Enable a disabled user: their keys that are neither revoked nor expired work again'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "delete" -d 'Delete a user and their keys; refused while the ledger holds rows of theirs unless --keep-ledger'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "create" -d 'Create a key and print it (alone, on stdout). It is shown only this once'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "update" -d 'Change a key\'s model allow-list or budget (seen by gateways within auth.cache_ttl_ms)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "list" -d 'List keys (never the keys themselves: only their display prefixes), with their state'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "revoke" -d 'Revoke a key by id, display prefix or full key; refused within the auth cache TTL'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "rotate" -d 'Replace a key: print a new one (same user, name, limits and expiry); revoke the old one now or after --grace'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from teams" -f -a "create" -d 'Create a team, optionally with a model allow-list and a budget for all its members'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from teams" -f -a "list" -d 'List teams with their member counts, allow-lists and budgets'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from teams" -f -a "show" -d 'Show a team: its allow-list, budget and members'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from teams" -f -a "update" -d 'Rename a team, replace its allow-list or change its budget (seen by gateways within auth.cache_ttl_ms)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from teams" -f -a "delete" -d 'Delete a team; refused while it has members unless --force'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from loadtest" -f -a "compare" -d 'Show two `--format json` results side by side with ratios (B/A)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "export" -d 'Stream ledger entries to CSV or JSON lines (stdout, or a file made atomically)'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "summary" -d 'Totals grouped by user, key, model, day or hour: requests, errors, tokens, cost, p50/p99 latency'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "verify" -d 'Check the hash chains: reports the first entry where each breaks (edited, deleted, inserted); exit 1'
complete -c tokctl -n "__fish_tokctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "spool" -d 'The crash-safe spool: `status`, or `replay` its entries into the database without serving'
