package cliargs

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp has the shape of licbridge's command tree where the cases need it:
// global flags, commands with value and bool flags, nested subcommands.
func testApp() *cli.App {
	str := func(names ...string) []cli.Flag {
		var fs []cli.Flag
		for _, n := range names {
			fs = append(fs, &cli.StringFlag{Name: n})
		}
		return fs
	}
	return &cli.App{
		Name:  "licbridge",
		Flags: str("config", "log-level", "log-format"),
		Commands: []*cli.Command{
			{Name: "run", Flags: str("agi-listen", "state-dir")},
			{Name: "dialplan", Flags: str("via")},
			{Name: "show", Subcommands: []*cli.Command{
				{Name: "licenses", Flags: append(str("now"), &cli.BoolFlag{Name: "json"})},
			}},
			{Name: "license", Subcommands: []*cli.Command{
				{Name: "deactivate", Flags: str("issuer", "host-id")},
			}},
			{Name: "sipmon", Subcommands: []*cli.Command{
				{Name: "read", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}, &cli.IntFlag{Name: "max-dialogs"}}},
			}},
		},
	}
}

func TestReorder(t *testing.T) {
	app := testApp()
	cases := []struct{ name, in, want string }{
		{"config after run", "run --config F", "--config F run"},
		{"systemd ExecStart", "run --config /etc/licbridge/licbridge.yaml", "--config /etc/licbridge/licbridge.yaml run"},
		{"globals after a subcommand", "show licenses --config F --json --log-level=debug",
			"--config F --log-level=debug show licenses --json"},
		{"global between command and subcommand", "show --log-format json licenses", "--log-format json show licenses"},
		{"dialplan", "dialplan --config F", "--config F dialplan"},
		{"already canonical", "--log-format json run --agi-listen 127.0.0.1:0 --state-dir D",
			"--log-format json run --agi-listen 127.0.0.1:0 --state-dir D"},
		{"flag after a positional", "license deactivate --issuer U G729-5F2C81D0 --host-id A1B2",
			"license deactivate --issuer U --host-id A1B2 G729-5F2C81D0"},
		{"bool flag after a positional", "sipmon read capture.pcap --json", "sipmon read --json capture.pcap"},
		{"bool flag does not swallow a positional", "sipmon read a.pcap --json b.pcap", "sipmon read --json a.pcap b.pcap"},
		{"bool flag with =value", "sipmon read a.pcap --json=false", "sipmon read --json=false a.pcap"},
		{"value that looks like a flag moves with its flag", "show licenses --now -1h --json", "show licenses --now -1h --json"},
		{"value in the same argument", "license deactivate ID --host-id=H", "license deactivate --host-id=H ID"},
		{"single dash flags", "license deactivate ID -host-id H -config F", "-config F license deactivate -host-id H ID"},
		{"-- ends the flags", "sipmon read -- --json", "sipmon read -- --json"},
		{"flags before --, positionals kept after it", "sipmon read a.pcap --json -- -b.pcap --x",
			"sipmon read --json -- a.pcap -b.pcap --x"},
		{"- is a positional", "sipmon read - --json", "sipmon read --json -"},
		{"command's own help stays", "run --help", "run --help"},
		{"version moves to the app", "run --version", "--version run"},
		{"unknown flag stays with its command", "run --bogus x", "run --bogus x"},
		{"unknown flag at app level", "--bogus run --config F", "--bogus --config F run"},
		{"missing value left in place", "run --config", "run --config"},
		{"missing value of a command flag", "license deactivate ID --host-id", "license deactivate ID --host-id"},
		{"missing value, no positional", "license deactivate --issuer", "license deactivate --issuer"},
		{"unknown command: rest as written", "nosuch --config F x", "nosuch --config F x"},
		{"help command: rest as written", "help run --config F", "help run --config F"},
		{"no args", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]string{"licbridge"}, strings.Fields(tc.in)...)
			want := strings.Join(append([]string{"licbridge"}, strings.Fields(tc.want)...), " ")
			if got := strings.Join(Reorder(app, in), " "); got != want {
				t.Errorf("Reorder(%q)\n got %q\nwant %q", tc.in, got, want)
			}
		})
	}
}

// FuzzReorder: the rewrite only reorders (the same words, the program name
// first) and is stable (a canonical line is left as it is).
func FuzzReorder(f *testing.F) {
	for _, s := range []string{"run --config F", "license deactivate ID --host-id H", "sipmon read a -- --json b",
		"show licenses --now -1h --json", "--bogus run x --log-level", "help run", "sipmon read - --json=true"} {
		f.Add(s)
	}
	app := testApp()
	f.Fuzz(func(t *testing.T, s string) {
		in := append([]string{"licbridge"}, strings.Fields(s)...)
		out := Reorder(app, in)
		if len(out) != len(in) || out[0] != in[0] {
			t.Fatalf("Reorder(%q) = %q: not a reordering", in, out)
		}
		count := map[string]int{}
		for i := range in {
			count[in[i]]++
			count[out[i]]--
		}
		for w, n := range count {
			if n != 0 {
				t.Fatalf("Reorder(%q) = %q: %q count off by %d", in, out, w, n)
			}
		}
		if again := Reorder(app, out); strings.Join(again, " ") != strings.Join(out, " ") {
			t.Fatalf("not stable: %q -> %q -> %q", in, out, again)
		}
	})
}
