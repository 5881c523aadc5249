package sipmon

import (
	"slices"
	"sort"
	"time"
)

// Report is what a read of captures found.
type Report struct {
	Stats
	// First and Last are the times of the first and last SIP message.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`

	LegsAnswered   int `json:"legs_answered"`
	LegsAttempted  int `json:"legs_attempted"`
	LegsUnanswered int `json:"legs_unanswered"`
	// PeakConcurrentLegs is the most legs up at once, each from its first INVITE
	// to its end; PeakAt is when it was first reached.
	PeakConcurrentLegs int       `json:"peak_concurrent_legs"`
	PeakAt             time.Time `json:"peak_at"`
	// DuplicatesMerged counts leg records folded into another because another
	// sensor saw the same call; CorrelatedMerged because a correlation header tied
	// their Call-IDs.
	DuplicatesMerged int `json:"duplicates_merged"`
	CorrelatedMerged int `json:"correlated_merged"`

	ByProduct map[string]ProductCount `json:"by_product"`
	Windows   []Window                `json:"windows"`
	Legs      []LegRecord             `json:"legs"`

	sensors []string // every sensor that saw a counted leg
}

// ProductCount is the use of one licensed product.
type ProductCount struct {
	// Legs counts answered legs that used the product.
	Legs int `json:"legs"`
	// PeakConcurrentLegs: G.729 legs count from first INVITE to end; fax legs from
	// the acceptance of T.38 to end (a fax session).
	PeakConcurrentLegs int `json:"peak_concurrent_legs"`
}

// Window is the peak of one 60-minute window, aligned on the UTC hour. A leg
// spanning windows counts in each.
type Window struct {
	Start              time.Time      `json:"start"`
	PeakConcurrentLegs int            `json:"peak_concurrent_legs"`
	ByProduct          map[string]int `json:"by_product"`
}

// LegRecord is one counted leg: one or more per-sensor Leg records merged.
type LegRecord struct {
	CallIDs  []string   `json:"call_ids"`
	Sensors  []string   `json:"sensors"`
	Caller   string     `json:"caller"`
	Called   string     `json:"called"`
	Invite   time.Time  `json:"invite"`
	Answer   *time.Time `json:"answer,omitempty"`
	End      time.Time  `json:"end"`
	Answered bool       `json:"answered"`
	Codec    string     `json:"codec,omitempty"`
	G729     bool       `json:"g729"`
	Fax      bool       `json:"fax"`
	EndedBy  string     `json:"ended_by"`

	faxAt time.Time
}

// lastDigits returns the last 6 digits of a number, or all of them when it has
// fewer; "" when it has none.
func lastDigits(s string) string {
	var d []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	if len(d) > 6 {
		d = d[len(d)-6:]
	}
	return string(d)
}

// overlaps says whether two intervals overlap within tol.
func overlaps(aStart, aEnd, bStart, bEnd time.Time, tol time.Duration) bool {
	return !aStart.Add(-tol).After(bEnd) && !bStart.Add(-tol).After(aEnd)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// toLegRecord makes the record's LegRecord. With streamed, the LegRecord
// goes out at once (Config.LegSink, valid during the call only) and may
// point into rec, which is then reused: that spares the allocations of a
// single-leg record's slices and answer time; a LegRecord the report keeps
// has them of its own, so that it does not keep the whole record.
func (rec *record) toLegRecord(streamed bool) LegRecord {
	root := rec.legs[0]
	lr := LegRecord{
		Caller: root.Caller, Called: root.Called,
		Invite: rec.invite.UTC(), End: rec.end.UTC(),
		Codec: root.Codec, EndedBy: root.EndedBy,
	}
	if streamed && len(rec.legs) == 1 {
		rec.oneCallID[0] = root.CallID
		lr.CallIDs = rec.oneCallID[:]
	}
	for _, l := range rec.legs {
		if !slices.Contains(lr.CallIDs, l.CallID) {
			lr.CallIDs = append(lr.CallIDs, l.CallID)
		}
		if l.Answered {
			lr.Answered = true
			if lr.Answer == nil || l.Answer.Before(*lr.Answer) {
				if streamed {
					rec.answer, lr.Answer = l.Answer.UTC(), &rec.answer
				} else {
					a := l.Answer.UTC()
					lr.Answer = &a
				}
			}
			if lr.Codec == "" {
				lr.Codec = l.Codec
			}
		}
		lr.G729 = lr.G729 || l.G729
		if l.Fax && (!lr.Fax || l.FaxAt.Before(lr.faxAt)) {
			lr.Fax, lr.faxAt = true, l.FaxAt
		}
		if !l.End.Before(lr.End) {
			lr.EndedBy = l.EndedBy
		}
	}
	if streamed && len(rec.sensors) == 1 {
		lr.Sensors = rec.sensors // nothing changes a final record
	} else {
		lr.Sensors = slices.Clone(rec.sensors)
		sort.Strings(lr.Sensors)
	}
	return lr
}
