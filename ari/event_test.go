package ari

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// recordedFrame is one line of a recorded ari_ws_*.jsonl.
type recordedFrame struct {
	Opcode int    `json:"opcode"`
	Text   string `json:"text"`
}

func recordedFrames(tb testing.TB, name string) []recordedFrame {
	tb.Helper()
	var out []recordedFrame
	for _, l := range strings.Split(strings.TrimSpace(string(fixtures.Read(tb, "asterisk", name+".jsonl"))), "\n") {
		var f recordedFrame
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			tb.Fatalf("%s.jsonl: %v", name, err)
		}
		out = append(out, f)
	}
	return out
}

// wantEvent is what Asterisk meant, read independently of our decoder with a
// plain map (the jsonl "text" of each frame).
type wantEvent struct {
	Type, Timestamp, Channel string
	Args                     []string
	Cause                    int
	Soft                     bool
}

func expected(tb testing.TB, text string) wantEvent {
	tb.Helper()
	var m struct {
		Type      string   `json:"type"`
		Timestamp string   `json:"timestamp"`
		Args      []string `json:"args"`
		Cause     int      `json:"cause"`
		Soft      bool     `json:"soft"`
		Channel   struct {
			ID string `json:"id"`
		} `json:"channel"`
	}
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		tb.Fatal(err)
	}
	return wantEvent{m.Type, m.Timestamp, m.Channel.ID, m.Args, m.Cause, m.Soft}
}

var recordedStreams = []struct {
	name string
	end  string // "close": a close frame (status 1000); "eof": bare TCP EOF
}{
	{"ari_ws_licbridge", "close"},
	{"ari_ws_continue_default", "close"},
	{"ari_ws_subscribe_all", "close"},
	{"ari_ws_tone_detected", "close"},
	{"ari_ws_asterisk_shutdown", "eof"},
}

// TestDecodeRecordedStreams feeds every recorded ari_ws_*.rx.raw (the 101
// response, then raw frames) through our WebSocket reader and event decoder,
// and checks each event against the recorded frame list: type, timestamp,
// channel, args, cause. It also checks how each stream ends.
func TestDecodeRecordedStreams(t *testing.T) {
	for _, st := range recordedStreams {
		t.Run(st.name, func(t *testing.T) {
			raw := fixtures.Read(t, "asterisk", st.name+".rx.raw")
			br := bufio.NewReader(bytes.NewReader(raw))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("101 response: %v", err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			hs, _ := http.ReadRequest(bufio.NewReader(bytes.NewReader(fixtures.Read(t, "asterisk", st.name+".handshake.req.raw"))))
			if got, want := resp.Header.Get("Sec-WebSocket-Accept"), arisrv.Accept(hs.Header.Get("Sec-WebSocket-Key")); got != want {
				t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
			}
			var answered bytes.Buffer
			mr := newMsgReader(br, &answered)
			frames := recordedFrames(t, st.name)
			n := 0
			for _, f := range frames {
				if f.Opcode != 1 {
					continue
				}
				msg, err := mr.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", n, err)
				}
				if string(msg) != f.Text {
					t.Fatalf("frame %d payload differs from the recording", n)
				}
				ev, err := decodeEvent(msg)
				if err != nil {
					t.Fatalf("frame %d (%s): %v", n, expected(t, f.Text).Type, err)
				}
				checkEvent(t, ev, expected(t, f.Text))
				n++
			}
			_, err = mr.Next()
			switch st.end {
			case "close":
				var ce wsutil.ClosedError
				if !errors.As(err, &ce) || ce.Code != ws.StatusNormalClosure {
					t.Fatalf("end of stream: %v, want a close frame with status 1000", err)
				}
				// We answered the close frame with a masked close frame.
				f, ferr := ws.ReadFrame(&answered)
				if ferr != nil || f.Header.OpCode != ws.OpClose || !f.Header.Masked {
					t.Errorf("our answer to the close frame: %+v, %v", f.Header, ferr)
				}
			case "eof":
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("end of stream: %v, want EOF (no close frame)", err)
				}
			}
			if n == 0 && st.end != "eof" {
				t.Fatal("no events decoded")
			}
		})
	}
}

