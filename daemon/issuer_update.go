package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
)

// The periodic Get/Update License (config issuer.url, issuer.update_every):
// the same fetch as `license update --issuer`, through issuer.Host. A file
// that changed is installed in one rename and the watcher reloads; anything
// that fails (issuer down, a refusal, a file that would not work here) is a
// warning and leaves the installed file counting.

// buildIssuerUpdater sets d.issuerHost when issuer.url is set and
// issuer.update_every is not 0. A CA file that cannot be read is a start-up
// error (configuration), unlike an issuer that does not answer.
func (d *Daemon) buildIssuerUpdater() error {
	ic := d.s.Issuer
	if ic.URL == "" || ic.UpdateEvery <= 0 {
		return nil
	}
	client, err := issuer.NewClient(ic.URL, ic.CA)
	if err != nil {
		return fmt.Errorf("issuer updates: %w", err)
	}
	d.issuerHost = &issuer.Host{Client: client, Options: d.opt.Licenses}
	return nil
}

// runIssuerUpdates updates the keys at once (a node restarted after a
// renewal gets it) and then every issuer.update_every until ctx ends.
func (d *Daemon) runIssuerUpdates(ctx context.Context) {
	if d.issuerHost == nil {
		return
	}
	t := time.NewTicker(d.s.Issuer.UpdateEvery)
	defer t.Stop()
	for {
		d.UpdateKeys(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// UpdateKeys fetches the current file of every installed key from the
// issuer once and reloads the licences when one changed. It returns how
// many files were replaced. Without issuer.url it does nothing.
func (d *Daemon) UpdateKeys(ctx context.Context) int {
	if d.issuerHost == nil {
		return 0
	}
	log := d.log.With("component", "issuer-update", "issuer", d.s.Issuer.URL)
	changed := 0
	for _, r := range d.issuerHost.Update(ctx) {
		// Key IDs are activation codes, and name the files: only a hash is logged.
		attrs := []any{"dir", filepath.Dir(r.Path), "key", issuer.KeyHash(r.Key.ID)}
		switch {
		case r.Err != nil:
			log.Warn("key file not updated; the installed file keeps counting", append(attrs, "why", updateWhy(r.Err), "err", r.Err)...)
		case r.Changed():
			changed++
			log.Info("key file updated from the issuer", append(attrs, "channels", r.New.Channels,
				"ends", r.New.Ends.Format(license.TimeLayout), "was_channels", r.Key.Channels, "was_ends", r.Key.Ends.Format(license.TimeLayout))...)
		}
	}
	if changed > 0 {
		// The directory watcher would see the rename too; reloading here
		// makes the new total count before UpdateKeys returns.
		if _, err := d.watcher.Reload(ctx); err != nil {
			log.Warn("license reload after update", "err", err)
		}
	}
	return changed
}

func updateWhy(err error) string {
	var api *issuer.APIError
	var nv *issuer.NotValidError
	switch {
	case errors.Is(err, issuer.ErrUnreachable):
		return "issuer unreachable"
	case errors.As(err, &api):
		return "issuer refused"
	case errors.As(err, &nv):
		return "fetched file does not work here"
	}
	return "install failed"
}
