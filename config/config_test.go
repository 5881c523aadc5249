package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/bypass"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/sipmon"
)

// TestExampleIsDefaults: contrib/licbridge.yaml, read over nothing, is
// Default() except for the values it gives as examples (said so here, one by
// one). The decoder is strict, so a key Config lacks fails too.
func TestExampleIsDefaults(t *testing.T) {
	b, err := os.ReadFile("../contrib/licbridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := Decode(b, &got); err != nil {
		t.Fatalf("contrib/licbridge.yaml: %v", err)
	}
	want := Default()
	// Example values, not defaults: an AMI account, an issuer key path, the
	// default codec map written out.
	want.AMI = AMIConfig{Addr: "127.0.0.1:5038", User: "licbridge"}
	want.ARI.User = "licbridge"
	want.IssuerPub = []string{"/etc/licbridge/issuer.pub"}
	want.Passive.Codecs = DefaultCodecs()
	if g, w := dump(t, &got), dump(t, want); g != w {
		t.Errorf("contrib/licbridge.yaml differs from Default():\n--- file\n%s\n--- Default()\n%s", g, w)
	}
}

// dump is a canonical text of c: nil and empty lists and maps alike.
func dump(t *testing.T, c *Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDefaultsAgree: Default() says what the packages do with a zero value.
func TestDefaultsAgree(t *testing.T) {
	d := Default()
	for name, ok := range map[string]bool{
		"agi.listen":              d.AGI.Listen == dialplan.DefaultAddr,
		"http.listen":             d.HTTP.Listen == admin.DefaultListen,
		"ari.app":                 d.ARI.App == ari.DefaultApp,
		"reconcile_every":         d.ReconcileEvery == node.DefaultReconcileEvery,
		"bypass.after":            d.Bypass.After == bypass.DefaultAfter,
		"passive.hangup_cause":    d.Passive.HangupCause == node.DefaultHangupCause,
		"passive.fax_product":     d.Passive.FaxProduct == node.DefaultFaxProduct,
		"sipmon.dialog_timeout":   d.SIPMon.DialogTimeout == sipmon.DefaultDialogTimeout,
		"sipmon.max_dialogs":      d.SIPMon.MaxDialogs == sipmon.DefaultMaxDialogs,
		"sipmon.sensor_tolerance": d.SIPMon.SensorTolerance == sipmon.DefaultSensorTolerance,
	} {
		if !ok {
			t.Errorf("%s: Default() disagrees with its package", name)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // error substring; "" is valid
	}{
		{"defaults", "", ""},
		{"grace and call", "enforcement: {g729: grace}\ncounting: {hpec: call}\n", ""},
		{"own product", "products: [{name: amr}]\nenforcement: {amr: monitor}\n", ""},
		{"bad mode", "enforcement: {g729: soft}\n", "enforcement of g729"},
		{"unknown product", "enforcement: {g279: grace}\n", `enforcement of "g279": unknown product`},
		{"unknown counted product", "counting: {opus: call}\n", `counting of "opus": unknown product`},
		{"bad counting", "counting: {g729: leg}\n", "counting of g729"},
		{"bad pool", "store: {pool: shared}\n", "store pool"},
		{"bad outage", "store: {outage: maybe}\n", "store outage"},
		{"bad budget", "store: {fail_open_budget: -1}\n", "fail_open_budget"},
		{"negative lapse", "store: {lapse: -1s}\n", "--lapse (config store.lapse) -1s: must not be negative"},
		{"bad zone", "time_zone: Mars/Olympus\n", "time zone"},
		{"bad AMI", "ami: {addr: localhost}\n", `--ami-addr "localhost": want HOST:PORT`},
		{"bad ARI", "ari: {url: 'ftp://user:pw@host:8088'}\n", "want http://HOST:PORT"},
		{"bad allow", "agi: {allow: [10.0.0.0/33]}\n", "agi allow"},
		{"bad product name", "products: [{name: G729!}]\n", "config products"},
		{"codec to unknown product", "passive: {codecs: {opus: opus}}\n", "unknown product"},
		{"issuer", "issuer: {url: 'https://issuer.example:7443', ca: /etc/licbridge/ca.pem}\n", ""},
		{"bad issuer URL", "issuer: {url: 'issuer.example:7443'}\n", `--issuer-url "issuer.example:7443": want https://HOST[:PORT]`},
		{"issuer URL with a password", "issuer: {url: 'ftp://u:pw@issuer.example'}\n", "config issuer.url"},
		{"issuer too often", "issuer: {url: 'https://issuer.example', update_every: 10s}\n", "--issuer-update-every 10s: at least 1m"},
		{"negative issuer period", "issuer: {update_every: -1h}\n", "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			if err := Decode([]byte(tc.yaml), cfg); err != nil {
				t.Fatal(err)
			}
			s, err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.want == "" && (s.Pool != bridge.PoolCluster || s.Location == nil || s.Catalog == nil):
				t.Fatalf("settings %+v", s)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error quotes a password: %v", err)
			}
		})
	}
}

