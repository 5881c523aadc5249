package main

import (
	"fmt"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/urfave/cli/v2"
)

// reloadCommand asks the running daemon to reload its license keys: the same
// as SIGHUP or `systemctl reload licbridge`.
func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "make the running licbridge reload its license keys now (same as SIGHUP)",
		Description: "The daemon also watches its license directories, so a new key file counts within a\n" +
			"second by itself; reload is for file systems that do not report changes (NFS, say).",
		Flags: []cli.Flag{
			configFlagAs("state-dir", "the daemon's state dir, where it keeps its pid file"),
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if err := cfg.Merge(c, "state-dir"); err != nil {
				return err
			}
			if cfg.StateDir == "" {
				cfg.StateDir = defaultStateDir
			}
			pid, err := licd.SignalReload(cfg.StateDir)
			if err != nil {
				return cli.Exit("license reload: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "asked licbridge (pid %d) to reload its license keys; its log says what it loaded\n", pid)
			return nil
		},
	}
}
