package capture_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// ExampleReadPaths reads a small capture (a copy of fixture 03a, Linux cooked,
// a call rejected with 486) and prints each SIP message's frame, addresses and
// first line.
func ExampleReadPaths() {
	st, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "edge1", Path: "testdata/03a_rejected_486_busy_linux_sll.pcap"}},
		func(m *capture.Message) error {
			first, _, _ := bytes.Cut(m.Payload, []byte("\r\n"))
			fmt.Printf("%d %s %s -> %s %s\n", m.Frame, m.Transport, m.Src, m.Dst, first)
			return nil
		})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(st.Messages, "messages")
	// Output:
	// 1 udp 127.0.3.1:5060 -> 127.0.3.2:5060 INVITE sip:+14155550302@127.0.3.2:5060 SIP/2.0
	// 2 udp 127.0.3.2:5060 -> 127.0.3.1:5060 SIP/2.0 100 Trying
	// 3 udp 127.0.3.2:5060 -> 127.0.3.1:5060 SIP/2.0 180 Ringing
	// 4 udp 127.0.3.2:5060 -> 127.0.3.1:5060 SIP/2.0 486 Busy Here
	// 5 udp 127.0.3.1:5060 -> 127.0.3.2:5060 ACK sip:+14155550302@127.0.3.2:5060 SIP/2.0
	// 5 messages
}
