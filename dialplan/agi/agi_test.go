package agi

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

func TestReadEnvRejects(t *testing.T) {
	cases := []struct {
		name string
		in   string
		lim  Limits
		want error
	}{
		{"empty block", "\n", Limits{}, ErrMalformed},
		{"no colon", "agi_network yes\n\n", Limits{}, ErrMalformed},
		{"not agi_", "foo: bar\n\n", Limits{}, ErrMalformed},
		{"bare prefix", "agi_: x\n\n", Limits{}, ErrMalformed},
		{"upper-case key", "agi_Network: yes\n\n", Limits{}, ErrMalformed},
		{"repeated key", "agi_uniqueid: 1\nagi_uniqueid: 2\n\n", Limits{}, ErrMalformed},
		{"NUL in value", "agi_callerid: 1\x002\n\n", Limits{}, ErrMalformed},
		{"CR inside", "agi_callerid: 1\r2\n\n", Limits{}, ErrMalformed},
		{"eof before blank line", "agi_network: yes\n", Limits{}, io.ErrUnexpectedEOF},
		{"eof mid-line", "agi_network: yes\nagi_req", Limits{}, io.ErrUnexpectedEOF},
		{"nothing", "", Limits{}, io.ErrUnexpectedEOF},
		{"line too long", "agi_callerid: " + strings.Repeat("9", 100) + "\n\n", Limits{MaxLine: 64}, ErrLineTooLong},
		{"too many lines", strings.Repeat("agi_x: 1\n", 1) + "agi_y: 2\nagi_z: 3\n\n", Limits{MaxLines: 2}, ErrTooManyLines},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadEnv(bufio.NewReaderSize(strings.NewReader(tc.in), 16), tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadEnvAccepts(t *testing.T) {
	env, err := ReadEnv(bufio.NewReader(strings.NewReader(
		"agi_network: yes\r\nagi_callerid: a: b\nagi_accountcode: \nagi_arg_1: x\nagi_arg_3: gap\n\n")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if v := env.Value("agi_callerid"); v != "a: b" {
		t.Errorf("callerid = %q", v)
	}
	if v, ok := env.Get("agi_accountcode"); !ok || v != "" {
		t.Errorf("accountcode = %q, %v", v, ok)
	}
	if a := env.Args(); len(a) != 1 || a[0] != "x" {
		t.Errorf("args = %q (stop at the first gap)", a)
	}
}

func TestReadReply(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		want   Reply
		hangup bool
		err    error
	}{
		{"bare result", "200 result=1\n", Reply{Code: 200, Result: "1"}, false, nil},
		{"empty data", "200 result=1 ()\n", Reply{Code: 200, Result: "1", HasData: true}, false, nil},
		{"nested parentheses", "200 result=1 (a (b) c)\n", Reply{Code: 200, Result: "1", Data: "a (b) c", HasData: true}, false, nil},
		{"endpos", "200 result=0 endpos=1234\n", Reply{Code: 200, Result: "0", Extra: "endpos=1234"}, false, nil},
		{"data and extra", "200 result=1 (timeout) endpos=9\n", Reply{Code: 200, Result: "1", Data: "timeout", HasData: true, Extra: "endpos=9"}, false, nil},
		{"negative", "200 result=-1\n", Reply{Code: 200, Result: "-1"}, false, nil},
		{"two hangups", "HANGUP\nHANGUP\n200 result=1\n", Reply{Code: 200, Result: "1"}, true, nil},
		{"511", "511 Command Not Permitted on a dead channel or intercept routine\n", Reply{Code: 511, Text: "Command Not Permitted on a dead channel or intercept routine"}, false, nil},
		{"multi-line", "520-a\n200 result=1 (x)\n520 b\n", Reply{Code: 520, Text: "a\n200 result=1 (x)\nb"}, false, nil},
		{"no code", "hello\n", Reply{}, false, ErrMalformed},
		{"short", "20\n", Reply{}, false, ErrMalformed},
		{"no space", "200result=1\n", Reply{}, false, ErrMalformed},
		{"no result", "200 ok\n", Reply{}, false, ErrMalformed},
		{"empty result", "200 result=\n", Reply{}, false, ErrMalformed},
		{"unclosed", "200 result=1 (abc\n", Reply{}, false, ErrMalformed},
		{"unterminated multi-line", "520-a\nb\n", Reply{}, false, io.ErrUnexpectedEOF},
		{"eof", "", Reply{}, false, io.EOF},
		{"hangup then eof", "HANGUP\n", Reply{}, true, io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, hangup, err := readReply(bufio.NewReader(strings.NewReader(tc.in)), Limits{})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if rep != tc.want || hangup != tc.hangup {
				t.Errorf("got %+v hangup=%v, want %+v hangup=%v", rep, hangup, tc.want, tc.hangup)
			}
		})
	}
}

func TestReadReplyBounded(t *testing.T) {
	in := "520-start\n" + strings.Repeat("x\n", 50) + "520 end\n"
	if _, _, err := readReply(bufio.NewReader(strings.NewReader(in)), Limits{MaxLines: 10}); !errors.Is(err, ErrTooManyLines) {
		t.Errorf("long multi-line reply: %v, want ErrTooManyLines", err)
	}
	in = strings.Repeat("HANGUP\n", 50) + "200 result=1\n"
	if _, _, err := readReply(bufio.NewReader(strings.NewReader(in)), Limits{MaxLines: 10}); !errors.Is(err, ErrTooManyLines) {
		t.Errorf("endless HANGUP: %v, want ErrTooManyLines", err)
	}
}

// TestQuoteRoundTrip checks our quoting against the Asterisk double's copy of
// Asterisk's parse_args: each value comes back as one argument, unchanged.
func TestQuoteRoundTrip(t *testing.T) {
	for _, v := range []string{
		"", "g729", "hello world", "50% used: a=b; c", "50% off: a=b (x)", `say "hi"`,
		`back\slash`, `\"`, `trailing\`, "tab\there", "  lead and trail  ", "ünï",
	} {
		t.Run(v, func(t *testing.T) {
			line, err := setVariableLine("X", v)
			if err != nil {
				t.Fatal(err)
			}
			argv := agiclient.ParseArgs(strings.TrimSuffix(line, "\n"))
			if len(argv) != 4 || argv[3] != v {
				t.Errorf("%s parsed as %q, want value %q", line, argv, v)
			}
		})
	}
}

func TestUnsafeValuesRefused(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"X", "a\nSET VARIABLE Y z"}, {"X", "a\rb"}, {"X", "a\x00b"},
		{"", "v"}, {"A B", "v"}, {`A"B`, "v"}, {"A\\B", "v"}, {"A\nB", "v"},
	} {
		if _, err := setVariableLine(tc.name, tc.value); !errors.Is(err, ErrUnsafe) {
			t.Errorf("setVariableLine(%q, %q) = %v, want ErrUnsafe", tc.name, tc.value, err)
		}
	}
	if err := checkName("CHANNEL(linkedid)"); err != nil {
		t.Errorf("CHANNEL(linkedid): %v", err)
	}
}
