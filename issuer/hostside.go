package issuer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/licbridge/licbridge/license"
)

// This file is the host side of activation, shared by the license commands
// (register, deactivate, update, install) and the daemon's periodic update:
// checking a key file as the node would, finding installed keys, installing
// files atomically, and Get/Update License.

// NewClient is a client of the issuer at url; caFile, when set, is the PEM
// CA certificate the issuer's TLS certificate chains to (a private CA),
// instead of the system's roots.
func NewClient(url, caFile string) (*Client, error) {
	c := &Client{URL: url}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("issuer CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("issuer CA %s: no PEM certificate", caFile)
	}
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return c, nil
}

// Host is this node as the issuer sees it: its licence setup (directories,
// trusted issuers, host ID, domain, catalog) and the issuer client.
type Host struct {
	Client  *Client
	Options license.LoadOptions
	// Now is the clock keys are checked at. Default Options.Now, else time.Now.
	Now func() time.Time
	// InstallDir is the licenses directory InstallKey writes new files to.
	InstallDir string
	// Describe, if set, words the status of a file that does not work here
	// (NotValidError.Text): the CLI words it as license verify does.
	Describe func(license.Entry) string
}

// Request is the issuer request for keyID from this host.
func (h *Host) Request(keyID string) Request {
	return Request{KeyID: keyID, HostID: h.Options.HostID, Domain: h.Options.Domain}
}

// NotValidError says a key file does not work on this host; Entry says why.
type NotValidError struct {
	Name  string
	Entry license.Entry
	// Text, when set, is the status as Host.Describe words it, instead of
	// "STATUS: reason".
	Text string
}

func (e *NotValidError) Error() string {
	if e.Text != "" {
		return e.Name + ": " + e.Text
	}
	return fmt.Sprintf("%s: %s: %s", e.Name, e.Entry.Status, e.Entry.Reason)
}

// Check evaluates a key file as this node would: authentic, known product, in
// time, bound to this host (or domain). A file that does not count here is a
// *NotValidError.
func (h *Host) Check(data []byte, name string) (*license.Key, error) {
	now := time.Now
	switch {
	case h.Now != nil:
		now = h.Now
	case h.Options.Now != nil:
		now = h.Options.Now
	}
	k, perr := license.ParseBytes(data, name)
	o := h.Options
	e := license.Evaluate([]license.Candidate{{File: name, Key: k, Err: perr}}, license.EvalOptions{
		Trusted: o.Trusted, Catalog: o.Catalog, HostID: o.HostID, Domain: o.Domain, Now: now(),
		Policy: license.Policy{RenewalGrace: o.RenewalGrace},
	}).Keys()[0]
	if e.Status != license.StatusValid {
		nv := &NotValidError{Name: name, Entry: e}
		if h.Describe != nil {
			nv.Text = h.Describe(e)
		}
		return nil, nv
	}
	return k, nil
}

// Installed is one key file found in a licenses directory.
type Installed struct {
	Path string
	Data []byte
	Key  *license.Key
}

// InstalledKeys reads the *.lic files of the host's directories that parse
// as keys (a file that does not parse is no key to update).
func (h *Host) InstalledKeys() []Installed {
	var out []Installed
	for _, d := range h.Options.Dirs {
		paths, _ := filepath.Glob(filepath.Join(d.Path, "*"+license.FileSuffix))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if k, err := license.ParseBytes(data, p); err == nil {
				out = append(out, Installed{Path: p, Data: data, Key: k})
			}
		}
	}
	return out
}

// UpdateResult is what Update did with one installed key file.
type UpdateResult struct {
	Installed
	// New is the installed replacement; nil when the file was kept.
	New *license.Key
	// Err says why the file was kept: the issuer unreachable (ErrUnreachable),
	// its refusal (*APIError), a fetched file that does not work here
	// (*NotValidError) or a failed write. The installed file still counts.
	Err error
}

// Changed reports whether the file was replaced.
func (r UpdateResult) Changed() bool { return r.New != nil }

// Update is Get/Update License: it fetches the current file of every
// installed key and installs, in one rename each, those that changed and
// work here. Nothing it fails at removes or alters a working file.
func (h *Host) Update(ctx context.Context) []UpdateResult {
	keys := h.InstalledKeys()
	out := make([]UpdateResult, 0, len(keys))
	for _, f := range keys {
		r := UpdateResult{Installed: f}
		data, err := h.Client.Fetch(ctx, h.Request(f.Key.ID))
		switch {
		case err != nil:
			r.Err = err
		case bytes.Equal(data, f.Data):
		default:
			r.New, r.Err = h.replace(f, data)
		}
		out = append(out, r)
	}
	return out
}

func (h *Host) replace(f Installed, data []byte) (*license.Key, error) {
	k, err := h.Check(data, "the issuer's answer")
	if err != nil {
		return nil, fmt.Errorf("the new file does not work here: %w", err)
	}
	if k.ID != f.Key.ID {
		return nil, fmt.Errorf("the issuer answered with key %s for key %s", k.ID, f.Key.ID)
	}
	if err := WriteAtomic(f.Path, data); err != nil {
		return nil, fmt.Errorf("write %s: %w", f.Path, err)
	}
	return k, nil
}

// InstallKey writes a key file as KEY-ID.lic in h.InstallDir.
func (h *Host) InstallKey(keyID string, data []byte) (string, error) {
	return Install(h.InstallDir, keyID, data)
}

// RemoveInstalled removes the installed files of keyID (a key deactivated
// here would otherwise keep counting until its end date): the paths removed,
// and an error for each file that stays.
func (h *Host) RemoveInstalled(keyID string) (removed []string, failed []error) {
	for _, f := range h.InstalledKeys() {
		if f.Key.ID != keyID {
			continue
		}
		if err := os.Remove(f.Path); err != nil {
			failed = append(failed, fmt.Errorf("could not remove %s: %w", f.Path, err))
			continue
		}
		removed = append(removed, f.Path)
	}
	return removed, failed
}

// Install writes a key file as DIR/KEY-ID.lic.
func Install(dir, keyID string, data []byte) (string, error) {
	if !license.ValidKeyID(keyID) {
		return "", errors.New("install: invalid key ID")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, keyID+license.FileSuffix)
	return dst, WriteAtomic(dst, data)
}

// WriteAtomic replaces dst in one rename (a renewed key replaces the old file,
// and a watching daemon never sees half a file).
func WriteAtomic(dst string, data []byte) error {
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
