package sipmon

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// fixturePayloads returns every SIP candidate of every fixture capture, copied.
func fixturePayloads(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, set := range [][]string{{"sip"}, {"sip", "asterisk"}} {
		for _, f := range loadManifest(t, set...).Files {
			if strings.HasPrefix(f.File, "13_") {
				continue // 105,000 messages of one shape; 09 and C cover it
			}
			path := fixtures.Path(t, append(append([]string{}, set...), f.File)...)
			_, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "", Path: path}}, func(m *capture.Message) error {
				out = append(out, bytes.Clone(m.Payload))
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", f.File, err)
			}
		}
	}
	return out
}

// sipgoParse runs sipgo's full path, turning a panic into an error.
func sipgoParse(ps *parser, b []byte) (m sipMsg, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errParserPanic, r)
		}
	}()
	return ps.parseSipgo(b)
}

// agree checks the fast path against sipgo's parser on one payload: wherever scan
// answers, sipgo must accept the message and read the same fields.
func agree(t testing.TB, ps *parser, b []byte) (fast bool) {
	var m sipMsg
	if !looksLikeSIP(b) || !ps.scan(b, &m) {
		return false
	}
	errFast := m.check()
	ref, errRef := sipgoParse(ps, b)
	if (errFast == nil) != (errRef == nil) {
		t.Fatalf("scan verdict %v, sipgo %v on %q", errFast, errRef, b)
	}
	if errRef == nil && !reflect.DeepEqual(m, ref) {
		t.Fatalf("scan and sipgo disagree on %q:\nscan  %+v\nsipgo %+v", b, m, ref)
	}
	return true
}

func TestScanAgreesWithSipgo(t *testing.T) {
	ps := newParser("X-CID")
	payloads := fixturePayloads(t)
	fast := 0
	for _, b := range payloads {
		if agree(t, ps, b) {
			fast++
		}
	}
	t.Logf("%d of %d fixture payloads took the fast path", fast, len(payloads))
	if fast == 0 {
		t.Fatal("the fast path never answered")
	}
}

// TestParseOddButLegal: forms the fixtures' README lists, on both paths.
func TestParseOddButLegal(t *testing.T) {
	cases := []struct {
		name, raw                           string
		callID, cseqMethod, fromUser, toTag string
		cseq                                uint32
	}{
		{
			name:   "compact headers and odd case",
			raw:    "INVITE sip:+1555@h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: \"A \\\"q\\\"\" <sip:+1444@h>;tag=x1\r\nt: sip:+1555@h\r\ni: 43d4628f60ff224a\r\nCSeq:   31    INVITE\r\nmax-forwards: 70\r\nUSER-AGENT: x\r\nl: 0\r\n\r\n",
			callID: "43d4628f60ff224a", cseqMethod: "INVITE", fromUser: "+1444", cseq: 31,
		},
		{
			name:   "padded Content-Length and empty Supported",
			raw:    "SIP/2.0 200 Answering\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: 1-3986@::1\r\nCSeq: 1 INVITE\r\nSupported:\r\nContent-Length:   0\r\n\r\n",
			callID: "1-3986@::1", cseqMethod: "INVITE", fromUser: "a", toTag: "2", cseq: 1,
		},
		{
			name:   "topoh-masked Call-ID",
			raw:    "BYE sip:b@h SIP/2.0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: !!:6azq6-UTrmVq0q3THiUw6iV*\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
			callID: "!!:6azq6-UTrmVq0q3THiUw6iV*", cseqMethod: "BYE", fromUser: "a", toTag: "2", cseq: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := newParser("")
			for path, parse := range map[string]func([]byte) (sipMsg, error){
				"parse": ps.parse, "sipgo": ps.parseSipgo,
			} {
				m, err := parse([]byte(tc.raw))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if string(m.callID) != tc.callID || m.cseq != tc.cseq || m.cseqMethod != tc.cseqMethod || string(m.fromUser) != tc.fromUser || string(m.toTag) != tc.toTag {
					t.Errorf("%s: got %+v", path, m)
				}
			}
		})
	}
}

// FuzzScan: the fast path never panics, and wherever it answers it agrees with
// sipgo's full parser.
func FuzzScan(f *testing.F) {
	// Every 16th fixture payload is variety enough as seeds, and keeps the
	// baseline short.
	for i, b := range fixturePayloads(f) {
		if i%16 == 0 && len(b) < 8192 {
			f.Add(b)
		}
	}
	ps := newParser("X-CID")
	f.Fuzz(func(t *testing.T, b []byte) {
		agree(t, ps, b)
	})
}

// FuzzSDP: the SDP scanner takes anything.
func FuzzSDP(f *testing.F) {
	for _, s := range []string{audioPCMU, offerG729PCMU, dynG729, t38Offer, t38Refused, "m=audio\r\na=rtpmap:\r\n", "m=image 1 udptl"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info := parseSDP(b)
		if info.codec == "G729" && !bytes.Contains(bytes.ToUpper(b), []byte("18")) && !bytes.Contains(bytes.ToUpper(bytes.ReplaceAll(b, []byte("."), nil)), []byte("G729")) {
			t.Fatalf("G729 from %q", b)
		}
	})
}

