package sipmon

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// party is one side of a constructed dialog.
type party struct{ user, tag string }

// sipReq builds a request of the dialog callID from a to b.
func sipReq(method, callID string, a, b party, cseq int, body string, extra ...string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s sip:%s@127.0.0.2 SIP/2.0\r\n", method, b.user)
	fmt.Fprintf(&s, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%s%d%s\r\n", a.tag, cseq, method)
	writeCommon(&s, callID, a, b, cseq, method, body, extra)
	return s.String()
}

// sipResp builds a response to a request of a to b (From a, To b).
func sipResp(status int, callID string, a, b party, cseq int, method, body string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "SIP/2.0 %d Whatever\r\n", status)
	fmt.Fprintf(&s, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%s%d%s\r\n", a.tag, cseq, method)
	writeCommon(&s, callID, a, b, cseq, method, body, nil)
	return s.String()
}

func writeCommon(s *strings.Builder, callID string, a, b party, cseq int, method, body string, extra []string) {
	fmt.Fprintf(s, "From: <sip:%s@127.0.0.1>;tag=%s\r\n", a.user, a.tag)
	if b.tag != "" {
		fmt.Fprintf(s, "To: <sip:%s@127.0.0.2>;tag=%s\r\n", b.user, b.tag)
	} else {
		fmt.Fprintf(s, "To: <sip:%s@127.0.0.2>\r\n", b.user)
	}
	fmt.Fprintf(s, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	for _, h := range extra {
		s.WriteString(h + "\r\n")
	}
	if body != "" {
		s.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(s, "Content-Length: %d\r\n\r\n%s", len(body), body)
}

func sdp(media ...string) string {
	s := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	for _, m := range media {
		s += m + "\r\n"
	}
	return s
}

var (
	audioPCMU     = sdp("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000")
	audioG729     = sdp("m=audio 4000 RTP/AVP 18 101", "a=rtpmap:18 G729/8000")
	offerG729PCMU = sdp("m=audio 4000 RTP/AVP 18 0 101", "a=rtpmap:18 G729/8000", "a=rtpmap:0 PCMU/8000")
	dynG729       = sdp("m=audio 4000 RTP/AVP 96", "a=rtpmap:96 g729a/8000")
	t38Offer      = sdp("m=image 5000 udptl t38", "a=T38FaxVersion:0")
	t38Refused    = sdp("m=image 0 udptl t38")
)

// step is one message at an offset from the start of a scenario.
type step struct {
	at  time.Duration
	raw string
}

var t0 = time.Date(2026, 11, 22, 9, 59, 0, 0, time.UTC)

func feed(t *testing.T, mon *Monitor, sensor string, steps []step) {
	t.Helper()
	for _, s := range steps {
		msg := &capture.Message{
			Time: t0.Add(s.at), Sensor: sensor,
			Src: netip.MustParseAddrPort("127.0.0.1:5060"), Dst: netip.MustParseAddrPort("127.0.0.2:5060"),
			Transport: capture.UDP, Payload: []byte(s.raw),
		}
		if err := mon.Handle(msg); err != nil {
			t.Fatalf("handle: %v", err)
		}
	}
}

// basicCall is a complete answered call: INVITE at 0, 200 at 1s, BYE at dur.
func basicCall(callID string, a, b party, start, dur time.Duration, offer, answer string) []step {
	bt := party{b.user, b.tag}
	bNoTag := party{b.user, ""}
	return []step{
		{start, sipReq("INVITE", callID, a, bNoTag, 1, offer)},
		{start + 10*time.Millisecond, sipResp(100, callID, a, bNoTag, 1, "INVITE", "")},
		{start + time.Second, sipResp(200, callID, a, bt, 1, "INVITE", answer)},
		{start + time.Second + time.Millisecond, sipReq("ACK", callID, a, bt, 1, "")},
		{start + dur, sipReq("BYE", callID, a, bt, 2, "")},
		{start + dur + time.Millisecond, sipResp(200, callID, a, bt, 2, "BYE", "")},
	}
}

func TestTrackerRules(t *testing.T) {
	alice := party{"+14155550001", "a1"}
	bob := party{"+14155550002", "b1"}
	bobNoTag := party{bob.user, ""}
	type want struct {
		answered, attempted, peak int
		g729, fax                 int
		codec                     string
		endedBy                   string
		end                       time.Duration // from t0, when non-zero
		duplicates, orphans       int64
		malformed                 int64
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
		want  want
	}{
		{
			name:  "simple call",
			steps: basicCall("c1", alice, bob, 0, 5*time.Second, audioPCMU, audioPCMU),
			want:  want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye, end: 5*time.Second + time.Millisecond},
		},
		{
			name: "retransmitted INVITE and 200 count once",
			steps: append([]step{
				{500 * time.Millisecond, sipReq("INVITE", "c1", alice, bobNoTag, 1, audioPCMU)},
				{1500 * time.Millisecond, sipResp(200, "c1", alice, bob, 1, "INVITE", audioPCMU)},
			}, basicCall("c1", alice, bob, 0, 5*time.Second, audioPCMU, audioPCMU)...),
			want: want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye, duplicates: 2},
		},
		{
			name: "401 challenge then INVITE with the next CSeq is one answered leg",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, audioPCMU)},
				{10 * time.Millisecond, sipResp(401, "c1", alice, party{bob.user, "x"}, 1, "INVITE", "")},
				{20 * time.Millisecond, sipReq("ACK", "c1", alice, party{bob.user, "x"}, 1, "")},
				{30 * time.Millisecond, sipReq("INVITE", "c1", alice, bobNoTag, 2, audioPCMU)},
				{time.Second, sipResp(200, "c1", alice, bob, 2, "INVITE", audioPCMU)},
				{3 * time.Second, sipReq("BYE", "c1", bob, alice, 1, "")},
			},
			want: want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye, end: 3 * time.Second},
		},
		{
			name:  "G.729 offered but PCMU answered is not G.729",
			steps: basicCall("c1", alice, bob, 0, 5*time.Second, offerG729PCMU, audioPCMU),
			want:  want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye},
		},
		{
			name:  "G.729 answered by static payload 18",
			steps: basicCall("c1", alice, bob, 0, 5*time.Second, offerG729PCMU, audioG729),
			want:  want{answered: 1, attempted: 1, peak: 1, g729: 1, codec: "G729", endedBy: EndBye},
		},
		{
			name:  "G.729 answered by a dynamic payload with rtpmap G729A",
			steps: basicCall("c1", alice, bob, 0, 5*time.Second, dynG729, dynG729),
			want:  want{answered: 1, attempted: 1, peak: 1, g729: 1, codec: "G729", endedBy: EndBye},
		},
		{
			name: "late offer: the ACK's answer decides (G.729)",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, "")},
				{time.Second, sipResp(200, "c1", alice, bob, 1, "INVITE", offerG729PCMU)},
				{time.Second, sipReq("ACK", "c1", alice, bob, 1, audioG729)},
				{2 * time.Second, sipReq("BYE", "c1", alice, bob, 2, "")},
			},
			want: want{answered: 1, attempted: 1, peak: 1, g729: 1, codec: "G729", endedBy: EndBye},
		},
		{
			name: "late offer: a 2xx offering G.729 answered PCMU is not G.729",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, "")},
				{time.Second, sipResp(200, "c1", alice, bob, 1, "INVITE", offerG729PCMU)},
				{time.Second, sipReq("ACK", "c1", alice, bob, 1, audioPCMU)},
				{2 * time.Second, sipReq("BYE", "c1", alice, bob, 2, "")},
			},
			want: want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye},
		},
		{
			name: "T.38 re-INVITE from the callee accepted is fax, and not a new leg",
			steps: append(basicCall("c1", alice, bob, 0, 9*time.Second, audioPCMU, audioPCMU)[:4],
				step{3 * time.Second, sipReq("INVITE", "c1", bob, alice, 1, t38Offer)},
				step{3*time.Second + time.Millisecond, sipResp(200, "c1", bob, alice, 1, "INVITE", t38Offer)},
				step{9 * time.Second, sipReq("BYE", "c1", alice, bob, 2, "")},
			),
			want: want{answered: 1, attempted: 1, peak: 1, fax: 1, codec: "PCMU", endedBy: EndBye},
		},
		{
			name: "T.38 refused (port 0) is not fax",
			steps: append(basicCall("c1", alice, bob, 0, 9*time.Second, audioPCMU, audioPCMU)[:4],
				step{3 * time.Second, sipReq("INVITE", "c1", bob, alice, 1, t38Offer)},
				step{3*time.Second + time.Millisecond, sipResp(200, "c1", bob, alice, 1, "INVITE", t38Refused)},
				step{9 * time.Second, sipReq("BYE", "c1", alice, bob, 2, "")},
			),
			want: want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye},
		},
		{
			name:  "a codec outside the usual names keeps its name",
			steps: basicCall("c1", alice, bob, 0, 5*time.Second, audioPCMU, sdp("m=audio 4000 RTP/AVP 96", "a=rtpmap:96 x-foo/8000")),
			want:  want{answered: 1, attempted: 1, peak: 1, codec: "X-FOO", endedBy: EndBye},
		},
		{
			name:  "a dynamic payload type without rtpmap is named by number",
			steps: basicCall("c1", alice, bob, 0, 5*time.Second, audioPCMU, sdp("m=audio 4000 RTP/AVP 97")),
			want:  want{answered: 1, attempted: 1, peak: 1, codec: "PT97", endedBy: EndBye},
		},
		{
			name: "late offer answered in the ACK of an INVITE that drew no response seen",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, "")},
				{time.Second, sipReq("ACK", "c1", alice, bob, 1, sdp("m=audio 4000 RTP/AVP 98", "a=rtpmap:98 x-bar/8000"))},
			},
			want: want{},
		},
		{
			name: "serial forking: a branch rejects, another answers",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, audioPCMU)},
				{time.Second, sipResp(486, "c1", alice, party{bob.user, "other"}, 1, "INVITE", "")},
				{2 * time.Second, sipResp(200, "c1", alice, bob, 1, "INVITE", audioPCMU)},
				{4 * time.Second, sipReq("BYE", "c1", alice, bob, 2, "")},
			},
			want: want{answered: 1, attempted: 1, peak: 1, codec: "PCMU", endedBy: EndBye, end: 4 * time.Second},
		},
		{
			name: "rejected attempt ends at the final response",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, audioPCMU)},
				{time.Second, sipResp(180, "c1", alice, bob, 1, "INVITE", "")},
				{2 * time.Second, sipResp(486, "c1", alice, bob, 1, "INVITE", "")},
				{2*time.Second + time.Millisecond, sipReq("ACK", "c1", alice, bob, 1, "")},
			},
			want: want{attempted: 1, peak: 1, endedBy: EndRejected, end: 2 * time.Second},
		},
		{
			name: "an INVITE nobody answers is not a leg",
			steps: []step{
				{0, sipReq("INVITE", "c1", alice, bobNoTag, 1, audioPCMU)},
			},
			want: want{},
		},
		{
			name: "a stray 200 and a BYE of unknown calls are orphans",
			steps: []step{
				{0, sipResp(200, "c9", alice, bob, 1, "INVITE", audioPCMU)},
				{time.Second, sipReq("BYE", "c8", alice, bob, 2, "")},
			},
			want: want{orphans: 2},
		},
		{
			name: "lower-case invite is an unknown method, not a call",
			steps: []step{
				{0, strings.Replace(sipReq("INVITE", "c1", alice, bobNoTag, 1, audioPCMU), "INVITE sip:", "invite sip:", 1)},
				{time.Second, sipResp(200, "c1", alice, bob, 1, "INVITE", audioPCMU)},
			},
			want: want{orphans: 2},
		},
		{
			name: "answered call without BYE ends at the dialog timeout",
			cfg:  Config{DialogTimeout: time.Minute},
			steps: append(basicCall("c1", alice, bob, 0, 0, audioPCMU, audioPCMU)[:4],
				// Another call far later moves the capture clock past the timeout.
				basicCall("c2", party{"1", "x"}, party{"2", "y"}, 10*time.Minute, 5*time.Second, audioPCMU, audioPCMU)...),
			want: want{answered: 2, attempted: 2, peak: 1, codec: "PCMU"},
		},
		{
			name: "garbage is malformed, keep-alives are not",
			steps: []step{
				{0, "\r\n\r\n"},
				{0, ""},
				{0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
				{0, "INVITE sip:x@y SIP/2.0\r\nCall-ID: broken\r\n"},
				{0, "SIP/2.0 999 Weird\r\nCall-ID: x\r\n\r\n"},
			},
			want: want{malformed: 3},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mon := New(tc.cfg)
			feed(t, mon, "", tc.steps)
			mon.Flush()
			for _, tr := range mon.trackers {
				if len(tr.dialogs) != 0 || len(tr.codecs) != 0 {
					t.Errorf("after Flush the tracker holds %d dialogs, %d codecs", len(tr.dialogs), len(tr.codecs))
				}
			}
			r := mon.Report()
			w := tc.want
			if r.LegsAnswered != w.answered || r.LegsAttempted != w.attempted || r.PeakConcurrentLegs != w.peak {
				t.Errorf("answered/attempted/peak = %d/%d/%d, want %d/%d/%d", r.LegsAnswered, r.LegsAttempted, r.PeakConcurrentLegs, w.answered, w.attempted, w.peak)
			}
			if r.ByProduct[ProductG729].Legs != w.g729 || r.ByProduct[ProductFax].Legs != w.fax {
				t.Errorf("g729/fax legs = %d/%d, want %d/%d", r.ByProduct[ProductG729].Legs, r.ByProduct[ProductFax].Legs, w.g729, w.fax)
			}
			if r.DuplicateMessages != w.duplicates || r.OrphanMessages != w.orphans || r.Malformed != w.malformed {
				t.Errorf("duplicates/orphans/malformed = %d/%d/%d, want %d/%d/%d", r.DuplicateMessages, r.OrphanMessages, r.Malformed, w.duplicates, w.orphans, w.malformed)
			}
			if len(r.Legs) > 0 {
				l := r.Legs[0]
				if l.Codec != w.codec {
					t.Errorf("codec = %q, want %q", l.Codec, w.codec)
				}
				if w.endedBy != "" && l.EndedBy != w.endedBy {
					t.Errorf("ended_by = %q, want %q", l.EndedBy, w.endedBy)
				}
				if w.end != 0 && !l.End.Equal(t0.Add(w.end)) {
					t.Errorf("end = +%v, want +%v", l.End.Sub(t0), w.end)
				}
			}
		})
	}
}

