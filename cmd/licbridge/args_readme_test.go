package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// readmeCommandLines extracts the licbridge command lines of the README's code
// blocks (fenced or indented), continuation lines joined, comments and output
// redirection dropped, split into words (double quotes honoured).
func readmeCommandLines(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	fenced := false
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		s := strings.TrimSpace(l)
		if !(fenced || strings.HasPrefix(l, "    ")) || !strings.HasPrefix(s, "licbridge ") {
			continue
		}
		for strings.HasSuffix(s, `\`) && i+1 < len(lines) {
			i++
			s = strings.TrimSuffix(s, `\`) + " " + strings.TrimSpace(lines[i])
		}
		var words []string
		for _, w := range shellWords(s) {
			if w == "#" || strings.HasPrefix(w, "#") || w == ">" {
				break
			}
			// [--flag V]... marks optional parts: the test passes them.
			// A lone "..." stands for a value and stays.
			if w != "..." {
				w = strings.Trim(strings.TrimSuffix(w, "..."), "[]")
			}
			if w != "" {
				words = append(words, w)
			}
		}
		out = append(out, words)
	}
	return out
}

// shellWords splits s at blanks, keeping double-quoted parts together.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// noActions replaces every command's action so that parsing, required flags
// and command lookup run but nothing else does.
func noActions(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.Action != nil {
			c.Action = func(*cli.Context) error { return nil }
		}
		c.Before = nil
		noActions(c.Subcommands)
	}
}

// TestReadmeCommandLinesParse: every licbridge command line of the README is
// accepted by the CLI as written (flags defined for their command, required
// flags present, wherever on the line they are). Running them all for real
// needs Redis, Asterisk and keys; the daemon's own lines run in the e2e tests.
func TestReadmeCommandLinesParse(t *testing.T) {
	lines := readmeCommandLines(t)
	if len(lines) < 10 {
		t.Fatalf("found only %d command lines in README.md", len(lines))
	}
	for _, words := range lines {
		t.Run(strings.Join(words, " "), func(t *testing.T) {
			t.Setenv("LICBRIDGE_REDIS", "") // no developer settings
			app := newApp()
			noActions(app.Commands)
			var out bytes.Buffer
			app.Writer, app.ErrWriter = &out, &out
			if err := app.RunContext(context.Background(), reorderArgs(app, words)); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if strings.Contains(out.String(), "Incorrect Usage") {
				t.Fatalf("%s", out.String())
			}
		})
	}
}
