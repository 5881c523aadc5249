package capture_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// manifestFile is the part of a fixture manifest entry these tests check.
type manifestFile struct {
	File        string `json:"file"`
	SIPMessages int    `json:"sip_messages"`
	RawOnWire   *int   `json:"sip_messages_raw_on_wire"`
	InsideHEP   *int   `json:"sip_messages_inside_hep"`
	Packets     int    `json:"packets"`
	SIPFrames   int    `json:"sip_frames"`
}

func loadManifest(t *testing.T, elem ...string) []manifestFile {
	t.Helper()
	var m struct {
		Files []manifestFile `json:"files"`
	}
	if err := json.Unmarshal(fixtures.Read(t, elem...), &m); err != nil {
		t.Fatalf("manifest %s: %v", filepath.Join(elem...), err)
	}
	if len(m.Files) == 0 {
		t.Fatalf("manifest %s lists no files", filepath.Join(elem...))
	}
	return m.Files
}

type counts struct {
	all, hep, tcp int
	// rawFrames are the frames that completed a message not carried in HEP.
	rawFrames map[int]bool
}

func readCounting(t *testing.T, path string) (counts, capture.Stats) {
	t.Helper()
	c := counts{rawFrames: map[int]bool{}}
	st, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "s1", Path: path}}, func(m *capture.Message) error {
		c.all++
		if !m.HEP {
			c.rawFrames[m.Frame] = true
		}
		if m.File != path || m.Frame < 1 {
			t.Errorf("%s: message %d has file %q frame %d", filepath.Base(path), c.all, m.File, m.Frame)
		}
		if m.HEP {
			c.hep++
		}
		if m.Transport == capture.TCP {
			c.tcp++
		}
		if m.Sensor != "s1" || !m.Src.IsValid() || !m.Dst.IsValid() || m.Time.IsZero() {
			t.Errorf("%s: message %d lacks sensor/addresses/time: %+v", filepath.Base(path), c.all, m)
		}
		if !capture.LooksLikeSIP(m.Payload) {
			t.Errorf("%s: message %d delivered but does not look like SIP: %q", filepath.Base(path), c.all, m.Payload[:min(40, len(m.Payload))])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", path, err)
	}
	return c, st
}

// TestFixtureMessageCounts checks, for every capture of both manifests, that the
// number of SIP messages delivered equals the manifest's sip_messages (tshark's
// dissection count, HEP-carried messages included), and the split between raw and
// HEP-carried messages where the manifest gives it.
func TestFixtureMessageCounts(t *testing.T) {
	for _, set := range [][]string{{"sip"}, {"sip", "asterisk"}} {
		files := loadManifest(t, append(set, "manifest.json")...)
		for _, f := range files {
			t.Run(f.File, func(t *testing.T) {
				path := fixtures.Path(t, append(set, f.File)...)
				c, st := readCounting(t, path)
				if c.all != f.SIPMessages {
					t.Errorf("delivered %d SIP messages, manifest says %d (stats %+v)", c.all, f.SIPMessages, st)
				}
				if f.InsideHEP != nil && c.hep != *f.InsideHEP {
					t.Errorf("delivered %d HEP-carried messages, manifest says %d", c.hep, *f.InsideHEP)
				}
				if f.RawOnWire != nil && c.all-c.hep != *f.RawOnWire {
					t.Errorf("delivered %d raw messages, manifest says %d", c.all-c.hep, *f.RawOnWire)
				}
				if f.Packets != 0 && st.Packets != f.Packets {
					t.Errorf("read %d packets, manifest says %d", st.Packets, f.Packets)
				}
				if st.Messages != c.all || st.HEPMessages != c.hep {
					t.Errorf("stats say %d messages (%d HEP), handler saw %d (%d)", st.Messages, st.HEPMessages, c.all, c.hep)
				}
				// tshark counts the frames that complete a SIP message (HEP ones
				// excluded): the reassembled INVITE of 11b is one frame, its ACK+BYE
				// segment another; 11a's fragmented INVITE is its last fragment.
				if len(c.rawFrames) != f.SIPFrames {
					t.Errorf("messages completed in %d distinct frames, manifest says %d", len(c.rawFrames), f.SIPFrames)
				}
				// Without TCP (whose control segments are not counted), every packet
				// is accounted for exactly once: a SIP or HEP message, or a reason to
				// skip it. For 11a: garbage, HTTP, STUN, CRLF keep-alive, "INVITE"
				// alone, lower-case "invite ... sip/2.0" and its "sip/2.0 400" reply
				// are not SIP; one datagram is empty; two frames are fragments
				// completed by a third.
				if st.TCPSegments == 0 {
					skipped := st.NotSIP + st.Empty + st.OtherProto + st.NonIP + st.Truncated +
						st.Fragments - st.Reassembled + st.HEPErrors + st.HEPNotSIP
					if st.Messages+skipped != st.Packets {
						t.Errorf("%d messages + %d skipped != %d packets (stats %+v)", st.Messages, skipped, st.Packets, st)
					}
				}
				if strings.HasPrefix(f.File, "11b") && c.tcp != c.all {
					t.Errorf("11b: %d of %d messages marked TCP", c.tcp, c.all)
				}
			})
		}
	}
}