// TestTimeoutEnd: a leg that never saw its BYE is taken as up until the timeout
// after its last message, and marked so.
func TestTimeoutEnd(t *testing.T) {
	alice, bob := party{"100", "a"}, party{"200", "b"}
	mon := New(Config{DialogTimeout: time.Minute})
	feed(t, mon, "", basicCall("c1", alice, bob, 0, 0, audioPCMU, audioPCMU)[:4])
	mon.Tick(t0.Add(time.Hour))
	r := mon.Report()
	if len(r.Legs) != 1 {
		t.Fatalf("legs = %d, want 1", len(r.Legs))
	}
	l := r.Legs[0]
	lastMsg := t0.Add(time.Second + time.Millisecond)
	if l.EndedBy != EndTimeout || !l.End.Equal(lastMsg.Add(time.Minute)) || r.TimedOut != 1 {
		t.Errorf("ended_by %q end +%v timed_out %d; want timeout at +%v", l.EndedBy, l.End.Sub(t0), r.TimedOut, lastMsg.Add(time.Minute).Sub(t0))
	}
}

// TestFloodIsBounded: a Call-ID flood cannot grow the dialog table past
// MaxDialogs, and INVITEs nobody answers never become legs.
func TestFloodIsBounded(t *testing.T) {
	const maxDialogs, n = 50, 5000
	mon := New(Config{MaxDialogs: maxDialogs})
	alice, bob := party{"1", "a"}, party{"2", ""}
	for i := range n {
		feed(t, mon, "", []step{{time.Duration(i) * time.Millisecond, sipReq("INVITE", fmt.Sprintf("flood-%d", i), alice, bob, 1, "")}})
		if got := len(mon.trackers[""].dialogs); got > maxDialogs {
			t.Fatalf("after %d INVITEs the table holds %d dialogs, cap %d", i+1, got, maxDialogs)
		}
	}
	// A real call amid the flood is still counted.
	feed(t, mon, "", basicCall("real", party{"+1555000111", "r"}, party{"+1555000222", "s"}, n*time.Millisecond, 3*time.Second, audioPCMU, audioPCMU))
	mon.Flush()
	r := mon.Report()
	if r.LegsAttempted != 1 || r.LegsAnswered != 1 {
		t.Errorf("attempted/answered = %d/%d, want 1/1", r.LegsAttempted, r.LegsAnswered)
	}
	if r.UnansweredInvites != n {
		t.Errorf("invites_without_response = %d, want %d", r.UnansweredInvites, n)
	}
}

