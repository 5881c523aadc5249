package ami_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ami/proto"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

func recordedEvents(t *testing.T, name string) []*proto.Message {
	t.Helper()
	rd := proto.NewReader(bytes.NewReader(fixtures.Read(t, "asterisk", name+".rx.raw")), proto.Limits{})
	if _, err := rd.ReadBanner(); err != nil {
		t.Fatal(err)
	}
	var out []*proto.Message
	for {
		m, err := rd.ReadMessage()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind() == proto.KindEvent {
			out = append(out, m)
		}
	}
}

// Every recorded event decodes to its type, with the common channel fields.
func TestDecodeRecordedEvents(t *testing.T) {
	typed := map[string]bool{"Newchannel": true, "Newstate": true, "NewCallerid": true, "Hangup": true,
		"HangupRequest": true, "SoftHangupRequest": true, "VarSet": true, "DialBegin": true, "DialEnd": true,
		"BridgeEnter": true, "BridgeLeave": true, "FullyBooted": true, "Shutdown": true, "FAXStatus": true,
		"ReceiveFAX": true, "SendFAX": true, "CoreShowChannel": true, "OriginateResponse": true}
	files, _ := filepath.Glob(filepath.Join(fixtures.Dir(t), "asterisk", "ami_*.rx.raw"))
	seen := map[string]int{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rx.raw")
		for _, m := range recordedEvents(t, name) {
			ev := ami.DecodeEvent(m)
			if ev.EventName() != m.Name() || ev.Message() != m {
				t.Fatalf("%s: %s decoded as %s", name, m.Name(), ev.EventName())
			}
			_, other := ev.(*ami.OtherEvent)
			if typed[m.Name()] == other {
				t.Errorf("%s: %s decoded as %T", name, m.Name(), ev)
			}
			seen[m.Name()]++
		}
	}
	for n := range typed {
		if seen[n] == 0 {
			t.Errorf("no recorded %s event to check", n)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	find := func(capture string, pred func(ami.Event) bool) ami.Event {
		t.Helper()
		for _, m := range recordedEvents(t, capture) {
			if ev := ami.DecodeEvent(m); pred(ev) {
				return ev
			}
		}
		t.Fatalf("%s: no such event", capture)
		return nil
	}
	t.Run("hangup_cause_21", func(t *testing.T) {
		ev := find("ami_hangup_action", func(e ami.Event) bool { return e.EventName() == "Hangup" }).(*ami.Hangup)
		if ev.Cause != 21 || ev.CauseText != "Call Rejected" || ev.Linkedid != "1795386322.18" || ev.ChannelState != 6 {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("soft_hangup_flag_not_cause", func(t *testing.T) {
		ev := find("ami_hangup_action", func(e ami.Event) bool { return e.EventName() == "SoftHangupRequest" }).(*ami.SoftHangupRequest)
		if ev.Flags != 16 || ev.Uniqueid != "1795386322.19" {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("dialbegin_dest", func(t *testing.T) {
		ev := find("ami_call_local_dial_events", func(e ami.Event) bool { return e.EventName() == "DialBegin" }).(*ami.DialBegin)
		if ev.Dest.Channel != "Local/100@lic-dial-00000000;1" || ev.Dest.Uniqueid != "1795386281.0" || ev.DialString != "100@lic-dial" || ev.Caller.Channel != "" {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("originate_failure", func(t *testing.T) {
		ev := find("ami_originate_variants", func(e ami.Event) bool {
			o, ok := e.(*ami.OriginateResponse)
			return ok && o.Response == "Failure"
		}).(*ami.OriginateResponse)
		if ev.Reason != 0 || ev.ActionID == "" {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("receivefax", func(t *testing.T) {
		ev := find("ami_fax_spandsp", func(e ami.Event) bool { return e.EventName() == "ReceiveFAX" }).(*ami.ReceiveFAX)
		if ev.TransferRate != 14400 || ev.PagesTransferred != 1 || ev.FileName != "/var/fax/received.tif" || ev.Linkedid != "1795386899.0" {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("bridgeenter", func(t *testing.T) {
		ev := find("ami_call_local_dial_events", func(e ami.Event) bool { return e.EventName() == "BridgeEnter" }).(*ami.BridgeEnter)
		if ev.Bridge.BridgeUniqueid == "" || ev.Bridge.BridgeTechnology != "simple_bridge" || ev.Uniqueid == "" {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("varset_keeps_all_fields", func(t *testing.T) {
		ev := find("ami_hangup_action", func(e ami.Event) bool {
			v, ok := e.(*ami.VarSet)
			return ok && v.Variable == "LIC_DECISION"
		}).(*ami.VarSet)
		if ev.Value != "reject" || ev.Get("Privilege") != "dialplan,all" || len(ev.Message().Fields) != 18 {
			t.Fatalf("%+v", ev)
		}
	})
}

// DecodeEvent never fails or panics, whatever the headers hold.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte("Event: Hangup\r\nChannel: PJSIP/1\r\nCause: 21\r\nCause-txt: Call Rejected\r\n\r\n"))
	f.Add([]byte("Event: DialBegin\r\nDestChannelState: x\r\nDestPriority: 99999999999999999999\r\n\r\n"))
	f.Add([]byte("Event: CoreShowChannel\r\nChannelState: -1\r\n\r\nEvent: Shutdown\r\nRestart: True\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := proto.NewReader(bytes.NewReader(data), proto.Limits{MaxLineBytes: 512, MaxFields: 64})
		for i := 0; i < 64; i++ {
			m, err := rd.ReadMessage()
			if err != nil {
				var fe *proto.FrameError
				if errors.As(err, &fe) {
					continue
				}
				return
			}
			if m.Kind() != proto.KindEvent {
				continue
			}
			ev := ami.DecodeEvent(m)
			if ev == nil || ev.EventName() != m.Name() {
				t.Fatalf("decoded %v from %q", ev, m.String())
			}
		}
	})
}
