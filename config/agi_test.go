package config

import "testing"

func TestDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "0.0.0.0:4573": "127.0.0.1:4573", "[::]:4573": "127.0.0.1:4573", ":4573": "127.0.0.1:4573",
		"10.1.2.3:4573": "10.1.2.3:4573", "[::1]:4573": "[::1]:4573", "junk": "junk",
	} {
		if got := (AGIConfig{Listen: in}).DialAddr(); got != want {
			t.Errorf("DialAddr of %q = %q, want %q", in, got, want)
		}
	}
}
