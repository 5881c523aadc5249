package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runDialplanCLI runs `licbridge ARGS...` and returns what it printed.
func runDialplanCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	err := app.RunContext(context.Background(), append([]string{"licbridge"}, args...))
	return out.String(), err
}

// TestDialplanCommandMatchesGolden: the command's flags reach the generator; its
// output is the golden text of dialplan's own tests for the same options.
func TestDialplanCommandMatchesGolden(t *testing.T) {
	cases := []struct {
		golden string
		args   []string
		env    map[string]string
	}{
		{"default", []string{"dialplan"}, nil},
		{"g729_closed", []string{"dialplan", "--product", "g729", "--on-failure", "closed"}, nil},
		{"fax_agi_remote", []string{"dialplan", "--product", "fax", "--product", "FAX", "--product", "ffa", "--agi-addr", "10.0.0.5:4600"}, nil},
		{"ari", []string{"dialplan", "--product", "g729,fax"}, map[string]string{"LICBRIDGE_DIALPLAN_VIA": "ari", "LICBRIDGE_ARI_APP": "licbridge-node1"}},
		{"ari_closed_custom_product", nil, map[string]string{
			"LICBRIDGE_DIALPLAN_PRODUCTS": "opus-hd", "LICBRIDGE_DIALPLAN_VIA": "ari", "LICBRIDGE_DIALPLAN_ON_FAILURE": "closed",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := tc.args
			if args == nil {
				args = []string{"dialplan"}
			}
			got, err := runDialplanCLI(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("..", "..", "dialplan", "testdata", tc.golden+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s.golden:\n%s", tc.golden, got)
			}
		})
	}
}

func TestDialplanCommandConfigAndOutput(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "licbridge.yaml")
	if err := os.WriteFile(conf, []byte("agi:\n  listen: 0.0.0.0:4600\nari:\n  app: fromconfig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "extensions_licbridge.conf")
	if _, err := runDialplanCLI(t, "--config", conf, "dialplan", "--product", "g729", "-o", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "AGI(agi://127.0.0.1:4600/admit,g729,") {
		t.Errorf("config's wildcard listen address not turned into a dial address:\n%s", b)
	}
	got, err := runDialplanCLI(t, "--config", conf, "dialplan", "--product", "g729", "--via", "ari")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "Stasis(fromconfig,admit,g729)") {
		t.Errorf("config's ari.app not used:\n%s", got)
	}
	// A flag wins over the config file.
	got, err = runDialplanCLI(t, "--config", conf, "dialplan", "--product", "g729", "--agi-addr", "192.0.2.1:4573")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "agi://192.0.2.1:4573/admit,g729") {
		t.Errorf("--agi-addr did not override the config:\n%s", got)
	}
}

func TestDialplanCommandRejects(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"dialplan", "--via", "sip"}, `via "sip"`},
		{[]string{"dialplan", "--product", "g 729"}, `product "g 729"`},
		{[]string{"dialplan", "--agi-addr", "localhost"}, "HOST:PORT"},
		{[]string{"dialplan", "--on-failure", "maybe"}, `on-failure "maybe"`},
		{[]string{"dialplan", "--ari-app", "a b"}, `ari app "a b"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			out, err := runDialplanCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
			if exitCode(err) != 2 {
				t.Errorf("exit code %d, want 2", exitCode(err))
			}
			if strings.Contains(out, "[licbridge-") {
				t.Error("dialplan printed despite the error")
			}
		})
	}
}
