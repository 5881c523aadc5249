package sipmon

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// The fixture manifests are the ground truth: every figure compared here is read
// from them, none is written in this file.

type manifest struct {
	Files  []manifestFile  `json:"files"`
	Groups []manifestGroup `json:"groups"`
}

type manifestGroup struct {
	Group                string   `json:"group"`
	Files                []string `json:"files"`
	LegsAfterDedup       *int     `json:"expected_legs_after_cross_sensor_dedup"`
	LegsWithoutDedup     *int     `json:"expected_legs_without_dedup"`
	SameCallID           *bool    `json:"same_call_id"`
	TwoSensorExpectation string   `json:"expected_legs_if_both_files_are_fed_as_two_sensors"`
}

type manifestFile struct {
	File        string          `json:"file"`
	TimeOrigin  float64         `json:"time_origin_epoch"`
	SIPMessages int             `json:"sip_messages"`
	Expected    manifestExpect  `json:"expected"`
	PerCallID   []manifestCall  `json:"per_call_id"`
	Summary     *manifestSumm   `json:"call_ids_summary"`
	HEP         *manifestHEP    `json:"hep"`
	Ambiguities []string        `json:"ambiguities"`
	RawExpected json.RawMessage `json:"-"`
}

type manifestExpect struct {
	LegsAnswered         int             `json:"legs_answered"`
	LegsAttempted        json.RawMessage `json:"legs_attempted"` // a number, or a sentence (11a)
	Peak                 int             `json:"peak_concurrent_legs"`
	Codec                json.RawMessage `json:"codec"`
	Fax                  bool            `json:"fax"`
	G729                 *bool           `json:"g729"`
	Numbers              json.RawMessage `json:"numbers"`
	AnsweredWithXCID     *int            `json:"legs_answered_with_x_cid_correlation"`
	AttemptedWithXCID    *int            `json:"legs_attempted_with_x_cid_correlation"`
	PeakWithXCID         *int            `json:"peak_concurrent_legs_with_x_cid_correlation"`
	LogicalEndToEndCalls *int            `json:"logical_end_to_end_calls"`
}

type manifestCall struct {
	CallID    *string        `json:"call_id"`
	Caller    *string        `json:"caller_from_user"`
	Called    *string        `json:"called_to_user"`
	Answered  bool           `json:"answered"`
	Codec     *string        `json:"negotiated_audio_codec"`
	T38       bool           `json:"t38_image_udptl"`
	Methods   map[string]int `json:"methods"`
	Responses map[string]int `json:"responses"`
	TInvite   *float64       `json:"t_first_invite_s"`
	TAnswer   *float64       `json:"t_answer_s"`
	TEnd      *float64       `json:"t_end_s"`
	XCID      *string        `json:"x_cid_in_initial_invite"`
}

type manifestSumm struct {
	Count          int      `json:"count"`
	Answered       int      `json:"answered"`
	CallersFL      []string `json:"callers_first_last"`
	CalledFL       []string `json:"called_first_last"`
	Codecs         []string `json:"negotiated_codecs"`
	Leg1Count      int      `json:"leg1_count"`
	MessagesPerCID []int    `json:"messages_per_call_id"`
}

type manifestHEP struct {
	SIPMessages int      `json:"sip_messages"`
	CallIDs     []string `json:"call_ids"`
}

func loadManifest(t testing.TB, elem ...string) manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(fixtures.Read(t, append(elem, "manifest.json")...), &m); err != nil {
		t.Fatalf("manifest %v: %v", elem, err)
	}
	if len(m.Files) == 0 {
		t.Fatalf("manifest %v lists no files", elem)
	}
	return m
}

// readInputs runs captures through a Monitor as the `sipmon read` command does.
func readInputs(t testing.TB, cfg Config, inputs ...capture.Input) *Report {
	t.Helper()
	mon := New(cfg)
	if _, err := capture.ReadPaths(context.Background(), inputs, mon.Handle); err != nil {
		t.Fatalf("read %v: %v", inputs, err)
	}
	mon.Flush()
	return mon.Report()
}

func epoch(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
}

// timeSlack absorbs the HEP timestamps, which the manifest says differ from the
// capture times by up to a millisecond.
const timeSlack = 3 * time.Millisecond

func near(a, b time.Time) bool { return absDur(a.Sub(b)) <= timeSlack }

func legByCallID(r *Report, id string) *LegRecord {
	for i := range r.Legs {
		for _, c := range r.Legs[i].CallIDs {
			if c == dialogKey(id) {
				return &r.Legs[i]
			}
		}
	}
	return nil
}

