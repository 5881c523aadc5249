package dialplan

import (
	"context"
	"errors"
	"github.com/licbridge/licbridge/admission"
	"log/slog"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// failAdmitter fails every request, so that the session logs at ERROR.
type failAdmitter struct{ yesAdmitter }

func (*failAdmitter) Admit(context.Context, admission.Request) (admission.Decision, error) {
	return admission.Decision{}, errors.New("store down")
}

// TestSessionLog: the session's logger is built only when something is
// logged, and then carries the client and the request as before; the DEBUG
// line of a decision is written only at DEBUG.
func TestSessionLog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		level   slog.Level
		adm     admission.Admitter
		want    []string // substrings of one log line
		wantNot string
	}{
		{"debug decision", slog.LevelDebug, &yesAdmitter{}, []string{`level=DEBUG msg="FastAGI admit"`, "remote=127.0.0.1:", "request=admit", "product=g729", "uniqueid=1795390001.7", "status=ADMITTED"}, ""},
		{"info: no decision line", slog.LevelInfo, &yesAdmitter{}, nil, "FastAGI admit"},
		{"error carries the request", slog.LevelInfo, &failAdmitter{}, []string{`level=ERROR msg="FastAGI admit failed"`, "remote=127.0.0.1:", "request=admit", "product=g729", "uniqueid=1795390001.7"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			addr, stop := startServer(t, tc.adm, Config{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: tc.level}))})
			if _, err := agiclient.Call(testCtx(t), addr, agiclient.Channel{Uniqueid: "1795390001.7"}, "admit,g729"); err != nil {
				t.Fatal(err)
			}
			if err := stop(); err != nil { // every session has ended and logged
				t.Fatal(err)
			}
			out := logs.String()
			if tc.wantNot != "" && strings.Contains(out, tc.wantNot) {
				t.Errorf("log holds %q:\n%s", tc.wantNot, out)
			}
			if tc.want == nil {
				return
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, tc.want[0]) {
					for _, w := range tc.want[1:] {
						if !strings.Contains(line, w) {
							t.Errorf("log line lacks %q: %s", w, line)
						}
					}
					return
				}
			}
			t.Errorf("no log line with %q:\n%s", tc.want[0], out)
		})
	}
}
