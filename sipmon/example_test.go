package sipmon_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// A Monitor takes SIP messages as capture hands them over, and reports the legs.
func ExampleMonitor() {
	mon := sipmon.New(sipmon.Config{})
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	call := []string{
		"INVITE sip:+14155550002@pbx SIP/2.0\r\nFrom: <sip:+14155550001@pbx>;tag=a\r\nTo: <sip:+14155550002@pbx>\r\nCall-ID: example-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 31\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 18 0\r\n",
		"SIP/2.0 200 OK\r\nFrom: <sip:+14155550001@pbx>;tag=a\r\nTo: <sip:+14155550002@pbx>;tag=b\r\nCall-ID: example-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 29\r\n\r\nv=0\r\nm=audio 5000 RTP/AVP 18\r\n",
		"BYE sip:+14155550001@pbx SIP/2.0\r\nFrom: <sip:+14155550002@pbx>;tag=b\r\nTo: <sip:+14155550001@pbx>;tag=a\r\nCall-ID: example-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
	}
	for i, raw := range call {
		_ = mon.Handle(&capture.Message{
			Time:      start.Add(time.Duration(i) * time.Minute),
			Src:       netip.MustParseAddrPort("192.0.2.1:5060"),
			Dst:       netip.MustParseAddrPort("192.0.2.2:5060"),
			Transport: capture.UDP,
			Payload:   []byte(raw),
		})
	}
	mon.Flush()
	r := mon.Report()
	l := r.Legs[0]
	fmt.Println("answered legs:", r.LegsAnswered, "peak:", r.PeakConcurrentLegs)
	fmt.Println("leg:", l.Caller, "->", l.Called, l.Codec, "ended by", l.EndedBy, "after", l.End.Sub(l.Invite))
	fmt.Println("g729 legs:", r.ByProduct[sipmon.ProductG729].Legs)
	// Output:
	// answered legs: 1 peak: 1
	// leg: +14155550001 -> +14155550002 G729 ended by bye after 2m0s
	// g729 legs: 1
}
