package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AddrFileName is the file in the daemon's state dir that holds the admin
// server's address while it runs.
const AddrFileName = "admin-addr"

// WriteAddrFile records a bound host:port as a base URL in path, atomically
// (a reader never sees half a line). It holds no secret: the token stays in
// the config.
func WriteAddrFile(path, hostport string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte("http://"+hostport+"\n"), 0o644); err != nil {
		return fmt.Errorf("admin: recording the address in %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("admin: recording the address in %s: %w", path, err)
	}
	return nil
}

// ReadAddrFile returns the base URL recorded in stateDir, or an error
// wrapping os.ErrNotExist when no daemon recorded one.
func ReadAddrFile(stateDir string) (string, error) {
	path := filepath.Join(stateDir, AddrFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin address: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if !strings.HasPrefix(u, "http://") || strings.ContainsAny(u, " \n") {
		return "", fmt.Errorf("admin address in %s: %q is not http://host:port", path, u)
	}
	return u, nil
}
