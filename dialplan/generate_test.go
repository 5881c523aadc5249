package dialplan

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var goldenCases = []struct {
	name string
	opts GenerateOptions
}{
	{"default", GenerateOptions{}},
	{"g729_closed", GenerateOptions{Products: []string{"g729"}, OnFailure: FailClosed}},
	{"fax_agi_remote", GenerateOptions{Products: []string{"fax", "FAX", "ffa"}, AGIAddr: "10.0.0.5:4600"}},
	{"ari", GenerateOptions{Via: ViaARI, Products: []string{"g729", "fax"}, ARIApp: "licbridge-node1"}},
	{"ari_closed_custom_product", GenerateOptions{Via: "ARI", Products: []string{"opus-hd"}, OnFailure: "closed"}},
	{"agi_ipv6", GenerateOptions{Products: []string{"hpec"}, AGIAddr: "[::1]:4573"}},
}

// TestGenerateGolden compares the printed dialplan with testdata/NAME.golden;
// go test ./dialplan -run Golden -update rewrites them.
func TestGenerateGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Generate(&b, tc.opts); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update after checking):\n%s", path, b.String())
			}
			for _, p := range checkSyntax(b.String()) {
				t.Error(p)
			}
		})
	}
}

var (
	contextRe = regexp.MustCompile(`^\[([a-z0-9_-]+)\]$`)
	extenRe   = regexp.MustCompile(`^exten => ([a-z0-9_]+),1,([A-Za-z]+)\((.*)\)$`)
	sameRe    = regexp.MustCompile(`^ same => n(?:\(([a-z]+)\))?,([A-Za-z]+)\((.*)\)$`)
	gotoRe    = regexp.MustCompile(`^\$\[(.*)\]\?([a-z]+)$`)
)

// knownApps are the dialplan applications the printed dialplan may use (all in a
// stock Asterisk 22).
var knownApps = map[string]bool{
	"NoOp": true, "Set": true, "AGI": true, "Stasis": true, "GotoIf": true, "ExecIf": true,
	"Log": true, "Return": true, "Verbose": true,
}

// checkSyntax checks that the text is plausible extensions.conf: comments, blank
// lines, [context] headers, and `exten => name,1,App(args)` / ` same => n(label),App(args)`
// lines with known applications, balanced (), [], ${} in the arguments, and GotoIf
// targets that are labels of the same extension. It also checks that every
// routine returns on every path.
func checkSyntax(text string) (problems []string) {
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	type ext struct {
		labels map[string]bool
		gotos  []string
		apps   []string
	}
	var (
		context string
		cur     *ext
		exts    []*ext
	)
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		switch {
		case line == "" || strings.HasPrefix(line, ";"):
		case contextRe.MatchString(line):
			context = line
		case extenRe.MatchString(line):
			if context == "" {
				add("line %d: exten outside a context", n)
			}
			m := extenRe.FindStringSubmatch(line)
			cur = &ext{labels: map[string]bool{}}
			exts = append(exts, cur)
			checkApp(add, n, m[2], m[3], cur.labels, &cur.gotos)
			cur.apps = append(cur.apps, m[2]+"("+m[3]+")")
		case sameRe.MatchString(line):
			if cur == nil {
				add("line %d: same => before any exten", n)
				continue
			}
			m := sameRe.FindStringSubmatch(line)
			if m[1] != "" {
				if cur.labels[m[1]] {
					add("line %d: label %s repeated", n, m[1])
				}
				cur.labels[m[1]] = true
			}
			checkApp(add, n, m[2], m[3], cur.labels, &cur.gotos)
			cur.apps = append(cur.apps, m[2]+"("+m[3]+")")
		default:
			add("line %d: not dialplan: %q", n, line)
		}
	}
	if len(exts) == 0 {
		add("no extensions")
	}
	for _, e := range exts {
		for _, g := range e.gotos {
			if !e.labels[g] {
				add("GotoIf to %q, which is not a label of its extension", g)
			}
		}
		if last := e.apps[len(e.apps)-1]; !strings.HasPrefix(last, "Return(") {
			add("extension ends with %s, not Return()", last)
		}
	}
	return problems
}

