package hep_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/internal/testkit/pcaptest"
	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

type hepManifest struct {
	Files []struct {
		File string `json:"file"`
		HEP  *struct {
			// CaptureID is a number (12a) or a list of the ids seen (asterisk set).
			CaptureID json.RawMessage `json:"capture_id"`
			Packets   []struct {
				Inner     string `json:"inner"`
				FirstLine string `json:"first_line"`
				CallID    string `json:"call_id"`
			} `json:"packets"`
		} `json:"hep"`
	} `json:"files"`
}

var callIDRe = regexp.MustCompile(`(?mi)^(?:call-id|i)\s*:\s*(\S+)\r?$`)

// TestDecodeFixtures decodes every HEP datagram of the HEP captures (Kamailio's
// siptrace in 12a, Asterisk's res_hep in the asterisk set) and compares each with
// the manifest: inner addresses, first line of the SIP payload, Call-ID.
func TestDecodeFixtures(t *testing.T) {
	for _, set := range [][]string{{"sip"}, {"sip", "asterisk"}} {
		var m hepManifest
		if err := json.Unmarshal(fixtures.Read(t, append(set, "manifest.json")...), &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			if f.HEP == nil || len(f.HEP.Packets) == 0 || strings.HasPrefix(f.File, "12b") {
				continue // 12b mixes raw SIP in; 12a holds the same HEP packets
			}
			t.Run(f.File, func(t *testing.T) {
				dgs := pcaptest.UDPPayloads(t, fixtures.Path(t, append(set, f.File)...))
				if len(dgs) != len(f.HEP.Packets) {
					t.Fatalf("%d datagrams, manifest lists %d HEP packets", len(dgs), len(f.HEP.Packets))
				}
				for i, dg := range dgs {
					var p hep.Packet
					if err := hep.Decode(dg.Payload, &p); err != nil {
						t.Fatalf("packet %d: %v", i+1, err)
					}
					want := f.HEP.Packets[i]
					if got := p.Src.String() + " -> " + p.Dst.String(); got != want.Inner {
						t.Errorf("packet %d: inner %s, want %s", i+1, got, want.Inner)
					}
					first, _, _ := strings.Cut(string(p.Payload), "\r\n")
					if first != want.FirstLine {
						t.Errorf("packet %d: first line %q, want %q", i+1, first, want.FirstLine)
					}
					if mm := callIDRe.FindSubmatch(p.Payload); mm == nil || string(mm[1]) != want.CallID {
						t.Errorf("packet %d: payload Call-ID %q, want %q", i+1, mm, want.CallID)
					}
					if p.ProtoType != hep.ProtoTypeSIP || p.Family != hep.FamilyIPv4 || p.Proto != hep.ProtoUDP {
						t.Errorf("packet %d: proto type %d family %d proto %d", i+1, p.ProtoType, p.Family, p.Proto)
					}
					if want := captureIDs(t, f.HEP.CaptureID); !want[p.CaptureID] {
						t.Errorf("packet %d: capture id %d, want one of %v", i+1, p.CaptureID, want)
					}
					if p.Length != len(dg.Payload) {
						t.Errorf("packet %d: length %d, datagram %d", i+1, p.Length, len(dg.Payload))
					}
					if d := dg.Time.Sub(p.Time); d < -time.Second || d > time.Second {
						t.Errorf("packet %d: HEP time %v is %v away from the capture time", i+1, p.Time, d)
					}
					// Asterisk's res_hep (uuid_type = call-id) sends the Call-ID as
					// correlation id; Kamailio's siptrace sends none.
					if strings.HasPrefix(f.File, "12a") {
						if p.CorrelationID != nil {
							t.Errorf("packet %d: unexpected correlation id %q", i+1, p.CorrelationID)
						}
					} else if string(p.CorrelationID) != want.CallID {
						t.Errorf("packet %d: correlation id %q, want the Call-ID %q", i+1, p.CorrelationID, want.CallID)
					}
				}
			})
		}
	}
}

func captureIDs(t *testing.T, raw json.RawMessage) map[uint32]bool {
	t.Helper()
	var one uint32
	if err := json.Unmarshal(raw, &one); err == nil {
		return map[uint32]bool{one: true}
	}
	var many []uint32
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
		t.Fatalf("manifest capture_id %s: %v", raw, err)
	}
	out := map[uint32]bool{}
	for _, id := range many {
		out[id] = true
	}
	return out
}

func TestAppendRoundTrip(t *testing.T) {
	ts := time.Unix(1795386598, 801075000)
	cases := []struct {
		name string
		p    hep.Packet
	}{
		{"ipv4 udp", hep.Packet{Proto: hep.ProtoUDP, Src: netip.MustParseAddrPort("127.0.0.1:5060"),
			Dst: netip.MustParseAddrPort("10.1.2.3:5080"), Time: ts, ProtoType: 1, CaptureID: 7,
			CorrelationID: []byte("abc@x"), Payload: []byte("OPTIONS sip:a SIP/2.0\r\n\r\n")}},
		{"ipv6 tcp", hep.Packet{Proto: hep.ProtoTCP, Src: netip.MustParseAddrPort("[::1]:5062"),
			Dst: netip.MustParseAddrPort("[2001:db8::1]:5064"), Time: ts, ProtoType: 1, CaptureID: 0xfffffff0,
			Payload: []byte("SIP/2.0 200 OK\r\n\r\n")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hep.Append([]byte("junk"), &tc.p)
			if err != nil {
				t.Fatal(err)
			}
			var got hep.Packet
			if err := hep.Decode(b[4:], &got); err != nil {
				t.Fatal(err)
			}
			if got.Src != tc.p.Src || got.Dst != tc.p.Dst || !got.Time.Equal(tc.p.Time) || got.Proto != tc.p.Proto ||
				got.CaptureID != tc.p.CaptureID || !bytes.Equal(got.Payload, tc.p.Payload) ||
				!bytes.Equal(got.CorrelationID, tc.p.CorrelationID) || got.Length != len(b)-4 {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.p)
			}
		})
	}
	t.Run("too big", func(t *testing.T) {
		p := hep.Packet{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"),
			Payload: make([]byte, 70000)}
		if _, err := hep.Append(nil, &p); err == nil {
			t.Error("no error for a 70000-byte payload")
		}
	})
}

