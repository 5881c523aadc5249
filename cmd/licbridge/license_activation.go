package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/license"
	"github.com/urfave/cli/v2"
)

// errNeedRedis: the activation database lives in the shared store. The
// embedded store lives inside one process and forgets everything when it
// ends, so activations recorded there would limit nothing; rather than keep a
// second, local database that a cluster would disagree with, these commands
// need Redis.
var errNeedRedis = errors.New("the activation database needs --redis (or store.redis in the config): " +
	"the embedded store keeps nothing across processes, so it cannot record activations")

// activationCommands are the `license` subcommands that talk to the activation
// database in the shared store (register, deactivate, activations).
func activationCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "register",
			Usage:     "verify a key file, activate it for this host (or --host-id) and install it",
			ArgsUsage: "FILE",
			Description: "Records the activation in the shared store: a key may be active on at most 3\n" +
				"hosts (1 for ffa); a further host is refused with the list of those holding it\n" +
				"(free one with `license deactivate`). The file is then installed as KEY-ID.lic\n" +
				"into the first licenses directory (--install-dir, else the config's first\n" +
				"licenses_dirs, else " + license.DefaultDirAsterisk + ").\n" +
				"With --host-id the activation is recorded for that host and nothing is\n" +
				"installed here (preparing new hardware).\n" +
				"The activation database lives in the shared Redis: without --redis (or\n" +
				"store.redis) these commands refuse, since the embedded single-node store\n" +
				"keeps nothing once the command ends.",
			Flags: append(storeFlags(),
				issuerPubFlag(),
				&cli.StringFlag{Name: "host-id", Usage: "record the activation for this host ID instead of this host (installs nothing)", EnvVars: []string{"LICBRIDGE_REGISTER_HOST_ID"}},
				&cli.StringFlag{Name: "domain", Usage: "this node's domain, to check domain-bound keys (config domain)", EnvVars: []string{"LICBRIDGE_DOMAIN"}},
				&cli.StringFlag{Name: "install-dir", Usage: "licenses directory to install into", EnvVars: []string{"LICBRIDGE_INSTALL_DIR"}},
				sysfsFlag(),
				nowFlag(),
			),
			Action: registerAction,
		},
		{
			Name:      "deactivate",
			Usage:     "free a host's activation slot of a key",
			ArgsUsage: "KEY-ID",
			Flags: append(storeFlags(),
				&cli.StringFlag{Name: "host-id", Required: true, Usage: "the host ID to free", EnvVars: []string{"LICBRIDGE_DEACTIVATE_HOST_ID"}},
			),
			Action: deactivateAction,
		},
		{
			Name:      "activations",
			Usage:     "list the hosts a key is activated on",
			ArgsUsage: "KEY-ID",
			Flags:     storeFlags(),
			Action:    activationsAction,
		},
	}
}

func storeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis", Usage: "shared store: host:port, redis://..., or a comma list (Cluster seeds, or Sentinels with --sentinel-master); default store.redis from the config", EnvVars: []string{"LICBRIDGE_REDIS"}},
		&cli.StringFlag{Name: "sentinel-master", Usage: "master name when --redis lists Sentinels", EnvVars: []string{"LICBRIDGE_SENTINEL_MASTER"}},
	}
}

// openActivations dials the shared store named by --redis or the config.
func openActivations(c *cli.Context, cfg *Config) (*redisstore.Store, error) {
	sc := cfg.Store
	overrideString(c, "redis", &sc.Redis)
	overrideString(c, "sentinel-master", &sc.SentinelMaster)
	if sc.Redis == "" {
		return nil, errNeedRedis
	}
	return dialStore(c.Context, sc, nil)
}

func registerAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("license register: name one key file", 2)
	}
	path := c.Args().First()
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	cat, err := catalogFromConfig(cfg)
	if err != nil {
		return err
	}
	trusted, err := trustedIssuers(c, cfg)
	if err != nil {
		return fmt.Errorf("license register: %w", err)
	}
	// The host the key is for: another one (--host-id), or this one.
	remote := c.IsSet("host-id")
	var host license.HostID
	if remote {
		if host, err = license.ParseHostID(c.String("host-id")); err != nil {
			return fmt.Errorf("license register: --host-id: %w", err)
		}
	} else {
		id := cfg.HostID
		if id != "" {
			if host, err = license.ParseHostID(id); err != nil {
				return fmt.Errorf("license register: config host_id: %w", err)
			}
		} else {
			rep, err := license.ReadHostID(c.String("sysfs"))
			if err != nil {
				return fmt.Errorf("license register: this host's ID: %w (pass --host-id to register for another host)", err)
			}
			host = rep.ID
		}
	}
	domain := cfg.Domain
	overrideString(c, "domain", &domain)
	now := time.Now()
	if clock, err := fixedClock(c); err != nil {
		return err
	} else if clock != nil {
		now = clock()
	}

	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("license register: %w", err)
	}
	k, perr := license.ParseBytes(data, path)
	e := license.Evaluate([]license.Candidate{{File: path, Key: k, Err: perr}}, license.EvalOptions{
		Trusted: trusted, Catalog: cat, HostID: host, Domain: domain, Now: now,
		Policy: license.Policy{RenewalGrace: cfg.RenewalGrace},
	}).Keys()[0]
	if e.Status != license.StatusValid {
		return cli.Exit(fmt.Sprintf("license register: %s: %s", path, statusText(e)), 1)
	}
	prod, _ := cat.Lookup(k.Product)
	maxHosts := prod.MaxHosts
	if maxHosts <= 0 {
		maxHosts = license.DefaultMaxHosts
	}

	store, err := openActivations(c, cfg)
	if err != nil {
		return fmt.Errorf("license register: %w", err)
	}
	defer store.Close()
	hosts, err := bridge.Activate(c.Context, store, k.ID, string(host), maxHosts, now)
	var lim *bridge.ActivationLimitError
	if errors.As(err, &lim) {
		return cli.Exit("license register: "+lim.Error(), 1)
	}
	if err != nil {
		return fmt.Errorf("license register: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "key %s activated for host %s (%d of %d hosts)\n", k.ID, host, len(hosts), maxHosts)
	if remote {
		fmt.Fprintln(c.App.Writer, "not installed here: the activation is for another host")
		return nil
	}
	dir := c.String("install-dir")
	if dir == "" && len(cfg.LicensesDirs) > 0 {
		dir = cfg.LicensesDirs[0]
	}
	if dir == "" {
		dir = license.DefaultDirAsterisk
	}
	dst, err := install(dir, k.ID, data)
	if err != nil {
		return fmt.Errorf("license register: key %s is activated but not installed: %w", k.ID, err)
	}
	fmt.Fprintf(c.App.Writer, "installed %s (a running node loads it on its next reload)\n", dst)
	return nil
}

// install writes the key file as DIR/KEY-ID.lic, atomically (a renewed key
// replaces the old file of the same ID, and a watcher never sees half a file).
func install(dir, keyID string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, keyID+license.FileSuffix)
	tmp, err := os.CreateTemp(dir, ".register-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp.Name(), dst)
}

func deactivateAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("license deactivate: name one key ID", 2)
	}
	keyID := c.Args().First()
	host, err := license.ParseHostID(c.String("host-id"))
	if err != nil {
		return fmt.Errorf("license deactivate: --host-id: %w", err)
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	store, err := openActivations(c, cfg)
	if err != nil {
		return fmt.Errorf("license deactivate: %w", err)
	}
	defer store.Close()
	ok, err := store.Deactivate(c.Context, keyID, string(host))
	if err != nil {
		return fmt.Errorf("license deactivate: %w", err)
	}
	if !ok {
		return cli.Exit(fmt.Sprintf("license deactivate: key %s is not activated for host %s", keyID, host), 1)
	}
	fmt.Fprintf(c.App.Writer, "key %s deactivated for host %s\n", keyID, host)
	return nil
}

func activationsAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("license activations: name one key ID", 2)
	}
	keyID := c.Args().First()
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	store, err := openActivations(c, cfg)
	if err != nil {
		return fmt.Errorf("license activations: %w", err)
	}
	defer store.Close()
	list, err := store.Activations(c.Context, keyID)
	if err != nil {
		return fmt.Errorf("license activations: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintf(c.App.Writer, "key %s is not activated on any host\n", keyID)
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST ID\tACTIVATED")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\n", a.HostID, a.At.UTC().Format(license.TimeLayout))
	}
	return tw.Flush()
}
