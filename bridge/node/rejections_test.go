package node

import (
	"testing"
	"time"
)

func TestRejectionsRecent(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var r Rejections
	r.Record(now.Add(-2*RejectionWindow), "g729", "OVER_LIMIT") // too old
	r.Record(now.Add(-time.Minute), "g729", "OVER_LIMIT")
	r.Record(now.Add(-time.Second), "g729", "OVER_LIMIT")
	r.Record(now.Add(-time.Second), "g729", "STORE_UNAVAILABLE")
	r.Record(now, "fax", "LOCKED")
	got := r.Recent(now)
	if got["g729"]["OVER_LIMIT"] != 2 || got["g729"]["STORE_UNAVAILABLE"] != 1 || got["fax"]["LOCKED"] != 1 || len(got) != 2 {
		t.Errorf("recent %v", got)
	}
	// A storm keeps at most maxRejections.
	for i := 0; i < maxRejections+10; i++ {
		r.Record(now, "g729", "OVER_LIMIT")
	}
	if n := r.Recent(now)["g729"]["OVER_LIMIT"]; n != maxRejections {
		t.Errorf("after a storm %d kept, want %d", n, maxRejections)
	}
}
