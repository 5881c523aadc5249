package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
	"github.com/urfave/cli/v2"
)

// activationCommands are the host side of activation: they talk to the issuer
// service (`licbridge issuer serve`), which holds the activation database and
// enforces the limits, or carry offline request and key files. The shared Redis
// keeps no activation database any more: only which live node presents which
// key (clone detection).
func activationCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "register",
			Usage:     "activate a key for this host at the issuer and install the key file it returns",
			ArgsUsage: "KEY-ID",
			Description: "Sends the key ID (the activation code) and this host's ID (and domain) to the\n" +
				"issuer, which allows 3 hosts per key (ffa: 1, and one ffa key per host). The\n" +
				"returned file, bound to this host, is checked and installed as KEY-ID.lic in the\n" +
				"first licenses directory (--install-dir, else the first --licenses-dir/config\n" +
				"licenses_dirs, else " + license.DefaultDirAsterisk + "); a running node picks it up.",
			Flags:  hostSideFlags(true),
			Action: hostAction("key ID", registerAction),
		},
		{
			Name:      "deactivate",
			Usage:     "free this host's slot of a key at the issuer (moving to new hardware) and remove its file here",
			ArgsUsage: "KEY-ID",
			Flags:     hostSideFlags(true),
			Action:    hostAction("key ID", deactivateAction),
		},
		{
			Name:  "update",
			Usage: "Get/Update License: fetch the current file of every installed key from the issuer and install what changed",
			Description: "An unreachable issuer, or one that refuses, leaves the installed files as they\n" +
				"are: a working key is never invalidated by an update. `licbridge run` with issuer.url\n" +
				"(--issuer-url) does the same every issuer.update_every (default 6h).",
			Flags:  hostSideFlags(true),
			Action: hostAction("", updateAction),
		},
		{
			Name:      "request",
			Usage:     "write an offline activation request (for an air-gapped host) to answer with `issuer answer`",
			ArgsUsage: "KEY-ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Required: true, Usage: "request file to write (req.json)"},
				&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
				configFlag("host-id", ""), configFlag("domain", ""), sysfsFlag(),
			},
			Action: requestAction,
		},
		{
			Name:      "install",
			Usage:     "check a key file for this host and install it (the answer to an offline request)",
			ArgsUsage: "KEY.lic",
			Flags:     hostSideFlags(false),
			Action:    hostAction("key file", installAction),
		},
	}
}

func hostSideFlags(online bool) []cli.Flag {
	fs := append(licensesFlags(),
		&cli.StringFlag{Name: "install-dir", Usage: "licenses directory to install into", EnvVars: []string{"LICBRIDGE_INSTALL_DIR"}},
		nowFlag())
	if online {
		fs = append(fs,
			&cli.StringFlag{Name: "issuer", Usage: "issuer service URL, e.g. https://issuer.example:7443 (config issuer.url)", EnvVars: []string{"LICBRIDGE_ISSUER_URL"}},
			configFlag("issuer-ca", ""))
	}
	return fs
}

// hostAction is a host-side command's action: its one argument checked (arg
// names it: a key ID or a key file; none when empty), the host side of
// activation assembled from the config and flags (daemon.HostSide), then do,
// whose error is worded with the command's name.
func hostAction(arg string, do func(c *cli.Context, h *issuer.Host) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		what := c.Command.Name
		if err := oneArg(c, arg); err != nil {
			return err
		}
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		// --issuer and --issuer-ca, else the config's issuer.url and issuer.ca.
		overrideString(c, "issuer", &cfg.Issuer.URL)
		if err := cfg.Merge(c, append(licenseFlagNames, "issuer-ca")...); err != nil {
			return fmt.Errorf("license %s: %w", what, err)
		}
		now, err := fixedClock(c)
		if err != nil {
			return err
		}
		h, err := licd.HostSide(cfg, licenseSources(c), licd.HostOptions{
			Online: what != "install", InstallDir: c.String("install-dir"), Now: now}) // install is offline: no issuer
		if errors.Is(err, licd.ErrNoIssuerURL) {
			return cli.Exit("license "+what+": name the issuer: --issuer URL (or issuer.url in the config)", 2)
		}
		if err != nil {
			return fmt.Errorf("license %s: %w", what, err)
		}
		h.Describe = statusText
		if err := do(c, &h); err != nil {
			return fmt.Errorf("license %s: %w", what, err)
		}
		return nil
	}
}

// oneArg checks the command's one argument, named by arg (a key ID, checked
// as one, or a key file); none when arg is empty.
func oneArg(c *cli.Context, arg string) error {
	what := "license " + c.Command.Name
	switch {
	case arg != "" && c.NArg() != 1:
		return cli.Exit(what+": name one "+arg, 2)
	case arg == "key ID" && !license.ValidKeyID(c.Args().First()):
		return cli.Exit(what+": key ID must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", 2)
	}
	return nil
}

// statusText words a key file's status as license verify does: register,
// install and update say so why a file does not work here
// (issuer.Host.Describe); update used to say "expired: ..." where the others
// say "EXPIRED ...".
func statusText(e license.Entry) string {
	return view.StatusText(view.KeyOf(e, time.Now()))
}

func registerAction(c *cli.Context, h *issuer.Host) error {
	k, dst, err := h.Activate(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "activated for host %s: %s, %s, ends %s\ninstalled %s (a running node picks it up)\n",
		h.Options.HostID, k.Product, view.Plural(k.Channels, "channel"), k.Ends.Format(license.TimeLayout), dst)
	return nil
}

func deactivateAction(c *cli.Context, h *issuer.Host) error {
	removed, failed, err := h.Deactivate(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "deactivated for host %s\n", h.Options.HostID)
	for _, err := range failed {
		fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
	}
	for _, p := range removed {
		fmt.Fprintf(c.App.Writer, "removed %s\n", p)
	}
	return nil
}

func updateAction(c *cli.Context, h *issuer.Host) error {
	res := h.Update(c.Context)
	if len(res) == 0 {
		fmt.Fprintf(c.App.Writer, "no key files installed in %s\n", view.DirList(h.Options.Dirs))
		return nil
	}
	if failed := issuer.WriteUpdates(c.App.Writer, res); failed > 0 {
		return fmt.Errorf("%d of %d keys not updated (their installed files still count)", failed, len(res))
	}
	return nil
}

func installAction(c *cli.Context, h *issuer.Host) error {
	k, dst, err := h.InstallFile(c.Args().First())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "installed %s: %s, %s, ends %s (a running node picks it up)\n", dst, k.Product, view.Plural(k.Channels, "channel"), k.Ends.Format(license.TimeLayout))
	return nil
}

func requestAction(c *cli.Context) error {
	if err := oneArg(c, "key ID"); err != nil {
		return err
	}
	cfg, err := loadMerged(c, "host-id", "domain")
	if err != nil {
		return err
	}
	req, err := licd.OfflineRequest(cfg, c.Args().First(), c.String("sysfs"))
	if err != nil {
		return fmt.Errorf("license request: %w", err)
	}
	out := c.String("out")
	if err := issuer.CreateRequestFile(out, c.Bool("force"), req); err != nil {
		return fmt.Errorf("license request: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "%s: activation request for host %s; answer it with `licbridge issuer answer %s --out KEY.lic`, then `licbridge license install KEY.lic` here\n",
		out, req.HostID, filepath.Base(out))
	return nil
}
