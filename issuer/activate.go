package issuer

import (
	"context"
	"fmt"
	"os"

	"github.com/licbridge/licbridge/license"
)

// The host side's three steps on one key (licbridge license register,
// install and deactivate): each checks what it installs as the node would
// (Check), so that a file that does not count here is never installed.

// Activate asks the issuer to activate keyID for this host and installs the
// file it answers (InstallKey): the key and where it went. An error says
// which step failed: the issuer's refusal or absence, a file that does not
// work here (a *NotValidError inside), or a file not installed.
func (h *Host) Activate(ctx context.Context, keyID string) (*license.Key, string, error) {
	data, err := h.Client.Register(ctx, h.Request(keyID))
	if err != nil {
		return nil, "", err // a refusal naming its reason, or the issuer unreachable
	}
	k, err := h.Check(data, "the issuer's answer")
	if err != nil {
		return nil, "", fmt.Errorf("activated, but the file does not work here: %w", err)
	}
	dst, err := h.InstallKey(k.ID, data)
	if err != nil {
		return nil, "", fmt.Errorf("activated but not installed: %w", err)
	}
	return k, dst, nil
}

// InstallFile installs the key file at path (the answer to an offline
// request) when it works here: the key and where it went.
func (h *Host) InstallFile(path string) (*license.Key, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	k, err := h.Check(data, path)
	if err != nil {
		return nil, "", err
	}
	dst, err := h.InstallKey(k.ID, data)
	if err != nil {
		return nil, "", err
	}
	return k, dst, nil
}

// Deactivate frees this host's slot of keyID at the issuer, then removes
// the key's installed files (RemoveInstalled): a key deactivated here would
// otherwise keep counting until its end date.
func (h *Host) Deactivate(ctx context.Context, keyID string) (removed []string, failed []error, err error) {
	if err := h.Client.Deactivate(ctx, h.Request(keyID)); err != nil {
		return nil, nil, err
	}
	removed, failed = h.RemoveInstalled(keyID)
	return removed, failed, nil
}