func checkApp(add func(string, ...any), n int, app, args string, labels map[string]bool, gotos *[]string) {
	if !knownApps[app] {
		add("line %d: unknown application %s", n, app)
	}
	depth := map[byte]int{}
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(args); i++ {
		c := args[i]
		switch c {
		case '(', '[', '{':
			depth[c]++
		case ')', ']', '}':
			depth[pairs[c]]--
			if depth[pairs[c]] < 0 {
				add("line %d: unbalanced %c in %s(%s)", n, c, app, args)
			}
		}
	}
	for c, d := range depth {
		if d != 0 {
			add("line %d: unbalanced %c in %s(%s)", n, c, app, args)
		}
	}
	if strings.Count(args, "${") > strings.Count(args, "}") {
		add("line %d: unclosed ${ in %s", n, args)
	}
	if app == "GotoIf" || app == "ExecIf" {
		cond, _, ok := strings.Cut(args, "?")
		if !ok || !strings.HasPrefix(cond, "$[") {
			add("line %d: %s(%s): want $[expr]?target", n, app, args)
		}
	}
	if app == "GotoIf" {
		m := gotoRe.FindStringSubmatch(args)
		if m == nil {
			add("line %d: GotoIf(%s): want $[expr]?label", n, args)
			return
		}
		*gotos = append(*gotos, m[2])
	}
	if app == "Log" || app == "Verbose" {
		// These take level,message; a second comma would cut the message.
		if strings.Count(args, ",") != 1 {
			add("line %d: %s(%s): the message must hold no comma", n, app, args)
		}
	}
}

// TestSyntaxCheckCatches makes sure checkSyntax can fail.
func TestSyntaxCheckCatches(t *testing.T) {
	good := "[c]\nexten => s,1,NoOp(x)\n same => n(l),GotoIf($[1]?l)\n same => n,Return()\n"
	if p := checkSyntax(good); len(p) != 0 {
		t.Fatalf("good text: %v", p)
	}
	for _, bad := range []string{
		"exten => s,1,NoOp(x)\n same => n,Return()\n",                   // outside a context
		"[c]\nexten => s,1,NoOp(x\n same => n,Return()\n",               // unclosed (
		"[c]\nexten => s,1,Dial(x)\n same => n,Return()\n",              // unknown app
		"[c]\nexten => s,1,GotoIf($[1]?nowhere)\n same => n,Return()\n", // missing label
		"[c]\nexten => s,1,NoOp(${X)\n same => n,Return()\n",            // unclosed ${
		"[c]\nexten => s,1,Log(WARNING,a,b)\n same => n,Return()\n",     // comma in message
		"[c]\nexten => s,1,NoOp(x)\n",                                   // no Return
		"[c]\nexten => s,1,NoOp(x)\nsame=>n,Return()\n",                 // not dialplan
	} {
		if p := checkSyntax(bad); len(p) == 0 {
			t.Errorf("no problem found in %q", bad)
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	cases := []struct {
		name string
		opts GenerateOptions
		want string
	}{
		{"product with space", GenerateOptions{Products: []string{"g 729"}}, `product "g 729"`},
		{"product too long", GenerateOptions{Products: []string{strings.Repeat("a", 33)}}, "1 to 32"},
		{"via", GenerateOptions{Via: "sip"}, `via "sip"`},
		{"address without port", GenerateOptions{AGIAddr: "127.0.0.1"}, "HOST:PORT"},
		{"bad port", GenerateOptions{AGIAddr: "127.0.0.1:99999"}, "bad port"},
		{"host injection", GenerateOptions{AGIAddr: "a,b:4573"}, "bad host"},
		{"ari app", GenerateOptions{ARIApp: "lic bridge"}, `ari app "lic bridge"`},
		{"on-failure", GenerateOptions{OnFailure: "maybe"}, `on-failure "maybe"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Generate(&b, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
			if b.Len() != 0 {
				t.Error("partial output on error")
			}
		})
	}
}

// TestEveryRoutineHasRelease: the README's Gosub(licbridge-PRODUCT,release,1)
// must exist whichever way the dialplan asks (the ARI variant had none: the
// real Asterisk dropped the call, "non-existent destination"; issue 11).
func TestEveryRoutineHasRelease(t *testing.T) {
	cases := []struct {
		via, want string
	}{
		{ViaAGI, " same => n,AGI(agi://127.0.0.1:4573/release,fax)\n"},
		{ViaARI, " same => n,Stasis(licbridge,release,fax)\n"},
	}
	for _, c := range cases {
		t.Run(c.via, func(t *testing.T) {
			var b bytes.Buffer
			if err := Generate(&b, GenerateOptions{Via: c.via, Products: []string{"fax"}}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.Contains(out, "exten => release,1,Set(LICBRIDGE_STATUS=)\n"+c.want+" same => n,Return(${LICBRIDGE_STATUS})\n") {
				t.Errorf("via %s: no release extension asking %q:\n%s", c.via, strings.TrimSpace(c.want), out)
			}
		})
	}
}