// malformedByRule lists the hostile INVITEs of 11a that the parser rejects as
// malformed, with the rule that rejects them; such an INVITE never starts a leg,
// so the server's reply to it is an orphan. The manifest leaves counting them to
// the monitor (its "ambiguities"); this is our rule.
var malformedByRule = map[string]string{
	"trunc-body-1@hostile": "Content-Length exceeds the datagram: the message is truncated (RFC 3261 §18.3)",
	"bare-lf-1@hostile":    "lines end in bare LF, not CRLF (RFC 3261 §7)",
}

// isAttempt applies our attempt rule to a manifest Call-ID: an initial INVITE that
// drew a response and was well-formed.
func isAttempt(c manifestCall) bool {
	if c.CallID == nil || c.Methods["INVITE"] == 0 {
		return false
	}
	if _, bad := malformedByRule[*c.CallID]; bad {
		return false
	}
	for k := range c.Responses {
		if strings.HasSuffix(k, " INVITE") {
			return true
		}
	}
	return false
}

// ambiguityRules says, for each capture whose manifest entry lists ambiguities,
// which of our rules decides it; the checks of such a file run in a subtest named
// after the rule. A manifest that gains an ambiguity fails until a rule is named.
var ambiguityRules = map[string]string{
	"03a": "attempts occupy a channel from INVITE to the final response: peak counts them",
	"03b": "attempts occupy a channel from INVITE to the final response: peak counts them",
	"04":  "a leg ends at the 2xx to BYE, not at REFER or NOTIFY: the 5 ms overlap is a peak of 2",
	"05":  "one Call-ID is one leg: forked branches are not legs",
	"06a": "numbers never merge legs within one sensor: the B2BUA's two Call-IDs are 2 legs",
	"06b": "one Call-ID is one leg, tags do not merge: the rewritten Call-ID is a second leg",
	"09":  "a leg ends at the 2xx to BYE: the peak is exact",
	"11a": "an INVITE is an attempt once it drew a response and was well-formed",
	"12b": "byte-identical copies (raw and HEP) are one message, one Call-ID one leg",
	"A_":  "numbers never merge legs within one sensor, and codec comes from the answer, not the offer",
	"B_":  "numbers never merge legs within one sensor; G.729 negotiated in the answer",
	"C_":  "a leg ends at the 2xx to BYE, and B2BUA legs are not merged: peak is 2 x the call limit",
	"D_":  "without a correlation header each Call-ID is a leg (X-CID: see TestAsteriskWireAndHEP)",
}

func ambiguityRule(file string) (string, bool) {
	for prefix, rule := range ambiguityRules {
		if strings.HasPrefix(file, prefix) {
			return rule, true
		}
	}
	return "", false
}

func TestManifestFiles(t *testing.T) {
	for _, set := range [][]string{{"sip"}, {"sip", "asterisk"}} {
		m := loadManifest(t, set...)
		for _, f := range m.Files {
			t.Run(f.File, func(t *testing.T) {
				path := fixtures.Path(t, append(append([]string{}, set...), f.File)...)
				r := readInputs(t, Config{}, capture.Input{Path: path})
				if len(f.Ambiguities) == 0 {
					checkFile(t, f, r)
					return
				}
				rule, ok := ambiguityRule(f.File)
				if !ok {
					t.Fatalf("the manifest marks ambiguities %q and no rule of ours is named for them", f.Ambiguities)
				}
				t.Run("rule: "+rule, func(t *testing.T) { checkFile(t, f, r) })
			})
		}
	}
}

