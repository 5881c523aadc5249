package license

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HostID identifies a host by its physical Ethernet interfaces. Its printed form
// is 12 uppercase hex digits in three groups: A1B2-C3D4-E5F6.
type HostID string

// ErrNoHostID: the host has no physical Ethernet interface to derive a host ID from.
var ErrNoHostID = errors.New("no physical Ethernet interface to derive a host ID from: " +
	"pass --host-id (set host_id in the config) or use keys bound to a domain")

// ParseHostID accepts a host ID in any letter case, with or without dashes, and
// returns its printed form.
func ParseHostID(s string) (HostID, error) {
	hexs := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if len(hexs) != 12 {
		return "", fmt.Errorf("host ID %q: want 12 hex digits like A1B2-C3D4-E5F6", s)
	}
	if _, err := hex.DecodeString(hexs); err != nil {
		return "", fmt.Errorf("host ID %q: want 12 hex digits like A1B2-C3D4-E5F6", s)
	}
	return HostID(hexs[0:4] + "-" + hexs[4:8] + "-" + hexs[8:12]), nil
}

func isCanonicalHostID(s string) bool {
	id, err := ParseHostID(s)
	return err == nil && string(id) == s
}

// HostIDFromMACs derives the host ID from a set of MAC addresses: the first 6
// bytes of the SHA-256 of the sorted, de-duplicated, lowercase colon forms joined
// by "\n". Order and duplicates do not matter. It returns ErrNoHostID for none.
func HostIDFromMACs(macs []net.HardwareAddr) (HostID, error) {
	forms := make([]string, 0, len(macs))
	for _, m := range macs {
		forms = append(forms, m.String())
	}
	slices.Sort(forms)
	forms = slices.Compact(forms)
	if len(forms) == 0 {
		return "", ErrNoHostID
	}
	sum := sha256.Sum256([]byte(strings.Join(forms, "\n")))
	h := strings.ToUpper(hex.EncodeToString(sum[:6]))
	return HostID(h[0:4] + "-" + h[4:8] + "-" + h[8:12]), nil
}

// Interface is one network interface as seen for the host ID.
type Interface struct {
	Name string
	// MAC is the address counted (a bond slave's permanent address), if used.
	MAC net.HardwareAddr
	// Skipped says why the interface does not count; empty when it counts.
	Skipped string
}

// HostIDReport is the host ID and how it was derived.
type HostIDReport struct {
	ID         HostID
	Interfaces []Interface
}

// WriteInterfaces lists the interfaces, each with the address it counts by or
// why it does not count (licbridge license hostid --verbose).
func (r HostIDReport) WriteInterfaces(w io.Writer) {
	for _, itf := range r.Interfaces {
		if itf.Skipped != "" {
			fmt.Fprintf(w, "  %-16s skipped: %s\n", itf.Name, itf.Skipped)
		} else {
			fmt.Fprintf(w, "  %-16s %s\n", itf.Name, itf.MAC)
		}
	}
}

// ReadHostID derives this host's ID from Linux sysfs under root ("/sys" when
// empty; tests pass a fake tree). An interface counts when it is a physical
// Ethernet device: it has a device link, type 1 (ARPHRD_ETHER), and is not
// loopback, a bridge, tun/tap, veth, docker, or wireless. A bond's slaves count
// by their permanent address, so a bond does not count one MAC twice. The error
// is ErrNoHostID when no interface counts; the report lists every interface
// either way.
func ReadHostID(root string) (HostIDReport, error) {
	if root == "" {
		root = "/sys"
	}
	netDir := filepath.Join(root, "class", "net")
	entries, err := os.ReadDir(netDir)
	if err != nil {
		// Without sysfs (not Linux, or a sandbox) the operator's way out is the same.
		return HostIDReport{}, fmt.Errorf("host ID: list interfaces: %v: %w", err, ErrNoHostID)
	}
	var rep HostIDReport
	var macs []net.HardwareAddr
	for _, e := range entries {
		itf := inspect(filepath.Join(netDir, e.Name()), e.Name())
		rep.Interfaces = append(rep.Interfaces, itf)
		if itf.Skipped == "" {
			macs = append(macs, itf.MAC)
		}
	}
	id, err := HostIDFromMACs(macs)
	if err != nil {
		return rep, err
	}
	rep.ID = id
	return rep, nil
}

// inspect applies the host ID rules to one /sys/class/net entry.
func inspect(dir, name string) Interface {
	itf := Interface{Name: name}
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(dir, rel))
		return err == nil
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	switch {
	case name == "lo":
		itf.Skipped = "loopback"
	case strings.HasPrefix(name, "veth"):
		itf.Skipped = "veth"
	case strings.HasPrefix(name, "docker"):
		itf.Skipped = "docker"
	case exists("bridge"):
		itf.Skipped = "bridge"
	case exists("tun_flags"):
		itf.Skipped = "tun/tap"
	case exists("wireless") || exists("phy80211"):
		itf.Skipped = "wireless"
	case !exists("device"):
		// Bonds, VLANs, macvlans and other software devices have no device link.
		itf.Skipped = "virtual (no device)"
	case read("type") != "1":
		itf.Skipped = "not Ethernet (type " + read("type") + ")"
	}
	if itf.Skipped != "" {
		return itf
	}
	addr := read("bonding_slave/perm_hwaddr")
	if addr == "" {
		addr = read("address")
	}
	mac, err := net.ParseMAC(addr)
	switch {
	case err != nil || len(mac) != 6:
		itf.Skipped = fmt.Sprintf("unreadable address %q", clip(addr))
	case isZeroMAC(mac):
		itf.Skipped = "zero address"
	default:
		itf.MAC = mac
	}
	return itf
}

func isZeroMAC(m net.HardwareAddr) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}
