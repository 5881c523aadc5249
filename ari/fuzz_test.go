package ari

import (
	"bytes"
	"io"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// FuzzDecodeEvent: any input decodes or fails with an error, never panics;
// a decoded event always has a type and is Known exactly for the handled types.
func FuzzDecodeEvent(f *testing.F) {
	for _, st := range recordedStreams {
		for _, fr := range recordedFrames(f, st.name) {
			if fr.Opcode == 1 {
				f.Add([]byte(fr.Text))
			}
		}
	}
	for _, s := range []string{
		`{"type":"StasisStart"}`, `{"type":"StasisStart","channel":null,"args":null}`,
		`{"type":"ChannelHangupRequest","cause":"x"}`, `{"type":"StasisEnd","timestamp":""}`,
		`{"type":"ChannelDestroyed","channel":{"creationtime":"x"}}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := decodeEvent(data)
		if err != nil {
			return
		}
		if ev.Type == "" {
			t.Fatal("decoded an event without type")
		}
		if ev.Known != isHandled(ev.Type) {
			t.Fatalf("%s: Known = %v", ev.Type, ev.Known)
		}
	})
}

// FuzzMsgReader: any byte stream after the 101 yields messages within the
// size bound and then an error, never a panic or a hang.
func FuzzMsgReader(f *testing.F) {
	// The short recorded streams only: the fuzzer mutates small inputs faster.
	for _, name := range []string{"ari_ws_continue_default", "ari_ws_tone_detected", "ari_ws_asterisk_shutdown"} {
		raw := fixtures.Read(f, "asterisk", name+".rx.raw")
		_, frames, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		f.Add(frames)
		if len(frames) > 10 {
			f.Add(frames[:len(frames)/2])
		}
	}
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // a 2^64-1 length claim
	f.Add([]byte{0x01, 0x01, 'a', 0x00, 0x01, 'b', 0x80, 0x01, 'c'})          // fragmented text
	f.Add([]byte{0x89, 0x00, 0x81, 0x02, '{', '}'})                           // ping, then text
	f.Fuzz(func(t *testing.T, data []byte) {
		mr := newMsgReader(bytes.NewReader(data), io.Discard)
		for i := 0; i <= len(data); i++ {
			msg, err := mr.Next()
			if err != nil {
				return
			}
			if len(msg) > maxMessage {
				t.Fatalf("message of %d bytes", len(msg))
			}
			_, _ = decodeEvent(msg)
		}
		t.Fatal("more messages than input bytes")
	})
}