func checkFile(t *testing.T, f manifestFile, r *Report) {
	t.Helper()
	origin := epoch(f.TimeOrigin)
	e := f.Expected

	if r.LegsAnswered != e.LegsAnswered {
		t.Errorf("legs_answered = %d, manifest %d", r.LegsAnswered, e.LegsAnswered)
	}
	var attempted int
	if err := json.Unmarshal(e.LegsAttempted, &attempted); err != nil {
		// 11a: the manifest gives a sentence, the rule decides (see isAttempt).
		attempted = 0
		for _, c := range f.PerCallID {
			if isAttempt(c) {
				attempted++
			}
		}
		t.Logf("ambiguity %q: our rule (INVITE well-formed and answered by any response) gives %d attempts", e.LegsAttempted, attempted)
	}
	if r.LegsAttempted != attempted {
		t.Errorf("legs_attempted = %d, want %d", r.LegsAttempted, attempted)
	}
	if r.PeakConcurrentLegs != e.Peak {
		t.Errorf("peak_concurrent_legs = %d, manifest %d", r.PeakConcurrentLegs, e.Peak)
	}
	if got := r.ByProduct[ProductFax].Legs > 0; got != e.Fax {
		t.Errorf("fax legs = %d, manifest fax %v", r.ByProduct[ProductFax].Legs, e.Fax)
	}
	if e.G729 != nil {
		if got := r.ByProduct[ProductG729].Legs > 0; got != *e.G729 {
			t.Errorf("g729 legs = %d, manifest g729 %v", r.ByProduct[ProductG729].Legs, *e.G729)
		}
	}
	if f.SIPMessages > 0 && int(r.SIPMessages)+int(r.Malformed) < f.SIPMessages {
		t.Errorf("sip_messages %d + malformed %d < manifest sip_messages %d", r.SIPMessages, r.Malformed, f.SIPMessages)
	}

	g729Legs := 0
	for _, c := range f.PerCallID {
		if c.CallID == nil {
			continue
		}
		id := *c.CallID
		l := legByCallID(r, id)
		name := id
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if !isAttempt(c) {
			if l != nil {
				t.Errorf("%s: no attempt by our rule, but a leg was counted: %+v", name, l)
			}
			continue
		}
		if l == nil {
			t.Errorf("%s: no leg", name)
			continue
		}
		if c.Caller != nil && l.Caller != *c.Caller || c.Called != nil && l.Called != *c.Called {
			t.Errorf("%s: caller/called = %q/%q, manifest %v/%v", name, l.Caller, l.Called, deref(c.Caller), deref(c.Called))
		}
		if l.Answered != c.Answered {
			t.Errorf("%s: answered = %v, manifest %v", name, l.Answered, c.Answered)
		}
		if c.Codec != nil && l.Codec != *c.Codec {
			t.Errorf("%s: codec = %q, manifest %q", name, l.Codec, *c.Codec)
		}
		if c.Codec != nil && *c.Codec == "G729" {
			g729Legs++
		}
		if l.Fax != c.T38 {
			t.Errorf("%s: fax = %v, manifest t38 %v", name, l.Fax, c.T38)
		}
		if c.TInvite != nil && !near(l.Invite, origin.Add(secs(*c.TInvite))) {
			t.Errorf("%s: invite at %v, manifest +%.6fs", name, l.Invite.Sub(origin), *c.TInvite)
		}
		if c.TAnswer != nil && (l.Answer == nil || !near(*l.Answer, origin.Add(secs(*c.TAnswer)))) {
			t.Errorf("%s: answer at %v, manifest +%.6fs", name, l.Answer, *c.TAnswer)
		}
		if c.TEnd != nil && !near(l.End, origin.Add(secs(*c.TEnd))) {
			t.Errorf("%s: end at %v, manifest +%.6fs", name, l.End.Sub(origin), *c.TEnd)
		}
	}
	if e.G729 != nil && r.ByProduct[ProductG729].Legs != g729Legs {
		t.Errorf("g729 legs = %d, manifest per-Call-ID G729 answers %d", r.ByProduct[ProductG729].Legs, g729Legs)
	}

	// Files without per-Call-ID detail (09, 13, C, and 12a's HEP block).
	if s := f.Summary; s != nil {
		if len(r.Legs) != s.Count || r.LegsAnswered != s.Answered {
			t.Errorf("legs %d answered %d, summary %d/%d", len(r.Legs), r.LegsAnswered, s.Count, s.Answered)
		}
		callers, called := map[string]bool{}, map[string]bool{}
		for _, l := range r.Legs {
			callers[l.Caller], called[l.Called] = true, true
			if !contains(s.Codecs, l.Codec) {
				t.Errorf("leg %v codec %q, summary %v", l.CallIDs, l.Codec, s.Codecs)
			}
		}
		for _, n := range s.CallersFL {
			if !callers[n] {
				t.Errorf("caller %s of the summary not seen", n)
			}
		}
		for _, n := range s.CalledFL {
			if !called[n] {
				t.Errorf("called %s of the summary not seen", n)
			}
		}
	}
	if h := f.HEP; h != nil && len(f.PerCallID) == 0 {
		for _, id := range h.CallIDs {
			if legByCallID(r, id) == nil {
				t.Errorf("HEP Call-ID %s: no leg", id)
			}
		}
	}
	var nums []struct{ Caller, Called string }
	if json.Unmarshal(e.Numbers, &nums) == nil {
		for _, n := range nums {
			found := false
			for _, l := range r.Legs {
				found = found || l.Caller == n.Caller && l.Called == n.Called
			}
			if !found {
				t.Errorf("no leg %s -> %s", n.Caller, n.Called)
			}
		}
	}
}

func secs(f float64) time.Duration { return time.Duration(math.Round(f * 1e9)) }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
