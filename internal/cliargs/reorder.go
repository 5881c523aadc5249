package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Reorder rewrites a command line into the one shape urfave/cli v2 parses:
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
func Reorder(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	w := &argWalk{
		globals: flagIndex(append([]cli.Flag{cli.HelpFlag, cli.VersionFlag}, app.Flags...)),
		cur:     flagIndex(nil),
		subs:    app.Commands,
		atApp:   true,
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			w.tail = args[i:]
		case isFlagArg(a):
			i += w.flag(args, i) - 1
			continue
		case len(w.subs) > 0 && len(w.pos) == 0:
			// A subcommand where this level has some and none was chosen yet
			// and no positional came before.
			if w.command(a) {
				continue
			}
			w.tail = args[i:]
		default:
			w.pos = append(w.pos, a)
			continue
		}
		break
	}
	return w.result(args[0])
}

// argWalk is Reorder's state as it walks the arguments.
type argWalk struct {
	globals   map[string]bool // the app's flags: name -> takes a value
	globalOut []string        // global flags with their values
	levels    [][]string      // per command level: its name, then its flags
	pos       []string        // positionals of the deepest command
	tail      []string        // "--" and what follows, or what was left unparsed
	level     []string        // the current level's name and flags (unknown flags at app level)
	cur       map[string]bool // flags of the current command (none at app level)
	subs      []*cli.Command  // subcommands expected at this level
	atApp     bool            // still before the first command
}

// flag places the flag at args[i] (with its value) and returns how many
// arguments it took.
func (w *argWalk) flag(args []string, i int) int {
	a := args[i]
	name, hasValue := flagArgName(a)
	n := 1
	takesCur, isCur := w.cur[name]
	takesGlobal, isGlobal := w.globals[name]
	isCur = isCur && !w.atApp
	switch {
	case (isCur && takesCur || !isCur && isGlobal && takesGlobal) && !hasValue && i+1 == len(args):
		// Its value is missing: kept last for urfave to say so (moved
		// ahead, it would take a command name or positional as its value).
		w.tail = []string{a}
	case isCur:
		if takesCur && !hasValue {
			n = 2
		}
		w.level = append(w.level, args[i:i+n]...)
	case isGlobal:
		if takesGlobal && !hasValue {
			n = 2
		}
		w.globalOut = append(w.globalOut, args[i:i+n]...)
	default:
		w.level = append(w.level, a) // unknown: left for urfave to name
	}
	return n
}

// command enters subcommand a; false when a is none (a typo, "help") or
// parses its own flags.
func (w *argWalk) command(a string) bool {
	cmd := findCommand(w.subs, a)
	if cmd == nil || cmd.SkipFlagParsing {
		return false
	}
	if !w.atApp {
		w.levels = append(w.levels, w.level)
	} else {
		w.globalOut = append(w.globalOut, w.level...) // unknown flags before any command
	}
	w.atApp = false
	w.level = []string{a}
	fl := cmd.Flags
	if !cmd.HideHelp {
		fl = append([]cli.Flag{cli.HelpFlag}, fl...)
	}
	w.cur = flagIndex(fl)
	w.subs = cmd.Subcommands
	return true
}

// result is the rewritten command line.
func (w *argWalk) result(prog string) []string {
	out := append([]string{prog}, w.globalOut...)
	if !w.atApp {
		w.levels = append(w.levels, w.level)
	} else {
		out = append(out, w.level...)
	}
	for _, l := range w.levels {
		out = append(out, l...)
	}
	if len(w.pos) > 0 && len(w.tail) > 0 && w.tail[0] == "--" {
		// Keep the positionals after the flags' end so that none is read as a flag.
		out = append(out, "--")
		out = append(out, w.pos...)
		return append(out, w.tail[1:]...)
	}
	out = append(out, w.pos...)
	return append(out, w.tail...)
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
