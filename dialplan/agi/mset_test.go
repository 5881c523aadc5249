package agi

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// TestSetVariables: one EXEC MSet when every value survives MSet as it is,
// else (or when the EXEC is refused) one SET VARIABLE each; the variables
// arrive as given and in order either way.
func TestSetVariables(t *testing.T) {
	three := func(reason string) []Variable {
		return []Variable{{"LICBRIDGE_REASON", reason}, {"LICBRIDGE_LEASE", "g729-1"}, {"LICBRIDGE_STATUS", "ADMITTED"}}
	}
	for _, tc := range []struct {
		name      string
		vars      []Variable
		opts      []agiclient.Option
		exchanges int
		firstCmd  string
	}{
		{"plain", three("OVER_LIMIT"), nil, 1, `EXEC MSet "LICBRIDGE_REASON=OVER_LIMIT,LICBRIDGE_LEASE=g729-1,LICBRIDGE_STATUS=ADMITTED"`},
		{"empty, spaces, =, %, :, ;, quote, UTF-8", three(" 50% used: a=b; it's café "), nil, 1, `EXEC MSet "LICBRIDGE_REASON= 50% used: a=b; it's café ,LICBRIDGE_LEASE=g729-1,LICBRIDGE_STATUS=ADMITTED"`},
		{"empty value", three(""), nil, 1, `EXEC MSet "LICBRIDGE_REASON=,LICBRIDGE_LEASE=g729-1,LICBRIDGE_STATUS=ADMITTED"`},
		{"comma", three("a,LICBRIDGE_STATUS=X"), nil, 3, `SET VARIABLE LICBRIDGE_REASON "a,LICBRIDGE_STATUS=X"`},
		{"double quote", three(`"x"`), nil, 3, `SET VARIABLE LICBRIDGE_REASON "\"x\""`},
		{"backslash", three(`a\b`), nil, 3, `SET VARIABLE LICBRIDGE_REASON "a\\b"`},
		{"parenthesis", three("x)"), nil, 3, `SET VARIABLE LICBRIDGE_REASON "x)"`},
		{"bracket", three("[x"), nil, 3, `SET VARIABLE LICBRIDGE_REASON "[x"`},
		{"dollar", three("${CHANNEL}"), nil, 3, `SET VARIABLE LICBRIDGE_REASON "${CHANNEL}"`},
		{"pipe", three("a|b"), nil, 3, `SET VARIABLE LICBRIDGE_REASON "a|b"`},
		{"line longer than Asterisk reads", three(strings.Repeat("x", 1990)), nil, 3, `SET VARIABLE LICBRIDGE_REASON "` + strings.Repeat("x", 1990) + `"`},
		{"refused", three("OVER_LIMIT"), []agiclient.Option{agiclient.WithExecRefused()}, 4, `EXEC MSet "LICBRIDGE_REASON=OVER_LIMIT,LICBRIDGE_LEASE=g729-1,LICBRIDGE_STATUS=ADMITTED"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			res := liveSession(t, agiclient.Channel{}, func(ctx context.Context, c *Conn) {
				var err error
				if n, err = c.SetVariables(ctx, tc.vars...); err != nil {
					t.Errorf("SetVariables: %v", err)
				}
			}, tc.opts...)
			if n != tc.exchanges || len(res.Commands) != tc.exchanges {
				t.Errorf("%d exchanges (%d commands: %q), want %d", n, len(res.Commands), res.Commands, tc.exchanges)
			}
			if len(res.Commands) > 0 && res.Commands[0] != tc.firstCmd {
				t.Errorf("first command %q, want %q", res.Commands[0], tc.firstCmd)
			}
			var got []string
			for _, s := range res.Sets {
				got = append(got, s.Name+"="+s.Value)
			}
			var want []string
			for _, v := range tc.vars {
				want = append(want, v.Name+"="+v.Value)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("set, in order:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestAnswer: Answer sets the variables as SetVariables does (one EXEC MSet,
// or one SET VARIABLE each for values MSet would change or with oneByOne), but
// with no fallback after a refused EXEC: the write side is shut after the
// last command, so the refusal is returned (ErrMSetRefused) and nothing is
// set; and nothing can be sent after it.
func TestAnswer(t *testing.T) {
	three := func(reason string) []Variable {
		return []Variable{{"LICBRIDGE_REASON", reason}, {"LICBRIDGE_LEASE", "g729-1"}, {"LICBRIDGE_STATUS", "ADMITTED"}}
	}
	for _, tc := range []struct {
		name      string
		vars      []Variable
		oneByOne  bool
		opts      []agiclient.Option
		exchanges int
		refused   bool
	}{
		{"plain", three("OVER_LIMIT"), false, nil, 1, false},
		{"comma", three("a,b"), false, nil, 3, false},
		{"one by one", three("OVER_LIMIT"), true, nil, 3, false},
		{"refused", three("OVER_LIMIT"), false, []agiclient.Option{agiclient.WithExecRefused()}, 1, true},
		{"refused, one by one", three("OVER_LIMIT"), true, []agiclient.Option{agiclient.WithExecRefused()}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			res := liveSession(t, agiclient.Channel{}, func(ctx context.Context, c *Conn) {
				var err error
				n, err = c.Answer(ctx, tc.oneByOne, tc.vars...)
				if tc.refused != errors.Is(err, ErrMSetRefused) || !tc.refused && err != nil {
					t.Errorf("Answer: %v, want refused %v", err, tc.refused)
				}
				if _, err := c.Command(ctx, "NOOP"); !errors.Is(err, errShut) {
					t.Errorf("a command after Answer: %v, want errShut", err)
				}
			}, tc.opts...)
			if n != tc.exchanges || len(res.Commands) != tc.exchanges {
				t.Errorf("%d exchanges (%d commands: %q), want %d", n, len(res.Commands), res.Commands, tc.exchanges)
			}
			var got []string
			for _, s := range res.Sets {
				got = append(got, s.Name+"="+s.Value)
			}
			var want []string
			for _, v := range tc.vars {
				if !tc.refused {
					want = append(want, v.Name+"="+v.Value)
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("set, in order:\n got %q\nwant %q", got, want)
			}
			if res.AGIStatus != agiclient.StatusSuccess {
				t.Errorf("AGISTATUS %s, want SUCCESS", res.AGIStatus)
			}
		})
	}
}

// TestExec: EXEC's replies as Asterisk 22 gives them (TestE2EAsteriskMSet).
func TestExec(t *testing.T) {
	liveSession(t, agiclient.Channel{}, func(ctx context.Context, c *Conn) {
		if rep, err := c.Exec(ctx, "NoOp", "x"); err != nil || rep.Result != "0" {
			t.Errorf("EXEC NoOp: %+v, %v", rep, err)
		}
		_, err := c.Exec(ctx, "NoSuchApplication", "x")
		if ee, ok := errors.AsType[*ExecError](err); !ok || ee.Reply.Result != "-2" {
			t.Errorf("EXEC of no application: %v, want an ExecError with result -2", err)
		}
		if _, err := c.Exec(ctx, "Bad App", ""); !errors.Is(err, ErrUnsafe) {
			t.Errorf("application name with a space: %v", err)
		}
	})
}

// TestSetVariablesBrokenSession: when the socket fails, SetVariables returns
// the error and sends nothing more.
func TestSetVariablesBrokenSession(t *testing.T) {
	liveSession(t, agiclient.Channel{}, func(ctx context.Context, c *Conn) {
		c.nc.Close()
		n, err := c.SetVariables(ctx, Variable{"A", "1"}, Variable{"B", "2"})
		if err == nil || n != 1 {
			t.Errorf("%d exchanges, %v; want 1 and an error", n, err)
		}
	})
}

// FuzzMSetLine: whatever the values, SetVariables' EXEC MSet line, parsed as
// Asterisk parses AGI commands and then MSet's argument (the double's
// ParseArgs and SeparateArgs, checked against the real Asterisk 22 by
// TestE2EAsteriskMSet), sets exactly the given names to exactly the given
// values; or no MSet line is made.
func FuzzMSetLine(f *testing.F) {
	for _, s := range []string{"", "OVER_LIMIT", "a,b", `"`, `\`, "f(x", "x]", "a=b", " x ", "café", "${X}"} {
		f.Add(s, "g729-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if checkValue(a) != nil || checkValue(b) != nil {
			return
		}
		vars := []Variable{{"LICBRIDGE_REASON", a}, {"LICBRIDGE_LEASE", b}, {"LICBRIDGE_STATUS", "ADMITTED"}}
		line, ok := appendMSet(nil, vars)
		if !ok {
			return
		}
		argv := agiclient.ParseArgs(strings.TrimSuffix(string(line), "\n"))
		if len(argv) != 3 || argv[0] != "EXEC" || argv[1] != "MSet" {
			t.Fatalf("%q parses to %q", line, argv)
		}
		parts := agiclient.SeparateArgs(argv[2], ',', 99)
		if len(parts) != len(vars) {
			t.Fatalf("%q: %d parts %q, want %d", line, len(parts), parts, len(vars))
		}
		for i, p := range parts {
			pair := agiclient.SeparateArgs(p, '=', 2)
			if len(pair) != 2 || pair[0] != vars[i].Name || pair[1] != vars[i].Value {
				t.Fatalf("%q: part %d = %q, want %s=%s", line, i, pair, vars[i].Name, vars[i].Value)
			}
		}
	})
}