func TestValidateTyped(t *testing.T) {
	cfg := Default()
	if err := Decode([]byte("enforcement: {g729: grace}\ncounting: {hpec: call}\nstore: {pool: per-host, outage: fail-closed, fail_open_budget: '3'}\ntime_zone: Europe/Paris\n"), cfg); err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if s.Modes["g729"] != bridge.ModeGrace || s.Counting["hpec"] != bridge.CountCall || s.Pool != bridge.PoolPerHost ||
		s.Outage != bridge.FailClosed || s.Budget != 3 || s.Location.String() != "Europe/Paris" || s.Codecs["g729"] != "g729" {
		t.Fatalf("settings: %+v", s)
	}
}

// fakeFlags is a command line already parsed.
type fakeFlags map[string]any

func (f fakeFlags) IsSet(n string) bool             { _, ok := f[n]; return ok }
func (f fakeFlags) String(n string) string          { s, _ := f[n].(string); return s }
func (f fakeFlags) StringSlice(n string) []string   { s, _ := f[n].([]string); return s }
func (f fakeFlags) Duration(n string) time.Duration { d, _ := f[n].(time.Duration); return d }
func (f fakeFlags) Bool(n string) bool              { b, _ := f[n].(bool); return b }
func (f fakeFlags) Int(n string) int                { i, _ := f[n].(int); return i }

func TestMerge(t *testing.T) {
	cfg := Default()
	if err := Decode([]byte("licenses_dirs: [/a]\nstore: {lapse: 30s, pool: per-host}\nenforcement: {g729: grace, fax: grace}\n"), cfg); err != nil {
		t.Fatal(err)
	}
	f := fakeFlags{"licenses-dir": []string{"/b", "/a"}, "lapse": 5 * time.Second, "enforcement": []string{"fax=hard"}, "no-passive": true, "redis": "r:6379"}
	// Twice: merging is idempotent.
	for range 2 {
		if err := cfg.Merge(f); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(cfg.LicensesDirs, ",") != "/a,/b" || cfg.Store.Lapse != 5*time.Second || cfg.Store.Pool != "per-host" ||
		cfg.Enforcement["g729"] != "grace" || cfg.Enforcement["fax"] != "hard" || !cfg.Passive.Disabled || cfg.Store.Redis != "r:6379" {
		t.Fatalf("merged: %+v", cfg)
	}
	// Only the named flags.
	cfg2 := Default()
	if err := cfg2.Merge(f, "redis"); err != nil || cfg2.Store.Redis != "r:6379" || cfg2.Store.Lapse != bridge.DefaultLapse || cfg2.Passive.Disabled {
		t.Fatalf("merge only redis: %v %+v", err, cfg2)
	}
	if err := Default().Merge(fakeFlags{"counting": []string{"g729"}}); err == nil || !strings.Contains(err.Error(), "want PRODUCT=VALUE") {
		t.Fatalf("bad pair: %v", err)
	}
	// A flag that must be positive (in the file, zero is the default).
	for _, f := range []fakeFlags{{"dialog-timeout": time.Duration(0)}, {"sensor-tolerance": -time.Second}, {"max-dialogs": 0}} {
		if err := Default().Merge(f); err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("%v: %v, want an error", f, err)
		}
	}
	if err := Default().Merge(fakeFlags{"max-dialogs": 7, "lapse": time.Duration(0)}); err != nil {
		t.Errorf("a positive count, and a flag without the rule at zero: %v", err)
	}
}

func TestFlagsCoverFields(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range AllFlags() {
		if seen[f.Name] {
			t.Errorf("flag %s twice", f.Name)
		}
		seen[f.Name] = true
		if f.field(Default()) == nil || f.Key == "" || f.Usage == "" {
			t.Errorf("flag %s: incomplete", f.Name)
		}
		if strings.Contains(f.Usage, "(default ") {
			t.Errorf("flag %s: its usage states a default; the help prints the one of Default()", f.Name)
		}
	}
	if d, _ := Lookup("lapse"); d.Default() != bridge.DefaultLapse {
		t.Errorf("lapse default %v", d.Default())
	}
}

func TestNodeID(t *testing.T) {
	dir := t.TempDir()
	a, err := NodeID("", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NodeID("", dir)
	if err != nil || a != b || !ValidNodeID(a) {
		t.Fatalf("derived %q then %q (%v): want the same, valid", a, b, err)
	}
	if c, err := NodeID("pbx-1", dir); err != nil || c != "pbx-1" {
		t.Fatalf("configured: %q %v", c, err)
	}
	if _, err := NodeID("a b", dir); err == nil {
		t.Fatal("a b: want an error")
	}
}

// FuzzDecodeValidate: no file makes Decode or Validate panic.
func FuzzDecodeValidate(f *testing.F) {
	if b, err := os.ReadFile("../contrib/licbridge.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("enforcement: {g729: grace}\nstore: {lapse: -1s}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := Default()
		if Decode(b, cfg) != nil {
			return
		}
		_, _ = cfg.Validate()
	})
}