// chunk builds one raw chunk for the malformed-input table.
func chunk(typ uint16, length int, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(length))
	return append(b, data...)
}

func message(chunks ...[]byte) []byte {
	b := append([]byte("HEP3"), 0, 0)
	for _, c := range chunks {
		b = append(b, c...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

func TestDecodeErrors(t *testing.T) {
	payload := chunk(hep.ChunkPayload, 6+4, []byte("SIP/"))
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no HEP3 magic"},
		{"not hep", []byte("HEP2\x00\x10"), "no HEP3 magic"},
		{"header cut", []byte("HEP3\x00"), "shorter than its length"},
		{"total below header", []byte("HEP3\x00\x03"), "less than the header"},
		{"total beyond data", []byte("HEP3\x00\x40"), "shorter than its length"},
		{"chunk header cut", append(message(payload), 0, 0, 0)[:len(message(payload))+3], ""},
		{"chunk length zero", message(chunk(hep.ChunkIPProto, 0, []byte{17}), payload), "out of bounds"},
		{"chunk length past end", message(chunk(hep.ChunkIPProto, 200, []byte{17}), payload), "out of bounds"},
		{"ipv4 address of 3 bytes", message(chunk(hep.ChunkIPv4Src, 9, []byte{1, 2, 3}), payload), "want 4"},
		{"port of 1 byte", message(chunk(hep.ChunkSrcPort, 7, []byte{1}), payload), "want 2"},
		{"no payload", message(chunk(hep.ChunkIPProto, 7, []byte{17})), "no payload"},
		{"bad compressed payload", message(chunk(hep.ChunkCompressed, 9, []byte{1, 2, 3})), "zlib"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p hep.Packet
			err := hep.Decode(tc.in, &p)
			if err == nil {
				if tc.want == "" {
					return // trailing bytes past the announced length are ignored
				}
				t.Fatalf("no error, want %q", tc.want)
			}
			if tc.want == "" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("sentinels", func(t *testing.T) {
		var p hep.Packet
		if err := hep.Decode([]byte("xxxx"), &p); !errors.Is(err, hep.ErrNotHEP3) {
			t.Errorf("got %v, want ErrNotHEP3", err)
		}
		if err := hep.Decode([]byte("HEP3\x00\x40"), &p); !errors.Is(err, hep.ErrShort) {
			t.Errorf("got %v, want ErrShort", err)
		}
	})
}

func TestDecodeCompressedPayload(t *testing.T) {
	sip := []byte("INVITE sip:b@x SIP/2.0\r\nCall-ID: z@y\r\n\r\n")
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write(sip)
	zw.Close()
	in := message(chunk(hep.ChunkProtoType, 7, []byte{1}), chunk(hep.ChunkCompressed, 6+zb.Len(), zb.Bytes()))
	var p hep.Packet
	if err := hep.Decode(in, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Compressed || !bytes.Equal(p.Payload, sip) {
		t.Errorf("payload %q (compressed=%v), want %q", p.Payload, p.Compressed, sip)
	}
}

func TestLength(t *testing.T) {
	b := message(chunk(hep.ChunkPayload, 8, []byte("ab")))
	if n, ok := hep.Length(b); !ok || n != len(b) {
		t.Errorf("Length = %d, %v; want %d, true", n, ok, len(b))
	}
	if _, ok := hep.Length(b[:5]); ok {
		t.Error("Length of a cut header reported ok")
	}
}

// FuzzDecode feeds arbitrary bytes (seeded with real HEP datagrams) to Decode: it
// must never panic, and what it accepts must lie within the input and re-encode.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"12a_hep3_kamailio_siptrace_only.pcap"} {
		for _, dg := range pcaptest.UDPPayloads(f, fixtures.Path(f, "sip", p))[:3] {
			f.Add(dg.Payload)
		}
	}
	for _, dg := range pcaptest.UDPPayloads(f, fixtures.Path(f, "sip", "asterisk", "A_basic_pcmu_via_asterisk_hep.pcap"))[:2] {
		f.Add(dg.Payload)
	}
	f.Add([]byte("HEP3\x00\x06"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p hep.Packet
		if err := hep.Decode(b, &p); err != nil {
			return
		}
		if p.Length > len(b) || p.Length < hep.HeaderLen {
			t.Fatalf("length %d outside input of %d", p.Length, len(b))
		}
		if !p.Compressed && len(p.Payload) > p.Length {
			t.Fatalf("payload of %d bytes in a %d-byte message", len(p.Payload), p.Length)
		}
	})
}
