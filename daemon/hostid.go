package daemon

import (
	"fmt"

	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/license"
)

// ThisHost is this host's binding: its ID (config host_id, else computed
// from its Ethernet MACs under sysfs) and the config's domain (license verify
// and license request check and ask for it).
func ThisHost(cfg *config.Config, sysfs string) (license.HostID, string, error) {
	domain := cfg.Domain
	if cfg.HostID != "" {
		id, err := license.ParseHostID(cfg.HostID)
		if err != nil {
			return "", domain, fmt.Errorf("--host-id (config host_id): %w", err)
		}
		return id, domain, nil
	}
	rep, err := license.ReadHostID(sysfs)
	if err != nil {
		return "", domain, fmt.Errorf("this host's ID: %w", err)
	}
	return rep.ID, domain, nil
}
