package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
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
			Action: registerAction,
		},
		{
			Name:      "deactivate",
			Usage:     "free this host's slot of a key at the issuer (moving to new hardware) and remove its file here",
			ArgsUsage: "KEY-ID",
			Flags:     hostSideFlags(true),
			Action:    deactivateAction,
		},
		{
			Name:  "update",
			Usage: "Get/Update License: fetch the current file of every installed key from the issuer and install what changed",
			Description: "An unreachable issuer, or one that refuses, leaves the installed files as they\n" +
				"are: a working key is never invalidated by an update.",
			Flags:  hostSideFlags(true),
			Action: updateAction,
		},
		{
			Name:      "request",
			Usage:     "write an offline activation request (for an air-gapped host) to answer with `issuer answer`",
			ArgsUsage: "KEY-ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Required: true, Usage: "request file to write (req.json)"},
				&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
				configFlags("host-id")[0], configFlags("domain")[0], sysfsFlag(),
			},
			Action: requestAction,
		},
		{
			Name:      "install",
			Usage:     "check a key file for this host and install it (the answer to an offline request)",
			ArgsUsage: "KEY.lic",
			Flags:     hostSideFlags(false),
			Action:    installAction,
		},
	}
}

func hostSideFlags(online bool) []cli.Flag {
	fs := append(licensesFlags(),
		&cli.StringFlag{Name: "install-dir", Usage: "licenses directory to install into", EnvVars: []string{"LICBRIDGE_INSTALL_DIR"}},
		nowFlag())
	if online {
		fs = append(fs,
			&cli.StringFlag{Name: "issuer", Required: true, Usage: "issuer service URL (https://issuer.example:7443)", EnvVars: []string{"LICBRIDGE_ISSUER_URL"}},
			&cli.StringFlag{Name: "issuer-ca", Usage: "CA certificate file the issuer's TLS certificate chains to (default: the system's)", EnvVars: []string{"LICBRIDGE_ISSUER_CA"}})
	}
	return fs
}

// hostContext is what the host-side commands share: this node's licence
// setup (dirs, trust, host ID, domain, catalog) and the issuer client.
type hostContext struct {
	cfg    *Config
	nl     nodeLicenses
	client *issuer.Client
	now    time.Time
}

func newHostContext(c *cli.Context, what string) (*hostContext, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	h := &hostContext{cfg: cfg, now: time.Now()}
	if h.nl, err = licensesSetup(c, cfg); err != nil {
		return nil, fmt.Errorf("license %s: %w", what, err)
	}
	if h.nl.Options.HostID == "" {
		return nil, fmt.Errorf("license %s: this host's ID: %s", what, h.nl.HostIDNote)
	}
	if clock, err := fixedClock(c); err != nil {
		return nil, err
	} else if clock != nil {
		h.now = clock()
	}
	if c.IsSet("issuer") {
		h.client = &issuer.Client{URL: c.String("issuer")}
		if ca := c.String("issuer-ca"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("license %s: --issuer-ca: %w", what, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("license %s: --issuer-ca %s: no PEM certificate", what, ca)
			}
			h.client.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
	}
	return h, nil
}

func (h *hostContext) request(keyID string) issuer.Request {
	return issuer.Request{KeyID: keyID, HostID: h.nl.Options.HostID, Domain: h.nl.Options.Domain}
}

// check evaluates a key file as this node would: authentic, known product, in
// time, bound to this host (or domain).
func (h *hostContext) check(data []byte, name string) (*license.Key, error) {
	k, perr := license.ParseBytes(data, name)
	o := h.nl.Options
	e := license.Evaluate([]license.Candidate{{File: name, Key: k, Err: perr}}, license.EvalOptions{
		Trusted: o.Trusted, Catalog: o.Catalog, HostID: o.HostID, Domain: o.Domain, Now: h.now,
		Policy: license.Policy{RenewalGrace: o.RenewalGrace},
	}).Keys()[0]
	if e.Status != license.StatusValid {
		return nil, fmt.Errorf("%s: %s", name, statusText(e))
	}
	return k, nil
}

// installDir is --install-dir, else the first configured licenses directory,
// else the Asterisk default.
func (h *hostContext) installDir(c *cli.Context) string {
	if d := c.String("install-dir"); d != "" {
		return d
	}
	if len(h.cfg.LicensesDirs) > 0 {
		return h.cfg.LicensesDirs[0]
	}
	return license.DefaultDirAsterisk
}

// refusal turns an issuer error (a refusal naming its reason, or the issuer
// unreachable) into the command's exit status 1.
func refusal(what string, err error) error {
	return cli.Exit(fmt.Sprintf("license %s: %v", what, err), 1)
}

func oneKeyID(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", cli.Exit("license "+what+": name one key ID", 2)
	}
	id := c.Args().First()
	if !license.ValidKeyID(id) {
		return "", cli.Exit("license "+what+": key ID must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", 2)
	}
	return id, nil
}