// TestHourWindows: a leg spanning the hour counts in both windows; windows are
// aligned on the UTC hour.
func TestHourWindows(t *testing.T) {
	mon := New(Config{})
	// t0 is 09:59:00. c1 runs 09:59:00-10:01:00, c2 09:59:30-09:59:40, c3 10:30-10:31.
	feed(t, mon, "", basicCall("c1", party{"1", "a"}, party{"2", "b"}, 0, 2*time.Minute, audioG729, audioG729))
	feed(t, mon, "", basicCall("c2", party{"3", "a"}, party{"4", "b"}, 30*time.Second, 10*time.Second, audioPCMU, audioPCMU))
	feed(t, mon, "", basicCall("c3", party{"5", "a"}, party{"6", "b"}, 31*time.Minute, time.Minute, audioPCMU, audioPCMU))
	mon.Flush()
	r := mon.Report()
	want := []Window{
		{Start: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), PeakConcurrentLegs: 2, ByProduct: map[string]int{ProductG729: 1, ProductFax: 0}},
		{Start: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), PeakConcurrentLegs: 1, ByProduct: map[string]int{ProductG729: 1, ProductFax: 0}},
	}
	if len(r.Windows) != len(want) {
		t.Fatalf("windows = %+v, want %+v", r.Windows, want)
	}
	for i := range want {
		g, w := r.Windows[i], want[i]
		if !g.Start.Equal(w.Start) || g.PeakConcurrentLegs != w.PeakConcurrentLegs || g.ByProduct[ProductG729] != w.ByProduct[ProductG729] {
			t.Errorf("window %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestRetainedLegsBounded: a live monitor keeps at most MaxRetainedLegs finished
// legs, however many short calls arrive within its Retain window.
func TestRetainedLegsBounded(t *testing.T) {
	const maxLegs, calls = 20, 200
	mon := New(Config{Retain: time.Hour, MaxRetainedLegs: maxLegs})
	for i := range calls {
		feed(t, mon, "", basicCall(fmt.Sprintf("c%d", i), party{"1", "a"}, party{"2", "b"}, time.Duration(i)*time.Second, 2*time.Second, audioPCMU, audioPCMU))
		if n := len(mon.Report().Legs); n > maxLegs {
			t.Fatalf("after %d calls %d legs kept, cap %d", i+1, n, maxLegs)
		}
	}
	mon.Flush()
	if kept, dropped := len(mon.Report().Legs), mon.Stats().DroppedLegs; kept+int(dropped) != calls || dropped == 0 {
		t.Errorf("kept %d + dropped %d, want %d calls with some dropped", kept, dropped, calls)
	}
}