func checkEvent(tb testing.TB, ev Event, want wantEvent) {
	tb.Helper()
	if ev.Type != want.Type {
		tb.Errorf("type %q, want %q", ev.Type, want.Type)
	}
	wt, err := time.Parse("2006-01-02T15:04:05.000-0700", want.Timestamp)
	if err != nil {
		tb.Fatal(err)
	}
	if !ev.Timestamp.Equal(wt) {
		tb.Errorf("%s: timestamp %v, want %v", want.Type, ev.Timestamp, wt)
	}
	if want.Channel != "" && (ev.Channel == nil || ev.Channel.ID != want.Channel) {
		tb.Errorf("%s: channel %+v, want id %q", want.Type, ev.Channel, want.Channel)
	}
	if want.Type == typeStasisStart && strings.Join(ev.Args, "|") != strings.Join(want.Args, "|") {
		tb.Errorf("args %q, want %q", ev.Args, want.Args)
	}
	if ev.Known && (ev.Cause != want.Cause || ev.Soft != want.Soft) {
		tb.Errorf("%s: cause %d soft %v, want %d %v", want.Type, ev.Cause, ev.Soft, want.Cause, want.Soft)
	}
	if ev.Known != isHandled(want.Type) {
		tb.Errorf("%s: Known = %v", want.Type, ev.Known)
	}
}

// TestLibraryDecoderHasNoEventForToneDetected documents why unknown types
// never reach ari/v5: its decodeEvent returns a nil event for them, which
// v5.3.1's client then sends on its bus and dereferences (the recorded panic).
func TestLibraryDecoderHasNoEventForToneDetected(t *testing.T) {
	tone := recordedFrames(t, "ari_ws_tone_detected")[1].Text
	e, err := ariv5.DecodeEvent([]byte(tone))
	if e != nil || err == nil {
		t.Fatalf("ari/v5 decodeEvent(ChannelToneDetected) = %v, %v; the wrapper may no longer be needed", e, err)
	}
	ev, err := decodeEvent([]byte(tone))
	if err != nil || ev.Type != "ChannelToneDetected" || ev.Known || ev.Channel == nil || ev.Channel.ID != "1795386536.53" {
		t.Fatalf("our decodeEvent = %+v, %v", ev, err)
	}
}

func TestDecodeEventBadInput(t *testing.T) {
	cases := []struct {
		name, in string
		wantErr  bool
		check    func(Event) bool
	}{
		{"not json", `hello`, true, nil},
		{"no type", `{"channel":{"id":"1"}}`, true, nil},
		{"empty type", `{"type":""}`, true, nil},
		{"bad timestamp", `{"type":"StasisStart","timestamp":"yesterday"}`, true, nil},
		{"channel of the wrong kind", `{"type":"StasisStart","channel":"x"}`, true, nil},
		{"unknown type, channel of the wrong kind", `{"type":"CallClaimed","channel":7}`, true, nil},
		{"stasis start without channel", `{"type":"StasisStart","args":["g729"]}`, false,
			func(e Event) bool { return e.Known && e.Channel == nil && len(e.Args) == 1 }},
		{"stasis start without args", `{"type":"StasisStart","channel":{"id":"1.2"}}`, false,
			func(e Event) bool { return e.Channel != nil && e.Channel.ID == "1.2" && len(e.Args) == 0 }},
		{"null channel", `{"type":"StasisEnd","channel":null}`, false,
			func(e Event) bool { return e.Channel == nil }},
		{"unknown type", `{"type":"RESTResponse","transaction_id":"x"}`, false,
			func(e Event) bool { return !e.Known && e.Type == "RESTResponse" }},
		{"RFC 3339 timestamp on an unknown type", `{"type":"ChannelTransfer","timestamp":"2026-11-22T22:27:13.527Z"}`, false,
			func(e Event) bool { return e.Timestamp.Equal(time.Date(2026, 11, 22, 22, 27, 13, 527e6, time.UTC)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := decodeEvent([]byte(c.in))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if c.check != nil && !c.check(ev) {
				t.Errorf("decoded %+v", ev)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	got, err := parseTime("2026-11-22T22:27:13.527+0000")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 22, 22, 27, 13, 527e6, time.UTC); !got.Equal(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := time.Parse(time.RFC3339, "2026-11-22T22:27:13.527+0000"); err == nil {
		t.Error("RFC3339 parses ARI's timestamps: the note in ASTERISK-NOTES.md is stale")
	}
	if _, err := parseTime("22:27"); err == nil || !strings.Contains(err.Error(), `"22:27"`) {
		t.Errorf("bad time: err = %v, want one naming the value", err)
	}
}
