package main

import (
	"fmt"
	"strings"
	"time"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
	"github.com/urfave/cli/v2"
)

func licenseCommand() *cli.Command {
	return &cli.Command{
		Name:  "license",
		Usage: "license key tooling: issuer keys, minting, host ID, verification",
		Subcommands: append([]*cli.Command{
			keygenCommand(),
			issueCommand(),
			hostidCommand(),
			verifyCommand(),
			reloadCommand(),
		}, activationCommands()...),
	}
}

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "create an issuer key pair: DIR/issuer.key (secret, mode 0600) and DIR/issuer.pub",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Required: true, Usage: "directory to write issuer.key and issuer.pub into", EnvVars: []string{"LICBRIDGE_KEYGEN_OUT"}},
			&cli.BoolFlag{Name: "force", Usage: "overwrite existing key files", EnvVars: []string{"LICBRIDGE_KEYGEN_FORCE"}},
		},
		Action: func(c *cli.Context) error {
			kp, err := license.WriteKeyPair(c.String("out"), c.Bool("force"))
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "issuer %s\n  private key: %s (keep it secret)\n  public key:  %s (give it to the nodes: --issuer-pub)\n",
				license.Fingerprint(kp.Public), kp.KeyPath, kp.PubPath)
			return nil
		},
	}
}

func issueCommand() *cli.Command {
	env := func(name string) []string { return []string{"LICBRIDGE_ISSUE_" + name} }
	return &cli.Command{
		Name:  "issue",
		Usage: "mint a signed license key file",
		Description: "The binding must be chosen for commercial keys (--host-id, --domain or --unbound):\n" +
			"the issuer's own host is rarely the target, so there is no default. Trial and\n" +
			"emergency keys are unbound unless told otherwise. --ends defaults to one year\n" +
			"after issue for commercial keys and 30 days for trial and emergency keys.\n" +
			"Dates are 2006-01-02 (00:00 UTC that day) or 2006-01-02T15:04:05Z.",
		Flags: []cli.Flag{
			issuerKeyFlag(),
			&cli.StringFlag{Name: "product", Required: true, Usage: "product: g729, hpec, fax, ffa or one from the config", EnvVars: env("PRODUCT")},
			&cli.IntFlag{Name: "channels", Required: true, Usage: "channels the key grants", EnvVars: env("CHANNELS")},
			&cli.StringFlag{Name: "host-id", Usage: "bind to this host ID (see license hostid on the target)", EnvVars: env("HOST_ID")},
			&cli.StringFlag{Name: "domain", Usage: "bind to this domain (cluster name)", EnvVars: env("DOMAIN")},
			&cli.BoolFlag{Name: "unbound", Usage: "bind to nothing: the key works on any node", EnvVars: env("UNBOUND")},
			&cli.StringFlag{Name: "issued", Usage: "start of validity (default now)", EnvVars: env("ISSUED")},
			&cli.StringFlag{Name: "ends", Usage: "formal end date", EnvVars: env("ENDS")},
			&cli.BoolFlag{Name: "auto-renew", Usage: "the subscription renews automatically (commercial only)", EnvVars: env("AUTO_RENEW")},
			&cli.StringFlag{Name: "kind", Value: string(license.KindCommercial), Usage: "commercial, trial or emergency", EnvVars: env("KIND")},
			&cli.StringFlag{Name: "key-id", Usage: "key ID (default: PRODUCT-<8 random hex digits>)", EnvVars: env("KEY_ID")},
			&cli.StringFlag{Name: "out", Required: true, Usage: "key file to write (name it *.lic)", EnvVars: env("OUT")},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file", EnvVars: env("FORCE")},
		},
		Action: issueAction,
	}
}

func issueAction(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	cat, err := cfg.Catalog()
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	out := c.String("out")
	k, err := issueInput(c).WriteFile(cat, time.Now(), c.String("issuer-key"), out, c.Bool("force"))
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "%s: key %s, %s, %s, %s, %s, ends %s%s\n",
		out, k.ID, k.Product, view.Plural(k.Channels, "channel"), k.Binding, k.Kind, k.Ends.Format(license.TimeLayout), map[bool]string{true: ", auto-renew"}[k.AutoRenew])
	if !strings.HasSuffix(out, license.FileSuffix) {
		fmt.Fprintf(c.App.ErrWriter, "note: nodes load only *%s files; rename %s before installing it\n", license.FileSuffix, out)
	}
	return nil
}

