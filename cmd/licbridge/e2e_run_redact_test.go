package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim"
)

// TestRunURLPasswordsNotLogged: a password inside the ARI URL used to be
// printed in the "licbridge ready" line, and the second URL of a comma list of
// Redis URLs was printed whole in the start-up error.
func TestRunURLPasswordsNotLogged(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-ONE", "g729", 1)

	t.Run("ready line", func(t *testing.T) {
		pbx := asterisksim.StartT(t, asterisksim.Options{NoAMI: true})
		ariURL := strings.Replace(pbx.ARIURL(), "://", "://licbridge:url-s3cret@", 1)
		d := startDaemon(t, k, "--ari-url", ariURL, "--ari-user", "licbridge", "--ari-password", "licsecret")
		host := strings.TrimPrefix(pbx.ARIURL(), "http://")
		if got, _ := d.readyLine["ari"].(string); got != "http://licbridge:xxxxx@"+host {
			t.Errorf("ready line ari=%q, want the URL with its password redacted", got)
		}
		d.signal(t, syscall.SIGTERM)
		if err := d.wait(t, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(d.logs.String(), "url-s3cret") {
			t.Error("the logs contain the ARI URL's password")
		}
	})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad ARI URL", []string{"--ari-url", "ftp://u:url-s3cret@pbx:8088"}, "ftp://u:xxxxx@pbx:8088"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--state-dir", t.TempDir(), "--no-default-dirs", "--host-id", e2eHost,
				"--licenses-dir", k.dir, "--issuer-pub", k.pub, "--agi-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, tc.args...)
			r := licbridge(t, nil, args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", r.code, r.stderr, tc.want)
			}
			for _, secret := range []string{"url-s3cret", "secret1", "secret2"} {
				if strings.Contains(r.stderr+r.stdout, secret) {
					t.Errorf("the output shows the password %q:\n%s", secret, r.stderr)
				}
			}
		})
	}
	// An unreachable Redis no longer stops the start (the node runs under its
	// outage policy): its warning names every URL, passwords redacted.
	t.Run("Redis URL list", func(t *testing.T) {
		d := startDaemon(t, k, "--no-asterisk", "--redis", "redis://u:secret1@127.0.0.1:1,redis://u:secret2@127.0.0.1:2")
		logs := d.logs.String()
		if !strings.Contains(logs, "redis://u:xxxxx@127.0.0.1:1,redis://u:xxxxx@127.0.0.1:2") {
			t.Errorf("the store warning does not name the redacted URLs:\n%s", tail(logs, 40))
		}
		for _, secret := range []string{"secret1", "secret2"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs show the password %q", secret)
			}
		}
	})
}
