package admin_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/admin"
)

func TestNewRefusesOffLoopbackWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		listen string
		ok     bool
	}{
		{"", true}, // the default, 127.0.0.1:8089
		{"127.0.0.1:0", true},
		{"127.0.0.2:8089", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{":8089", false}, // all interfaces
		{"0.0.0.0:0", false},
		{"[::]:0", false},
		{"192.0.2.2:8089", false},
		{"pbx.example:8089", false},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			_, err := admin.New(admin.Options{Listen: tc.listen})
			if tc.ok && err != nil {
				t.Errorf("New: %v", err)
			}
			if !tc.ok && !errors.Is(err, admin.ErrTokenRequired) {
				t.Errorf("New: %v, want ErrTokenRequired", err)
			}
			if !tc.ok {
				if _, err := admin.New(admin.Options{Listen: tc.listen, Token: "s3cret"}); err != nil {
					t.Errorf("with a token: %v", err)
				}
			}
		})
	}
}

// offLoopbackAddr returns an "off loopback" listen address: all interfaces.
// Test traffic itself stays on 127.0.0.1 (this workplace allows no other
// target), which still reaches a server bound to 0.0.0.0.
func offLoopbackAddr(t *testing.T) (listen, dialHost string) {
	t.Helper()
	return "0.0.0.0:0", "127.0.0.1"
}

// TestTokenOffLoopback starts the server on a non-loopback address with a
// token and checks that data needs the right token, the page shell does not,
// and that no token (right or wrong) reaches the log.
func TestTokenOffLoopback(t *testing.T) {
	const token = "tok-6f1d9a5e-right"
	const wrong = "tok-6f1d9a5e-wrong"
	listen, host := offLoopbackAddr(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, _ := serve(t, admin.Options{Listen: listen, Token: token, Source: newFake(t), Logger: logger})
	_, port, _ := net.SplitHostPort(s.Addr().String())
	base := "http://" + net.JoinHostPort(host, port)
	t.Logf("listening on %s", s.Addr())

	for _, path := range []string{"/api/v1/view", "/api/v1/licenses", "/api/v1/channels", "/api/v1/state", "/api/v1/stats?product=g729", "/metrics", "/readyz", "/api/v1/nope"} {
		for _, tc := range []struct {
			name, header string
			want         int
		}{
			{"missing", "", 401},
			{"wrong", "Bearer " + wrong, 401},
			{"prefix_of_right", "Bearer " + token[:len(token)-1], 401},
			{"basic_scheme", "Basic " + token, 401},
			{"right", "Bearer " + token, 200},
			{"right_lowercase_scheme", "bearer " + token, 200},
		} {
			t.Run(strings.TrimPrefix(path, "/")+"/"+tc.name, func(t *testing.T) {
				want := tc.want
				if want == 200 && path == "/api/v1/nope" {
					want = 404
				}
				code, body := getHeader(t, base+path, tc.header)
				if code != want {
					t.Errorf("%s: %d, want %d: %s", path, code, want, body)
				}
				if code == 401 && bytes.Contains(body, []byte("g729")) {
					t.Errorf("refused request got data: %s", body)
				}
			})
		}
	}
	// Liveness is open (load balancers send no token) and tells nothing else.
	for _, header := range []string{"", "Bearer " + wrong, "Bearer " + token} {
		code, body := getHeader(t, base+"/healthz", header)
		if code != 200 {
			t.Errorf("/healthz with %q: %d, want 200", header, code)
		}
		for _, data := range []string{"g729", "pbx", "store", "ami"} {
			if bytes.Contains(body, []byte(data)) {
				t.Errorf("/healthz tells %q: %s", data, body)
			}
		}
	}
	// Only that exact path: a look-alike is refused.
	for _, path := range []string{"/healthz/", "/healthz/../api/v1/view", "/HEALTHZ", "/api/v1/view?x=/healthz"} {
		if code, _ := getHeader(t, base+path, ""); code != 401 && code != 404 && code != 301 {
			t.Errorf("%s without token: %d, want refused", path, code)
		}
	}
	// The page shell holds no data and is served without the token.
	for _, path := range []string{"/", "/static/app.js", "/static/app.css"} {
		if code, _ := getHeader(t, base+path, ""); code != 200 {
			t.Errorf("%s without token: %d, want 200", path, code)
		}
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Errorf("refusals not logged: %s", logs.String())
	}
	for _, secret := range []string{token, wrong, "6f1d9a5e"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("log contains a token: %s", logs.String())
		}
	}
}

// TestLoopbackNeedsNoToken: on loopback without a token, data is served.
func TestLoopbackNeedsNoToken(t *testing.T) {
	_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: newFake(t)})
	if code, body := get(t, base+"/api/v1/view", ""); code != 200 {
		t.Errorf("loopback without token: %d %s", code, body)
	}
}
