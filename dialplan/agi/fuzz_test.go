package agi

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// FuzzReadEnv: any input either fails cleanly or yields an environment that, written
// back as Asterisk would, reads back the same.
func FuzzReadEnv(f *testing.F) {
	for _, name := range []string{"agi_admit_1", "agi_errors_1", "agi_hangtest_1"} {
		f.Add(fixtures.Read(f, "asterisk", name+".rx.raw"))
	}
	f.Add([]byte("agi_a: b\n\n"))
	f.Add([]byte("agi_a:\nagi_b: : :\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := Limits{MaxLine: 512, MaxLines: 64}
		env, err := ReadEnv(bufio.NewReaderSize(bytes.NewReader(in), 16), lim)
		if err != nil {
			return
		}
		if len(env) == 0 || len(env) > lim.MaxLines {
			t.Fatalf("%d vars", len(env))
		}
		var b strings.Builder
		for _, v := range env {
			b.WriteString(v.Key + ": " + v.Value + "\n")
		}
		b.WriteString("\n")
		again, err := ReadEnv(bufio.NewReader(strings.NewReader(b.String())), Limits{MaxLine: 1024, MaxLines: 64})
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		for i := range env {
			if env[i] != again[i] {
				t.Fatalf("var %d: %+v then %+v", i, env[i], again[i])
			}
		}
	})
}

// FuzzReadReply: any input either fails cleanly or yields replies with a sane
// code, and a one-line 200 reply parses the same through parseReplyLine.
func FuzzReadReply(f *testing.F) {
	for _, name := range []string{"agi_admit_1", "agi_errors_1", "agi_hangtest_1"} {
		raw := fixtures.Read(f, "asterisk", name+".rx.raw")
		if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			f.Add(raw[i+2:])
		}
	}
	f.Add([]byte("200 result=1 (a (b)) endpos=3\n"))
	f.Add([]byte("520-x\nHANGUP\n520 y\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for i := 0; i < 100; i++ {
			rep, _, err := readReply(r, Limits{MaxLine: 512, MaxLines: 64})
			if err != nil {
				return
			}
			if rep.Code < 100 || rep.Code > 999 {
				t.Fatalf("code %d", rep.Code)
			}
			if rep.Code == CodeOK && rep.Result == "" {
				t.Fatalf("200 without result: %+v", rep)
			}
			if rep.Code == CodeOK && !strings.Contains(rep.Data, "\n") {
				line := "200 result=" + rep.Result
				if rep.HasData {
					line += " (" + rep.Data + ")"
				}
				if rep.Extra != "" {
					line += " " + rep.Extra
				}
				again, err := parseReplyLine(line)
				if err != nil || again != rep {
					t.Fatalf("%q: %+v then %+v, %v", line, rep, again, err)
				}
			}
		}
	})
}

// FuzzQuote: any value that checkValue accepts comes back unchanged, as one
// argument, through Asterisk's parse_args (the double's copy of it).
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "hello world", `a "b" \ c`, `\`, `"`, "50% off: a=b (x)", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		line, err := setVariableLine("X", v)
		if err != nil {
			if checkValue(v) == nil {
				t.Fatalf("refused %q: %v", v, err)
			}
			return
		}
		argv := agiclient.ParseArgs(strings.TrimSuffix(line, "\n"))
		if len(argv) != 4 || argv[3] != v {
			t.Fatalf("%q parsed as %q", line, argv)
		}
	})
}
