package arisrv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// The recorded Asterisk's channels, as the fixtures show them.
func ch43(tb testing.TB) Channel {
	return Channel{
		ID: "1795386433.43", Name: "Local/s@lic-stasis-00000012;2",
		CallerName: "LicBridge", CallerNumber: "2000",
		Context: "lic-stasis", Exten: "s", Priority: 4,
		Created: at(tb, "2026-11-22T22:27:13.026+0000"),
		Vars:    map[string]string{"LICENSE_FEATURE": "g729"},
	}
}

func ch42(tb testing.TB) Channel {
	return Channel{
		ID: "1795386433.42", Name: "Local/s@lic-stasis-00000012;1",
		CallerName: "LicBridge", CallerNumber: "2000",
		Context: "lic-dtmfsend", Exten: "s", Priority: 1, App: "Wait", AppData: "1.5",
		Created: at(tb, "2026-11-22T22:27:13.026+0000"),
	}
}

func stasis43(tb testing.TB, s *Server) {
	connectApp(tb, s, "licbridge")
	if _, err := s.EnterStasis(ch43(tb), "g729", "second arg"); err != nil {
		tb.Fatal(err)
	}
}

// TestRESTMatchesRecording replays every recorded ARI REST request against
// the double, in the state the recorded Asterisk was in, and compares the
// whole answer byte for byte. The clock is set to the recorded Date header,
// so nothing is ignored.
func TestRESTMatchesRecording(t *testing.T) {
	cases := map[string]func(testing.TB, *Server){
		"ari_get_asterisk_info":               nil,
		"ari_get_info_api_key":                nil,
		"ari_get_channels_empty":              nil,
		"ari_get_applications_before_ws":      nil,
		"ari_401_bad_password":                nil,
		"ari_401_no_auth":                     nil,
		"ari_404_no_such_resource":            nil,
		"ari_404_get_channel":                 nil,
		"ari_404_post_variable":               nil,
		"ari_404_delete_channel":              nil,
		"ari_404_continue":                    nil,
		"ari_get_application_licbridge":       func(tb testing.TB, s *Server) { connectApp(tb, s, "licbridge") },
		"ari_get_channel":                     stasis43,
		"ari_get_variable":                    stasis43,
		"ari_get_variable_unset":              stasis43,
		"ari_post_variable":                   stasis43,
		"ari_post_variable_escaped":           stasis43,
		"ari_post_variable_json_body":         stasis43,
		"ari_400_post_variable_missing_param": stasis43,
		"ari_post_continue":                   stasis43,
		"ari_get_channels_active": func(tb testing.TB, s *Server) {
			s.AddChannel(ch42(tb))
			stasis43(tb, s)
		},
		"ari_continue_not_in_stasis":      func(tb testing.TB, s *Server) { s.AddChannel(ch43(tb)) },
		"ari_post_variable_not_in_stasis": func(tb testing.TB, s *Server) { s.AddChannel(ch43(tb)) },
		"ari_post_continue_no_params": func(tb testing.TB, s *Server) {
			connectApp(tb, s, "licbridge")
			if _, err := s.EnterStasis(Channel{ID: "1795386487.51"}, "g729"); err != nil {
				tb.Fatal(err)
			}
		},
		"ari_delete_channel_reason":      func(tb testing.TB, s *Server) { s.AddChannel(Channel{ID: "1795386438.45"}) },
		"ari_400_delete_bad_reason":      func(tb testing.TB, s *Server) { s.AddChannel(Channel{ID: "1795386438.45"}) },
		"ari_delete_channel_reason_code": func(tb testing.TB, s *Server) { s.AddChannel(Channel{ID: "lic-ari-orig-1"}) },
		"ari_404_delete_gone_channel": func(tb testing.TB, s *Server) {
			id := s.AddChannel(Channel{ID: "1795386438.45"})
			if err := s.Hangup(id); err != nil {
				tb.Fatal(err)
			}
		},
	}
	// Recorded exchanges the double does not serve, and why.
	notServed := map[string]string{
		"ari_post_channels_originate": "originate is not part of the double (licbridge never originates)",
	}

	// Every recorded exchange is either replayed or excluded with a reason.
	reqs, err := filepath.Glob(filepath.Join(fixtures.Dir(t), "asterisk", "ari_*.req.raw"))
	if err != nil || len(reqs) == 0 {
		t.Fatalf("no recorded requests: %v", err)
	}
	for _, p := range reqs {
		name := strings.TrimSuffix(filepath.Base(p), ".req.raw")
		if strings.HasSuffix(name, ".handshake") {
			continue // WebSocket upgrades: TestWebSocketMatchesRecording
		}
		if _, ok := cases[name]; !ok && notServed[name] == "" {
			t.Errorf("recorded exchange %s is neither replayed nor excluded", name)
		}
	}

	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			req := fixtures.Read(t, "asterisk", name+".req.raw")
			want := fixtures.Read(t, "asterisk", name+".resp.raw")
			clk := &clock{}
			clk.set(at(t, "2026-11-22T22:24:12.348+0000")) // the recorded startup_time
			s := start(t, Options{Now: clk.Now})
			if setup != nil {
				setup(t, s)
			}
			clk.set(headerDate(t, want))
			got := exchange(t, s.Addr().String(), req)
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from the recording\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

// wsScript drives one recorded WebSocket session against the double.
type wsScript struct {
	name   string
	script func(t *testing.T, s *Server, clk *clock)
	// closes: the recording ends with our close frame and Asterisk's answer.
	closes bool
}

// TestWebSocketMatchesRecording sends each recorded upgrade request to the
// double, plays the recorded call, and compares everything the double sends
// (101 response, event frames, the answer to our close frame, or the bare EOF
// of a shutdown) with the recorded bytes, in full.
func TestWebSocketMatchesRecording(t *testing.T) {
	scripts := []wsScript{
		{name: "ari_ws_tone_detected", closes: true, script: func(t *testing.T, s *Server, clk *clock) {
			clk.set(at(t, "2026-11-22T22:28:56.624+0000"))
			if _, err := s.EnterStasis(Channel{
				ID: "1795386536.53", Name: "Local/s@lic-tone-00000017;2",
				Context: "lic-tone", Exten: "s", Priority: 3,
				Created: at(t, "2026-11-22T22:28:56.623+0000"),
			}, "tone"); err != nil {
				t.Fatal(err)
			}
			s.Send([]byte(frameText(t, "ari_ws_tone_detected", 1)))
			clk.set(at(t, "2026-11-22T22:28:57.365+0000"), at(t, "2026-11-22T22:28:57.366+0000"))
			if err := s.Hangup("1795386536.53"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ari_ws_continue_default", closes: true, script: func(t *testing.T, s *Server, clk *clock) {
			clk.set(at(t, "2026-11-22T22:28:08.287+0000"))
			if _, err := s.EnterStasis(Channel{
				ID: "1795386487.51", Name: "Local/s@lic-stasis-00000016;2",
				Context: "lic-stasis", Exten: "s", Priority: 4,
				Created: at(t, "2026-11-22T22:28:07.785+0000"),
			}, "g729", "second arg"); err != nil {
				t.Fatal(err)
			}
			auth := "Authorization: Basic bGljYnJpZGdlOmxpY3NlY3JldA==\r\nConnection: close\r\n\r\n"
			clk.set(at(t, "2026-11-22T22:28:08.288+0000"))
			exchange(t, s.Addr().String(), []byte("POST /ari/channels/1795386487.51/variable?variable=LIC_DECISION&value=admit HTTP/1.1\r\nHost: x\r\n"+auth))
			clk.set(at(t, "2026-11-22T22:28:08.589+0000"))
			exchange(t, s.Addr().String(), fixtures.Read(t, "asterisk", "ari_post_continue_no_params.req.raw"))
		}},
		{name: "ari_ws_asterisk_shutdown", script: func(t *testing.T, s *Server, _ *clock) {
			s.DropWebSockets()
		}},
	}
	// ari_ws_licbridge and ari_ws_subscribe_all carry DTMF, Dial and
	// originate events the double does not generate; their StasisStart,
	// ChannelVarset, StasisEnd and hangup shapes are the ones checked here.
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			want := fixtures.Read(t, "asterisk", sc.name+".rx.raw")
			hs := fixtures.Read(t, "asterisk", sc.name+".handshake.req.raw")
			clk := &clock{}
			clk.set(time.Unix(0, 0))
			s := start(t, Options{Now: clk.Now})
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(hs); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			app := strings.TrimPrefix(strings.Fields(string(hs))[1], "/ari/events?app=")
			app, _, _ = strings.Cut(app, "&")
			if err := s.WaitConnected(ctx, app); err != nil {
				t.Fatal(err)
			}
			sc.script(t, s, clk)
			var got []byte
			if sc.closes {
				// Everything but Asterisk's 4-byte close answer, then our close.
				got = make([]byte, len(want)-4)
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("read events: %v (got %q)", err, got)
				}
				var cf bytes.Buffer
				_ = wsutil.WriteClientMessage(&cf, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
				if _, err := c.Write(cf.Bytes()); err != nil {
					t.Fatal(err)
				}
			}
			rest, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("read to EOF: %v", err)
			}
			got = append(got, rest...)
			if !bytes.Equal(got, want) {
				t.Errorf("stream differs from the recording\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

// TestWebSocket401MatchesRecording: a wrong password on the upgrade gets
// Asterisk's 401, byte for byte (no Connection header: the request had none).
func TestWebSocket401MatchesRecording(t *testing.T) {
	want := fixtures.Read(t, "asterisk", "ari_ws_401.rx.raw")
	clk := &clock{}
	clk.set(headerDate(t, want))
	s := start(t, Options{Now: clk.Now})
	got := exchange(t, s.Addr().String(), fixtures.Read(t, "asterisk", "ari_ws_401.handshake.req.raw"))
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from the recording\n got: %q\nwant: %q", got, want)
	}
}

// frameText is the n-th frame's text in a recorded ari_ws_*.jsonl.
func frameText(tb testing.TB, name string, n int) string {
	tb.Helper()
	lines := strings.Split(strings.TrimSpace(string(fixtures.Read(tb, "asterisk", name+".jsonl"))), "\n")
	var f struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(lines[n]), &f); err != nil {
		tb.Fatal(err)
	}
	return f.Text
}

func TestStasisWithoutWebSocketFails(t *testing.T) {
	s := start(t, Options{})
	id, err := s.EnterStasis(Channel{}, "admit", "g729")
	if !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("EnterStasis with no app: err = %v, want ErrNotRegistered", err)
	}
	if got := s.Variables(id)["STASISSTATUS"]; got != "FAILED" {
		t.Errorf("STASISSTATUS = %q, want FAILED", got)
	}
}

func TestEventFilterAndSubscription(t *testing.T) {
	s := start(t, Options{})
	frames := connectApp(t, s, "licbridge")
	id, err := s.EnterStasis(Channel{}, "g729")
	if err != nil {
		t.Fatal(err)
	}
	<-frames // StasisStart
	put := func(method, path, body string) string {
		req := method + " " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Basic bGljYnJpZGdlOmxpY3NlY3JldA==\r\nConnection: close\r\n"
		if body != "" {
			req += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		return string(exchange(t, s.Addr().String(), []byte(req+"\r\n"+body)))
	}
	got := put("PUT", "/ari/applications/licbridge/eventFilter", `{"allowed":[{"type":"StasisStart"},{"type":"StasisEnd"},{"type":"ChannelDestroyed"}]}`)
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.Contains(got, `"events_allowed":[{"type":"StasisStart"},{"type":"StasisEnd"},{"type":"ChannelDestroyed"}]`) {
		t.Fatalf("eventFilter answer: %q", got)
	}
	if got := put("POST", "/ari/applications/licbridge/subscription?eventSource=channel:"+id, ""); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("subscribe answer: %q", got)
	}
	if got := put("POST", "/ari/applications/licbridge/subscription?eventSource=channel:nosuch", ""); !strings.HasPrefix(got, "HTTP/1.1 422 ") {
		t.Fatalf("subscribe to a missing channel: %q", got)
	}
	// The variable set is filtered out (ChannelVarset not allowed); continue's
	// StasisEnd passes; the channel's hangup after Stasis reaches the app only
	// through the subscription, as ChannelDestroyed.
	put("POST", "/ari/channels/"+id+"/variable?variable=A&value=1", "")
	put("POST", "/ari/channels/"+id+"/continue", "")
	if err := s.Hangup(id); err != nil {
		t.Fatal(err)
	}
	var types []string
	for len(types) < 2 {
		var e struct{ Type string }
		if err := json.Unmarshal(<-frames, &e); err != nil {
			t.Fatal(err)
		}
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "StasisEnd,ChannelDestroyed" {
		t.Errorf("events after the filter = %v, want StasisEnd, ChannelDestroyed", types)
	}
}
