package daemon

import (
	"context"
	"errors"
	"log/slog"

	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
)

// OpenIssuer is the issuer service of `licbridge issuer`: the product catalog
// from cfg, the signing key read from keyFile (none: a command that signs
// nothing), and the activation database db opened. The caller closes
// s.Store.
func OpenIssuer(ctx context.Context, cfg *config.Config, db, keyFile string, log *slog.Logger) (*issuer.Service, error) {
	cat, err := cfg.Catalog()
	if err != nil {
		return nil, err
	}
	s := &issuer.Service{Catalog: cat, Log: log}
	if keyFile != "" {
		if s.Priv, err = license.ReadPrivateKeyFile(keyFile); err != nil {
			return nil, err
		}
	}
	if s.Store, err = issuer.OpenDB(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

// ErrNoIssuerURL is HostSide's error when the issuer is not named.
var ErrNoIssuerURL = errors.New("no issuer URL")

// HostSide is the host side of activation (license register, deactivate,
// update, install): this host's key setup from cfg (flags merged, see
// LoadLicenses) and, when online, the client of the issuer at cfg.Issuer.URL
// (ErrNoIssuerURL when none is named) trusting cfg.Issuer.CA. A host
// without a host ID is an error: the issuer binds keys to it. New files are
// installed in the first configured licenses directory, else the Asterisk
// default.
func HostSide(cfg *config.Config, src LicenseSources, online bool) (issuer.Host, error) {
	nl, err := LoadLicenses(cfg, src)
	if err != nil {
		return issuer.Host{}, err
	}
	if nl.Options.HostID == "" {
		return issuer.Host{}, errors.New("this host's ID: " + nl.HostIDNote)
	}
	h := issuer.Host{Options: nl.Options, InstallDir: license.DefaultDirAsterisk}
	if len(cfg.LicensesDirs) > 0 {
		h.InstallDir = cfg.LicensesDirs[0]
	}
	if !online {
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