// FuzzMonitor feeds a sequence of messages (split on a NUL byte), a millisecond
// apart, through the whole message path: nothing panics, and the report's
// invariants hold.
func FuzzMonitor(f *testing.F) {
	alice, bob := party{"+14155550001", "a1"}, party{"+14155550002", "b1"}
	var call [][]byte
	for _, s := range basicCall("c1", alice, bob, 0, time.Second, offerG729PCMU, audioG729) {
		call = append(call, []byte(s.raw))
	}
	f.Add(bytes.Join(call, []byte{0}))
	f.Add([]byte("INVITE sip:x@y SIP/2.0\r\n\r\n\x00SIP/2.0 200 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// The fuzzing engine does not report an input that hangs: a watchdog
		// turns one into a crash with the input in it.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("monitor hung on %q", in))
			}
		}()
		mon := New(Config{CorrelationHeader: "X-CID", MaxDialogs: 8})
		for i, p := range bytes.Split(in, []byte{0}) {
			_ = mon.Handle(&capture.Message{Time: t0.Add(time.Duration(i) * time.Millisecond), Payload: p})
		}
		mon.Flush()
		r := mon.Report()
		if r.LegsAnswered > r.LegsAttempted || r.PeakConcurrentLegs > r.LegsAttempted {
			t.Fatalf("answered %d attempted %d peak %d", r.LegsAnswered, r.LegsAttempted, r.PeakConcurrentLegs)
		}
		for _, l := range r.Legs {
			if l.End.Before(l.Invite) {
				t.Fatalf("leg ends before it starts: %+v", l)
			}
		}
	})
}

// FuzzSplitAddress: the From/To reader agrees with sipgo's address parser on
// whether a value parses, its user and its tag.
func FuzzSplitAddress(f *testing.F) {
	for _, s := range []string{
		`"A \"q\"" <sip:+1444@h>;tag=x1`, `<sip:a@h>;tag=1;tag=2`, `sip:a@h;tag`, `sip:*`,
		`"x";sip:a@h;tag=3`, `<tel:+1555;phone-context=x>;tag==a=b`, `<>;tag=1`, `"\` + "\r" + `"<sip:a@h>`,
		`sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001`, `<sip:a@[::1]:5060;transport=udp>; tag=4`,
	} {
		f.Add(s)
	}
	ps := newParser("")
	f.Fuzz(func(t *testing.T, v string) {
		if strings.IndexByte(v, ',') >= 0 {
			return
		}
		var user, tg []byte
		ok := ps.scanAddress([]byte(v), &user, &tg)
		var (
			uri    sip.Uri
			params sip.HeaderParams
		)
		_, err := sip.ParseAddressValue(v, &uri, &params)
		refOK := err == nil && !uri.Wildcard
		if ok != refOK {
			t.Fatalf("%q: scan ok %v, sipgo %v (%v)", v, ok, refOK, err)
		}
		if ok && (string(user) != uriUser(&uri) || string(tg) != tag(params)) {
			t.Fatalf("%q: scan %q/%q, sipgo %q/%q", v, user, tg, uriUser(&uri), tag(params))
		}
	})
}

// FuzzPlainSIPURI: wherever the in-place URI reader answers, sipgo accepts
// the URI with the same user.
func FuzzPlainSIPURI(f *testing.F) {
	for _, s := range []string{"sip:a@h", "sip:+1555@127.0.0.1:5060", "sip://a@h", "sip:a:pw@h", "sip:a@[::1]:5060", "sip:a@*", "sip:a@h:", "sip:a;b@h:0099"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user, ok := plainSIPURI([]byte(s))
		if !ok {
			return
		}
		var uri sip.Uri
		if err := sip.ParseUri(s, &uri); err != nil || uri.Wildcard || uri.User != string(user) {
			t.Fatalf("%q: plain user %q; sipgo %q, wildcard %v, %v", s, user, uri.User, uri.Wildcard, err)
		}
	})
}

// TestStaticPayload: the switch agrees with the table it speeds up.
func TestStaticPayload(t *testing.T) {
	for pt, want := range staticPayloads {
		if got, ok := staticPayload([]byte(pt)); !ok || got != want {
			t.Errorf("staticPayload(%q) = %q, %v; want %q", pt, got, ok, want)
		}
	}
	for _, pt := range []string{"", "1", "18 ", "96", "00"} {
		if got, ok := staticPayload([]byte(pt)); ok {
			t.Errorf("staticPayload(%q) = %q; want none", pt, got)
		}
	}
}

// foldNames are the lower-case names foldEq is used with.
var foldNames = []string{"to", "from", "cseq", "call-id", "content-type", "content-length", "f", "t", "i", "l", "c"}

// FuzzFoldEq: foldEq agrees with bytes.EqualFold on names of the same length
// (every use checks the length first), for the names it is used with,
// non-ASCII that folds to ASCII included.
func FuzzFoldEq(f *testing.F) {
	for _, s := range []string{"To", "FROM", "CSeq", "Call-ID", "call_id", "Content-Type", "content-LENGTH", "cſeq", "Ｔo", "\rall-id", "Call-Id\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range foldNames {
			if got, want := foldEq(b, n), len(b) == len(n) && bytes.EqualFold(b, []byte(n)); got != want {
				t.Errorf("foldEq(%q, %q) = %v, bytes.EqualFold says %v", b, n, got, want)
			}
		}
	})
}
