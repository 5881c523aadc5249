package capture_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

func TestFilter(t *testing.T) {
	a4 := netip.AddrPortFrom(v4a, 5060)  // 10.0.0.1:5060
	b4 := netip.AddrPortFrom(v4b, 40000) // 10.0.0.2:40000
	a6 := netip.AddrPortFrom(v6a, 5062)  // [2001:db8::1]:5062
	b6 := netip.AddrPortFrom(v6b, 5064)  // [2001:db8::2]:5064
	pkts := map[string][]byte{
		"udp4 a->b": ipUDP(t, a4, b4, []byte(sipOK)),
		"udp4 b->a": ipUDP(t, b4, a4, []byte(sipOK)),
		"tcp4 a->b": ipTCP(t, a4, b4, 1, "", []byte(sipOK)),
		"udp6 a->b": ipUDP(t, a6, b6, []byte(sipOK)),
		"tcp6 b->a": ipTCP(t, b6, a6, 1, "", []byte(sipOK)),
	}
	cases := []struct {
		expr string
		want string // the packets kept, sorted, joined by ","
	}{
		{"", "tcp4 a->b,tcp6 b->a,udp4 a->b,udp4 b->a,udp6 a->b"},
		{"udp", "udp4 a->b,udp4 b->a,udp6 a->b"},
		{"tcp", "tcp4 a->b,tcp6 b->a"},
		{"ip6", "tcp6 b->a,udp6 a->b"},
		{"ip and tcp", "tcp4 a->b"},
		{"port 5060", "tcp4 a->b,udp4 a->b,udp4 b->a"},
		{"udp port 5060", "udp4 a->b,udp4 b->a"},
		{"src port 5060", "tcp4 a->b,udp4 a->b"},
		{"udp dst port 5060", "udp4 b->a"},
		{"port 5062 or 5064", "tcp6 b->a,udp6 a->b"},
		{"portrange 5061-5063", "tcp6 b->a,udp6 a->b"},
		{"host 10.0.0.1", "tcp4 a->b,udp4 a->b,udp4 b->a"},
		{"src host 10.0.0.1", "tcp4 a->b,udp4 a->b"},
		{"dst 10.0.0.1", "udp4 b->a"},
		{"net 2001:db8::/32", "tcp6 b->a,udp6 a->b"},
		{"ip6 src 2001:db8::2 or src 10.0.0.2", "tcp6 b->a,udp4 b->a"},
		{"not udp", "tcp4 a->b,tcp6 b->a"},
		{"!(udp || ip6)", "tcp4 a->b"},
		{"udp and (port 5060 or port 5064) and not src port 40000", "udp4 a->b,udp6 a->b"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := capture.ParseFilter(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for name, p := range pkts {
				n := 0
				dec := capture.NewDecoder("", func(*capture.Message) error { n++; return nil }, capture.DecoderOptions{Filter: f})
				if err := dec.IP(p, time.Unix(1795386427, 0)); err != nil {
					t.Fatal(err)
				}
				if n == 1 {
					kept = append(kept, name)
				} else if dec.Stats().Filtered != 1 {
					t.Errorf("%s neither delivered nor counted as filtered", name)
				}
			}
			slices.Sort(kept)
			if got := strings.Join(kept, ","); got != tc.want {
				t.Errorf("kept %s\n want %s", got, tc.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"vlan 100", "unknown primitive"},
		{"port", "needs a value"},
		{"port http", "not a port"},
		{"portrange 5070-5060", "not a port"},
		{"portrange 5060", "want N-M"},
		{"host example.com", "not an address"},
		{"udp host 10.0.0.1", "only ip or ip6"},
		{"ip port 5060", "only udp or tcp"},
		{"(udp", "missing )"},
		{"udp and", "ends too soon"},
		{"udp )", "unexpected"},
		{"5060", "unknown primitive"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := capture.ParseFilter(tc.expr)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.expr) {
				t.Errorf("err %v, want it to name %q and say %q", err, tc.expr, tc.want)
			}
		})
	}
}

// FuzzParseFilter: any expression either compiles or gives an error; never a panic.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"udp port 5060", "!(host 10.0.0.1 or net ::/0) and portrange 1-2", "port 1 or 2 or 3", "((("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := capture.ParseFilter(expr)
		if err == nil && flt != nil && flt.String() != expr {
			t.Fatalf("String() = %q, want %q", flt.String(), expr)
		}
	})
}
