package issuer

import (
	"context"
	"io"

	"github.com/licbridge/licbridge/license"
)

// The files of offline activation: the request an air-gapped host writes
// (licbridge license request) and the key file the issuer answers it with
// (licbridge issuer answer).

// CreateRequestFile writes r to path as an offline request file (mode 0600),
// replacing a file there only when force.
func CreateRequestFile(path string, force bool, r Request) error {
	return license.CreateFile(path, 0o600, force, func(w io.Writer) error { return WriteRequestFile(w, r) })
}

// Answer registers the offline request r (audited as from "offline") and
// writes the key file it earns to path, replacing a file there only when
// force.
func (s *Service) Answer(ctx context.Context, r Request, path string, force bool) error {
	file, err := s.Register(ctx, r, "offline")
	if err != nil {
		return err
	}
	return license.CreateFile(path, 0o644, force, func(w io.Writer) error { _, err := w.Write(file); return err })
}
