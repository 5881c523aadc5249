package issuer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// TestHostActivateInstallDeactivate: register installs the issuer's answer,
// install takes an answer file, deactivate frees the slot and removes the
// files; a file that does not work here is never installed and is worded by
// Describe when set.
func TestHostActivateInstallDeactivate(t *testing.T) {
	ctx := context.Background()
	s, h, dir, _ := newHostSide(t)
	key := entitle(t, s, "g729", 10)

	k, dst, err := h.Activate(ctx, key)
	if err != nil || k.ID != key || dst != filepath.Join(dir, key+license.FileSuffix) {
		t.Fatalf("activate: %v, %v, %q", k, err, dst)
	}
	if _, _, err := h.InstallFile(filepath.Join(dir, "none.lic")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("install of a missing file: %v", err)
	}
	other := t.TempDir()
	h.InstallDir = other
	if _, got, err := h.InstallFile(dst); err != nil || got != filepath.Join(other, key+license.FileSuffix) {
		t.Fatalf("install: %q, %v", got, err)
	}

	// Five years on the answer has expired: refused, worded by Describe.
	h.Now = func() time.Time { return time.Now().AddDate(5, 0, 0) }
	for _, describe := range []func(license.Entry) string{nil, func(e license.Entry) string { return "WORDED " + string(e.Status) }} {
		h.Describe = describe
		h.InstallDir = t.TempDir()
		_, _, err := h.Activate(ctx, key)
		var nv *NotValidError
		if !errors.As(err, &nv) || nv.Entry.Status != license.StatusExpired {
			t.Fatalf("activate of an expired answer: %v", err)
		}
		if want := map[bool]string{true: "WORDED expired", false: "expired: "}[describe != nil]; !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q, want it to say %q", err, want)
		}
		if ents, _ := os.ReadDir(h.InstallDir); len(ents) != 0 {
			t.Fatalf("a refused file was installed: %v", ents)
		}
	}

	h.Options.Dirs = []license.Dir{{Path: dir}, {Path: other}}
	removed, failed, err := h.Deactivate(ctx, key)
	if err != nil || len(failed) != 0 || len(removed) != 2 {
		t.Fatalf("deactivate: removed %v, failed %v, %v", removed, failed, err)
	}
	if _, _, err := h.Deactivate(ctx, key); err == nil {
		t.Fatal("a second deactivation was accepted")
	}
}

// TestOfflineFiles: a request file written by CreateRequestFile is answered
// by Service.Answer with a key file; neither replaces a file without force.
func TestOfflineFiles(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t, filepath.Join(t.TempDir(), "issuer.db")))
	dir := t.TempDir()
	req := Request{KeyID: entitle(t, s, "g729", 2), HostID: hostN(2)}
	reqPath, keyPath := filepath.Join(dir, "req.json"), filepath.Join(dir, "k.lic")
	if err := CreateRequestFile(reqPath, false, req); err != nil {
		t.Fatal(err)
	}
	if err := CreateRequestFile(reqPath, false, req); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("request file replaced without force: %v", err)
	}
	got, err := ReadRequestFile(reqPath)
	if err != nil || got != req {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if err := s.Answer(ctx, got, keyPath, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := license.ParseBytes(data, keyPath); err != nil || k.ID != req.KeyID || k.Binding.HostID != req.HostID {
		t.Fatalf("answer: %+v, %v", k, err)
	}
	if err := s.Answer(ctx, got, keyPath, false); err == nil {
		t.Fatal("key file replaced without force")
	}
}