// issueInput is issue's flags as license.IssueInput (a flag not given is nil).
func issueInput(c *cli.Context) license.IssueInput {
	str := func(name string) *string { return given(c, name, c.String) }
	return license.IssueInput{Product: c.String("product"), Channels: c.Int("channels"), Kind: c.String("kind"), AutoRenew: c.Bool("auto-renew"),
		ID: c.String("key-id"), HostID: str("host-id"), Domain: str("domain"), Unbound: c.Bool("unbound"), Issued: str("issued"), Ends: str("ends")}
}

func hostidCommand() *cli.Command {
	return &cli.Command{
		Name:  "hostid",
		Usage: "print this host's ID (from its physical Ethernet MAC addresses)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "list the interfaces and why each counts or not", EnvVars: []string{"LICBRIDGE_HOSTID_VERBOSE"}},
			sysfsFlag(),
		},
		Action: func(c *cli.Context) error {
			rep, err := license.ReadHostID(c.String("sysfs"))
			if c.Bool("verbose") {
				rep.WriteInterfaces(c.App.Writer)
			}
			if err != nil {
				return cli.Exit(fmt.Sprintf("license hostid: %v", err), 1)
			}
			fmt.Fprintln(c.App.Writer, rep.ID)
			return nil
		},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check key files: form, signature, product, time, and the binding when --host-id or --domain is given",
		ArgsUsage: "FILE...",
		Flags: []cli.Flag{
			configFlag("issuer-pub", ""),
			&cli.StringFlag{Name: "host-id", Usage: "check host-bound keys against this host ID", EnvVars: []string{"LICBRIDGE_VERIFY_HOST_ID"}},
			&cli.StringFlag{Name: "domain", Usage: "check domain-bound keys against this domain", EnvVars: []string{"LICBRIDGE_VERIFY_DOMAIN"}},
			&cli.BoolFlag{Name: "any-host", Usage: "do not check bindings (an issuer checking keys made for other hosts)", EnvVars: []string{"LICBRIDGE_VERIFY_ANY_HOST"}},
			sysfsFlag(),
			configFlag("renewal-grace", ""),
			nowFlag(),
		},
		Action: verifyAction,
	}
}

func verifyAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("license verify: name at least one key file", 2)
	}
	cfg, err := loadMerged(c, "issuer-pub", "renewal-grace")
	if err != nil {
		return err
	}
	// By default a key is checked for this host: a key bound to another host
	// is not valid here, and verify says so with its exit status.
	thisHost := !c.IsSet("host-id") && !c.IsSet("domain") && !c.Bool("any-host")
	opts, note, err := licd.VerifyOptions(cfg, c.String("sysfs"), time.Now(), thisHost)
	if err != nil {
		return fmt.Errorf("license verify: %w", err)
	}
	if note != nil {
		fmt.Fprintf(c.App.ErrWriter, "note: %v: host-bound keys cannot be valid here (pass --host-id, or --any-host)\n", note)
	}
	if !thisHost {
		opts.Domain = c.String("domain")
	}
	opts.IgnoreBinding = c.Bool("any-host")
	if clock, err := fixedClock(c); err != nil {
		return err
	} else if clock != nil {
		opts.Now = clock()
	}
	if c.IsSet("host-id") {
		if opts.HostID, err = license.ParseHostID(c.String("host-id")); err != nil {
			return fmt.Errorf("--host-id: %w", err)
		}
	}
	bad := view.WriteVerifiedFiles(c.App.Writer, c.Args().Slice(), opts)
	if opts.IgnoreBinding {
		fmt.Fprintln(c.App.ErrWriter, "note: bindings not checked (--any-host)")
	}
	if bad > 0 {
		return cli.Exit(fmt.Sprintf("license verify: %d of %d key files not valid", bad, c.NArg()), 1)
	}
	return nil
}

// reloadCommand asks the running daemon to reload its license keys: the same
// as SIGHUP or `systemctl reload licbridge`.
func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "make the running licbridge reload its license keys now (same as SIGHUP)",
		Description: "The daemon also watches its license directories, so a new key file counts within a\n" +
			"second by itself; reload is for file systems that do not report changes (NFS, say).",
		Flags: []cli.Flag{
			configFlag("state-dir", "the daemon's state dir, where it keeps its pid file"),
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadMerged(c, "state-dir")
			if err != nil {
				return err
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
