package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
)

// WithIssuer runs do on the issuer service of `licbridge issuer`: the
// product catalog from cfg, the signing key read from keyFile (none: a
// command that signs nothing), and the activation database db opened, and
// closed when do returns.
func WithIssuer(ctx context.Context, cfg *config.Config, db, keyFile string, log *slog.Logger, do func(*issuer.Service) error) error {
	cat, err := cfg.Catalog()
	if err != nil {
		return err
	}
	s := &issuer.Service{Catalog: cat, Log: log}
	if keyFile != "" {
		if s.Priv, err = license.ReadPrivateKeyFile(keyFile); err != nil {
			return err
		}
	}
	if s.Store, err = issuer.OpenDB(ctx, db); err != nil {
		return err
	}
	defer s.Store.Close()
	return do(s)
}

// ErrNoIssuerURL is HostSide's error when the issuer is not named.
var ErrNoIssuerURL = errors.New("no issuer URL")

// HostOptions are what the host-side commands set beside the config.
type HostOptions struct {
	// Online: the command talks to the issuer (all but install).
	Online bool
	// InstallDir, when set, is where new key files go.
	InstallDir string
	// Now is the clock keys are checked at (nil: the real one).
	Now func() time.Time
}

// HostSide is the host side of activation (license register, deactivate,
// update, install): this host's key setup from cfg (flags merged, see
// LoadLicenses) and, when online, the client of the issuer at cfg.Issuer.URL
// (ErrNoIssuerURL when none is named) trusting cfg.Issuer.CA. A host
// without a host ID is an error: the issuer binds keys to it. New files are
// installed in o.InstallDir, else the first configured licenses directory,
// else the Asterisk default.
func HostSide(cfg *config.Config, src LicenseSources, o HostOptions) (issuer.Host, error) {
	nl, err := LoadLicenses(cfg, src)
	if err != nil {
		return issuer.Host{}, err
	}
	if nl.Options.HostID == "" {
		return issuer.Host{}, errors.New("this host's ID: " + nl.HostIDNote)
	}
	h := issuer.Host{Options: nl.Options, InstallDir: license.DefaultDirAsterisk, Now: o.Now}
	switch {
	case o.InstallDir != "":
		h.InstallDir = o.InstallDir
	case len(cfg.LicensesDirs) > 0:
		h.InstallDir = cfg.LicensesDirs[0]
	}
	if !o.Online {
		return h, nil
	}
	if cfg.Issuer.URL == "" {
		return issuer.Host{}, ErrNoIssuerURL
	}
	if h.Client, err = issuer.NewClient(cfg.Issuer.URL, cfg.Issuer.CA); err != nil {
		return issuer.Host{}, err
	}
	return h, nil
}