func registerAction(c *cli.Context) error {
	keyID, err := oneKeyID(c, "register")
	if err != nil {
		return err
	}
	h, err := newHostContext(c, "register")
	if err != nil {
		return err
	}
	data, err := h.client.Register(c.Context, h.request(keyID))
	if err != nil {
		return refusal("register", err)
	}
	k, err := h.check(data, "the issuer's answer")
	if err != nil {
		return cli.Exit("license register: activated, but the file does not work here: "+err.Error(), 1)
	}
	dst, err := install(h.installDir(c), k.ID, data)
	if err != nil {
		return fmt.Errorf("license register: activated but not installed: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "activated for host %s: %s, %s, ends %s\ninstalled %s (a running node picks it up)\n",
		h.nl.Options.HostID, k.Product, plural(k.Channels, "channel"), k.Ends.Format(license.TimeLayout), dst)
	return nil
}

func deactivateAction(c *cli.Context) error {
	keyID, err := oneKeyID(c, "deactivate")
	if err != nil {
		return err
	}
	h, err := newHostContext(c, "deactivate")
	if err != nil {
		return err
	}
	if err := h.client.Deactivate(c.Context, h.request(keyID)); err != nil {
		return refusal("deactivate", err)
	}
	fmt.Fprintf(c.App.Writer, "deactivated for host %s\n", h.nl.Options.HostID)
	// The file here would keep counting until its end date: remove it, so the
	// slot freed at the issuer is really free.
	for _, f := range installedKeys(h.nl.Options.Dirs) {
		if f.key.ID == keyID {
			if err := os.Remove(f.path); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: could not remove %s: %v\n", f.path, err)
				continue
			}
			fmt.Fprintf(c.App.Writer, "removed %s\n", f.path)
		}
	}
	return nil
}

type installedKey struct {
	path string
	data []byte
	key  *license.Key
}

// installedKeys reads the *.lic files of dirs that parse as keys.
func installedKeys(dirs []license.Dir) []installedKey {
	var out []installedKey
	for _, d := range dirs {
		paths, _ := filepath.Glob(filepath.Join(d.Path, "*"+license.FileSuffix))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if k, err := license.ParseBytes(data, p); err == nil {
				out = append(out, installedKey{path: p, data: data, key: k})
			}
		}
	}
	return out
}

func updateAction(c *cli.Context) error {
	h, err := newHostContext(c, "update")
	if err != nil {
		return err
	}
	keys := installedKeys(h.nl.Options.Dirs)
	if len(keys) == 0 {
		fmt.Fprintf(c.App.Writer, "no key files installed in %s\n", dirList(h.nl.Options.Dirs))
		return nil
	}
	failed := 0
	for _, f := range keys {
		data, err := h.client.Fetch(c.Context, h.request(f.key.ID))
		var msg string
		switch {
		case err != nil: // unreachable or refused: the installed file stays
			failed++
			msg = fmt.Sprintf("kept as it is: %v", err)
		case bytes.Equal(data, f.data):
			msg = "unchanged"
		default:
			msg = h.replace(f, data)
		}
		fmt.Fprintf(c.App.Writer, "%s: %s\n", f.path, msg)
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("license update: %d of %d keys not updated (their installed files still count)", failed, len(keys)), 1)
	}
	return nil
}

// replace installs a fetched file over an installed one after checking it.
func (h *hostContext) replace(f installedKey, data []byte) string {
	k, err := h.check(data, "the issuer's answer")
	if err != nil {
		return "kept as it is: the new file does not work here: " + err.Error()
	}
	if err := writeAtomic(f.path, data); err != nil {
		return "not updated: " + err.Error()
	}
	return fmt.Sprintf("updated: %s, ends %s (was %s, ends %s)", plural(k.Channels, "channel"), k.Ends.Format(license.TimeLayout),
		plural(f.key.Channels, "channel"), f.key.Ends.Format(license.TimeLayout))
}

func dirList(dirs []license.Dir) string {
	s := make([]string, len(dirs))
	for i, d := range dirs {
		s[i] = d.Path
	}
	return strings.Join(s, ", ")
}

func requestAction(c *cli.Context) error {
	keyID, err := oneKeyID(c, "request")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if err := cfg.Merge(c, "host-id", "domain"); err != nil {
		return err
	}
	req := issuer.Request{KeyID: keyID, Domain: strings.ToLower(cfg.Domain)}
	if cfg.HostID != "" {
		if req.HostID, err = license.ParseHostID(cfg.HostID); err != nil {
			return fmt.Errorf("license request: --host-id: %w", err)
		}
	} else {
		rep, err := license.ReadHostID(c.String("sysfs"))
		if err != nil {
			return fmt.Errorf("license request: this host's ID: %w", err)
		}
		req.HostID = rep.ID
	}
	out := c.String("out")
	if err := writeNew(out, 0o600, c.Bool("force"), func(w io.Writer) error { return issuer.WriteRequestFile(w, req) }); err != nil {
		return fmt.Errorf("license request: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "%s: activation request for host %s; answer it with `licbridge issuer answer %s --out KEY.lic`, then `licbridge license install KEY.lic` here\n",
		out, req.HostID, filepath.Base(out))
	return nil
}

func installAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("license install: name one key file", 2)
	}
	h, err := newHostContext(c, "install")
	if err != nil {
		return err
	}
	path := c.Args().First()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("license install: %w", err)
	}
	k, err := h.check(data, path)
	if err != nil {
		return cli.Exit("license install: "+err.Error(), 1)
	}
	dst, err := install(h.installDir(c), k.ID, data)
	if err != nil {
		return fmt.Errorf("license install: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "installed %s: %s, %s, ends %s (a running node picks it up)\n", dst, k.Product, plural(k.Channels, "channel"), k.Ends.Format(license.TimeLayout))
	return nil
}

// install writes the key file as DIR/KEY-ID.lic.
func install(dir, keyID string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, keyID+license.FileSuffix)
	return dst, writeAtomic(dst, data)
}

// writeAtomic replaces dst in one rename (a renewed key replaces the old file,
// and a watching daemon never sees half a file).
func writeAtomic(dst string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
