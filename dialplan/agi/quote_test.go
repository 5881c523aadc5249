package agi

import "testing"

// The quoting and reply-line decoding the FastAGI server relies on (these were
// package examples while the helpers were exported).
func TestQuoteAndReplyLine(t *testing.T) {
	if got, want := quote(`50% used: a=b; "c" \ d`), `"50% used: a=b; \"c\" \\ d"`; got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
	line, err := setVariableLine("LICBRIDGE_REASON", "OVER_LIMIT")
	if err != nil || line != "SET VARIABLE LICBRIDGE_REASON \"OVER_LIMIT\"\n" {
		t.Errorf("setVariableLine = %q, %v", line, err)
	}
	rep, err := parseReplyLine("200 result=1 (50% off: a=b (x))")
	if err != nil || rep.Code != 200 || rep.Result != "1" || rep.Data != "50% off: a=b (x)" {
		t.Errorf("parseReplyLine = %+v, %v", rep, err)
	}
}
