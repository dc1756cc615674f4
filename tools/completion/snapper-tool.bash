# SPDX-License-Identifier: GPL-2.0
# bash completion for snapper-tool: subcommands, their options, process
# ids, and generation ids asked of the tool itself (snapper-tool list).

_snapper_tool_store() {
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		if [[ ${COMP_WORDS[i]} == --store ]]; then
			printf '%s' "${COMP_WORDS[i + 1]}"
			return
		fi
	done
}

_snapper_tool_gens() {
	local store
	store=$(_snapper_tool_store)
	[[ -n $store ]] || return
	snapper-tool list --store "$store" 2>/dev/null | awk '$3 != "-" { print $1 }'
}

_snapper_tool_pids() {
	local p
	for p in /proc/[0-9]*; do printf '%s\n' "${p#/proc/}"; done
}

_snapper_tool() {
	local cur prev cmd opts
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	cmd=${COMP_WORDS[1]}
	local commands="version config checkpoint watch list show diff verify export purge restore help"

	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
	fi
	case $prev in
	--store) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	-o) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--gen) COMPREPLY=($(compgen -W "$(_snapper_tool_gens)" -- "$cur")); return ;;
	--pid) COMPREPLY=($(compgen -W "$(_snapper_tool_pids)" -- "$cur")); return ;;
	--format) COMPREPLY=($(compgen -W "raw core" -- "$cur")); return ;;
	--backend) COMPREPLY=($(compgen -W "module proc" -- "$cur")); return ;;
	--compress) COMPREPLY=($(compgen -W "lz4 none" -- "$cur")); return ;;
	--interval|--range|--max-snapshots|--min-snapshots|--expiration) return ;;
	esac
	case $cmd in
	version) opts="--help" ;;
	config) opts="--json --help" ;;
	checkpoint) opts="--store --full --quiet --backend --compress --help" ;;
	watch) opts="--store --interval --help" ;;
	list) opts="--store --json --help" ;;
	show) opts="--store --gen --json --help" ;;
	diff) opts="--store --json --help" ;;
	verify) opts="--store --gen --help" ;;
	export) opts="--store --gen --range --format -o --help" ;;
	purge) opts="--store --max-snapshots --min-snapshots --expiration --help" ;;
	restore) opts="--store --gen --pid --range --salvage --help" ;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	elif [[ $cmd == checkpoint || $cmd == watch ]]; then
		COMPREPLY=($(compgen -W "$(_snapper_tool_pids)" -- "$cur"))
	elif [[ $cmd == diff ]]; then
		COMPREPLY=($(compgen -W "$(_snapper_tool_gens)" -- "$cur"))
	fi
}
complete -F _snapper_tool snapper-tool
