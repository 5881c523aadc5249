package license_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/license"
)

// nic describes one fake /sys/class/net entry.
type nic struct {
	name     string
	addr     string
	typ      string // default "1"
	physical bool   // has a device link
	bridge   bool
	tun      bool
	wireless bool
	permAddr string // bonding_slave/perm_hwaddr
}

// fakeSysfs builds a /sys tree in a temporary directory.
func fakeSysfs(t *testing.T, nics ...nic) string {
	t.Helper()
	root := t.TempDir()
	for _, n := range nics {
		dir := filepath.Join(root, "class", "net", n.name)
		mk := func(rel, content string) {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mkdir := func(rel string) {
			if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		typ := n.typ
		if typ == "" {
			typ = "1"
		}
		mk("type", typ)
		mk("address", n.addr)
		if n.physical {
			// As in real sysfs, device is a symlink into /sys/devices.
			dev := filepath.Join(root, "devices", "pci0000:00", n.name)
			mkdirAll(t, dev)
			if err := os.Symlink(dev, filepath.Join(dir, "device")); err != nil {
				t.Fatal(err)
			}
		}
		if n.bridge {
			mkdir("bridge")
		}
		if n.tun {
			mk("tun_flags", "0x1002")
		}
		if n.wireless {
			mkdir("wireless")
		}
		if n.permAddr != "" {
			mk("bonding_slave/perm_hwaddr", n.permAddr)
		}
	}
	mkdirAll(t, filepath.Join(root, "class", "net"))
	return root
}

func mkdirAll(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func macs(t *testing.T, ss ...string) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, s := range ss {
		m, err := net.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestReadHostID(t *testing.T) {
	const mac1, mac2 = "52:54:00:12:34:56", "52:54:00:ab:cd:ef"
	id12, err := license.HostIDFromMACs(macs(t, mac1, mac2))
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := license.HostIDFromMACs(macs(t, mac1))
	eth0 := nic{name: "eth0", addr: mac1, physical: true}
	eth1 := nic{name: "eth1", addr: mac2, physical: true}
	tests := []struct {
		name    string
		nics    []nic
		want    license.HostID
		skipped map[string]string // interface → reason fragment
	}{
		{"two NICs", []nic{eth0, eth1}, id12, nil},
		{"order does not matter", []nic{{name: "eno2", addr: mac2, physical: true}, {name: "eno1", addr: mac1, physical: true}}, id12, nil},
		{"upper-case address", []nic{{name: "eth0", addr: strings.ToUpper(mac1), physical: true}}, id1, nil},
		{"loopback", []nic{eth0, {name: "lo", addr: "00:00:00:00:00:00", typ: "772"}}, id1, map[string]string{"lo": "loopback"}},
		{"veth", []nic{eth0, {name: "veth1a2b", addr: "aa:aa:aa:aa:aa:aa", physical: true}}, id1, map[string]string{"veth1a2b": "veth"}},
		{"docker", []nic{eth0, {name: "docker0", addr: "02:42:ac:11:00:01", physical: true}}, id1, map[string]string{"docker0": "docker"}},
		{"bridge", []nic{eth0, {name: "br0", addr: "02:00:00:00:00:09", physical: true, bridge: true}}, id1, map[string]string{"br0": "bridge"}},
		{"tun/tap", []nic{eth0, {name: "tap0", addr: "02:00:00:00:00:08", physical: true, tun: true}}, id1, map[string]string{"tap0": "tun/tap"}},
		{"wireless", []nic{eth0, {name: "wlan0", addr: "02:00:00:00:00:07", physical: true, wireless: true}}, id1, map[string]string{"wlan0": "wireless"}},
		{"virtual without device", []nic{eth0, {name: "bond0", addr: mac1}}, id1, map[string]string{"bond0": "virtual"}},
		{"not ethernet", []nic{eth0, {name: "ib0", addr: "02:00:00:00:00:06", physical: true, typ: "32"}}, id1, map[string]string{"ib0": "not Ethernet"}},
		{"zero address", []nic{eth0, {name: "eth9", addr: "00:00:00:00:00:00", physical: true}}, id1, map[string]string{"eth9": "zero address"}},
		{"garbage address", []nic{eth0, {name: "eth9", addr: "zz", physical: true}}, id1, map[string]string{"eth9": "unreadable"}},
		// A bond gives its slaves the master's MAC; their permanent addresses are
		// what identifies the hardware, and the bond itself does not count.
		{"bond slaves by permanent address", []nic{
			{name: "bond0", addr: mac1},
			{name: "eth0", addr: mac1, physical: true, permAddr: mac1},
			{name: "eth1", addr: mac1, physical: true, permAddr: mac2},
		}, id12, map[string]string{"bond0": "virtual"}},
		{"same MAC twice counts once", []nic{eth0, {name: "eth1", addr: mac1, physical: true}}, id1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := license.ReadHostID(fakeSysfs(t, tc.nics...))
			if err != nil {
				t.Fatal(err)
			}
			if rep.ID != tc.want {
				t.Fatalf("host ID %s, want %s (%+v)", rep.ID, tc.want, rep.Interfaces)
			}
			for _, itf := range rep.Interfaces {
				want, skip := tc.skipped[itf.Name]
				if skip != (itf.Skipped != "") || !strings.Contains(itf.Skipped, want) {
					t.Errorf("%s: skipped %q, want %q", itf.Name, itf.Skipped, want)
				}
			}
		})
	}
}

func TestReadHostIDNone(t *testing.T) {
	root := fakeSysfs(t, nic{name: "lo", addr: "00:00:00:00:00:00", typ: "772"}, nic{name: "veth0", addr: "aa:aa:aa:aa:aa:aa"})
	rep, err := license.ReadHostID(root)
	if !errors.Is(err, license.ErrNoHostID) || rep.ID != "" || len(rep.Interfaces) != 2 {
		t.Fatalf("got %+v, %v; want ErrNoHostID with the interfaces listed", rep, err)
	}
	if !strings.Contains(err.Error(), "--host-id") {
		t.Fatalf("error %q does not tell the operator about --host-id", err)
	}
	if _, err := license.ReadHostID(filepath.Join(root, "missing")); !errors.Is(err, license.ErrNoHostID) {
		t.Fatalf("missing sysfs: %v, want ErrNoHostID", err)
	}
}

func TestHostIDForm(t *testing.T) {
	id, err := license.HostIDFromMACs(macs(t, "52:54:00:12:34:56"))
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 14 || id[4] != '-' || id[9] != '-' || strings.ToUpper(string(id)) != string(id) {
		t.Fatalf("host ID %q is not in the form XXXX-XXXX-XXXX", id)
	}
	for _, in := range []string{string(id), strings.ToLower(string(id)), strings.ReplaceAll(string(id), "-", "")} {
		got, err := license.ParseHostID(in)
		if err != nil || got != id {
			t.Errorf("ParseHostID(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "A1B2", "G1B2-C3D4-E5F6", "A1B2-C3D4-E5F6-0000"} {
		if _, err := license.ParseHostID(bad); err == nil {
			t.Errorf("ParseHostID(%q) accepted", bad)
		}
	}
	if _, err := license.HostIDFromMACs(nil); !errors.Is(err, license.ErrNoHostID) {
		t.Fatalf("no MACs: %v", err)
	}
}

func TestHostIDReportWriteInterfaces(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	r := license.HostIDReport{Interfaces: []license.Interface{{Name: "eth0", MAC: mac}, {Name: "lo", Skipped: "loopback"}}}
	var b strings.Builder
	r.WriteInterfaces(&b)
	if want := "  eth0             52:54:00:12:34:56\n  lo               skipped: loopback\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
