package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	nodeIDChars = regexp.MustCompile(`[^a-z0-9_-]+`)
	validNodeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// NodeIDPattern is the grammar of node IDs; NodeIDChars matches what a host
// name must lose to become one.
var (
	NodeIDPattern = validNodeID
	NodeIDChars   = nodeIDChars
)

// ValidNodeID reports whether id is a usable node name.
func ValidNodeID(id string) bool { return validNodeID.MatchString(id) }

// HostNodeName is the short host name in node-ID characters ("node" when
// there is none), the base of the names that nodes derive for themselves.
func HostNodeName() string {
	host, _ := os.Hostname()
	host = strings.Trim(nodeIDChars.ReplaceAllString(strings.ToLower(strings.Split(host, ".")[0]), "-"), "-")
	if host == "" {
		return "node"
	}
	return host
}

// NodeID returns the configured node ID, or the one kept in stateDir, or
// derives one from the host name (plus a random suffix, so that cloned hosts
// differ) and keeps it there.
func NodeID(configured, stateDir string) (string, error) {
	if configured != "" {
		if !validNodeID.MatchString(configured) {
			return "", fmt.Errorf("node ID %q: want 1 to 64 letters, digits, '.', '-' and '_'", configured)
		}
		return configured, nil
	}
	path := filepath.Join(stateDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	id := HostNodeName() + "-" + hex.EncodeToString(rnd[:])
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return "", fmt.Errorf("node ID: keeping it in %s: %w (set --node-id or --state-dir)", stateDir, err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("node ID: keeping it in %s: %w (set --node-id or --state-dir)", path, err)
	}
	return id, nil
}
