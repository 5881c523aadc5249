package sipmon

import "time"

// Leg is one leg record as one sensor saw it: the life of one Call-ID.
type Leg struct {
	CallID string
	Sensor string
	// Correlation is the value of the correlation header in the initial INVITE.
	Correlation string
	// Caller and Called are the user parts of From and To of the initial INVITE.
	Caller, Called string

	Invite time.Time // first initial INVITE
	Answer time.Time // first 2xx to the initial INVITE; zero when unanswered
	End    time.Time // see EndedBy

	Answered bool
	// Codec is the first audio payload of the first SDP answer ("PCMU", "G729", ...).
	Codec string
	// G729 is true when an SDP answer of the dialog negotiated G.729.
	G729 bool
	// Fax is true when a T.38 stream was accepted; FaxAt is when.
	Fax   bool
	FaxAt time.Time
	// EndedBy says how the leg ended: "bye", "rejected", "cancelled", "timeout",
	// "evicted" or "capture_end" (still up when the input ended).
	EndedBy string
}

// Ways a leg ends.
const (
	EndBye        = "bye"
	EndRejected   = "rejected"
	EndCancelled  = "cancelled"
	EndTimeout    = "timeout"
	EndEvicted    = "evicted"
	EndCaptureEnd = "capture_end"
)
