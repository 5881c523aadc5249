package daemon

import (
	"context"
	"log/slog"
	"os"

	"github.com/licbridge/licbridge/config"
)

// RunNode is licbridge run once its settings are read: it claims the state
// dir (one daemon per state dir), builds the node named id and runs it until
// ctx ends and it has drained; a signal on hup reloads the key files.
func RunNode(ctx context.Context, s *config.Settings, id string, nl Licenses, version string, hup <-chan os.Signal, log *slog.Logger) error {
	release, err := ClaimStateDir(s.StateDir)
	if err != nil {
		return err
	}
	defer release()
	instance, self := InstanceName(s.StateDir)
	d, err := New(ctx, Options{
		Settings: s, NodeID: id, Licenses: nl.Options, HostIDNote: nl.HostIDNote,
		Instance: instance, Superseded: SupersededBy(self), Version: version, Logger: log,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Run(ctx, hup); err != nil {
		return err
	}
	log.Info("licbridge stopped", "node", id)
	return nil
}
