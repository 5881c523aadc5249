package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs rewrites a command line into the one shape urfave/cli v2 parses:
//
//	licbridge [global flags] cmd [cmd flags] sub [sub flags] [positionals]
//
// urfave/cli v2 reads a global flag only before the subcommand and stops reading
// a command's flags at its first positional argument, so the command lines
// people (and the README, the systemd unit) write — `licbridge run --config F`,
// `license deactivate ID --host-id H`, `sipmon read f.pcap --json` — failed.
//
// The walk uses the app's own flag definitions: a flag of the current command
// stays with it, a global flag (--config, --log-level, --log-format, --help,
// --version) found anywhere moves to before the first command, and a flag that
// takes a value moves with its value (the next argument unless written
// --flag=value). Unknown flags are kept with the command, where urfave reports
// them. `--` ends the flags: it and everything after it stay positional, in
// order. A word that is not a known subcommand where one is expected (a typo,
// "help") ends the rewrite: the rest is passed on as written.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	globals := flagIndex(append([]cli.Flag{cli.HelpFlag, cli.VersionFlag}, app.Flags...))

	var (
		globalOut []string   // global flags with their values
		levels    [][]string // per command level: its name, then its flags
		pos       []string   // positionals of the deepest command
		tail      []string   // "--" and what follows, or what was left unparsed
	)
	var level []string    // the current level's name and flags (unknown flags at app level)
	cur := flagIndex(nil) // flags of the current command (none at app level)
	subs := app.Commands  // subcommands expected at this level
	atApp := true         // still before the first command
	flush := func() { levels = append(levels, level) }

	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			tail = args[i:]
			break
		}
		if isFlagArg(a) {
			name, hasValue := flagArgName(a)
			n := 1
			takesCur, isCur := cur[name]
			takesGlobal, isGlobal := globals[name]
			isCur = isCur && !atApp
			switch {
			case (isCur && takesCur || !isCur && isGlobal && takesGlobal) && !hasValue && i+1 == len(args):
				// Its value is missing: kept last for urfave to say so (moved
				// ahead, it would take a command name or positional as its value).
				tail = []string{a}
			case isCur:
				if takesCur && !hasValue {
					n = 2
				}
				level = append(level, args[i:i+n]...)
			case isGlobal:
				if takesGlobal && !hasValue {
					n = 2
				}
				globalOut = append(globalOut, args[i:i+n]...)
			default:
				level = append(level, a) // unknown: left for urfave to name
			}
			i += n - 1
			continue
		}
		// A positional: a subcommand where this level has some and none was
		// chosen yet and no positional came before, else an argument.
		if len(subs) > 0 && len(pos) == 0 {
			cmd := findCommand(subs, a)
			if cmd == nil || cmd.SkipFlagParsing {
				tail = args[i:]
				break
			}
			if !atApp {
				flush()
			} else {
				globalOut = append(globalOut, level...) // unknown flags before any command
			}
			atApp = false
			level = []string{a}
			fl := cmd.Flags
			if !cmd.HideHelp {
				fl = append([]cli.Flag{cli.HelpFlag}, fl...)
			}
			cur = flagIndex(fl)
			subs = cmd.Subcommands
			continue
		}
		pos = append(pos, a)
	}

	out := []string{args[0]}
	out = append(out, globalOut...)
	if !atApp {
		flush()
	} else {
		out = append(out, level...)
	}
	for _, l := range levels {
		out = append(out, l...)
	}
	if len(pos) > 0 && len(tail) > 0 && tail[0] == "--" {
		// Keep the positionals after the flags' end so that none is read as a flag.
		out = append(out, "--")
		out = append(out, pos...)
		return append(out, tail[1:]...)
	}
	out = append(out, pos...)
	return append(out, tail...)
}

// flagIndex maps every name and alias of flags to whether the flag takes a value.
func flagIndex(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		takes := true // an unknown flag type: as Go's flag package, a value follows
		if dg, ok := f.(cli.DocGenerationFlag); ok {
			takes = dg.TakesValue()
		}
		for _, n := range f.Names() {
			m[n] = takes
		}
	}
	return m
}

// isFlagArg reports whether a looks like a flag to Go's flag package ("-" alone
// is a positional, conventionally stdin).
func isFlagArg(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// flagArgName is the name in -name, --name or --name=value, and whether the
// value is in the same argument.
func flagArgName(a string) (string, bool) {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if k, _, ok := strings.Cut(name, "="); ok {
		return k, true
	}
	return name, false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
