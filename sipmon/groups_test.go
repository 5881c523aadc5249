package sipmon

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// TestCrossSensorGroups feeds the manifest's two-sensor pairs as two named sensors.
func TestCrossSensorGroups(t *testing.T) {
	m := loadManifest(t, "sip")
	for _, g := range m.Groups {
		t.Run(g.Group, func(t *testing.T) {
			if len(g.Files) != 2 || g.LegsAfterDedup == nil || g.LegsWithoutDedup == nil {
				t.Fatalf("group %s: unexpected shape %+v", g.Group, g)
			}
			a, b := fixtures.Path(t, "sip", g.Files[0]), fixtures.Path(t, "sip", g.Files[1])
			r := readInputs(t, Config{}, capture.Input{Sensor: "A", Path: a}, capture.Input{Sensor: "B", Path: b})
			if len(r.Legs) != *g.LegsAfterDedup || r.LegsAnswered != *g.LegsAfterDedup {
				t.Errorf("two sensors: %d legs (%d answered), manifest %d after dedup", len(r.Legs), r.LegsAnswered, *g.LegsAfterDedup)
			}
			if want := *g.LegsWithoutDedup - *g.LegsAfterDedup; r.DuplicatesMerged != want {
				t.Errorf("duplicates_merged = %d, want %d", r.DuplicatesMerged, want)
			}
			if r.PeakConcurrentLegs != *g.LegsAfterDedup {
				t.Errorf("peak = %d, want %d (one call)", r.PeakConcurrentLegs, *g.LegsAfterDedup)
			}
			if len(r.Legs) == 1 && len(r.Legs[0].Sensors) != 2 {
				t.Errorf("merged leg sensors = %v, want both", r.Legs[0].Sensors)
			}

			// The same two files as ONE sensor: numbers never merge legs within a
			// sensor, so only a shared Call-ID can (10a); different Call-IDs (10b)
			// stay apart, as the B2BUA legs of 06a must.
			one := readInputs(t, Config{}, capture.Input{Path: a}, capture.Input{Path: b})
			want := *g.LegsWithoutDedup
			if g.SameCallID != nil && *g.SameCallID {
				want = *g.LegsAfterDedup
			}
			if len(one.Legs) != want {
				t.Errorf("one sensor: %d legs, want %d", len(one.Legs), want)
			}
		})
	}
}

// TestAsteriskWireAndHEP feeds each Asterisk run's wire capture and its HEP copies
// as two sensors: the records pair up by Call-ID, so the counts are those of one
// file (the manifest's "2 is the intended answer"; the 6-digit rule alone could
// not tell the B2BUA legs apart). D is also read with X-CID correlation on.
func TestAsteriskWireAndHEP(t *testing.T) {
	m := loadManifest(t, "sip", "asterisk")
	files := map[string]manifestFile{}
	for _, f := range m.Files {
		files[f.File] = f
	}
	for _, g := range m.Groups {
		t.Run(g.Group, func(t *testing.T) {
			wire, hep := fixtures.Path(t, "sip", "asterisk", g.Files[0]), fixtures.Path(t, "sip", "asterisk", g.Files[1])
			e := files[g.Files[0]].Expected
			r := readInputs(t, Config{}, capture.Input{Sensor: "wire", Path: wire}, capture.Input{Sensor: "hep", Path: hep})
			if r.LegsAnswered != e.LegsAnswered || r.PeakConcurrentLegs != e.Peak {
				t.Errorf("wire+hep: %d answered, peak %d; manifest %d, peak %d", r.LegsAnswered, r.PeakConcurrentLegs, e.LegsAnswered, e.Peak)
			}
			if r.DuplicatesMerged != e.LegsAnswered {
				t.Errorf("duplicates_merged = %d, want %d (each leg once per sensor)", r.DuplicatesMerged, e.LegsAnswered)
			}
			if e.AnsweredWithXCID == nil {
				return
			}
			for _, in := range [][]capture.Input{
				{{Path: wire}},
				{{Path: hep}},
				{{Sensor: "wire", Path: wire}, {Sensor: "hep", Path: hep}},
			} {
				x := readInputs(t, Config{CorrelationHeader: "X-CID"}, in...)
				if x.LegsAnswered != *e.AnsweredWithXCID || x.LegsAttempted != *e.AttemptedWithXCID || x.PeakConcurrentLegs != *e.PeakWithXCID {
					t.Errorf("%v with X-CID: answered %d attempted %d peak %d; manifest %d/%d/%d", in,
						x.LegsAnswered, x.LegsAttempted, x.PeakConcurrentLegs, *e.AnsweredWithXCID, *e.AttemptedWithXCID, *e.PeakWithXCID)
				}
				if len(x.Legs) == 1 && len(x.Legs[0].CallIDs) != 2 {
					t.Errorf("%v with X-CID: leg Call-IDs %v, want both", in, x.Legs[0].CallIDs)
				}
			}
		})
	}
}

// TestMergeSensorsRepeatedNumbers: a number pair called over and over, seen by two
// sensors with a skew, merges call by call (never with an earlier call of the same
// numbers), and within one sensor never.
func TestMergeSensorsRepeatedNumbers(t *testing.T) {
	const calls = 2000
	skew := 1200 * time.Millisecond
	var legs []Leg
	for i := range calls {
		start := t0.Add(time.Duration(i) * 10 * time.Second)
		for _, s := range []struct {
			sensor, caller, called string
			at                     time.Time
		}{
			{"edge", "+14155551021", "+14155551022", start},
			{"core", "4155551021", "0014155551022", start.Add(skew)},
		} {
			legs = append(legs, Leg{
				CallID: fmt.Sprintf("%s-%d", s.sensor, i), Sensor: s.sensor, Caller: s.caller, Called: s.called,
				Invite: s.at, Answer: s.at.Add(time.Second), End: s.at.Add(5 * time.Second), Answered: true, EndedBy: EndBye,
			})
		}
	}
	r := buildReport(legs, false, DefaultSensorTolerance)
	if r.LegsAnswered != calls || r.DuplicatesMerged != calls || r.PeakConcurrentLegs != 1 {
		t.Fatalf("answered %d merged %d peak %d; want %d, %d, 1", r.LegsAnswered, r.DuplicatesMerged, r.PeakConcurrentLegs, calls, calls)
	}
	for i, l := range r.Legs {
		if want := []string{fmt.Sprintf("edge-%d", i), fmt.Sprintf("core-%d", i)}; !slices.Equal(l.CallIDs, want) {
			t.Fatalf("leg %d merges %v, want %v", i, l.CallIDs, want)
		}
	}
}
